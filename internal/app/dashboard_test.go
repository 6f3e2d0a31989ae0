package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The dashboard's overview (GET /api/stats/overview) and each endpoint's
// health (health.recent on GET /api/webhooks and /api/webhooks/{id}),
// over real deliveries to a receiver that answers 200 and one that
// answers 500.

type overview struct {
	Window        string `json:"window"`
	BucketSeconds int    `json:"bucketSeconds"`
	From, To      time.Time
	Buckets       []struct {
		Start               time.Time `json:"start"`
		Events              int       `json:"events"`
		DeliveriesSucceeded int       `json:"deliveriesSucceeded"`
		DeliveriesFailed    int       `json:"deliveriesFailed"`
		EndpointsFailed     int       `json:"endpointsFailed"`
		RunsFailed          int       `json:"runsFailed"`
		DeliveriesBacklog   int       `json:"deliveriesBacklog"`
	} `json:"buckets"`
	Backlog struct {
		DeliveriesPending       int        `json:"deliveriesPending"`
		DeliveriesOldestPending *time.Time `json:"deliveriesOldestPending"`
	} `json:"backlog"`
	FailingEndpoints []struct {
		ID, URL, State string
		TenantID       *string    `json:"tenantId"`
		FailingSince   *time.Time `json:"failingSince"`
	} `json:"failingEndpoints"`
}

type recentHealth struct {
	Deliveries    int        `json:"deliveries"`
	Attempts      int        `json:"attempts"`
	Succeeded     int        `json:"succeeded"`
	SuccessRate   *float64   `json:"successRate"`
	LastSuccessAt *time.Time `json:"lastSuccessAt"`
	LastErrorAt   *time.Time `json:"lastErrorAt"`
	LastStatus    int        `json:"lastStatus"`
	LastError     string     `json:"lastError"`
}

type endpointHealth struct {
	ID     string `json:"id"`
	Health struct {
		State  string        `json:"state"`
		Recent *recentHealth `json:"recent"`
	} `json:"health"`
}

