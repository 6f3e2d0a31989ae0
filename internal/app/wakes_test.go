package app_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAWorkerIdleUntilItsNextPollIsWokenByAnotherInstance runs a worker
// whose polls are an hour apart beside an api instance on one PostgreSQL
// schema. Everything the api instance commits (a delivery, a run, a
// time rule's timer) waits in the database for a worker; the worker takes
// each within the test's deadline, so only a wake can have told it. SQLite
// has one process per database and nothing to wake.
func TestAWorkerIdleUntilItsNextPollIsWokenByAnotherInstance(t *testing.T) {
	t.Parallel()
	const poll, within = time.Hour, time.Minute
	worker := startApp(t, "postgres", appOpts{Role: "worker", DeliveryPoll: poll})
	front := startApp(t, "postgres", appOpts{Role: "api", Share: worker, DeliveryPoll: poll})
	customerGroup(t, front)
	recv := startAPI(t, nil)
	front.createEndpoint(t, map[string]any{"url": recv.URL + "/hook", "events": []string{"order.placed"}})
	call := func(path string) []map[string]any {
		return []map[string]any{{"name": "tell", "type": "http", "url": recv.URL + path,
			"body": map[string]any{"type": "json", "json": map[string]any{"entityId": "{{event.entityId}}"}}}}
	}
	front.createAutomation(t, map[string]any{"name": "On order", "trigger": map[string]any{"event": "order.placed"}, "actions": call("/run")})
	front.createAutomation(t, map[string]any{"name": "Waiting",
		"trigger": map[string]any{"sla": map[string]any{"fieldGroup": "customer", "fieldKey": "stage", "value": "waiting", "after": "1s"}},
		"actions": call("/sla")})

	front.publish(t, "order.placed", "acme", map[string]any{"n": 1})
	front.save(t, "acme", "held", map[string]any{"stage": "waiting"})
	for _, path := range []string{"/hook", "/run", "/sla"} {
		waitUntil(t, within, "the worker to call "+path, func() bool { return len(recv.on(path)) > 0 })
	}

	res := worker.call(t, adminKey, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.status)
	for _, kind := range []string{"deliveries", "runs", "timers"} {
		m := regexp.MustCompile(`(?m)^fieldflow_wakes_heard_total\{kind="` + kind + `"\} (\S+)$`).FindSubmatch(res.body)
		require.NotNil(t, m, "fieldflow_wakes_heard_total for %s in /metrics", kind)
		n, err := strconv.ParseFloat(string(m[1]), 64)
		require.NoError(t, err)
		require.Positive(t, n, "%s wakes heard", kind)
	}
}
