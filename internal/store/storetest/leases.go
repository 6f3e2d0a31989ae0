package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// leasedKind adapts webhook deliveries or automation runs, both leased jobs
// of one kind J, to the lease checks that they share (testLeaseClaims,
// testLeaseUpkeep).
type leasedKind[J any] struct {
	// Names, to end the test names with: "Delivery", "Deliveries",
	// "Endpoints"; "Run", "Runs", "Automations".
	noun, plural, keyPlural string
	open                    func(t *testing.T) store.Store
	// newKey creates what jobs belong to (an endpoint, an automation) and
	// returns its id.
	newKey func(t *testing.T, s store.Store) string
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
	claim    func(ctx context.Context, tx store.Tx, c leaseClaim) ([]J, error)
	extend   func(ctx context.Context, tx store.Tx, owner string, ids []string, until time.Time) error
	release  func(ctx context.Context, tx store.Tx, owner string) error
}

// leaseClaim is what a kind's ClaimDueParams hold.
type leaseClaim struct {
	now, leaseUntil time.Time
	owner           string
	limit           int
	exclude         []string // keys
}

// leaseTest is what each lease check starts from: a store with two keys.
type leaseTest[J any] struct {
	leasedKind[J]
	s    store.Store
	keys [2]string
	t0   time.Time
}

func (k leasedKind[J]) setup(t *testing.T) *leaseTest[J] {
	t.Helper()
	s := k.open(t)
	return &leaseTest[J]{leasedKind: k, s: s, keys: [2]string{k.newKey(t, s), k.newKey(t, s)}, t0: now()}
}

// leased returns a pending job due an hour before until and leased by owner
// until until.
func (k leasedKind[J]) leased(key, owner string, until time.Time) J {
	return k.withLease(k.newJob(key, events.NewID("evt_"), until.Add(-time.Hour)), owner, until)
}

func (k leasedKind[J]) ids(js []J) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = k.id(j)
	}
	return out
}

// claimDue claims in a transaction of its own.
func (lt *leaseTest[J]) claimDue(t *testing.T, c leaseClaim) []J {
	t.Helper()
	var js []J
	mustTx(t, lt.s, func(ctx context.Context, tx store.Tx) (err error) {
		js, err = lt.claim(ctx, tx, c)
		return err
	})
	return js
}

