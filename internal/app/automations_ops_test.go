package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAutomationRunFailureIsAnEvent: a run that fails for good emits
// automation.run_failed, which a webhook endpoint watching automation.*
// receives, naming the automation, the run and the error.
func TestAutomationRunFailureIsAnEvent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		down := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) {
			w.WriteHeader(http.StatusBadRequest)
		}})
		ops := startReceiver(t, receiverOpts{})
		b.createEndpoint(t, map[string]any{"url": ops.URL, "events": []string{"automation.*"}})
		a := b.createAutomation(t, map[string]any{
			"name":    "Call a service that refuses",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "stage"},
			"actions": []map[string]any{{"name": "call", "type": "http", "url": down.URL}},
		})
		b.save(t, "acme", "cust-1", map[string]any{"stage": "won"})
		rs := b.waitRuns(t, a.ID, 1, 10*time.Second)
		require.Equal(t, "failed", rs[0].State)
		require.Contains(t, rs[0].Error, "HTTP 400")

		p := ops.wait(t, 1, 5*time.Second)[0].payload(t)
		require.Equal(t, "automation.run_failed", p["event"])
		require.Equal(t, "acme", p["tenantId"])
		require.Equal(t, a.ID, p["automationId"])
		run := p["run"].(map[string]any)
		require.Equal(t, rs[0].ID, run["id"])
		require.Contains(t, run["error"], "HTTP 400")
		chain := p["causedBy"].([]any)
		require.Len(t, chain, 1)
		require.Equal(t, rs[0].ID, chain[0].(map[string]any)["runId"])
	})
}
