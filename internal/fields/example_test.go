package fields_test

import (
	"encoding/json"
	"fmt"

	"github.com/fieldflow/fieldflow/internal/fields"
)

// A schema as the API receives it checks values decoded from JSON; each
// problem says what is wrong in words for the person who sent the value.
func ExampleSchema_ValidateValue() {
	var s fields.Schema
	_ = json.Unmarshal([]byte(`{"type": "select", "validation": {"options": ["A", "B"]}}`), &s)
	fmt.Println(s.Check())
	fmt.Println(s.ValidateValue("A"))
	fmt.Println(s.ValidateValue("C"))
	fmt.Println(s.ValidateValue(42.0))
	// Output:
	// []
	// []
	// [must be one of A, B]
	// [must be one of the options, got a number]
}
