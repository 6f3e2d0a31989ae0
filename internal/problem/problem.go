// Package problem holds why a request is refused, as plain values: the
// domain packages return them and the API renders them as RFC 9457
// problem details, each problem naming the part of the request at fault.
package problem

import "fmt"

// Problem is one reason a request is refused: Location names the part
// ("body.company_size"), Value what was sent.
type Problem struct {
	Location string
	Message  string
	Value    any
}

// ValidationError lists every problem of a refused request.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "validation failed"
	}
	return fmt.Sprintf("validation failed: %s: %s", e.Problems[0].Location, e.Problems[0].Message)
}

// Invalid is a ValidationError of one problem.
func Invalid(location, message string, value any) error {
	return &ValidationError{Problems: []Problem{{Location: location, Message: message, Value: value}}}
}
