package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type testRunResult struct {
	ConditionHeld bool      `json:"conditionHeld"`
	ConditionNote string    `json:"conditionNote"`
	Steps         []runStep `json:"steps"`
}

// TestAutomationTestRunShowsEachStepAndStoresNothing tries the
// company-size automation, unsaved, on a sample event and on a past one:
// the http step reaches a real receiver (its response captured for the
// next step), the set_field step shows what it would write and writes
// nothing, and no run, event or value is left behind.
func TestAutomationTestRunShowsEachStepAndStoresNothing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/slack_token", map[string]any{"value": "xoxb-secret-1", "secret": true}, nil)
		api := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ticket":"T-42"}`))
		})
		automation := map[string]any{
			"name":    "Notify sales when accounts grow",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "company_size", "condition": "tenant.id != 'demo'"},
			"actions": []map[string]any{
				{"name": "notify", "type": "http", "method": "POST", "url": api.URL + "/notify",
					"auth":            map[string]any{"type": "bearer", "token": "{{secrets.slack_token}}"},
					"body":            map[string]any{"type": "json", "json": map[string]any{"text": "{{event.entityId}} grew to {{event.value}}"}},
					"captureResponse": true},
				{"name": "mark", "type": "set_field", "values": map[string]any{"note": "ticket {{steps.notify.response.body.ticket}}", "sales_notified": true}},
			},
		}
		sample := map[string]any{"event": "field_value.saved", "eventId": "evt_sample", "tenantId": "acme", "fieldGroupId": "customer",
			"fieldGroupKey": "customer", "entityId": "cust-1", "fieldKey": "company_size", "value": "51-200", "previousValue": "1-10"}
		eventsBefore := len(b.events(t, ""))

		var res testRunResult
		b.must(t, http.StatusOK, http.MethodPost, "/api/automations/test", map[string]any{"automation": automation, "event": sample}, &res)
		require.True(t, res.ConditionHeld)
		require.Len(t, res.Steps, 2)
		notify, mark := res.Steps[0], res.Steps[1]
		require.Equal(t, "succeeded", notify.State, "%+v", notify)
		require.Equal(t, 200, notify.Response.Status)
		require.Contains(t, notify.Response.Body, "T-42")
		require.NotContains(t, string(notify.Request), "xoxb-secret-1", "a test run redacts secrets as a run does")
		calls := api.on("/notify")
		require.Len(t, calls, 1, "the http step was sent for real")
		require.Equal(t, "Bearer xoxb-secret-1", calls[0].Header.Get("Authorization"))
		require.JSONEq(t, `{"text":"cust-1 grew to 51-200"}`, string(calls[0].Body))
		require.Equal(t, "succeeded", mark.State, "%+v", mark)
		var wrote struct{ Values map[string]any }
		require.NoError(t, json.Unmarshal(mark.Request, &wrote))
		require.Equal(t, "ticket T-42", wrote.Values["note"], "a later step reads what an earlier one captured")
		require.Contains(t, mark.Notes, "test run: these values were not written")

		// A past event, with a condition that does not hold: the steps run
		// anyway (it is a test) and the answer says so.
		b.save(t, "demo", "cust-9", map[string]any{"company_size": "51-200"})
		var past string
		for _, e := range b.events(t, "") {
			if e.Type == "field_value.saved" && e.TenantID == "demo" {
				past = e.ID
			}
		}
		require.NotEmpty(t, past)
		b.must(t, http.StatusOK, http.MethodPost, "/api/automations/test", map[string]any{"automation": automation, "eventId": past}, &res)
		require.False(t, res.ConditionHeld)
		require.Len(t, api.on("/notify"), 2)

		// Nothing was stored: no value written, no run, no event but the save's.
		require.Nil(t, b.values(t, "acme", "cust-1")["note"])
		require.Len(t, b.events(t, ""), eventsBefore+2, "only the demo save's two events")

		// A tenant's test sees its own events only, and checks as a save does.
		acme := b.tenantKey(t, "acme")
		requireProblem(t, b.call(t, acme, http.MethodPost, "/api/automations/test", map[string]any{"automation": automation, "event": sample}),
			http.StatusUnprocessableEntity, "body.actions[0].auth.token") // the vendor's secret is not the tenant's to use
		own := map[string]any{"name": "Mine", "trigger": automation["trigger"],
			"actions": []map[string]any{{"name": "notify", "type": "http", "url": api.URL + "/mine"}}}
		requireProblem(t, b.call(t, acme, http.MethodPost, "/api/automations/test", map[string]any{"automation": own, "eventId": past}),
			http.StatusUnprocessableEntity, "body.eventId") // demo's event is not acme's
		res2 := b.call(t, acme, http.MethodPost, "/api/automations/test", map[string]any{"automation": own, "event": sample})
		require.Equal(t, http.StatusOK, res2.status, "%s", res2.body)
		require.Len(t, api.on("/mine"), 1)
		bad := map[string]any{"name": "x", "trigger": map[string]any{"event": "field_value.saved"}, "actions": []map[string]any{{"name": "a", "type": "http"}}}
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/automations/test", map[string]any{"automation": bad, "event": sample}),
			http.StatusUnprocessableEntity, "body.actions[0].url")
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/automations/test", map[string]any{"automation": automation}),
			http.StatusUnprocessableEntity, "body.eventId")
	})
}