func TestOverviewAndEndpointHealth(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		good := startReceiver(t, receiverOpts{})
		bad := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) { w.WriteHeader(http.StatusInternalServerError) }})
		epGood := b.createEndpoint(t, map[string]any{"url": good.URL, "events": []string{"order.*"}, "tenantId": "acme"})
		epBad := b.createEndpoint(t, map[string]any{"url": bad.URL, "events": []string{"order.*"}, "tenantId": "globex", "retrySchedule": []string{"1s"}})
		for range 3 {
			b.publish(t, "order.created", "acme", map[string]any{"n": 1})
		}
		b.publish(t, "order.created", "globex", map[string]any{"n": 2})
		b.waitFinished(t, epGood.ID, 3, 10*time.Second)
		b.waitFinished(t, epBad.ID, 1, 10*time.Second)

		var o overview
		b.must(t, http.StatusOK, http.MethodGet, "/api/stats/overview", nil, &o)
		require.Equal(t, "1h", o.Window)
		require.Equal(t, 60, o.BucketSeconds)
		require.Len(t, o.Buckets, 60)
		require.Equal(t, time.Hour, o.To.Sub(o.From))
		require.WithinDuration(t, time.Now(), o.To, time.Minute)
		events, succeeded, failed := 0, 0, 0
		for i, bk := range o.Buckets {
			require.Equal(t, o.From.Add(time.Duration(i)*time.Minute), bk.Start)
			events, succeeded, failed = events+bk.Events, succeeded+bk.DeliveriesSucceeded, failed+bk.DeliveriesFailed
		}
		require.GreaterOrEqual(t, events, 4, "the published events and no more than the app's own")
		require.Equal(t, 3, succeeded)
		require.Equal(t, 1, failed)
		require.Zero(t, o.Buckets[59].DeliveriesBacklog, "nothing is pending now")
		require.Zero(t, o.Backlog.DeliveriesPending)
		require.Nil(t, o.Backlog.DeliveriesOldestPending)
		require.Len(t, o.FailingEndpoints, 1)
		require.Equal(t, epBad.ID, o.FailingEndpoints[0].ID)
		require.Equal(t, "failing", o.FailingEndpoints[0].State)
		require.Equal(t, "globex", *o.FailingEndpoints[0].TenantID)
		require.NotNil(t, o.FailingEndpoints[0].FailingSince)

		var day overview
		b.must(t, http.StatusOK, http.MethodGet, "/api/stats/overview?window=24h", nil, &day)
		require.Equal(t, 3600, day.BucketSeconds)
		require.Len(t, day.Buckets, 24)
		dayEvents := 0
		for _, bk := range day.Buckets {
			dayEvents += bk.Events
		}
		require.Equal(t, events, dayEvents)

		// Bad parameters are 400s, never 500s; the route is an admin's.
		for _, q := range []string{"?window=7d", "?window=1H", "?window=%00", "?window=1h%27--"} {
			requireProblem(t, b.call(t, adminKey, http.MethodGet, "/api/stats/overview"+q, nil), http.StatusBadRequest, "query.window")
		}
		requireProblem(t, b.call(t, "", http.MethodGet, "/api/stats/overview", nil), http.StatusUnauthorized)
		requireProblem(t, b.call(t, "ffk_unknown", http.MethodGet, "/api/stats/overview", nil), http.StatusUnauthorized)
		acme := b.tenantKey(t, "acme")
		requireProblem(t, b.call(t, acme, http.MethodGet, "/api/stats/overview", nil), http.StatusForbidden)
		portal, _ := mintPortal(t, b, map[string]any{"tenantId": "acme"})
		requireProblem(t, portal.get(t, "/api/stats/overview"), http.StatusForbidden)

		// Health: the latest deliveries' attempts, per endpoint.
		var list struct{ Data []endpointHealth }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &list)
		require.Len(t, list.Data, 2)
		byID := map[string]endpointHealth{}
		for _, e := range list.Data {
			byID[e.ID] = e
		}
		g := byID[epGood.ID].Health
		require.Equal(t, "healthy", g.State)
		require.NotNil(t, g.Recent)
		require.Equal(t, 3, g.Recent.Deliveries)
		require.Equal(t, 3, g.Recent.Attempts)
		require.Equal(t, 3, g.Recent.Succeeded)
		require.InDelta(t, 1.0, *g.Recent.SuccessRate, 1e-9)
		require.NotNil(t, g.Recent.LastSuccessAt)
		require.Nil(t, g.Recent.LastErrorAt)
		require.Empty(t, g.Recent.LastError)

		requireBad := func(h endpointHealth) {
			t.Helper()
			require.Equal(t, "failing", h.Health.State)
			r := h.Health.Recent
			require.NotNil(t, r)
			require.Equal(t, 1, r.Deliveries)
			require.Equal(t, 2, r.Attempts, "the first try and its one retry")
			require.Zero(t, r.Succeeded)
			require.InDelta(t, 0.0, *r.SuccessRate, 1e-9)
			require.Nil(t, r.LastSuccessAt)
			require.NotNil(t, r.LastErrorAt)
			require.Equal(t, 500, r.LastStatus)
			require.Equal(t, "HTTP 500", r.LastError)
		}
		requireBad(byID[epBad.ID])
		var one endpointHealth
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+epBad.ID, nil, &one)
		requireBad(one)

		// A tenant sees its own endpoint's health and nothing of another's.
		res := b.call(t, acme, http.MethodGet, "/api/webhooks", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NoError(t, json.Unmarshal(res.body, &list))
		require.Len(t, list.Data, 1)
		require.Equal(t, epGood.ID, list.Data[0].ID)
		require.Equal(t, 3, list.Data[0].Health.Recent.Succeeded)
		requireProblem(t, b.call(t, acme, http.MethodGet, "/api/webhooks/"+epBad.ID, nil), http.StatusNotFound)
		requireProblem(t, b.call(t, acme, http.MethodGet, "/api/webhooks?tenantId=globex", nil), http.StatusForbidden)
		res = portal.get(t, "/api/webhooks")
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NoError(t, json.Unmarshal(res.body, &list))
		require.Len(t, list.Data, 1)
		require.Equal(t, epGood.ID, list.Data[0].ID)
		require.NotNil(t, list.Data[0].Health.Recent)
		requireProblem(t, portal.get(t, "/api/webhooks/"+epBad.ID), http.StatusNotFound)
	})
}
