package webhooks_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// Endpoint rows that cannot be used (a filter that no longer compiles, a
// secret sealed with another master key) are written straight through the
// store, as a CEL upgrade or a wrong key would leave them, over each
// database; a real dispatcher sends to a real receiver.

// logRecords keeps the log records a service writes.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record // guarded by mu
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// matching returns the records of the level whose message contains msg,
// each as its attributes.
func (l *logRecords) matching(level slog.Level, msg string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if r.Level != level || !strings.Contains(r.Message, msg) {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

type brokenBundle struct {
	svc   *webhooks.Service
	fan   *webhooks.Fanout // svc's subscriber
	store store.Store
	box   *secretbox.Box
	reg   *prometheus.Registry
	logs  *logRecords
	// hits are the event types the receiver got, in order.
	mu   sync.Mutex
	hits []string // guarded by mu
	url  string
}

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	require.NoError(t, err)
	return box
}

func setupBroken(t *testing.T, dialect string) *brokenBundle {
	t.Helper()
	b := &brokenBundle{store: storetest.Open(t, dialect), box: newBox(t), reg: prometheus.NewRegistry(), logs: &logRecords{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.mu.Lock()
		b.hits = append(b.hits, r.Header.Get("X-Fieldflow-Event"))
		b.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/hook"
	cfg := webhooks.Config{Store: b.store, Box: b.box, Client: outbound.NewHTTPClient(true), Dispatch: true,
		PollInterval: 10 * time.Millisecond, Logger: slog.New(b.logs), Registry: b.reg}
	b.fan = webhooks.NewFanout(cfg)
	cfg.Fanout = b.fan
	b.svc = webhooks.New(cfg)
	require.NoError(t, b.svc.Start(context.Background()))
	t.Cleanup(func() { b.svc.Stop(context.Background()) })
	return b
}

// writeRow stores an endpoint row as is, past every check.
func (b *brokenBundle) writeRow(t *testing.T, id, filter, sealedSecret string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ep := &store.Endpoint{ID: id, URL: b.url, Events: []string{"*"}, Filter: filter, Headers: map[string]string{},
		SignatureHeader: webhooks.DefaultSignatureHeader, SignatureFormat: "hex", RetrySchedule: []string{"1m"}, TimeoutSeconds: 5, MaxInFlight: 1,
		Active: true, Secret: sealedSecret, CreatedAt: now.Add(-time.Minute), UpdatedAt: now}
	require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.EndpointCreate(ctx, ep)
	}))
}

func (b *brokenBundle) publish(t *testing.T, typ string, data events.Object) *events.Event {
	t.Helper()
	ev, err := events.New(typ, "", time.Now(), events.Member{Key: "data", Value: data})
	require.NoError(t, err)
	require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return records.WriteEvents(ctx, tx, []records.Subscriber{b.fan}, []*events.Event{ev})
	}), "a broken endpoint must not fail the write")
	return ev
}

func (b *brokenBundle) deliveredTo(t *testing.T, ev *events.Event) []*webhooks.DeliveryView {
	t.Helper()
	ds, err := b.svc.EventDeliveries(context.Background(), scope.Admin(), ev.ID)
	require.NoError(t, err)
	return ds
}

func (b *brokenBundle) waitHits(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.hits) >= n
	}, 5*time.Second, 5*time.Millisecond, "%d requests at the receiver", n)
}

