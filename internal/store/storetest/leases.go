package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// leasedKind adapts webhook deliveries or automation runs, both leased jobs
// of one kind J, to the checks of lease upkeep that they share
// (testLeaseUpkeep).
type leasedKind[J any] struct {
	plural string // "Deliveries", "Runs": ends the test names
	// setup opens a store with two keys (endpoints, automations) that jobs
	// can belong to, and gives the test's now.
	setup func(t *testing.T) (s store.Store, keys [2]string, t0 time.Time)
	// newJob returns a pending, unleased job of key, due at due.
	newJob func(key, eventID string, due time.Time) J
	// withLease returns a copy of j leased by owner until until.
	withLease func(j J, owner string, until time.Time) J
	// finished returns a copy of j that succeeded if ok, else failed.
	finished func(j J, ok bool) J
	id       func(j J) string
	insert   func(t *testing.T, s store.Store, js ...J)
	get      func(t *testing.T, s store.Store, id string) J
	list     func(ctx context.Context, s store.Store, limit int) ([]J, error)
	claim    func(t *testing.T, s store.Store, now time.Time, owner string, leaseUntil time.Time, limit int) []J
	extend   func(ctx context.Context, tx store.Tx, owner string, ids []string, until time.Time) error
	release  func(ctx context.Context, tx store.Tx, owner string) error
}

// testLeaseUpkeep checks that an owner extends and releases only the leases
// it holds on pending jobs.
func testLeaseUpkeep[J any](t *testing.T, k leasedKind[J]) {
	// leased returns a pending job due an hour before until and leased by
	// owner until until.
	leased := func(key, owner string, until time.Time) J {
		return k.withLease(k.newJob(key, events.NewID("evt_"), until.Add(-time.Hour)), owner, until)
	}
	ids := func(js []J) []string {
		out := make([]string, len(js))
		for i, j := range js {
			out[i] = k.id(j)
		}
		return out
	}

	t.Run("ExtendLeasesTouchesOnlyTheOwnersPending"+k.plural, func(t *testing.T) {
		t.Parallel()
		s, keys, t0 := k.setup(t)
		until := t0.Add(10 * time.Second)
		mine1, mine2 := leased(keys[0], "w_1", until), leased(keys[1], "w_1", until)
		theirs := leased(keys[0], "w_2", until)
		done := k.finished(leased(keys[0], "w_1", until), true) // finished, yet still naming w_1
		free := k.newJob(keys[0], "evt_free", t0)
		notAsked := leased(keys[0], "w_1", until)
		k.insert(t, s, mine1, mine2, theirs, done, free, notAsked)

		extended := t0.Add(time.Minute)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return k.extend(ctx, tx, "w_1", append(ids([]J{mine1, mine2, theirs, done, free}), "job_nope"), extended)
		})
		for _, j := range []J{mine1, mine2} {
			require.Equal(t, k.withLease(j, "w_1", extended), k.get(t, s, k.id(j)))
		}
		for _, j := range []J{theirs, done, free, notAsked} {
			require.Equal(t, j, k.get(t, s, k.id(j)))
		}
		// No ids, nothing to do.
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return k.extend(ctx, tx, "w_1", nil, extended.Add(time.Hour))
		})
		require.Equal(t, k.withLease(mine1, "w_1", extended), k.get(t, s, k.id(mine1)))
	})
	t.Run("ExtendLeasesAcrossManyIDs", func(t *testing.T) {
		t.Parallel()
		s, keys, t0 := k.setup(t)
		// More than one chunk of 500 ids.
		const n = 1050
		js := make([]J, n)
		for i := range js {
			js[i] = leased(keys[0], "w_1", t0.Add(10*time.Second))
		}
		k.insert(t, s, js...)
		extended := t0.Add(time.Minute)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return k.extend(ctx, tx, "w_1", ids(js), extended)
		})
		all, err := k.list(t.Context(), s, 2*n)
		require.NoError(t, err)
		require.Len(t, all, n)
		for _, j := range all {
			require.Equal(t, k.withLease(j, "w_1", extended), j, k.id(j))
		}
	})
	t.Run("ReleaseLeasesOfOneOwnerThenOfEveryone", func(t *testing.T) {
		t.Parallel()
		s, keys, t0 := k.setup(t)
		until := t0.Add(time.Minute)
		mine, theirs := leased(keys[0], "w_1", until), leased(keys[0], "w_2", until)
		mineDone := k.finished(leased(keys[0], "w_1", until), false)
		free := k.newJob(keys[0], "evt_free", t0.Add(time.Hour))
		k.insert(t, s, mine, theirs, mineDone, free)
		released := func(j J) J { return k.withLease(j, "", time.Time{}) }

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return k.release(ctx, tx, "w_1") })
		require.Equal(t, released(mine), k.get(t, s, k.id(mine)))
		require.Equal(t, theirs, k.get(t, s, k.id(theirs)))
		require.Equal(t, mineDone, k.get(t, s, k.id(mineDone)), "only pending jobs are released")
		require.Equal(t, free, k.get(t, s, k.id(free)))
		got := k.claim(t, s, t0, "w_3", t0.Add(time.Second), 10)
		require.Equal(t, []string{k.id(mine)}, ids(got), "a released job can be claimed at once")

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return k.release(ctx, tx, "") })
		require.Equal(t, released(mine), k.get(t, s, k.id(mine)))
		require.Equal(t, released(theirs), k.get(t, s, k.id(theirs)))
		require.Equal(t, mineDone, k.get(t, s, k.id(mineDone)))
		require.Equal(t, free, k.get(t, s, k.id(free)))
	})
}
