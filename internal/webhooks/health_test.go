package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// Endpoint health: an endpoint that fails everything for five days is
// disabled. A real dispatcher over each database sends to a real receiver;
// the service's clock is a fake the test moves, so five days pass in
// milliseconds. The clock also decides when retries are due, so each step
// waits for the dispatcher to settle before the clock moves again.

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// healthT0 is when the first failure happens.
var healthT0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

type healthBundle struct {
	svc   *webhooks.Service
	fan   *webhooks.Fanout // svc's subscriber
	store store.Store
	clock *fakeClock
	ep    *webhooks.Endpoint
	// status is what the receiver answers.
	status atomic.Int32
	// hits counts the requests the receiver got.
	hits atomic.Int32
}

// setupHealth starts a dispatching service over a fresh database of the
// dialect, with one endpoint (retrySchedule ["1s"]) at a receiver that
// answers 500 until told otherwise.
func setupHealth(t *testing.T, dialect string, eventTypes []string) *healthBundle {
	t.Helper()
	b := &healthBundle{store: storetest.Open(t, dialect), clock: &fakeClock{now: healthT0}}
	b.status.Store(http.StatusInternalServerError)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		b.hits.Add(1)
		w.WriteHeader(int(b.status.Load()))
	}))
	t.Cleanup(srv.Close)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	require.NoError(t, err)
	cfg := webhooks.Config{
		Store:        b.store,
		Box:          box,
		Client:       outbound.NewHTTPClient(true),
		Dispatch:     true,
		PollInterval: 5 * time.Millisecond,
		Now:          b.clock.Now,
		Logger:       slog.New(slog.DiscardHandler),
	}
	b.fan = webhooks.NewFanout(cfg)
	cfg.Fanout = b.fan
	b.svc = webhooks.New(cfg)
	ctx := context.Background()
	require.NoError(t, b.svc.Start(ctx))
	t.Cleanup(func() { b.svc.Stop(context.Background()) })

	b.ep, err = b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: srv.URL + "/hook", Events: eventTypes,
		RetrySchedule: []string{"1s"}, TimeoutSeconds: 5})
	require.NoError(t, err)
	return b
}

// publish stores an order.paid event for Fanout, as the app's writes
// do, and returns its id.
func (b *healthBundle) publish(t *testing.T) string {
	t.Helper()
	ev, err := events.New("order.paid", "", b.clock.Now(), events.Member{Key: "data", Value: events.Object{{Key: "n", Value: 1}}})
	require.NoError(t, err)
	require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return records.WriteEvents(ctx, tx, []records.Subscriber{b.fan}, []*events.Event{ev})
	}))
	return ev.ID
}