// testLeaseClaims checks that a claim takes the oldest due jobs that no one
// holds, skipping the excluded keys, and never gives one job to two owners.
func testLeaseClaims[J any](t *testing.T, k leasedKind[J]) {
	t.Run("ClaimDueTakesOldestDueFirstUpToLimit", func(t *testing.T) {
		t.Parallel()
		lt := k.setup(t)
		t0 := lt.t0
		// byAge[k] is due k minutes ago; they are stored out of order, and
		// the oldest-due are the newest rows.
		byAge := map[int]J{}
		for _, k := range []int{3, 1, 5, 2, 4} {
			byAge[k] = lt.newJob(lt.keys[0], fmt.Sprintf("evt_%d", k), t0.Add(-time.Duration(k)*time.Minute))
			lt.insert(t, lt.s, byAge[k])
		}
		var got [][]string
		for range 4 {
			js := lt.claimDue(t, leaseClaim{now: t0, owner: "w_1", leaseUntil: t0.Add(time.Minute), limit: 2})
			require.LessOrEqual(t, len(js), 2)
			var ids []string
			for _, j := range js {
				ids = append(ids, lt.id(j))
			}
			got = append(got, ids)
		}
		id := func(age int) string { return lt.id(byAge[age]) }
		require.Equal(t, [][]string{{id(5), id(4)}, {id(3), id(2)}, {id(1)}, nil}, got)
	})
	t.Run("ClaimDueSkipsExcluded"+k.keyPlural, func(t *testing.T) {
		t.Parallel()
		lt := k.setup(t)
		t0 := lt.t0
		key3 := lt.newKey(t, lt.s)
		var on1, on2, on3 []J
		for i := range 3 {
			on1 = append(on1, lt.newJob(lt.keys[0], fmt.Sprintf("evt_%d", i), t0.Add(-time.Hour)))
			on2 = append(on2, lt.newJob(lt.keys[1], fmt.Sprintf("evt_%d", i), t0.Add(-time.Minute)))
			on3 = append(on3, lt.newJob(key3, fmt.Sprintf("evt_%d", i), t0))
		}
		lt.insert(t, lt.s, slices.Concat(on1, on2, on3)...)
		// The excluded keys hold the oldest due jobs: a limit of 3 still
		// fills up from the others.
		got := lt.claimDue(t, leaseClaim{now: t0, owner: "w_1", leaseUntil: t0.Add(time.Minute), limit: 3,
			exclude: []string{lt.keys[0], lt.keys[1], "key_unknown"}})
		require.ElementsMatch(t, lt.ids(on3), lt.ids(got))
		got = lt.claimDue(t, leaseClaim{now: t0, owner: "w_1", leaseUntil: t0.Add(time.Minute), limit: 100, exclude: []string{lt.keys[0]}})
		require.ElementsMatch(t, lt.ids(on2), lt.ids(got))
		got = lt.claimDue(t, leaseClaim{now: t0, owner: "w_1", leaseUntil: t0.Add(time.Minute), limit: 100, exclude: []string{}})
		require.ElementsMatch(t, lt.ids(on1), lt.ids(got))
	})
	t.Run("Claimed"+k.plural+"StayLeasedUntilTheLeaseExpires", func(t *testing.T) {
		t.Parallel()
		lt := k.setup(t)
		t0 := lt.t0
		j := lt.newJob(lt.keys[0], "evt_1", t0)
		lt.insert(t, lt.s, j)
		got := lt.claimDue(t, leaseClaim{now: t0, owner: "w_1", leaseUntil: t0.Add(time.Minute), limit: 10})
		require.Equal(t, []string{lt.id(j)}, lt.ids(got))
		for _, at := range []time.Time{t0, t0.Add(30 * time.Second), t0.Add(time.Minute)} {
			require.Empty(t, lt.claimDue(t, leaseClaim{now: at, owner: "w_2", leaseUntil: at.Add(time.Minute), limit: 10}))
			require.Empty(t, lt.claimDue(t, leaseClaim{now: at, owner: "w_1", leaseUntil: at.Add(time.Minute), limit: 10}),
				"not even its owner claims it twice")
		}
		later := t0.Add(time.Minute + time.Microsecond)
		got = lt.claimDue(t, leaseClaim{now: later, owner: "w_2", leaseUntil: later.Add(time.Minute), limit: 10})
		require.Equal(t, []J{lt.withLease(j, "w_2", later.Add(time.Minute))}, got)
	})
	t.Run("ConcurrentClaimersNeverGetTheSame"+k.noun, func(t *testing.T) {
		t.Parallel()
		lt := k.setup(t)
		ctx, t0 := t.Context(), lt.t0
		const (
			rounds   = 30
			perRound = 20
			limit    = 15 // two claimers want more than there is
		)
		owners := [2]string{"w_1", "w_2"}
		claimedBy := map[string]string{}
		for round := range rounds {
			var js []J
			for i := range perRound {
				// Alternate keys; due times spread over the last second.
				js = append(js, lt.newJob(lt.keys[i%2], fmt.Sprintf("evt_%d_%d", round, i), t0.Add(-time.Duration(i)*time.Millisecond)))
			}
			lt.insert(t, lt.s, js...)

			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   [2][]J
				errs  [2]error
			)
			for c := range owners {
				wg.Go(func() {
					<-start
					errs[c] = lt.s.InTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
						got[c], err = lt.claim(ctx, tx, leaseClaim{now: t0, owner: owners[c], leaseUntil: t0.Add(time.Hour), limit: limit})
						return err
					})
				})
			}
			close(start)
			wg.Wait()

			seen := map[string]bool{}
			for c := range owners {
				require.NoError(t, errs[c], "round %d, claimer %d", round, c)
				require.LessOrEqual(t, len(got[c]), limit)
				for _, j := range got[c] {
					id := lt.id(j)
					require.False(t, seen[id], "round %d: %s claimed twice", round, id)
					seen[id] = true
					require.Equal(t, lt.withLease(j, owners[c], t0.Add(time.Hour)), j)
					claimedBy[id] = owners[c]
				}
			}
			require.ElementsMatch(t, lt.ids(js), slices.Collect(maps.Keys(seen)), "round %d: every due job is claimed once", round)
		}
		// The database agrees with what each claimer was told.
		all, err := lt.list(ctx, lt.s, rounds*perRound*2)
		require.NoError(t, err)
		require.Len(t, all, rounds*perRound)
		for _, j := range all {
			require.Equal(t, lt.withLease(j, claimedBy[lt.id(j)], t0.Add(time.Hour)), j, lt.id(j))
		}
	})
}