func TestBrokenEndpointIsLeftOutOfFanoutAndShownBroken(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBroken(t, dialect)
			ctx := context.Background()

			good, err := b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"*"}})
			require.NoError(t, err)
			b.writeRow(t, "wh_badfilter", `event.data.x ==`, b.box.Seal(outbound.NewSecret()))
			b.writeRow(t, "wh_badsecret", "", newBox(t).Seal(outbound.NewSecret()))

			ev := b.publish(t, "order.paid", events.Object{{Key: "n", Value: 1}})
			ds := b.deliveredTo(t, ev)
			require.Len(t, ds, 1, "only the good endpoint gets a delivery")
			require.Equal(t, good.ID, ds[0].EndpointID)
			b.waitHits(t, 1)

			// Broken, in the endpoint's API, in the metric and in the log.
			for id, want := range map[string]string{"wh_badfilter": "filter does not compile", "wh_badsecret": "secret cannot be opened"} {
				v, err := b.svc.GetEndpoint(ctx, scope.Admin(), id)
				require.NoError(t, err)
				require.Equal(t, webhooks.HealthBroken, v.Health.State, id)
				require.Contains(t, v.Health.Error, want, id)
			}
			list, _, err := b.svc.ListEndpoints(ctx, scope.Admin(), "", store.Page{Page: 1, PageSize: 50})
			require.NoError(t, err)
			states := map[string]string{}
			for _, v := range list {
				states[v.ID] = v.Health.State
			}
			require.Equal(t, map[string]string{good.ID: webhooks.HealthHealthy, "wh_badfilter": webhooks.HealthBroken, "wh_badsecret": webhooks.HealthBroken}, states)
			require.InDelta(t, 2, metricValue(t, b.reg, "fieldflow_webhook_endpoints_broken"), 0)

			// The event detail says which endpoints were left out, and why.
			out, err := b.svc.EventFilteredOut(ctx, scope.Admin(), ev, ds)
			require.NoError(t, err)
			require.Len(t, out, 2)
			require.Equal(t, "wh_badfilter", out[0].EndpointID)
			require.True(t, strings.HasPrefix(out[0].Reason, "endpoint broken: filter does not compile"), out[0].Reason)
			require.Equal(t, "wh_badsecret", out[1].EndpointID)
			require.True(t, strings.HasPrefix(out[1].Reason, "endpoint broken: secret cannot be opened"), out[1].Reason)

			// Another write after a reload: still fine, and each breakage
			// was logged once, by id, without a secret.
			_, err = b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"nothing.matches"}})
			require.NoError(t, err)
			b.publish(t, "order.paid", events.Object{{Key: "n", Value: 2}})
			b.waitHits(t, 2)
			logged := b.logs.matching(slog.LevelError, "webhook endpoint is broken")
			require.Len(t, logged, 2, "%v", logged)
			for _, l := range logged {
				require.Contains(t, []string{"wh_badfilter", "wh_badsecret"}, l["endpoint"])
				require.NotContains(t, l["err"], "whsec_")
			}

			// Fixing them brings them back: a new filter, a new secret
			// (the old one, which nothing here opens, is not kept).
			fixed := `event.data.n > 0`
			_, err = b.svc.UpdateEndpoint(ctx, scope.Admin(), "wh_badfilter", &webhooks.EndpointPatch{Filter: &fixed})
			require.NoError(t, err)
			_, err = b.svc.RotateSecret(ctx, scope.Admin(), "wh_badsecret", nil)
			require.NoError(t, err)
			for _, id := range []string{"wh_badfilter", "wh_badsecret"} {
				v, err := b.svc.GetEndpoint(ctx, scope.Admin(), id)
				require.NoError(t, err)
				require.Equal(t, webhooks.HealthHealthy, v.Health.State, id)
			}
			ev = b.publish(t, "order.paid", events.Object{{Key: "n", Value: 3}})
			require.Len(t, b.deliveredTo(t, ev), 3, "the fixed endpoints get deliveries again")
			b.waitHits(t, 5)
			require.InDelta(t, 0, metricValue(t, b.reg, "fieldflow_webhook_endpoints_broken"), 0)
		})
	}
}