// waitDelivery waits until the event's one delivery has made attempts
// attempts and has the status, its result written.
func (b *healthBundle) waitDelivery(t *testing.T, eventID string, attempts int, status store.DeliveryState) {
	t.Helper()
	var last []*webhooks.DeliveryView
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds, err := b.svc.EventDeliveries(context.Background(), scope.Admin(), eventID)
		require.NoError(t, err)
		if len(ds) == 1 && ds[0].AttemptCount == attempts && ds[0].Status == string(status) && len(ds[0].Attempts) == attempts {
			return
		}
		last = ds
		if time.Now().After(deadline) {
			raw, _ := json.Marshal(last)
			t.Fatalf("delivery of %s: want %d attempts and %s, have %s", eventID, attempts, status, raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// endpoint reads the endpoint as stored, failing-since included.
func (b *healthBundle) endpoint(t *testing.T) *store.Endpoint {
	t.Helper()
	ep, err := b.store.EndpointGet(context.Background(), b.ep.ID)
	require.NoError(t, err)
	return ep
}

// disabledEvents returns the stored webhook.disabled events.
func (b *healthBundle) disabledEvents(t *testing.T) []*events.Event {
	t.Helper()
	evs, err := b.store.EventList(context.Background(), &store.EventListParams{Type: events.WebhookDisabled, Limit: 100})
	require.NoError(t, err)
	return evs
}

func TestEndpointDisabledAfterFiveDaysOfFailures(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupHealth(t, dialect, []string{"order.*"})

			// The first failure starts the count.
			e1 := b.publish(t)
			b.waitDelivery(t, e1, 1, store.DeliveryPending)
			ep := b.endpoint(t)
			require.True(t, ep.Active)
			require.True(t, healthT0.Equal(ep.FailingSince), "failing since %s", ep.FailingSince)
			failing, err := b.svc.GetEndpoint(context.Background(), scope.Admin(), b.ep.ID)
			require.NoError(t, err)
			require.Equal(t, webhooks.HealthFailing, failing.Health.State)
			require.True(t, healthT0.Equal(*failing.Health.FailingSince), "health shows failing since %s", failing.Health.FailingSince)

			// Two days on, its retry comes due and fails too: still active,
			// still failing since the first failure.
			b.clock.Set(healthT0.Add(48 * time.Hour))
			b.waitDelivery(t, e1, 2, store.DeliveryFailed)
			ep = b.endpoint(t)
			require.True(t, ep.Active)
			require.True(t, healthT0.Equal(ep.FailingSince), "failing since %s", ep.FailingSince)

			// A minute short of five days: another failure, still active.
			b.clock.Set(healthT0.Add(5*24*time.Hour - time.Minute))
			e2 := b.publish(t)
			b.waitDelivery(t, e2, 1, store.DeliveryPending)
			ep = b.endpoint(t)
			require.True(t, ep.Active, "failures spanning less than 5 days leave the endpoint active")
			require.Empty(t, ep.DisabledReason)
			require.Empty(t, b.disabledEvents(t))

			// Past five days, the next failure (e2's retry) disables it.
			b.clock.Set(healthT0.Add(5*24*time.Hour + time.Minute))
			b.waitDelivery(t, e2, 2, store.DeliveryFailed)
			ep = b.endpoint(t)
			require.False(t, ep.Active, "five days of failing everything disables the endpoint")
			require.Contains(t, ep.DisabledReason, "5 days")
			view, err := b.svc.GetEndpoint(context.Background(), scope.Admin(), b.ep.ID)
			require.NoError(t, err)
			require.False(t, view.Active)
			require.Equal(t, ep.DisabledReason, view.DisabledReason)
			// Its recent attempts: e1's two and e2's two, all failed.
			zero := 0.0
			recent := view.Health.Recent
			require.NotNil(t, recent)
			require.NotNil(t, recent.LastErrorAt)
			require.Equal(t, &webhooks.EndpointHealth{State: webhooks.HealthDisabled, Error: ep.DisabledReason,
				Recent: &webhooks.RecentAttempts{Deliveries: 2, Attempts: 4, SuccessRate: &zero, LastErrorAt: recent.LastErrorAt,
					LastStatus: recent.LastStatus, LastError: recent.LastError}}, view.Health)
			require.True(t, healthT0.Add(5*24*time.Hour+time.Minute).Equal(*recent.LastErrorAt), "last error at %s", recent.LastErrorAt)
			require.NotEmpty(t, recent.LastError)

			evs := b.disabledEvents(t)
			require.Len(t, evs, 1)
			var p struct {
				Event   string
				Webhook struct{ ID, URL string }
				Reason  string
			}
			require.NoError(t, json.Unmarshal(evs[0].Payload, &p))
			require.Equal(t, events.WebhookDisabled, p.Event)
			require.Equal(t, b.ep.ID, p.Webhook.ID)
			require.Equal(t, b.ep.URL, p.Webhook.URL)
			require.Equal(t, ep.DisabledReason, p.Reason)
			require.True(t, healthT0.Add(5*24*time.Hour+time.Minute).Equal(evs[0].OccurredAt), "occurred at %s", evs[0].OccurredAt)
			require.EqualValues(t, 4, b.hits.Load())

			// A disabled endpoint gets no more deliveries.
			e3 := b.publish(t)
			ds, err := b.svc.EventDeliveries(context.Background(), scope.Admin(), e3)
			require.NoError(t, err)
			require.Empty(t, ds)
			require.EqualValues(t, 4, b.hits.Load())
		})
	}
}

