package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpressionCheckSaysWhatASaveWouldSay(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		for _, tc := range []struct {
			kind, src string
			valid     bool
			says      string
		}{
			{"filter", "event.fieldKey == 'stage'", true, ""},
			{"filter", "event.fieldKey ==", false, "Syntax error"},
			{"filter", "1 + 1", false, "bool"},
			{"filter", "entity.values.stage == 'won'", false, "undeclared reference to 'entity'"},
			{"filter", "event.fieldKey.matches('[')", false, "regex"},
			{"condition", "entity.values.stage == 'won' && event.value != null", true, ""},
			{"condition", "steps.all(s, steps.all(t, steps.all(u, steps.all(v, true))))", false, "cost"},
		} {
			got := b.ok(t, http.StatusOK, http.MethodPost, "/api/expressions/check", map[string]any{"kind": tc.kind, "expression": tc.src})
			require.Equal(t, tc.valid, got["valid"], "%s %q: %v", tc.kind, tc.src, got)
			if !tc.valid {
				require.Contains(t, got["error"], tc.says, "%s %q", tc.kind, tc.src)
			}
		}
		res := b.do(t, http.MethodPost, "/api/expressions/check", map[string]any{"kind": "sql", "expression": "1"})
		require.Equal(t, http.StatusUnprocessableEntity, res.status)
		res = b.send(t, req{Method: http.MethodPost, Path: "/api/expressions/check", Body: map[string]any{"kind": "filter", "expression": "true"}})
		require.Equal(t, http.StatusUnauthorized, res.status)
	})
}