func TestFilterErrorIsCountedLoggedAndExplained(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupBroken(t, dialect)
			ctx := context.Background()

			vip, err := b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"order.*"}, Filter: `event.data.kind == "vip"`})
			require.NoError(t, err)
			big, err := b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"order.*"}, Filter: `event.data.n > 10`})
			require.NoError(t, err)
			_, err = b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"other.*"}, Filter: `event.data.n > 10`})
			require.NoError(t, err)

			ev := b.publish(t, "order.paid", events.Object{{Key: "n", Value: 1}}) // no data.kind
			require.Empty(t, b.deliveredTo(t, ev))

			require.InDelta(t, 1, metricValue(t, b.reg, "fieldflow_webhook_filter_errors_total"), 0)
			warned := b.logs.matching(slog.LevelWarn, "webhook filter failed")
			require.Len(t, warned, 1)
			require.Equal(t, vip.ID, warned[0]["endpoint"])
			require.Equal(t, ev.ID, warned[0]["event"])
			require.Contains(t, warned[0]["err"], "no such key: kind")

			out, err := b.svc.EventFilteredOut(ctx, scope.Admin(), ev, nil)
			require.NoError(t, err)
			reasons := map[string]string{}
			for _, o := range out {
				reasons[o.EndpointID] = o.Reason
			}
			require.Equal(t, map[string]string{vip.ID: "filter error: no such key: kind", big.ID: "filter false"}, reasons,
				"the endpoint whose event types do not match is not listed")

			tenant := "t1"
			out, err = b.svc.EventFilteredOut(ctx, scope.Tenant(tenant), ev, nil)
			require.NoError(t, err)
			require.Empty(t, out, "a tenant sees only its own endpoints")
		})
	}
}

// metricValue reads an unlabelled gauge or counter from the registry.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		require.Len(t, mf.GetMetric(), 1, name)
		m := mf.GetMetric()[0]
		require.Empty(t, m.GetLabel(), "%s carries no labels", name)
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s is not registered", name)
	return 0
}

// A delivery already written when its endpoint breaks (here: a process
// whose master key is not the one the secret was sealed with) is not sent
// unsigned or dropped: each attempt logs why nothing was sent and waits on
// the endpoint's retry schedule, for a fix to let it go out.
func TestDeliveryToBrokenEndpointWaitsOnItsSchedule(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := &brokenBundle{store: storetest.Open(t, dialect), box: newBox(t)}
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
			t.Cleanup(srv.Close)
			b.url = srv.URL + "/hook"

			// The writer does not dispatch: the delivery waits in the database.
			writerCfg := webhooks.Config{Store: b.store, Box: b.box, Logger: slog.New(slog.DiscardHandler)}
			b.fan = webhooks.NewFanout(writerCfg)
			writerCfg.Fanout = b.fan
			writer := webhooks.New(writerCfg)
			ep, err := writer.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: b.url, Events: []string{"*"}, RetrySchedule: []string{"1h"}})
			require.NoError(t, err)
			b.svc = writer
			ev := b.publish(t, "order.paid", events.Object{{Key: "n", Value: 1}})

			worker := webhooks.New(webhooks.Config{Store: b.store, Box: newBox(t), Client: outbound.NewHTTPClient(true), Dispatch: true,
				PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, worker.Start(ctx))
			t.Cleanup(func() { worker.Stop(context.Background()) })

			var d *webhooks.DeliveryView
			require.Eventually(t, func() bool {
				ds, err := worker.EventDeliveries(ctx, scope.Admin(), ev.ID)
				require.NoError(t, err)
				require.Len(t, ds, 1)
				d = ds[0]
				return d.AttemptCount == 1
			}, 5*time.Second, 10*time.Millisecond)
			require.Equal(t, ep.ID, d.EndpointID)
			require.Equal(t, string(store.DeliveryPending), d.Status, "it waits for a retry")
			require.NotNil(t, d.NextAttemptAt)
			require.WithinDuration(t, time.Now().Add(time.Hour), *d.NextAttemptAt, 10*time.Minute, "on the endpoint's schedule")
			require.Len(t, d.Attempts, 1)
			require.Contains(t, d.Attempts[0].Error, "endpoint is broken, nothing was sent: secret cannot be opened")
			require.Zero(t, hits.Load(), "nothing unsigned went out")
		})
	}
}
