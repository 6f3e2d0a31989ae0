package fields_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/fields"
)

// FuzzValidateValue feeds any schema the API would store (one that passes
// Check) and any JSON value to ValidateValue. It must not panic, every
// problem must say what is wrong, the verdict must not change when asked
// twice, and a value it accepts must still be accepted after the JSON round
// trip that storing and reading it makes.
func FuzzValidateValue(f *testing.F) {
	seeds := []struct{ schema, value string }{
		{`{"type":"string","validation":{"minLength":1,"maxLength":5,"pattern":"^[a-z]+$"}}`, `"abc"`},
		{`{"type":"string"}`, `"two\nlines"`},
		{`{"type":"textarea","validation":{"maxLength":3}}`, `"ünï"`},
		{`{"type":"number","validation":{"min":0,"max":10}}`, `5.5`},
		{`{"type":"number"}`, `-0`},
		{`{"type":"number"}`, `1e308`},
		{`{"type":"boolean"}`, `true`},
		{`{"type":"date"}`, `"2026-02-29"`},
		{`{"type":"datetime"}`, `"2026-04-04T10:00:00+02:00"`},
		{`{"type":"select","validation":{"options":["A","B"]}}`, `"A"`},
		{`{"type":"multiselect","validation":{"options":["A","B"],"minLength":1,"maxLength":2}}`, `["A","B"]`},
		{`{"type":"multiselect","validation":{"options":["A"]}}`, `["A","A"]`},
		{`{"type":"email"}`, `"Name <name@example.com>"`},
		{`{"type":"email"}`, `"name@example.com"`},
		{`{"type":"url"}`, `"https://example.com/a?b=c"`},
		{`{"type":"url"}`, `"javascript:alert(1)"`},
		{`{"type":"phone"}`, `"+14155550123"`},
		{`{"type":"json"}`, `{"a":[1,{"b":null}]}`},
		{`{"type":"string","validation":{"pattern":"(a+)+$"}}`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`},
	}
	for _, s := range seeds {
		f.Add(s.schema, s.value)
	}
	f.Fuzz(func(t *testing.T, schemaText, valueText string) {
		var s fields.Schema
		if json.Unmarshal([]byte(schemaText), &s) != nil || len(s.Check()) > 0 {
			return // the API refuses such a schema before any value meets it
		}
		var v any
		if json.Unmarshal([]byte(valueText), &v) != nil || v == nil {
			return // not JSON, or a removal, which the caller judges
		}
		ps := s.ValidateValue(v)
		for _, p := range ps {
			require.NotEmpty(t, p.Message, "a problem without a message: %+v", p)
		}
		require.Equal(t, ps, s.ValidateValue(v), "the verdict changed when asked again")
		if len(ps) > 0 {
			return
		}
		stored, err := json.Marshal(v)
		require.NoError(t, err)
		var back any
		require.NoError(t, json.Unmarshal(stored, &back))
		require.True(t, reflect.DeepEqual(v, back), "the JSON round trip changed %q into %s", valueText, stored)
		require.Empty(t, s.ValidateValue(back), "an accepted value %q is refused once stored as %s", valueText, stored)
	})
}
