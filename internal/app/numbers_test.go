package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNumbersKeepTheirDigitsThroughStorageEventsTemplatesAndSteps saves
// integers a double cannot hold and follows them: read back, in the
// delivered event, in an automation's rendered body, and from one step's
// captured response into the next step's request.
func TestNumbersKeepTheirDigitsThroughStorageEventsTemplatesAndSteps(t *testing.T) {
	t.Parallel()
	const big, bigger = "12345678901234567890", "98765432109876543210123"
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields", map[string]any{"key": "meta", "label": "Meta",
			"schema": map[string]any{"type": "json"}, "fieldGroupIds": []string{"customer"}}, nil)
		hooks := startReceiver(t, receiverOpts{})
		b.createEndpoint(t, map[string]any{"url": hooks.URL, "events": []string{"field_value.saved"}})
		api := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, n int, got *received) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":` + bigger + `}`))
		}})
		sink := startReceiver(t, receiverOpts{})
		a := b.createAutomation(t, map[string]any{
			"name":    "Pass the numbers on",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "meta"},
			"actions": []map[string]any{
				{"name": "lookup", "type": "http", "method": "GET", "url": api.URL, "captureResponse": true},
				{"name": "forward", "type": "http", "method": "POST", "url": sink.URL, "body": map[string]any{"type": "json",
					"json": map[string]any{"meta": "{{event.value}}", "n": "{{event.value.n}}", "id": "{{steps.lookup.response.body.id}}", "text": "n={{event.value.n}}"}}},
			},
		})
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true}, nil)

		res := b.call(t, adminKey, http.MethodPost, valuesPath("acme", "c-1"), json.RawMessage(`{"meta": {"n": `+big+`, "f": 2.50}, "counter": `+big+`}`))
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.Contains(t, string(res.body), `"n":`+big)

		res = b.call(t, adminKey, http.MethodGet, valuesPath("acme", "c-1"), nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.Contains(t, string(res.body), `"n":`+big, "a json value reads back with every digit")
		require.Contains(t, string(res.body), `"counter":`+big, "so does a number value")

		var metaEvent string
		for _, r := range hooks.wait(t, 2, 5*time.Second) {
			if strings.Contains(string(r.Body), `"fieldKey":"meta"`) {
				metaEvent = string(r.Body)
			}
		}
		require.Contains(t, metaEvent, `"value":{"f":2.5,"n":`+big+`}`, "the delivered event keeps the digits")

		got := sink.wait(t, 1, 10*time.Second)[0]
		require.JSONEq(t, `{"meta": {"f": 2.5, "n": `+big+`}, "n": `+big+`, "id": `+bigger+`, "text": "n=`+big+`"}`, string(got.Body))
		require.Contains(t, string(got.Body), `"id":`+bigger, "a captured response's number reaches the next step exactly")
		require.Contains(t, string(got.Body), `"n":`+big)
	})
}
