package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testRetention(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s  store.Store
		ep *store.Endpoint
		au *store.Automation
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{s: s, ep: createEndpoint(t, s, newEndpoint("", now())), au: createAutomation(t, s, newAutomation("", now()))},
			t.Context()
	}
	prune := func(t *testing.T, s store.Store, p *store.PruneParams) int {
		t.Helper()
		if p.Limit == 0 {
			p.Limit = 100
		}
		var n int
		mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.Prune(ctx, p)
			return err
		})
		return n
	}
	insertEvent := func(t *testing.T, s store.Store, tenantID string, at time.Time) *events.Event {
		t.Helper()
		ev := &events.Event{ID: events.NewID("evt_"), Type: "booking.created", TenantID: tenantID, OccurredAt: at, Payload: []byte(`{"n":1}`)}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, []*events.Event{ev}) })
		return ev
	}
	delivery := func(ep *store.Endpoint, ev *events.Event, state store.DeliveryState, at time.Time) *store.Delivery {
		d := newDelivery(ep.ID, ev.ID, at)
		d.TenantID, d.State = ev.TenantID, state
		return d
	}
	run := func(au *store.Automation, ev *events.Event, state store.RunState, at time.Time) *store.Run {
		r := newRun(au.ID, ev.ID, at)
		r.TenantID, r.State = ev.TenantID, state
		return r
	}
	gone := func(t *testing.T, err error, what string) {
		t.Helper()
		require.ErrorIs(t, err, store.ErrNotFound, what)
	}

	t.Run("PruneTakesOldSettledHistoryAndKeepsPendingAndLeased", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		old := cutoff.Add(-48 * time.Hour)
		evOld := insertEvent(t, bundle.s, "t1", old)
		evOldPending := insertEvent(t, bundle.s, "t1", old)
		evNew := insertEvent(t, bundle.s, "t1", cutoff.Add(time.Second))
		evAlone := insertEvent(t, bundle.s, "", old)

		succeeded := delivery(bundle.ep, evOld, store.DeliverySucceeded, old)
		failed := delivery(bundle.ep, evOld, store.DeliveryFailed, old)
		pending := delivery(bundle.ep, evOldPending, store.DeliveryPending, old)
		leased := delivery(bundle.ep, evOldPending, store.DeliveryPending, old)
		leased.LeaseOwner, leased.LeasedUntil = "worker-1", cutoff.Add(time.Minute)
		recent := delivery(bundle.ep, evNew, store.DeliverySucceeded, cutoff.Add(time.Second))
		insertDeliveries(t, bundle.s, succeeded, failed, pending, leased, recent)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.AttemptInsert(ctx, &store.Attempt{DeliveryID: failed.ID, Attempt: 1, StartedAt: old, ResponseStatus: 500})
		})
		runDone := run(bundle.au, evOld, store.RunSucceeded, old)
		runPending := run(bundle.au, evOldPending, store.RunPending, old)
		runLeased := run(bundle.au, evOldPending, store.RunPending, old)
		runLeased.LeaseOwner, runLeased.LeasedUntil = "worker-1", cutoff.Add(time.Minute)
		insertRuns(t, bundle.s, runDone, runPending, runLeased)
		insertRunSteps(t, bundle.s, &store.RunStep{RunID: runDone.ID, Name: "a", Type: "http", Attempt: 1, State: store.StepSucceeded,
			StartedAt: old, Request: []byte(`{}`)})

		// An event stays while a delivery or run of it does.
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEvents, Before: cutoff}), "only the event nothing points at")
		_, err := bundle.s.EventGet(ctx, evAlone.ID)
		gone(t, err, "an old event without deliveries or runs")
		_, err = bundle.s.EventGet(ctx, evOld.ID)
		require.NoError(t, err, "its deliveries are kept yet")

		require.Equal(t, 2, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneDeliveries, Before: cutoff}))
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneRuns, Before: cutoff}))
		for _, id := range []string{succeeded.ID, failed.ID} {
			_, err := bundle.s.DeliveryGet(ctx, id)
			gone(t, err, "a settled old delivery")
		}
		attempts, err := bundle.s.AttemptList(ctx, []string{failed.ID})
		require.NoError(t, err)
		require.Empty(t, attempts, "attempts go with their delivery")
		_, err = bundle.s.RunGet(ctx, runDone.ID)
		gone(t, err, "a settled old run")
		steps, err := bundle.s.RunStepList(ctx, []string{runDone.ID})
		require.NoError(t, err)
		require.Empty(t, steps, "step attempts go with their run")
		for _, d := range []*store.Delivery{pending, leased, recent} {
			require.Equal(t, d.State, getDelivery(t, bundle.s, d.ID).State, "pending, leased or recent: kept")
		}
		for _, r := range []*store.Run{runPending, runLeased} {
			require.Equal(t, store.RunPending, getRun(t, bundle.s, r.ID).State)
		}

		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEvents, Before: cutoff}), "now that its history went")
		_, err = bundle.s.EventGet(ctx, evOld.ID)
		gone(t, err, "the event of pruned deliveries and runs")
		for _, ev := range []*events.Event{evOldPending, evNew} {
			_, err := bundle.s.EventGet(ctx, ev.ID)
			require.NoError(t, err, "a pending delivery still needs its body; a recent event is kept")
		}
		for _, k := range []store.PruneKind{store.PruneEvents, store.PruneDeliveries, store.PruneRuns} {
			require.Zero(t, prune(t, bundle.s, &store.PruneParams{Kind: k, Before: cutoff}), "nothing more of %s", k)
		}
	})

	t.Run("PruneGoesInBatchesOfLimitOldestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		ev := insertEvent(t, bundle.s, "t1", cutoff.Add(-time.Hour))
		var ds []*store.Delivery
		for i := range 5 {
			ds = append(ds, delivery(bundle.ep, ev, store.DeliveryFailed, cutoff.Add(-time.Duration(10-i)*time.Minute)))
		}
		insertDeliveries(t, bundle.s, ds...)
		for _, want := range []int{2, 2, 1, 0} {
			require.Equal(t, want, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneDeliveries, Before: cutoff, Limit: 2}))
		}
		_, err := bundle.s.DeliveryGet(ctx, ds[0].ID)
		gone(t, err, "the oldest")
	})

	t.Run("TenantRetentionIsPrunedOnItsOwn", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		old := cutoff.Add(-time.Hour)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TenantRetentionPut(ctx, &store.TenantRetention{TenantID: "gold", Days: 365, UpdatedAt: cutoff})
		})
		got, err := bundle.s.TenantRetentionGet(ctx, "gold")
		require.NoError(t, err)
		require.Equal(t, &store.TenantRetention{TenantID: "gold", Days: 365, UpdatedAt: cutoff}, got)
		_, err = bundle.s.TenantRetentionGet(ctx, "t1")
		gone(t, err, "a tenant without its own retention")

		gold := insertEvent(t, bundle.s, "gold", old)
		plain := insertEvent(t, bundle.s, "t1", old)
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEvents, Before: cutoff}), "the default skips gold")
		_, err = bundle.s.EventGet(ctx, plain.ID)
		gone(t, err, "t1's old event")
		_, err = bundle.s.EventGet(ctx, gold.ID)
		require.NoError(t, err)

		require.Zero(t, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEvents, Before: old, TenantID: ptr("gold")}), "within its own")
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEvents, Before: cutoff, TenantID: ptr("gold")}))

		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TenantRetentionPut(ctx, &store.TenantRetention{TenantID: "gold", Days: 400, UpdatedAt: cutoff})
		})
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TenantRetentionPut(ctx, &store.TenantRetention{TenantID: "bronze", Days: 7, UpdatedAt: cutoff})
		})
		list, err := bundle.s.TenantRetentionList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.TenantRetention{{TenantID: "bronze", Days: 7, UpdatedAt: cutoff}, {TenantID: "gold", Days: 400, UpdatedAt: cutoff}}, list)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantRetentionDelete(ctx, "gold") })
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantRetentionDelete(ctx, "gold") })
		_, err = bundle.s.TenantRetentionGet(ctx, "gold")
		gone(t, err, "deleted")
	})

	t.Run("PruneIdempotencyRecordsAndEndpointTombstones", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			for i, at := range []time.Time{cutoff.Add(-2 * time.Hour), cutoff.Add(-time.Hour), cutoff.Add(time.Second)} {
				r := &store.IdempotencyRecord{Scope: "key_1", Key: fmt.Sprint(i), RequestHash: "h", Status: 201, ContentType: "application/json", Body: []byte("{}"), CreatedAt: at}
				if err := tx.IdempotencyPut(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		require.Equal(t, 2, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneIdempotency, Before: cutoff}))
		_, err := bundle.s.IdempotencyGet(ctx, "key_1", "2")
		require.NoError(t, err)

		ev := insertEvent(t, bundle.s, "t1", cutoff.Add(-time.Hour))
		d := delivery(bundle.ep, ev, store.DeliverySucceeded, cutoff.Add(-time.Hour))
		insertDeliveries(t, bundle.s, d)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.EndpointDelete(ctx, bundle.ep.ID, cutoff.Add(-time.Minute))
		})
		live := createEndpoint(t, bundle.s, newEndpoint("", now()))
		require.Zero(t, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEndpoints, Before: cutoff}), "its delivery is kept yet")
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneDeliveries, Before: cutoff}))
		require.Zero(t, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEndpoints, Before: cutoff.Add(-time.Hour)}), "deleted after that")
		require.Equal(t, 1, prune(t, bundle.s, &store.PruneParams{Kind: store.PruneEndpoints, Before: cutoff}))
		_, err = bundle.s.EndpointGet(ctx, bundle.ep.ID)
		gone(t, err, "the tombstone, once its history went")
		_, err = bundle.s.EndpointGet(ctx, live.ID)
		require.NoError(t, err, "a live endpoint is never pruned")
	})

	t.Run("RetentionLockIsHeldByOneTransactionAtATime", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		var first bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			first, err = tx.RetentionLock(ctx)
			return err
		})
		require.True(t, first)
		if bundle.s.Dialect() == "sqlite" {
			return // one process per database: the one writer always has it
		}
		held, release := make(chan struct{}), make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			errc <- bundle.s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
				ok, err := tx.RetentionLock(ctx)
				if err != nil || !ok {
					close(held)
					return errors.Join(err, errors.New("the first transaction did not get the lock"))
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		var second bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			second, err = tx.RetentionLock(ctx)
			return err
		})
		close(release)
		require.NoError(t, <-errc)
		require.False(t, second, "while another transaction holds it")
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			second, err = tx.RetentionLock(ctx)
			return err
		})
		require.True(t, second, "released when that transaction ended")
	})

	t.Run("EraseTenantRemovesAllItsDataInBatchesAndNothingElse", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := now()
		g := createGroup(t, bundle.s, "booking")
		// Two tenants with one of everything; only "gone" is erased.
		type world struct {
			ev   *events.Event
			d, v *store.Delivery // to its own endpoint, to the vendor's
			r    *store.Run
			key  *store.APIKey
			ep   *store.Endpoint
			au   *store.Automation
			conn *store.OAuth2Connection
			tf   *store.TenantField
		}
		build := func(tenant string) *world {
			w := &world{ep: createEndpoint(t, bundle.s, newEndpoint(tenant, at)), au: createAutomation(t, bundle.s, newAutomation(tenant, at))}
			w.ev = insertEvent(t, bundle.s, tenant, at)
			w.d, w.v = delivery(w.ep, w.ev, store.DeliveryPending, at), delivery(bundle.ep, w.ev, store.DeliverySucceeded, at)
			insertDeliveries(t, bundle.s, w.d, w.v)
			w.r = run(w.au, w.ev, store.RunFailed, at)
			insertRuns(t, bundle.s, w.r)
			for i := range 3 {
				saveStrings(t, bundle.s, store.EntityKey{TenantID: tenant, FieldGroupID: g.ID, EntityID: fmt.Sprint("e", i)}, at, map[string]string{"a": "1", "b": "2"})
			}
			w.tf = createTenantField(t, bundle.s, tenant, g.ID, "mine")
			tm := newTimer(w.au.ID, "e0", at.Add(time.Hour))
			tm.TenantID = tenant
			upsertTimers(t, bundle.s, tm)
			w.conn = newOAuth2Connection(tenant, at)
			w.key = &store.APIKey{ID: events.NewID("key_"), Hash: events.NewID("h"), Role: store.RoleTenant, TenantID: tenant, CreatedAt: at}
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
				return errors.Join(
					tx.OAuth2ConnectionCreate(ctx, w.conn),
					tx.VariablePut(ctx, &store.Variable{TenantID: tenant, Name: "region", Value: "eu", CreatedAt: at, UpdatedAt: at}),
					tx.APIKeyCreate(ctx, w.key),
					tx.IdempotencyPut(ctx, &store.IdempotencyRecord{Scope: w.key.ID, Key: "k", RequestHash: "h", Status: 200, ContentType: "application/json", Body: []byte("{}"), CreatedAt: at}),
					tx.SessionCreate(ctx, &store.Session{Hash: events.NewID("s"), KeyID: w.key.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}),
					tx.TenantRetentionPut(ctx, &store.TenantRetention{TenantID: tenant, Days: 90, UpdatedAt: at}),
				)
			})
			return w
		}
		doomed, kept := build("gone"), build("stays")

		var e *store.TenantErasure
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			e, err = tx.TenantErasureStart(ctx, &store.TenantErasure{TenantID: "gone", RequestedAt: at})
			return err
		})
		require.Equal(t, &store.TenantErasure{TenantID: "gone", State: store.ErasurePending, RequestedAt: at}, e)
		key, err := bundle.s.APIKeyGet(ctx, doomed.key.ID)
		require.NoError(t, err)
		require.Equal(t, at, key.RevokedAt, "the tenant's keys are revoked at once")
		key, err = bundle.s.APIKeyGet(ctx, kept.key.ID)
		require.NoError(t, err)
		require.True(t, key.RevokedAt.IsZero())
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			e, err = tx.TenantErasureStart(ctx, &store.TenantErasure{TenantID: "gone", RequestedAt: at.Add(time.Minute)})
			return err
		})
		require.Equal(t, at, e.RequestedAt, "asking again while pending changes nothing")
		pending, err := bundle.s.TenantErasureListPending(ctx, 10)
		require.NoError(t, err)
		require.Equal(t, []*store.TenantErasure{e}, pending)

		total, batches := 0, 0
		for {
			var n int
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
				n, err = tx.TenantEraseBatch(ctx, "gone", 2)
				if err == nil && n > 0 {
					err = tx.TenantErasureProgress(ctx, "gone", n)
				}
				return err
			})
			if n == 0 {
				break
			}
			require.LessOrEqual(t, n, 6, "a batch of 2 events takes their deliveries and runs, nothing more")
			total += n
			batches++
			require.Less(t, batches, 100)
		}
		require.Greater(t, batches, 8, "one kind at a time, in batches")
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TenantErasureFinish(ctx, &store.TenantErasureFinishParams{TenantID: "gone", EventID: "evt_done", At: at.Add(time.Second)})
		})
		e, err = bundle.s.TenantErasureGet(ctx, "gone")
		require.NoError(t, err)
		require.Equal(t, &store.TenantErasure{TenantID: "gone", State: store.ErasureDone, RequestedAt: at, FinishedAt: at.Add(time.Second),
			Removed: int64(total), EventID: "evt_done"}, e)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TenantErasureFinish(ctx, &store.TenantErasureFinishParams{TenantID: "gone", At: at})
		})
		gone(t, err, "finishing what is done")
		pending, err = bundle.s.TenantErasureListPending(ctx, 10)
		require.NoError(t, err)
		require.Empty(t, pending)

		// Nothing of "gone" is left; everything of "stays" is.
		check := func(w *world, want func(t *testing.T, err error, what string)) {
			t.Helper()
			_, err := bundle.s.EventGet(ctx, w.ev.ID)
			want(t, err, "event")
			_, err = bundle.s.DeliveryGet(ctx, w.d.ID)
			want(t, err, "delivery")
			_, err = bundle.s.DeliveryGet(ctx, w.v.ID)
			want(t, err, "delivery to a vendor-wide endpoint")
			_, err = bundle.s.RunGet(ctx, w.r.ID)
			want(t, err, "run")
			_, err = bundle.s.EndpointGet(ctx, w.ep.ID)
			want(t, err, "endpoint")
			_, err = bundle.s.AutomationGet(ctx, w.au.ID)
			want(t, err, "automation")
			_, err = bundle.s.TenantFieldGet(ctx, w.tf.ID)
			want(t, err, "tenant field")
			_, err = bundle.s.OAuth2ConnectionGet(ctx, w.conn.ID)
			want(t, err, "connection")
			_, err = bundle.s.VariableGet(ctx, w.ep.TenantID, "region")
			want(t, err, "variable")
			_, err = bundle.s.IdempotencyGet(ctx, w.key.ID, "k")
			want(t, err, "idempotency record")
			_, err = bundle.s.TenantRetentionGet(ctx, w.ep.TenantID)
			want(t, err, "retention")
			_, err = bundle.s.APIKeyGet(ctx, w.key.ID)
			require.NoError(t, err, "keys are revoked, not deleted: who had access stays on record")
		}
		check(doomed, gone)
		check(kept, func(t *testing.T, err error, what string) { t.Helper(); require.NoError(t, err, what) })
		rows, n, err := bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: 1, PageSize: 100}, TenantID: "gone"})
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, rows)
		_, n, err = bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: 1, PageSize: 100}, TenantID: "stays"})
		require.NoError(t, err)
		require.Equal(t, 6, n)
		_, err = bundle.s.EndpointGet(ctx, bundle.ep.ID)
		require.NoError(t, err, "the vendor-wide endpoint stays")

		// A finished erasure can be asked for again (data written since).
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			e, err = tx.TenantErasureStart(ctx, &store.TenantErasure{TenantID: "gone", RequestedAt: at.Add(time.Hour)})
			return err
		})
		require.Equal(t, &store.TenantErasure{TenantID: "gone", State: store.ErasurePending, RequestedAt: at.Add(time.Hour)}, e)
		_, err = bundle.s.TenantErasureGet(ctx, "nobody")
		gone(t, err, "no erasure asked for")
	})
}
