package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// awkward is a note a template must carry through every encoding as it
// is: quotes, CR/LF and tab, the characters that shape URLs and forms,
// HTML, non-ASCII and emoji, a line separator, and a template of its own
// that must not be rendered again.
const awkward = "He said \"hi\" & left\r\nline two\ttab a=b&c=d+e;f 100% /path?x#frag ü 日本 😀 </script> \\ {{secrets.key}} \u2028end"

func TestAutomationBodiesCarryEntityValuesIntact(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/key", map[string]any{"value": "not-to-be-rendered", "secret": true}, nil)
		api := startAPI(t, nil)
		a := b.createAutomation(t, map[string]any{
			"name":    "Send the note",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "note"},
			"actions": []map[string]any{
				{"name": "as_json", "type": "http", "url": api.URL + "/json/{{entity.values.note}}",
					"query": map[string]any{"note": "{{entity.values.note}}", "n": "{{entity.values.counter}}"},
					"body": map[string]any{"type": "json", "json": map[string]any{
						"note":    "{{entity.values.note}}",
						"counter": "{{entity.values.counter}}",
						"spaced":  "{{ entity.values.counter }}",
						"label":   "#{{entity.values.counter}}",
						"flag":    "{{entity.values.sales_notified}}",
						"nested":  map[string]any{"list": []any{"{{entity.values.note}}", "{{entity.values.counter}}", 7}},
					}}},
				{"name": "as_form", "type": "http", "method": "PUT", "url": api.URL + "/form",
					"query": map[string]any{"note": "{{entity.values.note}}"},
					"body": map[string]any{"type": "form", "form": map[string]any{
						"note":    "{{entity.values.note}}",
						"counter": "{{entity.values.counter}}",
						"pair":    "{{entity.values.note}}={{entity.values.counter}}",
					}}},
			},
		})

		headers := b.createAutomation(t, map[string]any{
			"name":    "Note in a header",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "note"},
			"actions": []map[string]any{{"name": "as_header", "type": "http", "url": api.URL + "/header",
				"headers": map[string]any{"X-Note": "{{entity.values.note}}"}, "retry": map[string]any{"schedule": []string{"1s"}}}},
		})

		b.save(t, "acme", "cust-1", map[string]any{"note": awkward, "counter": 42.5, "sales_notified": true})
		r := b.waitRuns(t, a.ID, 1, 10*time.Second)[0]
		require.Equal(t, "succeeded", r.State, "%+v", r)
		require.Len(t, api.all(), 2)

		// A header cannot hold CR or LF: the step fails, unsent and not
		// retried, saying why.
		h := b.waitRuns(t, headers.ID, 1, 10*time.Second)[0]
		require.Equal(t, "failed", h.State, "%+v", h)
		require.Len(t, h.Steps, 1)
		require.Contains(t, h.Steps[0].Error, "header X-Note: the rendered value contains CR, LF or NUL")
		require.Empty(t, api.on("/header"))

		// JSON: each string parses back to what the entity holds; a value
		// that is exactly one {{path}} keeps its JSON type.
		js := api.on("/json/" + awkward)
		require.Len(t, js, 1, "the note is one path segment, percent-encoded: %v", api.all()[0].URL)
		c := js[0]
		require.Equal(t, http.MethodPost, c.Method)
		require.Equal(t, "application/json", c.Header.Get("Content-Type"))
		var body map[string]any
		require.NoError(t, json.Unmarshal(c.Body, &body), "%s", c.Body)
		require.Equal(t, map[string]any{
			"note":    awkward,
			"counter": 42.5,
			"spaced":  42.5,
			"label":   "#42.5",
			"flag":    true,
			"nested":  map[string]any{"list": []any{awkward, 42.5, 7.0}},
		}, body)
		require.Contains(t, string(c.Body), "</script> \\\\ {{secrets.key}}", "no HTML escaping, and the value's own {{…}} is not rendered")
		require.NotContains(t, string(c.Body), "not-to-be-rendered")
		seg := strings.TrimPrefix(c.URL.EscapedPath(), "/json/")
		require.NotContains(t, seg, "/", "a value cannot add path segments")
		got, err := url.PathUnescape(seg)
		require.NoError(t, err)
		require.Equal(t, awkward, got)
		require.Equal(t, url.Values{"note": {awkward}, "n": {"42.5"}}, c.URL.Query())

		// Form: each field decodes back to the same string.
		fs := api.on("/form")
		require.Len(t, fs, 1)
		c = fs[0]
		require.Equal(t, http.MethodPut, c.Method)
		require.Equal(t, "application/x-www-form-urlencoded", c.Header.Get("Content-Type"))
		form, err := url.ParseQuery(string(c.Body))
		require.NoError(t, err, "%s", c.Body)
		require.Equal(t, url.Values{"note": {awkward}, "counter": {"42.5"}, "pair": {awkward + "=42.5"}}, form)
		require.Equal(t, url.Values{"note": {awkward}}, c.URL.Query())

		// The run log shows what was sent.
		require.Len(t, r.Steps, 2)
		for i, sent := range [][]byte{js[0].Body, fs[0].Body} {
			var logged struct {
				Method string `json:"method"`
				URL    string `json:"url"`
				Body   string `json:"body"`
			}
			require.NoError(t, json.Unmarshal(r.Steps[i].Request, &logged))
			require.Equal(t, string(sent), logged.Body, "step %d", i)
			require.Empty(t, r.Steps[i].Notes)
		}
	})
}
