// Package expr compiles, cost-checks and evaluates the CEL boolean
// expressions fieldflow runs inside write transactions: webhook filters and
// automation conditions. Each caller declares its own environment and
// wording; what is the same for both (the check for a boolean result, the
// worst-case cost at an assumed input size, the bounded program and its
// boolean result) is here once.
package expr

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
)

// Check parses and type-checks src in env. The error is CEL's own message,
// trimmed, or a *NotBooleanError when the expression's type is neither
// boolean nor dyn (dyn is checked when it runs).
func Check(env *cel.Env, src string) (*cel.Ast, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, &NotBooleanError{Type: t}
	}
	return ast, nil
}

// NotBooleanError is an expression whose type is not boolean.
type NotBooleanError struct {
	Type *cel.Type
}

func (e *NotBooleanError) Error() string {
	return fmt.Sprintf("must be a boolean expression, not %s", e.Type)
}

// InputSizes is the cost estimator of the check at save. The real sizes of
// the lists, maps and strings an expression reads from its input are
// unknown until it runs; without a bound any loop over them would count as
// endless and every such expression would be refused. So each is assumed
// to hold at most Max elements.
type InputSizes struct {
	Max uint64
	// ExactLiterals counts literals at their real size instead of Max.
	ExactLiterals bool
}

// EstimateSize implements cost.Estimator.
func (s InputSizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if s.ExactLiterals && n.ComputedSize() != nil {
		return nil
	}
	return &cost.SizeEstimate{Min: 0, Max: s.Max}
}

// EstimateCallCost implements cost.Estimator: calls cost what the library
// says they cost.
func (InputSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// MaxCost returns the worst-case cost of one evaluation of ast at sizes.
// The error is CEL's, for the caller to name its action.
func MaxCost(env *cel.Env, ast *cel.Ast, sizes InputSizes) (uint64, error) {
	est, err := env.EstimateCost(ast, sizes)
	if err != nil {
		return 0, err
	}
	return est.Max, nil
}

// Program builds the program of a checked ast, each evaluation stopped at
// costLimit.
func Program(env *cel.Env, ast *cel.Ast, costLimit uint64, opts ...cel.ProgramOption) (cel.Program, error) {
	return env.Program(ast, append([]cel.ProgramOption{cel.CostLimit(costLimit)}, opts...)...)
}

// Eval evaluates prg on vars. An evaluation error (a missing key, a type
// mismatch, the cost limit) is returned as CEL gives it; a result that is
// not a boolean (possible only through dyn values) is a *ResultError.
func Eval(prg cel.Program, vars map[string]any) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, &ResultError{Value: out.Value()}
	}
	return b, nil
}

// ResultError is an evaluation that did not yield a boolean.
type ResultError struct {
	Value any
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("gave %v, not a boolean", e.Value)
}
