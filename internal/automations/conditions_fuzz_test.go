package automations

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzConditions compiles any expression as a trigger condition and
// evaluates what compiles over a scope holding any text. Nothing may
// panic: a bad expression and a failed evaluation are error values.
func FuzzConditions(f *testing.F) {
	for _, s := range []struct{ expr, text string }{
		{"tenant.id != 'demo'", "x"},
		{"event.value > 10 && entity.values.company_size == '51-200'", "x"},
		{"event.text.contains(steps.lookup.response.body.items[0].name)", "first"},
		{"size(event.list) == 2 && event.list[5] == 'x'", ""},
		{"event.text.matches('(a+)+$')", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"},
		{"[1,2,3].map(x, [1,2,3].map(y, x * y)).size() > 0", ""},
		{"int(event.text) / 0 == 1", "7"},
		{"event.missing.deeper", ""},
		{"1 +", ""},
		{"'a'", ""},
	} {
		f.Add(s.expr, s.text)
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		c, err := compileCondition(expr)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		sc := testScope()
		sc.Event["text"] = text
		vars := map[string]any{"event": sc.Event, "entity": sc.Entity, "tenant": sc.Tenant, "steps": sc.Steps}
		if _, err := c.eval(vars); err != nil {
			require.NotEmpty(t, err.Error())
		}
	})
}
