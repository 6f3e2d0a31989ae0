package app_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAutomationStepRetriesOnSchedule proves a step's retry policy: a step
// answered 500, 500, 200 with a schedule of 1s, 1s succeeds on its third
// attempt, each attempt logged; a status outside onStatus, or a 4xx by
// default, fails the run at once.
func TestAutomationStepRetriesOnSchedule(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		var mu sync.Mutex
		flakyCalls := 0
		api := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			switch c.URL.Path {
			case "/flaky":
				mu.Lock()
				flakyCalls++
				n := flakyCalls
				mu.Unlock()
				if n < 3 {
					w.WriteHeader(http.StatusInternalServerError)
					_, _ = w.Write([]byte("down"))
					return
				}
				_, _ = w.Write([]byte("fine"))
			case "/strict":
				w.WriteHeader(http.StatusServiceUnavailable)
			case "/missing":
				w.WriteHeader(http.StatusNotFound)
			}
		})
		create := func(name, path string, retry map[string]any) automation {
			return b.createAutomation(t, map[string]any{
				"name":    name,
				"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "counter"},
				"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + path, "retry": retry}},
			})
		}
		flaky := create("Flaky", "/flaky", map[string]any{"schedule": []string{"1s", "1s"}})
		strict := create("Strict", "/strict", map[string]any{"schedule": []string{"1s", "1s"}, "onStatus": []int{429}})
		missing := create("Missing", "/missing", map[string]any{"schedule": []string{"1s", "1s"}})

		b.save(t, "acme", "cust-1", map[string]any{"counter": 1})

		r := b.waitRuns(t, flaky.ID, 1, 10*time.Second)[0]
		require.Equal(t, "succeeded", r.State, "%+v", r)
		require.Len(t, r.Steps, 3)
		for i, want := range []string{"retrying", "retrying", "succeeded"} {
			s := r.Steps[i]
			require.Equal(t, want, s.State, "attempt %d", i+1)
			require.Equal(t, i+1, s.Attempt)
			if i < 2 {
				require.Equal(t, 500, s.Response.Status)
				require.Equal(t, "down", s.Response.Body)
				require.Equal(t, "HTTP 500 Internal Server Error", s.Error)
			}
		}
		require.Equal(t, 200, r.Steps[2].Response.Status)
		calls := api.on("/flaky")
		require.Len(t, calls, 3)
		for i := 1; i < 3; i++ {
			gap := calls[i].At.Sub(calls[i-1].At)
			require.True(t, gap >= 850*time.Millisecond && gap < 1600*time.Millisecond, "attempt %d came %s after the one before, want 1s ±10%%", i+1, gap)
			require.Equal(t, calls[0].Header.Get("Idempotency-Key"), calls[i].Header.Get("Idempotency-Key"), "every attempt of a step has the same key")
		}

		for _, c := range []struct {
			a      automation
			path   string
			status int
		}{{strict, "/strict", 503}, {missing, "/missing", 404}} {
			r := b.waitRuns(t, c.a.ID, 1, 5*time.Second)[0]
			require.Equal(t, "failed", r.State, "%+v", r)
			require.Len(t, r.Steps, 1, c.path)
			require.Equal(t, "failed", r.Steps[0].State)
			require.Equal(t, c.status, r.Steps[0].Response.Status)
			require.Contains(t, r.Error, "step call failed: HTTP", c.path)
		}
		time.Sleep(1500 * time.Millisecond) // past the first retry, had there been one
		require.Len(t, api.on("/strict"), 1, "503 is not in onStatus [429]")
		require.Len(t, api.on("/missing"), 1, "404 is not retried by default")
	})
}

// TestAutomationRetryRunContinuesFromFailedStep proves POST
// /api/runs/{id}/retry: a failed run continues from the step that failed,
// with what earlier steps captured and without sending them again; a run
// that has not failed is a 409.
func TestAutomationRetryRunContinuesFromFailedStep(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		var mu sync.Mutex
		broken := true
		api := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			switch c.URL.Path {
			case "/orders":
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"id": "ord-7"}`))
			default:
				mu.Lock()
				defer mu.Unlock()
				if broken {
					w.WriteHeader(http.StatusBadRequest)
					_, _ = w.Write([]byte("confirmations are off"))
				}
			}
		})
		a := b.createAutomation(t, map[string]any{
			"name":    "Order and confirm",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "counter"},
			"actions": []map[string]any{
				{"name": "order", "type": "http", "url": api.URL + "/orders", "captureResponse": true},
				{"name": "confirm", "type": "http", "url": api.URL + "/orders/{{steps.order.response.body.id}}/confirm"},
				{"name": "mark", "type": "set_field", "values": map[string]any{"sales_notified": true}},
			},
		})

		b.save(t, "acme", "cust-1", map[string]any{"counter": 1})
		r := b.waitRuns(t, a.ID, 1, 10*time.Second)[0]
		require.Equal(t, "failed", r.State, "%+v", r)
		require.Equal(t, 1, r.Step, "stopped at confirm")
		require.Contains(t, r.Error, "step confirm failed: HTTP 400")
		require.Nil(t, b.values(t, "acme", "cust-1")["sales_notified"])
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/runs/run_01hzzzzzzzzzzzzzzzzzzzzzzz/retry", nil), http.StatusNotFound)

		mu.Lock()
		broken = false
		mu.Unlock()
		var retried run
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/runs/"+r.ID+"/retry", nil, &retried)
		require.Equal(t, r.ID, retried.ID)
		r = b.waitRun(t, r.ID, 10*time.Second)
		require.Equal(t, "succeeded", r.State, "%+v", r)
		require.Empty(t, r.Error)
		require.Equal(t, true, b.values(t, "acme", "cust-1")["sales_notified"])

		require.Len(t, api.on("/orders"), 1, "the step before the failed one is not sent again")
		confirms := api.on("/orders/ord-7/confirm")
		require.Len(t, confirms, 2, "the retry used what the order step captured")
		require.Equal(t, r.ID+"-confirm", confirms[1].Header.Get("Idempotency-Key"))
		require.Equal(t, confirms[0].Header.Get("Idempotency-Key"), confirms[1].Header.Get("Idempotency-Key"))
		var log [][2]string
		for _, s := range r.Steps {
			log = append(log, [2]string{s.Name, s.State})
		}
		require.Equal(t, [][2]string{{"order", "succeeded"}, {"confirm", "failed"}, {"confirm", "succeeded"}, {"mark", "succeeded"}}, log)

		// A run that has not failed cannot be retried.
		res := b.call(t, adminKey, http.MethodPost, "/api/runs/"+r.ID+"/retry", nil)
		requireProblem(t, res, http.StatusConflict)
		require.Len(t, api.all(), 3)
		require.Equal(t, "succeeded", b.run(t, r.ID).State)
	})
}
