package automations

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/fieldflow/fieldflow/internal/expr"
)

// conditionCostLimit bounds one evaluation of a trigger condition or a
// step's `if`: conditions run inside the transaction that writes the
// event, so one must not be able to stall it.
const conditionCostLimit = 10_000

// condition is a compiled CEL boolean expression. Trigger conditions read
// event, entity and tenant; a step's `if` also reads steps.
type condition struct {
	prg cel.Program
	// usesEntity says whether the expression reads entity, so the trigger
	// loads the entity's values only when it is needed.
	usesEntity bool
}

// conditionEnv declares the variables conditions may read. One env per
// compile keeps the package free of shared mutable state; compiling runs
// only when automations are saved or loaded.
func conditionEnv() (*cel.Env, error) {
	dyn := cel.MapType(cel.StringType, cel.DynType)
	return cel.NewEnv(
		cel.Variable("event", dyn),
		cel.Variable("entity", dyn),
		cel.Variable("tenant", dyn),
		cel.Variable("steps", dyn),
		// A regex literal that does not compile is a mistake in the rule,
		// refused when it is saved rather than met at every evaluation.
		cel.ASTValidators(cel.ValidateRegexLiterals()),
	)
}

// assumedInputSize is what the save-time cost estimate assumes of every
// list, map and string a condition reads from its input (event, entity,
// steps), whose real sizes are known only when it runs. Literals count at
// their real size.
const assumedInputSize = 100

// CheckCondition compiles src as compileCondition does and, as only a
// save does, refuses an expression whose estimated cost can exceed
// conditionCostLimit: at run time such a condition would stop on the limit
// inside the transaction of every event it looks at, and never match.
func CheckCondition(src string) error {
	env, err := conditionEnv()
	if err != nil {
		return fmt.Errorf("condition environment: %w", err)
	}
	ast, err := expr.Check(env, src)
	if err != nil && !errors.As(err, new(*expr.NotBooleanError)) {
		return err
	}
	if _, err := compileCondition(src); err != nil {
		return err
	}
	maxCost, err := expr.MaxCost(env, ast, expr.InputSizes{Max: assumedInputSize, ExactLiterals: true})
	if err != nil {
		return fmt.Errorf("estimate the condition's cost: %w", err)
	}
	if maxCost > conditionCostLimit {
		return fmt.Errorf("may cost up to %d to evaluate, more than the limit of %d (estimated with lists, maps and strings of the input at %d elements): "+
			"nest fewer comprehensions or iterate over fewer elements", maxCost, conditionCostLimit, assumedInputSize)
	}
	return nil
}

// compileCondition parses and type-checks src; the error says what is
// wrong in words a person writing the rule can act on.
func compileCondition(src string) (*condition, error) {
	env, err := conditionEnv()
	if err != nil {
		return nil, fmt.Errorf("condition environment: %w", err)
	}
	ast, err := expr.Check(env, src)
	if err != nil {
		return nil, err
	}
	prg, err := expr.Program(env, ast, conditionCostLimit)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	uses := false
	if checked, err := cel.AstToCheckedExpr(ast); err == nil {
		for _, ref := range checked.GetReferenceMap() {
			if ref.GetName() == "entity" {
				uses = true
			}
		}
	} else {
		uses = strings.Contains(src, "entity")
	}
	return &condition{prg: prg, usesEntity: uses}, nil
}

// eval reports whether the condition holds. An evaluation error (a missing
// key, a type mismatch, the cost limit) is returned so the run log can say
// why a step did not run; triggers treat it as false.
func (c *condition) eval(vars map[string]any) (bool, error) {
	in := make(map[string]any, len(vars))
	for k, v := range vars {
		in[k], _ = celNumbers(v)
	}
	b, err := expr.Eval(c.prg, in)
	if re := (*expr.ResultError)(nil); errors.As(err, &re) {
		return false, fmt.Errorf("condition %w", err)
	}
	return b, err
}

// celNumbers is v with each json.Number as the double CEL compares: the
// scope keeps numbers' digits for templates and payloads, and CEL knows
// no json.Number. Maps and arrays are copied only where they hold one;
// changed says whether anything was.
func celNumbers(v any) (out any, changed bool) {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f, true
	case map[string]any:
		var m map[string]any
		for k, e := range x {
			if c, ok := celNumbers(e); ok {
				if m == nil {
					m = maps.Clone(x)
				}
				m[k] = c
			}
		}
		if m != nil {
			return m, true
		}
	case []any:
		var l []any
		for i, e := range x {
			if c, ok := celNumbers(e); ok {
				if l == nil {
					l = slices.Clone(x)
				}
				l[i] = c
			}
		}
		if l != nil {
			return l, true
		}
	}
	return v, false
}