func TestEndpointSuccessResetsFailingSince(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			b := setupHealth(t, dialect, []string{"order.*"})

			e1 := b.publish(t)
			b.waitDelivery(t, e1, 1, store.DeliveryPending)
			require.True(t, healthT0.Equal(b.endpoint(t).FailingSince))

			// Four days on the receiver is back: e1's retry succeeds and
			// the count starts over.
			b.status.Store(http.StatusOK)
			b.clock.Set(healthT0.Add(4 * 24 * time.Hour))
			b.waitDelivery(t, e1, 2, store.DeliverySucceeded)
			ep := b.endpoint(t)
			require.True(t, ep.Active)
			require.True(t, ep.FailingSince.IsZero(), "a success clears failing since, have %s", ep.FailingSince)

			// Failing again from day 6: more than five days after the first
			// failure, but only since the success that matters.
			b.status.Store(http.StatusInternalServerError)
			day6 := healthT0.Add(6 * 24 * time.Hour)
			b.clock.Set(day6)
			e2 := b.publish(t)
			b.waitDelivery(t, e2, 1, store.DeliveryPending)
			ep = b.endpoint(t)
			require.True(t, ep.Active)
			require.True(t, day6.Equal(ep.FailingSince), "failing since %s", ep.FailingSince)

			b.clock.Set(day6.Add(time.Hour))
			b.waitDelivery(t, e2, 2, store.DeliveryFailed)
			ep = b.endpoint(t)
			require.True(t, ep.Active, "the success in between reset the count")
			require.Empty(t, ep.DisabledReason)
			require.True(t, day6.Equal(ep.FailingSince))
			require.Empty(t, b.disabledEvents(t))

			// Five days after day 6 it is disabled after all.
			b.clock.Set(day6.Add(5 * 24 * time.Hour))
			e3 := b.publish(t)
			b.waitDelivery(t, e3, 1, store.DeliveryPending)
			ep = b.endpoint(t)
			require.False(t, ep.Active)
			require.Contains(t, ep.DisabledReason, "5 days")
			require.Len(t, b.disabledEvents(t), 1)
		})
	}
}

func TestDisabledEndpointIsNotSentItsOwnDisabling(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// The failing endpoint takes every event, webhook.disabled
			// included; a watcher takes webhook.disabled only.
			b := setupHealth(t, dialect, []string{"*"})
			watched := make(chan []byte, 10)
			watcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				watched <- body
			}))
			t.Cleanup(watcher.Close)
			ctx := context.Background()
			w, err := b.svc.CreateEndpoint(ctx, scope.Admin(), &webhooks.EndpointInput{URL: watcher.URL, Events: []string{events.WebhookDisabled}})
			require.NoError(t, err)

			e1 := b.publish(t)
			b.waitDelivery(t, e1, 1, store.DeliveryPending)
			b.clock.Set(healthT0.Add(5*24*time.Hour + time.Second))
			b.waitDelivery(t, e1, 2, store.DeliveryFailed)
			require.False(t, b.endpoint(t).Active)

			evs := b.disabledEvents(t)
			require.Len(t, evs, 1)
			select {
			case body := <-watched:
				require.Equal(t, string(evs[0].Payload), string(body))
			case <-time.After(5 * time.Second):
				t.Fatal("the watcher got no webhook.disabled")
			}
			ds, err := b.svc.EventDeliveries(ctx, scope.Admin(), evs[0].ID)
			require.NoError(t, err)
			require.Len(t, ds, 1, "only the watcher gets a delivery; the disabled endpoint's log holds no failure it never had")
			require.Equal(t, w.ID, ds[0].EndpointID)
			own, _, err := b.svc.ListDeliveries(ctx, scope.Admin(), b.ep.ID, "", "", 100)
			require.NoError(t, err)
			require.Len(t, own, 1)
			require.Equal(t, e1, own[0].EventID)
			require.EqualValues(t, 2, b.hits.Load())
		})
	}
}