// testLeaseUpkeep checks that an owner extends and releases only the leases
// it holds on pending jobs.
func testLeaseUpkeep[J any](t *testing.T, k leasedKind[J]) {
	t.Run("ExtendLeasesTouchesOnlyTheOwnersPending"+k.plural, func(t *testing.T) {
		t.Parallel()
		lt := k.setup(t)
		s, keys, t0 := lt.s, lt.keys, lt.t0
		until := t0.Add(10 * time.Second)
		mine1, mine2 := k.leased(keys[0], "w_1", until), k.leased(keys[1], "w_1", until)
		theirs := k.leased(keys[0], "w_2", until)
		done := k.finished(k.leased(keys[0], "w_1", until), true) // finished, yet still naming w_1
		free := k.newJob(keys[0], "evt_free", t0)
		notAsked := k.leased(keys[0], "w_1", until)
		k.insert(t, s, mine1, mine2, theirs, done, free, notAsked)

		extended := t0.Add(time.Minute)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return k.extend(ctx, tx, "w_1", append(k.ids([]J{mine1, mine2, theirs, done, free}), "job_nope"), extended)
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
		lt := k.setup(t)
		s, keys, t0 := lt.s, lt.keys, lt.t0
		// More than one chunk of 500 ids.
		const n = 1050
		js := make([]J, n)
		for i := range js {
			js[i] = k.leased(keys[0], "w_1", t0.Add(10*time.Second))
		}
		k.insert(t, s, js...)
		extended := t0.Add(time.Minute)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return k.extend(ctx, tx, "w_1", k.ids(js), extended)
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
		lt := k.setup(t)
		s, keys, t0 := lt.s, lt.keys, lt.t0
		until := t0.Add(time.Minute)
		mine, theirs := k.leased(keys[0], "w_1", until), k.leased(keys[0], "w_2", until)
		mineDone := k.finished(k.leased(keys[0], "w_1", until), false)
		free := k.newJob(keys[0], "evt_free", t0.Add(time.Hour))
		k.insert(t, s, mine, theirs, mineDone, free)
		released := func(j J) J { return k.withLease(j, "", time.Time{}) }

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return k.release(ctx, tx, "w_1") })
		require.Equal(t, released(mine), k.get(t, s, k.id(mine)))
		require.Equal(t, theirs, k.get(t, s, k.id(theirs)))
		require.Equal(t, mineDone, k.get(t, s, k.id(mineDone)), "only pending jobs are released")
		require.Equal(t, free, k.get(t, s, k.id(free)))
		got := lt.claimDue(t, leaseClaim{now: t0, owner: "w_3", leaseUntil: t0.Add(time.Second), limit: 10})
		require.Equal(t, []string{k.id(mine)}, k.ids(got), "a released job can be claimed at once")

		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return k.release(ctx, tx, "") })
		require.Equal(t, released(mine), k.get(t, s, k.id(mine)))
		require.Equal(t, released(theirs), k.get(t, s, k.id(theirs)))
		require.Equal(t, mineDone, k.get(t, s, k.id(mineDone)))
		require.Equal(t, free, k.get(t, s, k.id(free)))
	})
}
