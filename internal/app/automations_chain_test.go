package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAutomationWritesCapturedResponseBack asks a rate API for the
// entity's country and writes the captured rate into another field: the
// value arrives as a number, and the events of that write name the run.
func TestAutomationWritesCapturedResponseBack(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		rates := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			rate, ok := map[string]float64{"DE": 12.5, "FR": 9.75}[c.URL.Query().Get("country")]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = fmt.Fprintf(w, `{"rate": %v, "currency": "EUR"}`, rate)
		})
		a := b.createAutomation(t, map[string]any{
			"name":    "Quote shipping",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
			"actions": []map[string]any{
				{"name": "quote", "type": "http", "method": "GET", "url": rates.URL + "/rates",
					"query": map[string]any{"country": "{{entity.values.country}}"}, "captureResponse": true},
				{"name": "store", "type": "set_field", "values": map[string]any{"shipping_rate": "{{steps.quote.response.body.rate}}"}},
			},
		})

		b.save(t, "acme", "cust-1", map[string]any{"country": "DE"})
		r := b.waitRuns(t, a.ID, 1, 10*time.Second)[0]
		require.Equal(t, "succeeded", r.State, "%+v", r)
		require.Equal(t, 12.5, b.values(t, "acme", "cust-1")["shipping_rate"])
		require.Len(t, rates.all(), 1)
		require.Equal(t, "DE", rates.all()[0].URL.Query().Get("country"))
		require.Len(t, r.Steps, 2)
		require.Equal(t, 200, r.Steps[0].Response.Status)
		require.JSONEq(t, `{"rate": 12.5, "currency": "EUR"}`, r.Steps[0].Response.Body)
		require.Equal(t, "succeeded", r.Steps[1].State)
		require.Empty(t, r.Steps[1].Notes)
		var logged struct {
			EntityID string         `json:"entityId"`
			Values   map[string]any `json:"values"`
		}
		require.NoError(t, json.Unmarshal(r.Steps[1].Request, &logged))
		require.Equal(t, "cust-1", logged.EntityID)
		require.Equal(t, map[string]any{"shipping_rate": 12.5}, logged.Values)

		// The write's events carry the run as their cause; the API save's
		// do not.
		cause := []any{map[string]any{"automationId": a.ID, "runId": r.ID, "eventId": r.EventID}}
		var sawSaved, sawEntity bool
		for _, ev := range b.events(t, "tenantId=acme") {
			switch {
			case ev.Type == "field_value.saved" && ev.Payload["fieldKey"] == "shipping_rate":
				sawSaved = true
				require.Equal(t, 12.5, ev.Payload["value"])
				require.Equal(t, cause, ev.Payload["causedBy"], "%v", ev.Payload)
			case ev.Type == "entity.updated" && ev.Payload["version"] == 2.0:
				sawEntity = true
				require.Equal(t, cause, ev.Payload["causedBy"], "%v", ev.Payload)
			case ev.ID == r.EventID:
				require.NotContains(t, ev.Payload, "causedBy")
			}
		}
		require.True(t, sawSaved && sawEntity, "the write emitted field_value.saved and entity.updated")

		// Another country, another rate.
		b.save(t, "acme", "cust-1", map[string]any{"country": "FR"})
		rs := b.waitRuns(t, a.ID, 2, 10*time.Second)
		require.Equal(t, "succeeded", rs[0].State, "%+v", rs[0])
		require.Equal(t, 9.75, b.values(t, "acme", "cust-1")["shipping_rate"])
	})
}
