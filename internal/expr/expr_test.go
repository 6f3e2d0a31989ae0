package expr_test

import (
	"testing"

	"cel.dev/cel-go/cel"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/expr"
)

func newEnv(t *testing.T) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
	require.NoError(t, err)
	return env
}

func TestCheckRefusesSyntaxErrorsAndNonBooleans(t *testing.T) {
	t.Parallel()

	env := newEnv(t)
	_, err := expr.Check(env, "1 +")
	require.ErrorContains(t, err, "Syntax error")

	_, err = expr.Check(env, "1 + 2")
	var nb *expr.NotBooleanError
	require.ErrorAs(t, err, &nb)
	require.Equal(t, "must be a boolean expression, not int", err.Error())

	_, err = expr.Check(env, "event.x")
	require.NoError(t, err, "dyn is checked when it runs")
}

func TestMaxCostAssumesTheInputSizes(t *testing.T) {
	t.Parallel()

	env := newEnv(t)
	loop, err := expr.Check(env, "event.items.all(i, i > 0)")
	require.NoError(t, err)
	small, err := expr.MaxCost(env, loop, expr.InputSizes{Max: 10})
	require.NoError(t, err)
	large, err := expr.MaxCost(env, loop, expr.InputSizes{Max: 1000})
	require.NoError(t, err)
	require.Less(t, small, large, "a loop over the input costs more at a larger assumed size")

}

func TestEvalReturnsTheBooleanOrWhyNot(t *testing.T) {
	t.Parallel()

	env := newEnv(t)
	prg := func(src string, limit uint64) cel.Program {
		t.Helper()
		ast, err := expr.Check(env, src)
		require.NoError(t, err)
		p, err := expr.Program(env, ast, limit)
		require.NoError(t, err)
		return p
	}
	vars := map[string]any{"event": map[string]any{"n": 3, "s": "x", "items": []any{1, 2, 3}}}

	got, err := expr.Eval(prg("event.n > 2", 100), vars)
	require.NoError(t, err)
	require.True(t, got)

	_, err = expr.Eval(prg("event.s", 100), vars)
	var re *expr.ResultError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "x", re.Value)

	_, err = expr.Eval(prg("event.missing.deeper == 1", 100), vars)
	require.Error(t, err, "a missing key is an error")

	_, err = expr.Eval(prg("event.items.all(a, event.items.all(b, a + b > 0))", 3), vars)
	require.ErrorContains(t, err, "cost limit exceeded")
}
