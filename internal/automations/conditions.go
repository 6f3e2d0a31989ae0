package automations

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
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

// inputSizes is the cost estimator of conditions: inputs of at most
// assumedInputSize elements, functions at their standard cost.
type inputSizes struct{}

func (inputSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

func (inputSizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if n.ComputedSize() != nil {
		return nil
	}
	sz := cost.RangedSizeEstimate(0, assumedInputSize)
	return &sz
}

// checkCondition compiles expr as compileCondition does and, as only a
// save does, refuses an expression whose estimated cost can exceed
// conditionCostLimit: at run time such a condition would stop on the limit
// inside the transaction of every event it looks at, and never match.
func checkCondition(expr string) error {
	env, err := conditionEnv()
	if err != nil {
		return fmt.Errorf("condition environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return fmt.Errorf("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if _, err := compileCondition(expr); err != nil {
		return err
	}
	est, err := env.EstimateCost(ast, inputSizes{})
	if err != nil {
		return fmt.Errorf("estimate the condition's cost: %w", err)
	}
	if est.Max > conditionCostLimit {
		return fmt.Errorf("may cost up to %d to evaluate, more than the limit of %d (estimated with lists, maps and strings of the input at %d elements): "+
			"nest fewer comprehensions or iterate over fewer elements", est.Max, conditionCostLimit, assumedInputSize)
	}
	return nil
}

// compileCondition parses and type-checks expr; the error says what is
// wrong in words a person writing the rule can act on.
func compileCondition(expr string) (*condition, error) {
	env, err := conditionEnv()
	if err != nil {
		return nil, fmt.Errorf("condition environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("must be a boolean expression, not %s", t)
	}
	prg, err := env.Program(ast, cel.CostLimit(conditionCostLimit))
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
		uses = strings.Contains(expr, "entity")
	}
	return &condition{prg: prg, usesEntity: uses}, nil
}

// eval reports whether the condition holds. An evaluation error (a missing
// key, a type mismatch, the cost limit) is returned so the run log can say
// why a step did not run; triggers treat it as false.
func (c *condition) eval(vars map[string]any) (bool, error) {
	out, _, err := c.prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition gave %v, not a boolean", out.Value())
	}
	return b, nil
}
