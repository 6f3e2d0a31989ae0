package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWebhookActionSendsTriggerAndRecordAndRetriesAnyNon2xx checks what a
// "Call webhook" receiver is told: the body names when and what fired,
// the record of a host-published event's entity is filled, and an answer
// that is neither 2xx nor one of the usual retry statuses (here 400) is
// retried on the webhook schedule.
func TestWebhookActionSendsTriggerAndRecordAndRetriesAnyNon2xx(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.save(t, "acme", "cust-9", map[string]any{"stage": "lead"})
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, n int, got *received) {
			w.WriteHeader(http.StatusBadRequest)
		}})
		a := b.createAutomation(t, map[string]any{
			"name":    "Tell the CRM about renewals",
			"trigger": map[string]any{"event": "client.renewed"},
			"actions": []map[string]any{{"name": "crm", "type": "webhook", "url": rc.URL}},
		})
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true}, nil)
		b.publish(t, "client.renewed", "acme", map[string]any{"entityId": "cust-9", "fieldGroup": "customer", "plan": "pro"})

		got := rc.wait(t, 1, 10*time.Second)[0]
		var body struct {
			Event       map[string]any `json:"event"`
			Record      map[string]any `json:"record"`
			FiredAt     string         `json:"firedAt"`
			TriggerKey  string         `json:"triggerKey"`
			TriggerName string         `json:"triggerName"`
		}
		require.NoError(t, json.Unmarshal(got.Body, &body))
		require.Equal(t, "client.renewed", body.Event["event"])
		require.Equal(t, "event:client.renewed", body.TriggerKey)
		require.Equal(t, "Tell the CRM about renewals", body.TriggerName)
		fired, err := time.Parse(time.RFC3339Nano, body.FiredAt)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), fired, time.Hour)
		require.Equal(t, "cust-9", body.Record["id"])
		require.Equal(t, map[string]any{"stage": "lead"}, body.Record["values"])
		for _, k := range []string{"createdAt", "updatedAt"} {
			s, _ := body.Record[k].(string)
			_, err := time.Parse(time.RFC3339Nano, s)
			require.NoError(t, err, "record.%s %q", k, body.Record[k])
		}

		// The 400 leaves the run pending, its step retrying about a minute
		// later: the first wait of the webhook schedule.
		var r struct {
			State         string     `json:"state"`
			NextAttemptAt *time.Time `json:"nextAttemptAt"`
			Steps         []runStep  `json:"steps"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			runs := b.runs(t, a.ID, "")
			if len(runs) == 1 {
				b.must(t, http.StatusOK, http.MethodGet, "/api/runs/"+runs[0].ID, nil, &r)
			}
			if len(r.Steps) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.Equal(t, "pending", r.State, "a 400 is retried, not failed for good")
		require.NotNil(t, r.NextAttemptAt)
		wait := time.Until(*r.NextAttemptAt)
		require.True(t, wait > 40*time.Second && wait < 70*time.Second, "next attempt in %s, want about 1m", wait)
	})
}
