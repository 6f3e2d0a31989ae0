package webhooks_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// FuzzFilter compiles any expression as an endpoint filter and matches
// what compiles against any JSON payload. Nothing may panic: a bad filter
// is an error value when it is saved, and a payload the filter cannot
// evaluate (a missing key, a type mismatch, the cost limit) is a
// non-match, never a failure of the fan-out transaction.
func FuzzFilter(f *testing.F) {
	for _, s := range []struct{ expr, payload string }{
		{`event.fieldKey != "internal_note"`, `{"event":"field_value.saved","fieldKey":"insurance_number","value":"INS-2231"}`},
		{`event.value > 100`, `{"value":"not a number"}`},
		{`event.values.size() > 1 && "chair" in event.values`, `{"values":{"chair":"A","n":1}}`},
		{`event.data.items.exists(i, i.price * 2.0 > 10.0)`, `{"data":{"items":[{"price":6},{"price":"x"}]}}`},
		{`event.missing.deeper == 1`, `{}`},
		{`event.text.matches("(a+)+$")`, `{"text":"aaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}`},
		{`[1,2,3].map(x, [1,2,3].map(y, [1,2,3].map(z, x*y*z))).size() > 0`, `{}`},
		{`int(event.n) / 0 == 1`, `{"n":7}`},
		{`event.event`, `{"event":"x"}`},
		{`1 +`, `{}`},
		{`"a"`, `{}`},
	} {
		f.Add(s.expr, s.payload)
	}
	f.Fuzz(func(t *testing.T, expr, payloadText string) {
		flt, err := webhooks.CompileFilter(expr)
		if err != nil {
			require.NotEmpty(t, err.Error(), "a refused filter says why")
			return
		}
		var payload map[string]any
		if json.Unmarshal([]byte(payloadText), &payload) != nil {
			return // payloads are events.Encode output: always a JSON object
		}
		first, firstErr := flt.Eval(payload)
		again, againErr := flt.Eval(payload)
		require.Equal(t, first, again, "a filter's verdict on one payload changed")
		require.Equal(t, firstErr == nil, againErr == nil, "a filter's error on one payload came and went")
	})
}
