package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// statusReceiver answers every request with status.
func statusReceiver(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestPruningTakesOldHistoryWhileWritesGoOn runs an app whose history
// retention is 300 ms, pruned every 50 ms in batches of 20: settled
// deliveries and their events go, a pending (retrying) delivery and its
// event stay, and publishes made all along keep being answered.
func TestPruningTakesOldHistoryWhileWritesGoOn(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{History: 300 * time.Millisecond})
		ok, _ := statusReceiver(t, http.StatusNoContent)
		failing, _ := statusReceiver(t, http.StatusInternalServerError)
		okEp := b.createEndpoint(t, map[string]any{"url": ok.URL + "/in", "events": []string{"order.*"}})
		failEp := b.createEndpoint(t, map[string]any{"url": failing.URL + "/in", "events": []string{"stuck.*"}, "retrySchedule": []string{"1h"}})

		stuck := b.publish(t, "stuck.one", "acme", map[string]any{})
		first := b.publish(t, "order.paid", "acme", map[string]any{"n": 0})

		// Writes go on the whole time pruning runs.
		var (
			mu      sync.Mutex
			slowest time.Duration
			written int
		)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					res := b.call(t, adminKey, http.MethodPost, "/api/events", map[string]any{"type": "order.paid", "tenantId": "acme", "data": map[string]any{"w": w, "i": i}})
					took := time.Since(start)
					if res.status != http.StatusAccepted {
						t.Errorf("publish: %d %s", res.status, res.body)
						return
					}
					mu.Lock()
					slowest, written = max(slowest, took), written+1
					mu.Unlock()
				}
			}()
		}
		waitUntil(t, 20*time.Second, "the first event and its delivery pruned", func() bool {
			return b.call(t, adminKey, http.MethodGet, "/api/events/"+first, nil).status == http.StatusNotFound
		})
		// Pruning is under way; writes must keep landing beside it. The
		// count is progress, not a rate: a stalled write path fails the
		// wait, a slow machine only takes longer.
		mu.Lock()
		base := written
		mu.Unlock()
		waitUntil(t, 20*time.Second, "20 more publishes answered while pruning goes on", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return written >= base+20
		})
		close(stop)
		wg.Wait()
		mu.Lock()
		t.Logf("%s: %d publishes while pruning, slowest %s", dialect, written, slowest)
		mu.Unlock()

		// The stuck delivery is pending: it and its event stay.
		ds := b.deliveries(t, failEp.ID, "")
		require.Len(t, ds.Data, 1)
		require.Equal(t, "pending", ds.Data[0].Status)
		require.Equal(t, http.StatusOK, b.call(t, adminKey, http.MethodGet, "/api/events/"+stuck, nil).status, "a pending delivery's event is kept")
		// Settled ones are taken as they age; every one left is recent.
		waitUntil(t, 20*time.Second, "every settled delivery pruned", func() bool {
			return len(b.deliveries(t, okEp.ID, "").Data) == 0
		})
		require.NotEqual(t, "0", b.metric(t, `fieldflow_retention_pruned_rows_total\{kind="deliveries"\}`))
	})
}

type erasure struct {
	TenantID    string `json:"tenantId"`
	State       string `json:"state"`
	RowsRemoved int64  `json:"rowsRemoved"`
	EventID     string `json:"eventId"`
}

// TestEraseTenantRemovesItsDataOnlyAndSaysSo erases one tenant: its
// values, endpoints, variables and events go, its key stops working, the
// other tenant keeps everything, and a tenant.erased event is stored. Only
// an admin key may ask (a tenant key gets 403, for itself too).
func TestEraseTenantRemovesItsDataOnlyAndSaysSo(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		goneKey, staysKey := b.tenantKey(t, "gone"), b.tenantKey(t, "stays")
		for _, tenant := range []string{"gone", "stays"} {
			b.save(t, tenant, "c1", map[string]any{"country": "DE"})
			b.must(t, http.StatusOK, http.MethodPut, "/api/tenants/"+tenant+"/variables/region", map[string]any{"value": "eu"}, nil)
			b.createEndpoint(t, map[string]any{"url": "https://hooks.example.com/" + tenant, "events": []string{"*"}, "tenantId": tenant})
			b.publish(t, "order.paid", tenant, map[string]any{})
		}

		for _, key := range []string{goneKey, staysKey} {
			res := b.call(t, key, http.MethodDelete, "/api/tenants/gone", nil)
			requireProblem(t, res, http.StatusForbidden)
			res = b.call(t, key, http.MethodGet, "/api/tenants/gone/erasure", nil)
			requireProblem(t, res, http.StatusForbidden)
		}
		requireProblem(t, b.call(t, "", http.MethodDelete, "/api/tenants/gone", nil), http.StatusUnauthorized)
		requireProblem(t, b.call(t, adminKey, http.MethodGet, "/api/tenants/gone/erasure", nil), http.StatusNotFound)

		var e erasure
		b.must(t, http.StatusAccepted, http.MethodDelete, "/api/tenants/gone", nil, &e)
		require.Equal(t, "gone", e.TenantID)
		waitUntil(t, 10*time.Second, "the erasure done", func() bool {
			b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/gone/erasure", nil, &e)
			return e.State == "done"
		})
		require.Positive(t, e.RowsRemoved)
		require.True(t, strings.HasPrefix(e.EventID, "evt_"))

		require.Empty(t, b.values(t, "gone", "c1"))
		require.Equal(t, map[string]any{"country": "DE"}, b.values(t, "stays", "c1"))
		require.Empty(t, b.events(t, "tenantId=gone"))
		require.NotEmpty(t, b.events(t, "tenantId=stays"))
		var vars struct{ Data []any }
		b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/gone/variables", nil, &vars)
		require.Empty(t, vars.Data)
		b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/stays/variables", nil, &vars)
		require.Len(t, vars.Data, 1)
		var eps struct{ Data []endpoint }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks?tenantId=gone", nil, &eps)
		require.Empty(t, eps.Data)
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks?tenantId=stays", nil, &eps)
		require.Len(t, eps.Data, 1)
		requireProblem(t, b.call(t, goneKey, http.MethodGet, "/api/tenants/gone/variables", nil), http.StatusUnauthorized)
		require.Equal(t, http.StatusOK, b.call(t, staysKey, http.MethodGet, "/api/tenants/stays/variables", nil).status)

		erased := b.events(t, "type=tenant.erased")
		require.Len(t, erased, 1)
		require.Equal(t, e.EventID, erased[0].ID)
		require.Empty(t, erased[0].TenantID, "a vendor-level event")
		require.Equal(t, "gone", erased[0].Payload["erasedTenantId"])
		require.EqualValues(t, e.RowsRemoved, erased[0].Payload["rowsRemoved"])
	})
}

