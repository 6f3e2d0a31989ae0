package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testStats(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return &testBundle{s: newStore(t)}
	}
	// The window: three one-minute buckets from t0.
	t0 := time.Date(2026, 4, 4, 10, 0, 0, 0, time.UTC)
	minute := func(m int, s int) time.Time {
		return t0.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second + 123456*time.Microsecond)
	}
	params := &store.ActivityReadParams{Since: t0, Bucket: time.Minute, Buckets: 3}

	t.Run("EmptyStoreHasEmptyBuckets", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		a, err := bundle.s.ActivityRead(t.Context(), params)
		require.NoError(t, err)
		require.Equal(t, &store.Activity{Buckets: []store.ActivityBucket{{Start: t0}, {Start: minute(1, 0).Truncate(time.Minute)}, {Start: minute(2, 0).Truncate(time.Minute)}}}, a)
	})
	t.Run("CountsEventsSettlementsAndTheBacklogPerBucket", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		s := bundle.s
		evs := []*events.Event{}
		for _, at := range []time.Time{minute(-1, 30), minute(0, 0), minute(0, 59), minute(2, 10), minute(3, 0)} {
			evs = append(evs, &events.Event{ID: events.NewID("evt_"), Type: "booking.created", TenantID: "t1", OccurredAt: at, Payload: []byte(`{}`)})
		}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, evs) })

		ep1, ep2 := createEndpoint(t, s, newEndpoint("t1", t0)), createEndpoint(t, s, newEndpoint("t2", t0))
		settled := func(ep string, state store.DeliveryState, created, done time.Time) *store.Delivery {
			d := newDelivery(ep, "evt_x", created)
			d.State, d.UpdatedAt = state, done
			return d
		}
		insertDeliveries(t, s,
			// Created before the window, pending at its start, settled in bucket 1.
			settled(ep1.ID, store.DeliverySucceeded, minute(-5, 0), minute(1, 5)),
			// Created and settled in bucket 0.
			settled(ep1.ID, store.DeliverySucceeded, minute(0, 1), minute(0, 2)),
			// Two failures in bucket 2, of two endpoints.
			settled(ep1.ID, store.DeliveryFailed, minute(1, 0), minute(2, 1)),
			settled(ep2.ID, store.DeliveryFailed, minute(2, 0), minute(2, 30)),
			// Settled before the window: never counted.
			settled(ep1.ID, store.DeliveryFailed, minute(-9, 0), minute(-8, 0)),
			// Pending: one since before the window, one since bucket 1.
			newDelivery(ep1.ID, "evt_y", minute(-3, 0)),
			newDelivery(ep2.ID, "evt_z", minute(1, 30)),
		)
		au := createAutomation(t, s, newAutomation("t1", t0))
		run := func(state store.RunState, created, done time.Time) *store.Run {
			r := newRun(au.ID, "evt_r", created)
			r.State, r.UpdatedAt = state, done
			return r
		}
		insertRuns(t, s, run(store.RunFailed, minute(0, 0), minute(0, 30)), run(store.RunSucceeded, minute(0, 10), minute(2, 0)),
			run(store.RunPending, minute(2, 5), minute(2, 5)))

		a, err := s.ActivityRead(t.Context(), params)
		require.NoError(t, err)
		require.Len(t, a.Buckets, 3)
		b0, b1, b2 := a.Buckets[0], a.Buckets[1], a.Buckets[2]
		require.Equal(t, []int{2, 0, 1}, []int{b0.Events, b1.Events, b2.Events}, "events at the window's end are the next window's")
		require.Equal(t, []int{1, 1, 0}, []int{b0.DeliveriesSucceeded, b1.DeliveriesSucceeded, b2.DeliveriesSucceeded})
		require.Equal(t, []int{0, 0, 2}, []int{b0.DeliveriesFailed, b1.DeliveriesFailed, b2.DeliveriesFailed})
		require.Equal(t, []int{0, 0, 2}, []int{b0.EndpointsFailed, b1.EndpointsFailed, b2.EndpointsFailed})
		require.Equal(t, []int{1, 0, 0}, []int{b0.RunsFailed, b1.RunsFailed, b2.RunsFailed})
		require.Equal(t, []int{0, 0, 1}, []int{b0.RunsSucceeded, b1.RunsSucceeded, b2.RunsSucceeded})
		// Pending deliveries at each bucket's end: 0: the one from before
		// the window that settles in 1, and the one pending since -3:00. 1:
		// that one settled; the failure created at 1:00 and the one pending
		// since 1:30 came. 2: both failures settled.
		require.Equal(t, []int{2, 3, 2}, []int{b0.DeliveriesBacklog, b1.DeliveriesBacklog, b2.DeliveriesBacklog})
		require.Equal(t, []int{1, 1, 1}, []int{b0.RunsBacklog, b1.RunsBacklog, b2.RunsBacklog})
		require.Equal(t, 2, a.DeliveriesPending)
		require.Equal(t, dbTime(minute(-3, 0)), a.DeliveriesOldestPending)
		require.Equal(t, 1, a.RunsPending)
		require.Equal(t, dbTime(minute(2, 5)), a.RunsOldestPending)
	})
	t.Run("HourBucketsOverADay", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		day := t0.Add(-23 * time.Hour)
		evs := []*events.Event{}
		for h := range 24 {
			for range h % 3 {
				evs = append(evs, &events.Event{ID: events.NewID("evt_"), Type: "x", TenantID: "t1", OccurredAt: day.Add(time.Duration(h)*time.Hour + 59*time.Minute), Payload: []byte(`{}`)})
			}
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, evs) })
		a, err := bundle.s.ActivityRead(t.Context(), &store.ActivityReadParams{Since: day, Bucket: time.Hour, Buckets: 24})
		require.NoError(t, err)
		for h, b := range a.Buckets {
			require.Equal(t, day.Add(time.Duration(h)*time.Hour), b.Start)
			require.Equal(t, h%3, b.Events, "hour %d", h)
		}
	})
	t.Run("RefusesAnEmptyWindow", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		_, err := bundle.s.ActivityRead(t.Context(), &store.ActivityReadParams{Since: t0, Bucket: time.Minute})
		require.Error(t, err)
	})

	t.Run("EndpointRecentSumsUpTheLatestDeliveriesAttempts", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		s := bundle.s
		busy, quiet, idle := createEndpoint(t, s, newEndpoint("t1", t0)), createEndpoint(t, s, newEndpoint("t1", t0)), createEndpoint(t, s, newEndpoint("t2", t0))
		attempt := func(d *store.Delivery, n int, at time.Time, status int, msg string) *store.Attempt {
			return &store.Attempt{DeliveryID: d.ID, Attempt: n, StartedAt: at, DurationMS: 5, RequestHeaders: map[string]string{},
				ResponseStatus: status, ResponseHeaders: map[string]string{}, Error: msg}
		}
		// busy: five deliveries, oldest first. The oldest succeeded but
		// falls out of a window of four.
		var ds []*store.Delivery
		for i := range 5 {
			ds = append(ds, newDelivery(busy.ID, "evt_b", minute(i, 0)))
		}
		ds = append(ds, newDelivery(quiet.ID, "evt_q", minute(0, 0)))
		insertDeliveries(t, s, ds...)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.AttemptInsert(ctx,
				attempt(ds[0], 1, minute(0, 1), 200, ""),
				attempt(ds[1], 1, minute(1, 1), 500, "HTTP 500"),
				attempt(ds[1], 2, minute(1, 30), 200, ""),
				attempt(ds[2], 1, minute(2, 1), 0, "dial tcp: connection refused"),
				attempt(ds[3], 1, minute(3, 1), 503, "HTTP 503"),
				// ds[4] has no attempt yet.
			)
		})
		got, err := s.EndpointRecentRead(t.Context(), &store.EndpointRecentReadParams{EndpointIDs: []string{busy.ID, quiet.ID, idle.ID}, Deliveries: 4})
		require.NoError(t, err)
		require.Equal(t, map[string]*store.EndpointRecent{
			busy.ID: {Deliveries: 4, Attempts: 4, Succeeded: 1, LastSuccessAt: dbTime(minute(1, 30)),
				LastErrorAt: dbTime(minute(3, 1)), LastStatus: 503, LastError: "HTTP 503"},
			quiet.ID: {Deliveries: 1},
		}, got)

		got, err = s.EndpointRecentRead(t.Context(), &store.EndpointRecentReadParams{EndpointIDs: []string{busy.ID}, Deliveries: 100})
		require.NoError(t, err)
		require.Equal(t, &store.EndpointRecent{Deliveries: 5, Attempts: 5, Succeeded: 2, LastSuccessAt: dbTime(minute(1, 30)),
			LastErrorAt: dbTime(minute(3, 1)), LastStatus: 503, LastError: "HTTP 503"}, got[busy.ID])

		got, err = s.EndpointRecentRead(t.Context(), &store.EndpointRecentReadParams{Deliveries: 4})
		require.NoError(t, err)
		require.Empty(t, got)
	})
}
