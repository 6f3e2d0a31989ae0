package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
)

// wakeWait bounds every wait for a wake: generous, since a wake is only
// late when the machine is busy, and a test that waits for nothing never
// reaches it.
const wakeWait = 20 * time.Second

func testWakes(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s     store.Store
		wakes chan store.Wake
		ep    *store.Endpoint
		a     *store.Automation
		marks int
		// stop ends Listen and returns its result.
		stop func() error
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		b := &testBundle{s: s, wakes: make(chan store.Wake, 4096),
			ep: createEndpoint(t, s, newEndpoint("t1", now())), a: createAutomation(t, s, newAutomation("t1", now()))}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- s.Listen(ctx, func(w store.Wake) {
				select {
				case b.wakes <- w:
				default:
					t.Errorf("wake %+v dropped: the test reads too few", w)
				}
			})
		}()
		var stopped bool
		var err error
		b.stop = func() error {
			if !stopped {
				stopped = true
				cancel()
				err = <-done
			}
			return err
		}
		// Before the store closes (cleanups run last first).
		t.Cleanup(func() { require.NoError(t, b.stop()) })
		return b, t.Context()
	}
	// mark sets a timer due at a time no other wake of the test has, so
	// that the timers wake carrying it shows that everything committed
	// before it has been heard.
	mark := func(t *testing.T, b *testBundle) time.Time {
		t.Helper()
		b.marks++
		due := time.Date(2000, 1, 1, 0, 0, 0, b.marks, time.UTC)
		upsertTimers(t, b.s, newTimer(b.a.ID, "mark", due))
		return due
	}
	// until reads wakes until one of kind at at, and returns those before it.
	until := func(t *testing.T, b *testBundle, kind store.WakeKind, at time.Time) []store.Wake {
		t.Helper()
		var before []store.Wake
		timeout := time.After(wakeWait)
		for {
			select {
			case w := <-b.wakes:
				if w.Kind == kind && w.At.Equal(at) {
					return before
				}
				before = append(before, w)
			case <-timeout:
				t.Fatalf("no %s wake at %s within %s; heard %+v", kind, at, wakeWait, before)
			}
		}
	}
	// listening waits until Listen hears a mark: what commits after that
	// is heard. Wakes arrive in the order they were sent, so once the
	// newest mark is heard no older one is still to come.
	listening := func(t *testing.T, b *testBundle) {
		t.Helper()
		deadline := time.Now().Add(wakeWait)
		for {
			due := mark(t, b)
			timeout := time.After(100 * time.Millisecond)
		wait:
			for {
				select {
				case w := <-b.wakes:
					if w.Kind == store.WakeTimers && w.At.Equal(due) {
						return
					}
				case <-timeout:
					break wait
				}
			}
			require.True(t, time.Now().Before(deadline), "Listen heard no mark within %s", wakeWait)
		}
	}
	kinds := func(ws []store.Wake) []store.WakeKind {
		out := []store.WakeKind{}
		for _, w := range ws {
			out = append(out, w.Kind)
		}
		return out
	}
	postgresOnly := func(t *testing.T, s store.Store) {
		t.Helper()
		if s.Dialect() != "postgres" {
			t.Skip("Unlike Postgres, SQLite has one process per database: nobody to wake (see SQLiteListensToNothing)")
		}
	}

	t.Run("SQLiteListensToNothing", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		if bundle.s.Dialect() != "sqlite" {
			t.Skip("PostgreSQL wakes its listeners (see the other tests)")
		}
		insertDeliveries(t, bundle.s, newDelivery(bundle.ep.ID, "evt_1", now()))
		insertRuns(t, bundle.s, newRun(bundle.a.ID, "evt_1", now()))
		upsertTimers(t, bundle.s, newTimer(bundle.a.ID, "e1", now()))
		require.NoError(t, bundle.stop(), "Listen waits for its context and ends without an error")
		require.Empty(t, bundle.wakes)
	})
	t.Run("UnheldWorkWakesWhenItCommits", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		postgresOnly(t, bundle.s)
		listening(t, bundle)

		d := newDelivery(bundle.ep.ID, "evt_1", now())
		insertDeliveries(t, bundle.s, d)
		until(t, bundle, store.WakeDeliveries, d.NextAttemptAt)
		r := newRun(bundle.a.ID, "evt_1", now())
		insertRuns(t, bundle.s, r)
		until(t, bundle, store.WakeRuns, r.NextAttemptAt)
		// A timer wakes with its due time, as the caller gave it.
		due := time.Date(2030, 6, 1, 12, 0, 0, 123456789, time.UTC)
		upsertTimers(t, bundle.s, newTimer(bundle.a.ID, "e1", due))
		until(t, bundle, store.WakeTimers, due)

		// Asked-for retries and released leases are due for anyone: now.
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryRetryNow(ctx, d.ID, now()) })
		until(t, bundle, store.WakeDeliveries, time.Time{})
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.RunRetryNow(ctx, r.ID, now()) })
		until(t, bundle, store.WakeRuns, time.Time{})
		require.NotEmpty(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: now().Add(time.Second), Owner: "w1",
			LeaseUntil: now().Add(time.Minute), Limit: 10}))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryReleaseLeases(ctx, "w1") })
		until(t, bundle, store.WakeDeliveries, time.Time{})
	})
	t.Run("HeldWorkAndRolledBackWritesWakeNobody", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		postgresOnly(t, bundle.s)
		listening(t, bundle)

		// Handed to the process that wrote them: it needs no wake.
		d := newDelivery(bundle.ep.ID, "evt_1", now())
		d.LeaseOwner, d.LeasedUntil = "w1", now().Add(time.Minute)
		insertDeliveries(t, bundle.s, d)
		r := newRun(bundle.a.ID, "evt_1", now())
		r.LeaseOwner, r.LeasedUntil = "w1", now().Add(time.Minute)
		insertRuns(t, bundle.s, r)
		// Released by someone who holds nothing.
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryReleaseLeases(ctx, "nobody") })
		// Rolled back.
		errRollback := errors.New("roll back")
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeliveryInsert(ctx, []*store.Delivery{newDelivery(bundle.ep.ID, "evt_2", now())}); err != nil {
				return err
			}
			return errRollback
		})
		require.ErrorIs(t, err, errRollback)
		require.Equal(t, []store.WakeKind{}, kinds(until(t, bundle, store.WakeTimers, mark(t, bundle))))
	})
	t.Run("AWriteOfManyIsOneWakePerKind", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		postgresOnly(t, bundle.s)
		listening(t, bundle)

		t0 := now()
		ds := make([]*store.Delivery, 50)
		for i := range ds {
			ds[i] = newDelivery(bundle.ep.ID, "evt_1", t0.Add(time.Duration(len(ds)-i)*time.Second))
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeliveryInsert(ctx, ds); err != nil {
				return err
			}
			return tx.RunInsert(ctx, []*store.Run{newRun(bundle.a.ID, "evt_1", t0)})
		})
		// The soonest due of the deliveries, then the run.
		require.Empty(t, until(t, bundle, store.WakeDeliveries, ds[len(ds)-1].NextAttemptAt))
		require.Empty(t, until(t, bundle, store.WakeRuns, t0))
		require.Equal(t, []store.WakeKind{}, kinds(until(t, bundle, store.WakeTimers, mark(t, bundle))))
	})
	t.Run("ListenEndsWithItsContext", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		if bundle.s.Dialect() == "postgres" {
			listening(t, bundle)
		}
		require.NoError(t, bundle.stop())
	})
}
