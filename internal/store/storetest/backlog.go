package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
)

func testBacklog(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("EmptyStoreHasNoBacklog", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		b, err := s.BacklogRead(t.Context())
		require.NoError(t, err)
		require.Equal(t, &store.Backlog{}, b)
	})
	t.Run("CountsPendingAndFindsTheEarliestDue", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_000, time.UTC)
		ep := createEndpoint(t, s, newEndpoint("t1", at))
		late, early, done := newDelivery(ep.ID, "evt_a", at.Add(time.Hour)), newDelivery(ep.ID, "evt_b", at), newDelivery(ep.ID, "evt_c", at.Add(-time.Hour))
		done.State = store.DeliverySucceeded
		insertDeliveries(t, s, late, early, done)
		a := createAutomation(t, s, newAutomation("t1", at))
		r1, r2, failed := newRun(a.ID, "evt_a", at.Add(time.Minute)), newRun(a.ID, "evt_b", at.Add(2*time.Minute)), newRun(a.ID, "evt_c", at.Add(-time.Hour))
		failed.State = store.RunFailed
		insertRuns(t, s, r1, r2, failed)

		b, err := s.BacklogRead(t.Context())
		require.NoError(t, err)
		require.Equal(t, &store.Backlog{DeliveriesPending: 2, DeliveriesFirstDue: at, RunsPending: 2, RunsFirstDue: at.Add(time.Minute)}, b)
	})
}