// TestTenantRetentionIsSetShownAndReset covers the per-tenant retention
// routes: admin keys only, days within 1 to 36500.
func TestTenantRetentionIsSetShownAndReset(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		type view struct {
			TenantID string            `json:"tenantId"`
			Days     *int              `json:"days"`
			Defaults map[string]string `json:"defaults"`
		}
		var v view
		b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/gold/retention", nil, &v)
		require.Nil(t, v.Days)
		require.Equal(t, map[string]string{"events": "720h0m0s", "deliveries": "720h0m0s", "runs": "720h0m0s"}, v.Defaults)
		b.must(t, http.StatusOK, http.MethodPut, "/api/tenants/gold/retention", map[string]any{"days": 365}, &v)
		require.Equal(t, 365, *v.Days)
		b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/gold/retention", nil, &v)
		require.Equal(t, 365, *v.Days)
		for _, body := range []any{map[string]any{"days": 0}, map[string]any{"days": 36501}, map[string]any{"days": "365"}, map[string]any{}} {
			res := b.call(t, adminKey, http.MethodPut, "/api/tenants/gold/retention", body)
			require.True(t, res.status == http.StatusUnprocessableEntity || res.status == http.StatusBadRequest, "%v: %d %s", body, res.status, res.body)
		}
		key := b.tenantKey(t, "gold")
		requireProblem(t, b.call(t, key, http.MethodPut, "/api/tenants/gold/retention", map[string]any{"days": 9999}), http.StatusForbidden)
		requireProblem(t, b.call(t, key, http.MethodGet, "/api/tenants/gold/retention", nil), http.StatusForbidden)
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/tenants/gold/retention", nil, nil)
		b.must(t, http.StatusOK, http.MethodGet, "/api/tenants/gold/retention", nil, &v)
		require.Nil(t, v.Days)
	})
}

// TestDeletedEndpointKeepsItsDeliveryHistory deletes an endpoint that has
// delivered: it is gone from lists and GET, but its delivery, with the
// attempt and the receiver's answer, can still be read (and not retried).
func TestDeletedEndpointKeepsItsDeliveryHistory(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		srv, _ := statusReceiver(t, http.StatusNoContent)
		ep := b.createEndpoint(t, map[string]any{"url": srv.URL + "/in", "events": []string{"*"}, "tenantId": "acme"})
		id := b.publish(t, "order.paid", "acme", map[string]any{})
		ds := b.waitFinished(t, ep.ID, 1, 10*time.Second)
		require.Equal(t, "succeeded", ds[0].Status)

		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/webhooks/"+ep.ID, nil, nil)
		requireProblem(t, b.call(t, adminKey, http.MethodGet, "/api/webhooks/"+ep.ID, nil), http.StatusNotFound)
		var eps struct{ Data []endpoint }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &eps)
		require.Empty(t, eps.Data)

		for _, key := range []string{adminKey, b.tenantKey(t, "acme")} {
			res := b.call(t, key, http.MethodGet, "/api/deliveries/"+ds[0].ID, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.body)
			d := b.delivery(t, ds[0].ID)
			require.Equal(t, "succeeded", d.Status)
			require.Len(t, d.Attempts, 1)
			require.Equal(t, http.StatusNoContent, d.Attempts[0].ResponseStatus)
		}
		requireProblem(t, b.call(t, b.tenantKey(t, "other"), http.MethodGet, "/api/deliveries/"+ds[0].ID, nil), http.StatusNotFound)
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/deliveries/"+ds[0].ID+"/retry", nil), http.StatusConflict)
		require.Len(t, b.eventDetail(t, adminKey, id).Deliveries, 1, "the event still lists what was sent")
		// New events reach it no more.
		b.publish(t, "order.paid", "acme", map[string]any{})
		require.Len(t, b.eventDetail(t, adminKey, id).Deliveries, 1)
	})
}
