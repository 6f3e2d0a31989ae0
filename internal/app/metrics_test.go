package app_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scrape reads /metrics with the admin key: each sample line's value by
// its series (name and labels as printed), and each family's type.
func scrape(t *testing.T, b *testBundle) (samples map[string]float64, types map[string]string) {
	t.Helper()
	res := b.call(t, adminKey, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	samples, types = map[string]float64{}, map[string]string{}
	for _, line := range strings.Split(string(res.body), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		samples[line[:i]] = v
	}
	return samples, types
}

func TestMetricsShowPublishedEventsLatencyBacklogBuildAndPools(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.paid"}})
		before, _ := scrape(t, b)
		b.publish(t, "order.paid", "", map[string]any{"amount": 10})
		rc.wait(t, 1, 5*time.Second)

		var m map[string]float64
		waitUntil(t, 5*time.Second, "the delivery's latency observed", func() bool {
			m, _ = scrape(t, b)
			return m["fieldflow_webhook_delivery_latency_seconds_count"] == 1
		})
		// The class label is bounded: a host's own type name never shows.
		require.Equal(t, before[`fieldflow_events_published_total{class="host"}`]+1, m[`fieldflow_events_published_total{class="host"}`])
		require.Contains(t, m, `fieldflow_events_published_total{class="field_value"}`, "classes start at zero")
		// Nothing a tenant or host names is a label: not the event type,
		// not the endpoint.
		for k := range m {
			require.NotContains(t, k, "order.paid")
			require.NotContains(t, k, ep.ID)
		}
		require.Contains(t, m, `fieldflow_backlog_pending{queue="deliveries"}`)
		require.Contains(t, m, `fieldflow_backlog_oldest_due_age_seconds{queue="runs"}`)
		var build, pools int
		for k, v := range m {
			if strings.HasPrefix(k, "fieldflow_build_info{") {
				build++
				require.Equal(t, 1.0, v)
				require.Regexp(t, `^fieldflow_build_info\{commit="[^"]*",goversion="go[^"]+",version="[^"]+"\}$`, k)
			}
			if strings.HasPrefix(k, "go_sql_max_open_connections{") {
				pools++
			}
		}
		require.Equal(t, 1, build)
		require.Positive(t, pools, "the database pools' statistics")
	})
}

// TestMetricsBacklogCountsPendingDeliveries: a receiver that is down
// leaves its delivery pending, and the backlog read from the database at
// scrape time shows it.
func TestMetricsBacklogCountsPendingDeliveries(t *testing.T) {
	t.Parallel()
	b := startApp(t, "sqlite", appOpts{})
	rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) { w.WriteHeader(http.StatusInternalServerError) }})
	b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.paid"}, "retrySchedule": []string{"1h"}})
	b.publish(t, "order.paid", "", map[string]any{"amount": 10})
	rc.wait(t, 1, 5*time.Second)
	waitUntil(t, 5*time.Second, "one pending delivery", func() bool {
		m, _ := scrape(t, b)
		return m[`fieldflow_backlog_pending{queue="deliveries"}`] == 1
	})
}

// TestReadmeMetricsTableListsExactlyTheMetricsServed keeps the README's
// table of metrics true: every family a scrape shows has its row (the Go
// runtime's and the process's under their go_* and process_* rows), and
// every row names a family served once each kind of work has happened.
func TestReadmeMetricsTableListsExactlyTheMetricsServed(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(readme), "| metric | type | labels | meaning |")
	require.True(t, ok, "the README has a table of metrics")
	table, _, _ = strings.Cut(table, "\n\n")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_*]+)` \\| (\\w+|—) \\|").FindAllStringSubmatch(table, -1) {
		rows[m[1]] = m[2]
	}
	require.NotEmpty(t, rows)

	b := startApp(t, "sqlite", appOpts{})
	// Each kind of work once, so that every labelled family has a series.
	rc := startReceiver(t, receiverOpts{})
	b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.paid"}})
	b.publish(t, "order.paid", "", map[string]any{"amount": 10})
	rc.wait(t, 1, 5*time.Second)
	b.call(t, adminKey, http.MethodGet, "/healthz", nil)
	var types map[string]string
	waitUntil(t, 5*time.Second, "a delivery's metrics", func() bool {
		m, ty := scrape(t, b)
		types = ty
		return m["fieldflow_webhook_delivery_latency_seconds_count"] == 1
	})
	var served []string
	for name, typ := range types {
		switch {
		case strings.HasPrefix(name, "go_sql_"):
			require.Contains(t, rows, name, "%s is served but has no README row", name)
			require.Equal(t, typ, rows[name], name)
		case strings.HasPrefix(name, "go_"):
			require.Contains(t, rows, "go_*")
		case strings.HasPrefix(name, "process_"):
			require.Contains(t, rows, "process_*")
		default:
			require.Contains(t, rows, name, "%s is served but has no README row", name)
			require.Equal(t, typ, rows[name], "%s's type", name)
		}
		served = append(served, name)
	}
	for name := range rows {
		if strings.HasSuffix(name, "*") {
			prefix := strings.TrimSuffix(name, "*")
			require.True(t, slices.ContainsFunc(served, func(s string) bool { return strings.HasPrefix(s, prefix) }), name)
			continue
		}
		require.Contains(t, types, name, "the README lists %s, which is not served", name)
	}
}
