package app_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logLines decodes a JSON log, one object a line; a line that is not one
// fails the test: every line is structured.
func logLines(t *testing.T, raw string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(raw), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "not a structured line: %s", line)
		require.NotEmpty(t, m["level"], line)
		require.NotEmpty(t, m["msg"], line)
		out = append(out, m)
	}
	return out
}

// findLine returns the first line with the message whose attributes hold
// every pair of want.
func findLine(lines []map[string]any, msg string, want map[string]any) map[string]any {
	for _, l := range lines {
		if l["msg"] != msg {
			continue
		}
		match := true
		for k, v := range want {
			if l[k] != v {
				match = false
			}
		}
		if match {
			return l
		}
	}
	return nil
}

// TestLogsTellWhatFailedWithIdsAndNoSecret runs deliveries and an
// automation that fail, an endpoint that answers 410, and API requests,
// with the log at debug, and checks the lines an operator needs are there
// with their ids, and that no key, secret or token appears anywhere.
func TestLogsTellWhatFailedWithIdsAndNoSecret(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		logs := &syncBuffer{}
		cfg := baseConfig(t, dialect)
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		b, _, _ := runApp(t, cfg)

		const variableSecret = "xoxb-logtest-SECRET-variable"
		failing := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) {
			w.WriteHeader(http.StatusInternalServerError)
		}})
		gone := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) { w.WriteHeader(http.StatusGone) }})
		closed := closedPort(t)
		// Receivers' URLs often hold their token (Slack-style paths).
		retried := b.createEndpoint(t, map[string]any{"url": failing.URL + "/T0-PATHSECRET", "events": []string{"order.*"},
			"retrySchedule": []string{"1s"}})
		unreachable := b.createEndpoint(t, map[string]any{"url": "http://" + closed + "/NET-PATHSECRET?token=QUERYSECRET",
			"events": []string{"order.*"}, "retrySchedule": []string{}})
		disabled := b.createEndpoint(t, map[string]any{"url": gone.URL, "events": []string{"gone.*"}})
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/slack_token", map[string]any{"value": variableSecret, "secret": true}, nil)
		au := b.createAutomation(t, map[string]any{"name": "notify", "trigger": map[string]any{"event": "order.paid"},
			"actions": []map[string]any{{"name": "notify", "type": "http", "method": "POST", "url": failing.URL + "/automation",
				"auth":  map[string]any{"type": "bearer", "token": "{{secrets.slack_token}}"},
				"retry": map[string]any{"schedule": []string{"1s"}}}}})
		tenantKey := b.tenantKey(t, "acme")
		order := b.publish(t, "order.paid", "acme", map[string]any{"n": 1})
		b.publish(t, "gone.away", "", map[string]any{})

		var lines []map[string]any
		waitUntil(t, 20*time.Second, "the failure lines", func() bool {
			lines = logLines(t, logs.String())
			return findLine(lines, "webhook delivery failed for good", map[string]any{"endpoint": retried.ID}) != nil &&
				findLine(lines, "automation run failed", map[string]any{"automation": au.ID}) != nil &&
				findLine(lines, "webhook endpoint disabled", map[string]any{"endpoint": disabled.ID}) != nil &&
				findLine(lines, "webhook delivery failed for good", map[string]any{"endpoint": unreachable.ID}) != nil
		})

		retry := findLine(lines, "webhook delivery attempt failed; it will be retried", map[string]any{"endpoint": retried.ID})
		require.NotNil(t, retry, "a retried attempt is logged at info")
		require.Equal(t, "INFO", retry["level"])
		require.Equal(t, order, retry["event"])
		require.EqualValues(t, 1, retry["attempt"])
		require.EqualValues(t, 500, retry["status"])
		require.Contains(t, retry["delivery"], "dlv_")
		require.NotEmpty(t, retry["next_attempt_at"])
		final := findLine(lines, "webhook delivery failed for good", map[string]any{"endpoint": retried.ID})
		require.Equal(t, "WARN", final["level"])
		require.EqualValues(t, 2, final["attempt"])
		network := findLine(lines, "webhook delivery failed for good", map[string]any{"endpoint": unreachable.ID})
		require.Equal(t, "network_error", network["outcome"])
		require.Equal(t, "connection refused", network["err"])
		require.Equal(t, "WARN", findLine(lines, "webhook endpoint disabled", map[string]any{"endpoint": disabled.ID})["level"])

		step := findLine(lines, "automation step failed; the run will be retried", map[string]any{"automation": au.ID})
		require.NotNil(t, step)
		require.Equal(t, "INFO", step["level"])
		require.Equal(t, order, step["event"])
		require.Contains(t, step["run"], "run_")
		failed := findLine(lines, "automation run failed", map[string]any{"automation": au.ID})
		require.Equal(t, "WARN", failed["level"])
		require.Equal(t, step["run"], failed["run"])
		require.Contains(t, failed["err"], "HTTP 500")

		req := findLine(lines, "request", map[string]any{"route": "POST /api/events", "status": float64(202)})
		require.NotNil(t, req, "each request is logged at debug")
		require.Equal(t, "DEBUG", req["level"])
		require.Equal(t, "/api/events", req["path"])
		require.IsType(t, float64(0), req["ms"])

		raw := logs.String()
		for name, secret := range map[string]string{
			"admin key": adminKey, "tenant key": tenantKey, "master key": cfg.MasterKey,
			"endpoint secret": retried.Secret, "automation secret": au.Secret, "secret variable": variableSecret,
			"URL path token": "PATHSECRET", "URL query token": "QUERYSECRET", "an Authorization header": "Bearer ",
		} {
			require.NotContains(t, raw, secret, name)
		}
	})
}

// closedPort is an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
