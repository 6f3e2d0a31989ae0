package storetest

import (
	"cmp"
	"context"
	"errors"
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

// newAutomation returns an active automation with every field set.
func newAutomation(tenantID string, at time.Time) *store.Automation {
	return &store.Automation{
		ID:          events.NewID("au_"),
		TenantID:    tenantID,
		Name:        "Bookings → CRM: Zoë 日本",
		Active:      true,
		ActivatedAt: at.Add(-time.Minute),
		Definition: []byte(`{"description":"Zoë 日本 🎉 \u2028", "trigger":{"event":"booking.created"},` +
			`"actions":[{"name":"notify","type":"webhook","url":"https://hooks.example.com/in?x=1"}]}`),
		Secret:    "enc:v1:secret",
		CreatedAt: at,
		UpdatedAt: at.Add(time.Second),
	}
}

func createAutomation(t *testing.T, s store.Store, a *store.Automation) *store.Automation {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationCreate(ctx, a) })
	return a
}

// newRun returns a pending, unleased run at its first step, due at at.
func newRun(automationID, eventID string, at time.Time) *store.Run {
	return &store.Run{ID: events.NewID("run_"), AutomationID: automationID, EventID: eventID, EventType: "booking.created",
		TenantID: "t1", Cause: []byte(`["evt_root"]`), State: store.RunPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
}

func insertRuns(t *testing.T, s store.Store, rs ...*store.Run) {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RunInsert(ctx, rs) })
}

func getRun(t *testing.T, s store.Store, id string) *store.Run {
	t.Helper()
	r, err := s.RunGet(t.Context(), id)
	require.NoError(t, err)
	return r
}

func claimRuns(t *testing.T, s store.Store, p *store.RunClaimDueParams) []*store.Run {
	t.Helper()
	var rs []*store.Run
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		rs, err = tx.RunClaimDue(ctx, p)
		return err
	})
	return rs
}

func setRunStateIfLeased(t *testing.T, s store.Store, p *store.RunSetStateParams) bool {
	t.Helper()
	var applied map[string]bool
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		applied, err = tx.RunSetStatesIfLeased(ctx, []*store.RunSetStateParams{p})
		return err
	})
	return applied[p.ID]
}

func runIDs(rs []*store.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// runKind adapts runs to the lease checks they share with deliveries.
func runKind(newStore func(t *testing.T) store.Store) leasedKind[*store.Run] {
	return leasedKind[*store.Run]{
		noun: "Run", plural: "Runs", keyPlural: "Automations",
		open:   newStore,
		newKey: func(t *testing.T, s store.Store) string { return createAutomation(t, s, newAutomation("t1", now())).ID },
		newJob: newRun,
		withLease: func(r *store.Run, owner string, until time.Time) *store.Run {
			c := *r
			c.LeaseOwner, c.LeasedUntil = owner, until
			return &c
		},
		finished: func(r *store.Run, ok bool) *store.Run {
			c := *r
			c.State = store.RunFailed
			if ok {
				c.State = store.RunSucceeded
			}
			return &c
		},
		id:     func(r *store.Run) string { return r.ID },
		insert: insertRuns,
		get:    getRun,
		list: func(ctx context.Context, s store.Store, limit int) ([]*store.Run, error) {
			return s.RunList(ctx, &store.RunListParams{Limit: limit})
		},
		claim: func(ctx context.Context, tx store.Tx, c leaseClaim) ([]*store.Run, error) {
			return tx.RunClaimDue(ctx, &store.RunClaimDueParams{Now: c.now, Owner: c.owner, LeaseUntil: c.leaseUntil, Limit: c.limit, ExcludeAutomations: c.exclude})
		},
		extend: func(ctx context.Context, tx store.Tx, owner string, ids []string, until time.Time) error {
			return tx.RunExtendLeases(ctx, owner, ids, until)
		},
		release: func(ctx context.Context, tx store.Tx, owner string) error { return tx.RunReleaseLeases(ctx, owner) },
	}
}

func insertRunSteps(t *testing.T, s store.Store, steps ...*store.RunStep) {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.RunStepInsert(ctx, steps) })
}

// newTimer returns a timer of the automation for one entity's field.
func newTimer(automationID, entityID string, due time.Time) *store.Timer {
	return &store.Timer{
		TimerKey: store.TimerKey{AutomationID: automationID, TenantID: "t1", FieldGroupID: "fg_booking", EntityID: entityID, FieldKey: "check_in"},
		DueAt:    due, EventID: events.NewID("evt_"), Value: []byte(`"2026-03-29T12:00:00Z"`), CreatedAt: now(),
	}
}

func upsertTimers(t *testing.T, s store.Store, ts ...*store.Timer) {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, tm := range ts {
			if err := tx.TimerUpsert(ctx, tm); err != nil {
				return err
			}
		}
		return nil
	})
}

func takeDueTimers(t *testing.T, s store.Store, at time.Time, limit int) []*store.Timer {
	t.Helper()
	var ts []*store.Timer
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		ts, err = tx.TimerTakeDue(ctx, at, limit)
		return err
	})
	return ts
}

// timerNextDue asks in a transaction: TimerNextDue is one of the Writer's
// methods (the timer loop asks it alongside TimerTakeDue).
func timerNextDue(t *testing.T, s store.Store) time.Time {
	t.Helper()
	var due time.Time
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		due, err = tx.TimerNextDue(ctx)
		return err
	})
	return due
}

func timerKeys(ts []*store.Timer) []store.TimerKey {
	out := make([]store.TimerKey, len(ts))
	for i, tm := range ts {
		out[i] = tm.TimerKey
	}
	return out
}

func testAutomations(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	ptr := func(s string) *string { return &s }

	t.Run("CreateThenGetRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// 999ns past the microsecond, in another zone: times come back in
		// UTC, truncated; the definition keeps its bytes exactly.
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		a := createAutomation(t, bundle.s, newAutomation("t1", at))
		got, err := bundle.s.AutomationGet(ctx, a.ID)
		require.NoError(t, err)
		want := *a
		want.ActivatedAt, want.CreatedAt, want.UpdatedAt = dbTime(a.ActivatedAt), dbTime(a.CreatedAt), dbTime(a.UpdatedAt)
		require.Equal(t, &want, got)
		require.Equal(t, string(a.Definition), string(got.Definition))
	})
	t.Run("EmptyAndZeroFieldsRoundTrip", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// Vendor-wide, never active, no definition or secret: empty strings,
		// false and the zero time come back as such; an empty definition,
		// nil or not, comes back nil.
		bare := createAutomation(t, bundle.s, &store.Automation{ID: events.NewID("au_"), CreatedAt: now(), UpdatedAt: now()})
		empty := createAutomation(t, bundle.s, &store.Automation{ID: events.NewID("au_"), Definition: []byte{}, CreatedAt: now(), UpdatedAt: now()})
		for _, a := range []*store.Automation{bare, empty} {
			got, err := bundle.s.AutomationGet(ctx, a.ID)
			require.NoError(t, err)
			want := *a
			want.Definition = nil
			require.Equal(t, &want, got)
			require.Nil(t, got.Definition)
			require.False(t, got.Active)
			require.True(t, got.ActivatedAt.IsZero())
		}
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.AutomationGet(ctx, "au_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateIDIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a := createAutomation(t, bundle.s, newAutomation("t1", now()))
		dup := newAutomation("t2", now())
		dup.ID = a.ID
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationCreate(ctx, dup) })
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := bundle.s.AutomationGet(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, a, got)
	})
	t.Run("ListPagesInCreationOrderWithTotalAndTenantFilter", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		base := now().Add(-time.Hour)
		// as[i] was created at base+i minutes; they are stored out of order,
		// and their ids go the other way (made last to first), so that only
		// created_at gives this order. as[5] and as[6] were created at the
		// same time: id breaks the tie.
		tenants := []string{"t1", "t2", "", "t1", "t1", "t2", "t2"}
		as := make([]*store.Automation, len(tenants))
		for i := len(tenants) - 1; i >= 0; i-- {
			as[i] = newAutomation(tenants[i], base.Add(time.Duration(min(i, 5))*time.Minute))
		}
		if as[6].ID < as[5].ID {
			as[5], as[6] = as[6], as[5]
		}
		for _, i := range []int{3, 6, 0, 4, 2, 5, 1} {
			createAutomation(t, bundle.s, as[i])
		}
		ids := func(xs []*store.Automation) []string {
			out := []string{}
			for _, a := range xs {
				out = append(out, a.ID)
			}
			return out
		}
		want := func(is ...int) []string {
			out := []string{}
			for _, i := range is {
				out = append(out, as[i].ID)
			}
			return out
		}
		for _, tc := range []struct {
			name      string
			p         store.AutomationListParams
			want      []string
			wantTotal int
		}{
			{"FirstPage", store.AutomationListParams{Page: store.Page{Page: 1, PageSize: 3}}, want(0, 1, 2), 7},
			{"SecondPage", store.AutomationListParams{Page: store.Page{Page: 2, PageSize: 3}}, want(3, 4, 5), 7},
			{"LastPage", store.AutomationListParams{Page: store.Page{Page: 3, PageSize: 3}}, want(6), 7},
			{"PastTheEnd", store.AutomationListParams{Page: store.Page{Page: 4, PageSize: 3}}, want(), 7},
			{"Tenant", store.AutomationListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t1")}, want(0, 3, 4), 3},
			{"TenantSecondPage", store.AutomationListParams{Page: store.Page{Page: 2, PageSize: 2}, TenantID: ptr("t2")}, want(6), 3},
			{"VendorWideOnly", store.AutomationListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("")}, want(2), 1},
			{"UnknownTenant", store.AutomationListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t9")}, want(), 0},
		} {
			got, total, err := bundle.s.AutomationList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, ids(got), tc.name)
			require.Equal(t, tc.wantTotal, total, tc.name)
		}
		// Listed automations carry every field.
		got, _, err := bundle.s.AutomationList(ctx, &store.AutomationListParams{Page: store.Page{Page: 1, PageSize: 1}})
		require.NoError(t, err)
		require.Equal(t, []*store.Automation{as[0]}, got)
	})
	t.Run("ListAllReturnsEveryAutomationByID", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		all, err := bundle.s.AutomationListAll(ctx)
		require.NoError(t, err)
		require.Empty(t, all)
		var want []*store.Automation
		for _, tenant := range []string{"t1", "", "t2", "t1"} {
			want = append(want, createAutomation(t, bundle.s, newAutomation(tenant, now())))
		}
		inactive := newAutomation("t1", now())
		inactive.Active, inactive.ActivatedAt = false, time.Time{}
		want = append(want, createAutomation(t, bundle.s, inactive))
		slices.SortFunc(want, func(a, b *store.Automation) int { return cmp.Compare(a.ID, b.ID) })
		all, err = bundle.s.AutomationListAll(ctx)
		require.NoError(t, err)
		require.Equal(t, want, all)
	})
	t.Run("UpdateWritesEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a := createAutomation(t, bundle.s, newAutomation("t1", now().Add(-time.Hour)))
		other := createAutomation(t, bundle.s, newAutomation("t1", now().Add(-time.Hour)))
		upd := &store.Automation{ID: a.ID, TenantID: "t2", Name: "renamed", Active: false, ActivatedAt: time.Time{},
			Definition: []byte(`{"trigger":{"event":"booking.deleted"},"actions":[]}`), Secret: "enc:v1:rotated",
			CreatedAt: a.CreatedAt, UpdatedAt: now()}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationUpdate(ctx, upd) })
		got, err := bundle.s.AutomationGet(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, upd, got)
		// And back: active again, vendor-wide, the definition emptied.
		upd2 := *upd
		upd2.TenantID, upd2.Active, upd2.ActivatedAt, upd2.Definition, upd2.Secret = "", true, now(), nil, ""
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationUpdate(ctx, &upd2) })
		got, err = bundle.s.AutomationGet(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, &upd2, got)
		// The other automation is untouched.
		got, err = bundle.s.AutomationGet(ctx, other.ID)
		require.NoError(t, err)
		require.Equal(t, other, got)
	})
	t.Run("UpdateOrDeleteUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		kept := createAutomation(t, bundle.s, newAutomation("t1", now()))
		a := newAutomation("t1", now())
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationUpdate(ctx, a) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationDelete(ctx, a.ID) })
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.AutomationGet(ctx, a.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		// Deleting twice: the second is not found.
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationDelete(ctx, kept.ID) })
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationDelete(ctx, kept.ID) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteCascadesToRunsStepsAndTimers", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		doomed := createAutomation(t, bundle.s, newAutomation("t1", now()))
		kept := createAutomation(t, bundle.s, newAutomation("t1", now()))
		var doomedRs, keptRs []*store.Run
		for i := range 3 {
			doomedRs = append(doomedRs, newRun(doomed.ID, fmt.Sprintf("evt_%d", i), now()))
			keptRs = append(keptRs, newRun(kept.ID, fmt.Sprintf("evt_%d", i), now()))
		}
		insertRuns(t, bundle.s, slices.Concat(doomedRs, keptRs)...)
		var keptSteps []*store.RunStep
		for _, r := range slices.Concat(doomedRs, keptRs) {
			st := &store.RunStep{RunID: r.ID, Name: "notify", Type: "webhook", Attempt: 1, State: store.StepSucceeded, StartedAt: now()}
			insertRunSteps(t, bundle.s, st)
			if r.AutomationID == kept.ID {
				keptSteps = append(keptSteps, st)
			}
		}
		due := now().Add(-time.Minute)
		upsertTimers(t, bundle.s, newTimer(doomed.ID, "e1", due), newTimer(doomed.ID, "e2", due))
		keptTimer := newTimer(kept.ID, "e1", due)
		upsertTimers(t, bundle.s, keptTimer)

		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.AutomationDelete(ctx, doomed.ID) })

		_, err := bundle.s.AutomationGet(ctx, doomed.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		for _, r := range doomedRs {
			_, err := bundle.s.RunGet(ctx, r.ID)
			require.ErrorIs(t, err, store.ErrNotFound)
		}
		rs, err := bundle.s.RunList(ctx, &store.RunListParams{AutomationID: doomed.ID, Limit: 100})
		require.NoError(t, err)
		require.Empty(t, rs)
		steps, err := bundle.s.RunStepList(ctx, runIDs(doomedRs))
		require.NoError(t, err)
		require.Empty(t, steps)

		// The other automation keeps everything.
		rs, err = bundle.s.RunList(ctx, &store.RunListParams{Limit: 100})
		require.NoError(t, err)
		require.ElementsMatch(t, keptRs, rs)
		steps, err = bundle.s.RunStepList(ctx, runIDs(keptRs))
		require.NoError(t, err)
		require.Equal(t, keptSteps, steps)
		all, err := bundle.s.AutomationListAll(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.Automation{kept}, all)
		require.Equal(t, []store.TimerKey{keptTimer.TimerKey}, timerKeys(takeDueTimers(t, bundle.s, now(), 100)))
	})
}

func testRuns(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s     store.Store
		a, a2 *store.Automation
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{
			s:  s,
			a:  createAutomation(t, s, newAutomation("t1", now())),
			a2: createAutomation(t, s, newAutomation("t2", now())),
		}, t.Context()
	}

	t.Run("InsertAssignsIncreasingSeq", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		a, b, c := newRun(bundle.a.ID, "evt_a", now()), newRun(bundle.a2.ID, "evt_a", now()), newRun(bundle.a.ID, "evt_b", now())
		insertRuns(t, bundle.s, a, b)
		insertRuns(t, bundle.s, c)
		require.Positive(t, a.Seq)
		require.Greater(t, b.Seq, a.Seq)
		require.Greater(t, c.Seq, b.Seq)
		for _, r := range []*store.Run{a, b, c} {
			require.Equal(t, r.Seq, getRun(t, bundle.s, r.ID).Seq)
		}
	})
	t.Run("GetRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		r := &store.Run{ID: events.NewID("run_"), AutomationID: bundle.a.ID, EventID: "evt_1", EventType: "timer.check_in",
			TenantID: "t1", Trigger: []byte(`{"entity_id":"e1","field":"check_in","value":"Zoë 日本 🎉 \u2028"}`),
			Cause: []byte(`["evt_root", "evt_mid"]`), State: store.RunPending, Step: 2, Attempts: 3,
			NextAttemptAt: at.Add(time.Minute), LeasedUntil: at.Add(30 * time.Second), LeaseOwner: "w_1",
			Steps: []byte(`{"fetch":{"status":200,"body":{"ok":true}}, "a":1}`), Error: "503 Service Unavailable: Zoë 日本",
			CreatedAt: at.Add(-time.Hour), UpdatedAt: at}
		insertRuns(t, bundle.s, r)
		got, err := bundle.s.RunGet(ctx, r.ID)
		require.NoError(t, err)
		want := *r
		want.NextAttemptAt, want.LeasedUntil = dbTime(r.NextAttemptAt), dbTime(r.LeasedUntil)
		want.CreatedAt, want.UpdatedAt = dbTime(r.CreatedAt), dbTime(r.UpdatedAt)
		require.Equal(t, &want, got)
		require.Equal(t, string(r.Trigger), string(got.Trigger))
		require.Equal(t, string(r.Steps), string(got.Steps))

		// A run of an event (no trigger payload), at its first step, not
		// leased, with nothing captured yet: empty byte fields come back
		// nil, whether they went in nil or empty; zero times stay zero.
		for _, empty := range [][]byte{nil, {}} {
			bare := &store.Run{ID: events.NewID("run_"), AutomationID: bundle.a.ID, State: store.RunPending,
				Trigger: empty, Cause: empty, Steps: empty}
			insertRuns(t, bundle.s, bare)
			got, err = bundle.s.RunGet(ctx, bare.ID)
			require.NoError(t, err)
			want := *bare
			want.Trigger, want.Cause, want.Steps = nil, nil, nil
			require.Equal(t, &want, got)
			require.Nil(t, got.Trigger)
			require.True(t, got.LeasedUntil.IsZero())
			require.True(t, got.NextAttemptAt.IsZero())
		}
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.RunGet(ctx, "run_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateIDIsConflictAndInsertsNothing", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		r := newRun(bundle.a.ID, "evt_1", now())
		insertRuns(t, bundle.s, r)
		fresh := newRun(bundle.a.ID, "evt_2", now())
		dup := newRun(bundle.a2.ID, "evt_3", now())
		dup.ID = r.ID
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.RunInsert(ctx, []*store.Run{fresh, dup}) })
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.RunGet(ctx, fresh.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, r, getRun(t, bundle.s, r.ID))
	})
	t.Run("InsertForUnknownAutomationFails", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		r := newRun("au_nope", "evt_1", now())
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.RunInsert(ctx, []*store.Run{r}) })
		require.Error(t, err)
		_, err = bundle.s.RunGet(ctx, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ListFiltersNewestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a1, a2 := bundle.a.ID, bundle.a2.ID
		at := now()
		rs := []*store.Run{
			newRun(a1, "evt_a", at),
			newRun(a1, "evt_b", at),
			newRun(a2, "evt_a", at),
			newRun(a1, "evt_c", at),
			newRun(a2, "evt_b", at),
			newRun(a1, "evt_a", at),
		}
		for i, state := range []store.RunState{store.RunPending, store.RunSucceeded, store.RunFailed,
			store.RunFailed, store.RunPending, store.RunSucceeded} {
			rs[i].State = state
		}
		insertRuns(t, bundle.s, rs[:4]...)
		insertRuns(t, bundle.s, rs[4:]...)
		r := func(is ...int) []*store.Run {
			out := make([]*store.Run, len(is))
			for i, n := range is {
				out[i] = rs[n]
			}
			return out
		}
		for _, tc := range []struct {
			name string
			p    store.RunListParams
			want []*store.Run
		}{
			{"All", store.RunListParams{Limit: 100}, r(5, 4, 3, 2, 1, 0)},
			{"Limit", store.RunListParams{Limit: 2}, r(5, 4)},
			{"Automation", store.RunListParams{AutomationID: a1, Limit: 100}, r(5, 3, 1, 0)},
			{"Event", store.RunListParams{EventID: "evt_a", Limit: 100}, r(5, 2, 0)},
			{"State", store.RunListParams{State: store.RunFailed, Limit: 100}, r(3, 2)},
			{"BeforeSeq", store.RunListParams{BeforeSeq: rs[3].Seq, Limit: 100}, r(2, 1, 0)},
			{"BeforeSeqPages", store.RunListParams{BeforeSeq: rs[5].Seq, Limit: 2}, r(4, 3)},
			{"BeforeSeqLastPage", store.RunListParams{BeforeSeq: rs[1].Seq, Limit: 2}, r(0)},
			{"AutomationAndEventAndState", store.RunListParams{AutomationID: a1, EventID: "evt_a", State: store.RunSucceeded, Limit: 100}, r(5)},
			{"AutomationStateAndCursor", store.RunListParams{AutomationID: a1, State: store.RunPending, BeforeSeq: rs[5].Seq, Limit: 100}, r(0)},
			{"EventAndCursor", store.RunListParams{EventID: "evt_a", BeforeSeq: rs[5].Seq, Limit: 1}, r(2)},
			{"NoMatch", store.RunListParams{EventID: "evt_nope", Limit: 100}, r()},
			{"UnknownAutomation", store.RunListParams{AutomationID: "au_nope", Limit: 100}, r()},
		} {
			got, err := bundle.s.RunList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			if len(tc.want) == 0 {
				require.Empty(t, got, tc.name)
				continue
			}
			require.Equal(t, tc.want, got, tc.name)
		}
	})
	t.Run("ListCursorPagesThroughEveryRunOnce", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		var mine []*store.Run
		for i := range 11 {
			r := newRun(bundle.a.ID, fmt.Sprintf("evt_%d", i), now())
			other := newRun(bundle.a2.ID, fmt.Sprintf("evt_%d", i), now())
			insertRuns(t, bundle.s, r, other)
			mine = append(mine, r)
		}
		slices.Reverse(mine)
		var got []*store.Run
		var pages int
		p := store.RunListParams{AutomationID: bundle.a.ID, Limit: 4}
		for ; pages < 10; pages++ { // bounded: a cursor that does not move must fail, not hang
			page, err := bundle.s.RunList(ctx, &p)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 4)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			p.BeforeSeq = page[len(page)-1].Seq
		}
		require.Equal(t, 3, pages)
		require.Equal(t, mine, got)
	})
}

func testRunLeases(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s     store.Store
		a, a2 *store.Automation
		t0    time.Time
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{
			s:  s,
			a:  createAutomation(t, s, newAutomation("t1", now())),
			a2: createAutomation(t, s, newAutomation("t1", now())),
			t0: now(),
		}, t.Context()
	}
	// leased returns a pending run due an hour before until and leased by
	// owner until until.
	leased := func(automationID, owner string, until time.Time) *store.Run {
		r := newRun(automationID, events.NewID("evt_"), until.Add(-time.Hour))
		r.LeaseOwner, r.LeasedUntil = owner, until
		return r
	}

	t.Run("ClaimDueTakesOnlyPendingDueUnleasedOrExpiredRuns", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0, a := bundle.t0, bundle.a.ID
		due := newRun(a, "evt_due", t0.Add(-time.Minute))
		due.Step, due.Attempts, due.Steps = 1, 2, []byte(`{"first":{"status":200}}`)
		dueNow := newRun(a, "evt_due_now", t0) // next_attempt_at <= now
		expired := leased(a, "w_gone", t0.Add(-time.Second))
		held := leased(a, "w_other", t0.Add(time.Minute))
		notDue := newRun(a, "evt_later", t0.Add(time.Microsecond))
		succeeded := newRun(a, "evt_ok", t0.Add(-time.Minute))
		succeeded.State = store.RunSucceeded
		failed := newRun(a, "evt_failed", t0.Add(-time.Minute))
		failed.State = store.RunFailed
		insertRuns(t, bundle.s, due, dueNow, expired, held, notDue, succeeded, failed)

		leaseUntil := t0.Add(30 * time.Second)
		got := claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: leaseUntil, Limit: 100})
		require.ElementsMatch(t, []string{due.ID, dueNow.ID, expired.ID}, runIDs(got))
		for _, r := range got {
			require.Equal(t, "w_1", r.LeaseOwner)
			require.Equal(t, leaseUntil, r.LeasedUntil)
			require.Equal(t, store.RunPending, r.State)
			require.Equal(t, getRun(t, bundle.s, r.ID), r, "the claim returns the rows as stored")
		}
		// The claim changed only the lease.
		want := *due
		want.LeaseOwner, want.LeasedUntil = "w_1", leaseUntil
		require.Equal(t, &want, getRun(t, bundle.s, due.ID))
		for _, r := range []*store.Run{held, notDue, succeeded, failed} {
			require.Equal(t, r, getRun(t, bundle.s, r.ID), r.EventID)
		}
		// Nothing else is due now.
		require.Empty(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: t0, Owner: "w_2", LeaseUntil: leaseUntil, Limit: 100}))
	})
	testLeaseClaims(t, runKind(newStore))
	testLeaseUpkeep(t, runKind(newStore))
	t.Run("SetStateIfLeasedAppliesOnlyForTheHolderOfAPendingRun", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		r := newRun(bundle.a.ID, "evt_1", t0)
		r.Step, r.Steps = 1, []byte(`{"first":{"status":200}}`)
		insertRuns(t, bundle.s, r)
		at := t0.Add(2 * time.Second)
		succeeded := func(owner string) *store.RunSetStateParams {
			return &store.RunSetStateParams{ID: r.ID, Owner: owner, State: store.RunSucceeded, Step: 2, Attempts: 1, NextAttemptAt: at,
				Steps: []byte(`{"first":{"status":200},"second":{"status":201,"body":"Zoë 日本"}}`), At: at}
		}

		// Unleased: nobody holds it, not even the empty owner.
		require.False(t, setRunStateIfLeased(t, bundle.s, succeeded("w_1")))
		require.False(t, setRunStateIfLeased(t, bundle.s, succeeded("")))
		require.Equal(t, r, getRun(t, bundle.s, r.ID))

		claimed := claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(time.Minute), Limit: 10})
		require.Len(t, claimed, 1)
		require.False(t, setRunStateIfLeased(t, bundle.s, succeeded("w_2")), "another owner")
		require.Equal(t, claimed[0], getRun(t, bundle.s, r.ID), "nothing changes")

		p := succeeded("w_1")
		require.True(t, setRunStateIfLeased(t, bundle.s, p))
		want := *r
		want.State, want.Step, want.Attempts, want.NextAttemptAt, want.Steps, want.UpdatedAt = p.State, p.Step, p.Attempts, at, p.Steps, at
		require.Equal(t, &want, getRun(t, bundle.s, r.ID), "the lease is cleared")

		// No longer pending: a second report does not apply.
		late := &store.RunSetStateParams{ID: r.ID, Owner: "w_1", State: store.RunFailed, Step: 2, Attempts: 2, NextAttemptAt: at, Error: "late", At: at}
		require.False(t, setRunStateIfLeased(t, bundle.s, late))
		require.Equal(t, &want, getRun(t, bundle.s, r.ID))

		unknown := succeeded("w_1")
		unknown.ID = "run_nope"
		require.False(t, setRunStateIfLeased(t, bundle.s, unknown), "unknown run")
	})
	t.Run("SetStateIfLeasedPendingMovesOnAndIsClaimedAgainWhenDue", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		r := newRun(bundle.a.ID, "evt_1", t0)
		insertRuns(t, bundle.s, r)
		require.Len(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(time.Hour), Limit: 10}), 1)

		// A failed attempt of the second step, to be tried again at next.
		at, next := t0.Add(time.Second), t0.Add(5*time.Minute)
		p := &store.RunSetStateParams{ID: r.ID, Owner: "w_1", State: store.RunPending, Step: 1, Attempts: 1, NextAttemptAt: next,
			Steps: []byte(`{"first":{"status":200}}`), Error: "503 Service Unavailable", At: at}
		require.True(t, setRunStateIfLeased(t, bundle.s, p))
		want := *r
		want.Step, want.Attempts, want.NextAttemptAt, want.Steps, want.Error, want.UpdatedAt = 1, 1, next, p.Steps, p.Error, at
		require.Equal(t, &want, getRun(t, bundle.s, r.ID), "pending, unleased")

		// Not due before next, even though its old lease would still run.
		require.Empty(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: next.Add(-time.Microsecond), Owner: "w_2", LeaseUntil: next.Add(time.Hour), Limit: 10}))
		got := claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: next, Owner: "w_2", LeaseUntil: next.Add(time.Minute), Limit: 10})
		require.Equal(t, []string{r.ID}, runIDs(got))
		require.False(t, setRunStateIfLeased(t, bundle.s, &store.RunSetStateParams{ID: r.ID, Owner: "w_1", State: store.RunFailed, At: next}),
			"the previous holder has no say")

		// The retry fails for good; the error and steps replace the old ones.
		p = &store.RunSetStateParams{ID: r.ID, Owner: "w_2", State: store.RunFailed, Step: 1, Attempts: 2, NextAttemptAt: next,
			Error: "dial tcp: connection refused", At: next}
		require.True(t, setRunStateIfLeased(t, bundle.s, p))
		want.State, want.Attempts, want.Steps, want.Error, want.UpdatedAt = store.RunFailed, 2, nil, p.Error, next
		require.Equal(t, &want, getRun(t, bundle.s, r.ID))
		require.Empty(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: next.Add(time.Hour), Owner: "w_2", LeaseUntil: next.Add(2 * time.Hour), Limit: 10}),
			"a failed run is never claimed")
	})
	t.Run("SetStateIfLeasedLosesToATakeover", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		r := newRun(bundle.a.ID, "evt_1", t0)
		insertRuns(t, bundle.s, r)
		require.Len(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(10 * time.Second), Limit: 10}), 1)
		later := t0.Add(20 * time.Second)
		require.Len(t, claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: later, Owner: "w_2", LeaseUntil: later.Add(10 * time.Second), Limit: 10}), 1)

		done := func(owner string) *store.RunSetStateParams {
			return &store.RunSetStateParams{ID: r.ID, Owner: owner, State: store.RunSucceeded, Step: 1, Attempts: 1, NextAttemptAt: later, At: later}
		}
		require.False(t, setRunStateIfLeased(t, bundle.s, done("w_1")), "w_1 lost its lease")
		require.Equal(t, "w_2", getRun(t, bundle.s, r.ID).LeaseOwner)
		require.True(t, setRunStateIfLeased(t, bundle.s, done("w_2")))
		require.Equal(t, store.RunSucceeded, getRun(t, bundle.s, r.ID).State)
	})
	t.Run("RetryNowMakesAnyRunPendingAndDueNowFromItsStep", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		t0 := bundle.t0
		failed := newRun(bundle.a.ID, "evt_1", t0.Add(-time.Hour))
		failed.State, failed.Step, failed.Attempts, failed.Error = store.RunFailed, 2, 5, "500 Internal Server Error"
		failed.Steps = []byte(`{"first":{"status":200},"second":{"status":200}}`)
		succeeded := newRun(bundle.a.ID, "evt_2", t0.Add(-time.Hour))
		succeeded.State, succeeded.Step, succeeded.Attempts = store.RunSucceeded, 3, 1
		held := leased(bundle.a.ID, "w_1", t0.Add(time.Hour))
		held.NextAttemptAt, held.Step, held.Attempts, held.Error = t0.Add(time.Hour), 1, 2, "timeout"
		untouched := newRun(bundle.a.ID, "evt_4", t0.Add(time.Hour))
		insertRuns(t, bundle.s, failed, succeeded, held, untouched)

		at := t0.Add(time.Second)
		for _, r := range []*store.Run{failed, succeeded, held} {
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.RunRetryNow(ctx, r.ID, at) })
			want := *r
			// Step and Steps are kept: the retry continues where it failed.
			want.State, want.Attempts, want.Error, want.NextAttemptAt, want.UpdatedAt = store.RunPending, 0, "", at, at
			want.LeaseOwner, want.LeasedUntil = "", time.Time{}
			require.Equal(t, &want, getRun(t, bundle.s, r.ID), r.EventID)
		}
		require.Equal(t, untouched, getRun(t, bundle.s, untouched.ID))
		got := claimRuns(t, bundle.s, &store.RunClaimDueParams{Now: at, Owner: "w_2", LeaseUntil: at.Add(time.Minute), Limit: 10})
		require.ElementsMatch(t, []string{failed.ID, succeeded.ID, held.ID}, runIDs(got))
		require.False(t, setRunStateIfLeased(t, bundle.s, &store.RunSetStateParams{ID: held.ID, Owner: "w_1", State: store.RunSucceeded, At: at}),
			"the holder before the retry has no say")

		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.RunRetryNow(ctx, "run_nope", at) })
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.RunGet(ctx, "run_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func testRunSteps(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s      store.Store
		a      *store.Automation
		r1, r2 *store.Run
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		a := createAutomation(t, s, newAutomation("t1", now()))
		r1, r2 := newRun(a.ID, "evt_1", now()), newRun(a.ID, "evt_2", now())
		insertRuns(t, s, r1, r2)
		return &testBundle{s: s, a: a, r1: r1, r2: r2}, t.Context()
	}
	newStep := func(runID string, idx, attempt int, at time.Time) *store.RunStep {
		return &store.RunStep{RunID: runID, Index: idx, Name: fmt.Sprintf("step_%d", idx), Type: "webhook", Attempt: attempt,
			State: store.StepRetrying, StartedAt: at, DurationMS: int64(100*idx + attempt),
			Request:         []byte(`{"method":"POST","url":"https://crm.example.com/in","headers":{"Authorization":"[redacted]"},"body":"Zoë 日本 🎉"}`),
			ResponseStatus:  500 + attempt,
			ResponseHeaders: map[string]string{"Retry-After": "30", "X-Zoë": "日本"},
			ResponseBody:    fmt.Sprintf("{\"error\":\"try %d\", \"note\":\"Zoë 🎉\"}\n", attempt),
			Error:           fmt.Sprintf("%d from endpoint", 500+attempt),
			Notes:           []string{"missing: event.data.room", "Zoë 日本"}}
	}
	in := func(s *store.RunStep) *store.RunStep {
		c := *s
		c.StartedAt = dbTime(s.StartedAt)
		return &c
	}

	t.Run("InsertAssignsSeqAndListRoundTripsEveryFieldOldestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		a1, a2 := newStep(bundle.r1.ID, 0, 1, at), newStep(bundle.r1.ID, 0, 2, at.Add(time.Minute))
		a3 := newStep(bundle.r1.ID, 1, 1, at.Add(time.Hour))
		a3.State, a3.ResponseStatus, a3.Error = store.StepSucceeded, 200, ""
		b1 := newStep(bundle.r2.ID, 0, 1, at)
		b1.State, b1.ResponseStatus, b1.ResponseHeaders, b1.ResponseBody, b1.Error = store.StepFailed, 0, nil, "", "dial tcp: connection refused"
		insertRunSteps(t, bundle.s, a1, b1)
		insertRunSteps(t, bundle.s, a2, a3)
		require.Positive(t, a1.Seq)
		require.Greater(t, b1.Seq, a1.Seq)
		require.Greater(t, a2.Seq, b1.Seq)
		require.Greater(t, a3.Seq, a2.Seq)

		got, err := bundle.s.RunStepList(ctx, []string{bundle.r1.ID})
		require.NoError(t, err)
		require.Equal(t, []*store.RunStep{in(a1), in(a2), in(a3)}, got)
		require.Equal(t, string(a1.Request), string(got[0].Request))

		got, err = bundle.s.RunStepList(ctx, []string{bundle.r2.ID, bundle.r1.ID, "run_nope"})
		require.NoError(t, err)
		require.Equal(t, []*store.RunStep{in(a1), in(b1), in(a2), in(a3)}, got, "by seq across runs")
	})
	t.Run("NilAndEmptyFieldsRoundTrip", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// A skipped step: no request, no response, no notes. Nil map and
		// list stay nil, empty ones stay empty; an empty request, nil or
		// not, comes back nil.
		bare := &store.RunStep{RunID: bundle.r1.ID, Name: "maybe", Type: "webhook", State: store.StepSkipped}
		empty := &store.RunStep{RunID: bundle.r1.ID, Index: 1, Request: []byte{}, ResponseHeaders: map[string]string{}, Notes: []string{}}
		insertRunSteps(t, bundle.s, bare, empty)
		got, err := bundle.s.RunStepList(ctx, []string{bundle.r1.ID})
		require.NoError(t, err)
		wantEmpty := *empty
		wantEmpty.Request = nil
		require.Equal(t, []*store.RunStep{bare, &wantEmpty}, got)
		require.Nil(t, got[0].ResponseHeaders)
		require.Nil(t, got[0].Notes)
		require.NotNil(t, got[1].ResponseHeaders)
		require.NotNil(t, got[1].Notes)
		require.True(t, got[0].StartedAt.IsZero())
	})
	t.Run("InsertForUnknownRunFails", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		ok := newStep(bundle.r1.ID, 0, 1, now())
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.RunStepInsert(ctx, []*store.RunStep{ok, newStep("run_nope", 0, 1, now())})
		})
		require.Error(t, err)
		got, err := bundle.s.RunStepList(ctx, []string{"run_nope", bundle.r1.ID})
		require.NoError(t, err)
		require.Empty(t, got, "the transaction inserted nothing")
	})
	t.Run("ListOfNoRunsIsEmpty", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		insertRunSteps(t, bundle.s, newStep(bundle.r1.ID, 0, 1, now()))
		for _, ids := range [][]string{nil, {}, {bundle.r2.ID}, {"run_nope"}} {
			got, err := bundle.s.RunStepList(ctx, ids)
			require.NoError(t, err)
			require.Empty(t, got)
		}
	})
	t.Run("ListAcrossManyRunsIsOldestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// More than two chunks of 500 run ids, asked for in the reverse of
		// the order their steps were written.
		const n = 1100
		rs := make([]*store.Run, n)
		for i := range rs {
			rs[i] = newRun(bundle.a.ID, fmt.Sprintf("evt_%d", i), now())
		}
		insertRuns(t, bundle.s, rs...)
		var want []*store.RunStep
		for i, r := range rs {
			want = append(want, &store.RunStep{RunID: r.ID, Index: i % 3, Name: "s", Type: "webhook", Attempt: 1, State: store.StepSucceeded})
		}
		insertRunSteps(t, bundle.s, want...)
		ids := runIDs(rs)
		slices.Reverse(ids)
		got, err := bundle.s.RunStepList(ctx, append(ids, "run_nope"))
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func testTimers(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s     store.Store
		a, a2 *store.Automation
		t0    time.Time
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{
			s:  s,
			a:  createAutomation(t, s, newAutomation("t1", now())),
			a2: createAutomation(t, s, newAutomation("t1", now())),
			t0: now(),
		}, t.Context()
	}

	t.Run("UpsertThenTakeRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		tm := &store.Timer{
			TimerKey: store.TimerKey{AutomationID: bundle.a.ID, TenantID: "t1", FieldGroupID: "fg_booking", EntityID: "room 12/Zoë", FieldKey: "check_in"},
			DueAt:    at, EventID: "evt_1", Value: []byte(`{"at":"2026-03-29T01:30:15Z","note":"Zoë 日本 🎉 \u2028"}`), CreatedAt: at.Add(-time.Hour),
		}
		upsertTimers(t, bundle.s, tm)
		require.Equal(t, dbTime(at), timerNextDue(t, bundle.s))
		want := *tm
		want.DueAt, want.CreatedAt = dbTime(tm.DueAt), dbTime(tm.CreatedAt)
		got := takeDueTimers(t, bundle.s, dbTime(at), 10)
		require.Equal(t, []*store.Timer{&want}, got)
		require.Equal(t, string(tm.Value), string(got[0].Value))

		require.Empty(t, takeDueTimers(t, bundle.s, dbTime(at), 10), "taken once")
		require.True(t, timerNextDue(t, bundle.s).IsZero())
	})
	t.Run("EmptyValueAndTenantRoundTrip", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		// A value removed (nil) or empty comes back nil; an empty tenant is
		// a key like any other.
		bare := &store.Timer{TimerKey: store.TimerKey{AutomationID: bundle.a.ID}, DueAt: t0.Add(-time.Minute)}
		empty := newTimer(bundle.a.ID, "e1", t0)
		empty.Value = []byte{}
		upsertTimers(t, bundle.s, bare, empty)
		wantEmpty := *empty
		wantEmpty.Value = nil
		got := takeDueTimers(t, bundle.s, t0, 10)
		require.Equal(t, []*store.Timer{bare, &wantEmpty}, got)
		require.Nil(t, got[0].Value)
		require.Nil(t, got[1].Value)
	})
	t.Run("UpsertReplacesTheTimerOfTheSameKey", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		first := newTimer(bundle.a.ID, "e1", t0.Add(time.Hour))
		other := newTimer(bundle.a.ID, "e2", t0.Add(2*time.Hour))
		upsertTimers(t, bundle.s, first, other)
		require.Equal(t, first.DueAt, timerNextDue(t, bundle.s))

		// The field changed again: the timer moves (here, earlier) and
		// carries the new change, value and creation time.
		second := newTimer(bundle.a.ID, "e1", t0.Add(-time.Minute))
		second.Value, second.CreatedAt = []byte(`"2026-04-01T09:00:00Z"`), t0.Add(time.Second)
		upsertTimers(t, bundle.s, second)
		require.Equal(t, second.DueAt, timerNextDue(t, bundle.s))
		require.Equal(t, []*store.Timer{second}, takeDueTimers(t, bundle.s, t0.Add(90*time.Minute), 10), "one timer per key")
		require.Equal(t, []*store.Timer{other}, takeDueTimers(t, bundle.s, t0.Add(3*time.Hour), 10))

		// Moved later, it is no longer due.
		upsertTimers(t, bundle.s, newTimer(bundle.a.ID, "e3", t0))
		later := newTimer(bundle.a.ID, "e3", t0.Add(time.Hour))
		upsertTimers(t, bundle.s, later)
		require.Empty(t, takeDueTimers(t, bundle.s, t0, 10))
		require.Equal(t, later.DueAt, timerNextDue(t, bundle.s))
	})
	t.Run("EachKeyColumnNamesItsOwnTimer", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		due := bundle.t0.Add(-time.Minute)
		base := newTimer(bundle.a.ID, "e1", due)
		variants := []func(k *store.TimerKey){
			func(k *store.TimerKey) { k.AutomationID = bundle.a2.ID },
			func(k *store.TimerKey) { k.TenantID = "t2" },
			func(k *store.TimerKey) { k.FieldGroupID = "fg_room" },
			func(k *store.TimerKey) { k.EntityID = "e2" },
			func(k *store.TimerKey) { k.FieldKey = "check_out" },
		}
		all := []*store.Timer{base}
		for _, change := range variants {
			tm := newTimer(bundle.a.ID, "e1", due)
			change(&tm.TimerKey)
			all = append(all, tm)
		}
		upsertTimers(t, bundle.s, all...)
		got := takeDueTimers(t, bundle.s, bundle.t0, 100)
		require.ElementsMatch(t, all, got)
	})
	t.Run("DeleteRemovesOnlyThatKey", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		due := bundle.t0.Add(-time.Minute)
		doomed, kept, otherAutomation := newTimer(bundle.a.ID, "e1", due), newTimer(bundle.a.ID, "e2", due), newTimer(bundle.a2.ID, "e1", due)
		upsertTimers(t, bundle.s, doomed, kept, otherAutomation)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TimerDelete(ctx, doomed.TimerKey) })
		// A key without a timer: nothing to do, no error.
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TimerDelete(ctx, doomed.TimerKey) })
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TimerDelete(ctx, store.TimerKey{AutomationID: "au_nope", TenantID: "t1", FieldGroupID: "fg_booking", EntityID: "e1", FieldKey: "check_in"})
		})
		require.ElementsMatch(t, []*store.Timer{kept, otherAutomation}, takeDueTimers(t, bundle.s, bundle.t0, 100))
	})
	t.Run("UpsertForUnknownAutomationFails", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.TimerUpsert(ctx, newTimer("au_nope", "e1", bundle.t0))
		})
		require.Error(t, err)
		require.True(t, timerNextDue(t, bundle.s).IsZero())
	})
	t.Run("TakeDueReturnsOnlyDueTimersSoonestFirstAndRemovesThem", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		// byDue[k] is due at t0+k; they are stored out of order.
		offsets := []time.Duration{-time.Minute, time.Hour, -3 * time.Minute, 0, time.Microsecond, -2 * time.Minute}
		byDue := map[time.Duration]*store.Timer{}
		for i, d := range offsets {
			byDue[d] = newTimer(bundle.a.ID, fmt.Sprintf("e%d", i), t0.Add(d))
			upsertTimers(t, bundle.s, byDue[d])
		}
		require.Empty(t, takeDueTimers(t, bundle.s, t0, 0), "a limit of 0 takes nothing")
		require.Equal(t, t0.Add(-3*time.Minute), timerNextDue(t, bundle.s))

		require.Equal(t, []*store.Timer{byDue[-3*time.Minute], byDue[-2*time.Minute]}, takeDueTimers(t, bundle.s, t0, 2))
		require.Equal(t, t0.Add(-time.Minute), timerNextDue(t, bundle.s))
		// Due at now is due; a microsecond later is not.
		require.Equal(t, []*store.Timer{byDue[-time.Minute], byDue[0]}, takeDueTimers(t, bundle.s, t0, 10))
		require.Empty(t, takeDueTimers(t, bundle.s, t0, 10))
		require.Equal(t, t0.Add(time.Microsecond), timerNextDue(t, bundle.s))

		require.Equal(t, []*store.Timer{byDue[time.Microsecond], byDue[time.Hour]}, takeDueTimers(t, bundle.s, t0.Add(time.Hour), 10))
		require.True(t, timerNextDue(t, bundle.s).IsZero())
		require.Empty(t, takeDueTimers(t, bundle.s, t0.Add(24*time.Hour), 10))
	})
	t.Run("TakeDueRolledBackKeepsTheTimers", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		tm := newTimer(bundle.a.ID, "e1", bundle.t0)
		upsertTimers(t, bundle.s, tm)
		errBoom := errors.New("boom")
		var took []*store.Timer
		var takeErr error
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			took, takeErr = tx.TimerTakeDue(ctx, bundle.t0, 10)
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.NoError(t, takeErr)
		require.Equal(t, []*store.Timer{tm}, took)
		require.Equal(t, []*store.Timer{tm}, takeDueTimers(t, bundle.s, bundle.t0, 10))
	})
	t.Run("NextDueIsTheSoonestOrZero", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		require.True(t, timerNextDue(t, bundle.s).IsZero())
		later := newTimer(bundle.a.ID, "e1", t0.Add(time.Hour))
		upsertTimers(t, bundle.s, later)
		require.Equal(t, later.DueAt, timerNextDue(t, bundle.s))
		// Overdue timers count too, and another automation's.
		overdue := newTimer(bundle.a2.ID, "e1", t0.Add(-time.Hour))
		upsertTimers(t, bundle.s, overdue)
		require.Equal(t, overdue.DueAt, timerNextDue(t, bundle.s))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TimerDelete(ctx, overdue.TimerKey) })
		require.Equal(t, later.DueAt, timerNextDue(t, bundle.s))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TimerDelete(ctx, later.TimerKey) })
		require.Equal(t, time.Time{}, timerNextDue(t, bundle.s))
	})
	t.Run("ConcurrentTakersNeverGetTheSameTimer", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		t0 := bundle.t0
		const (
			rounds   = 30
			perRound = 20
			limit    = 15 // two takers want more than there is
		)
		takenBy := map[store.TimerKey]int{}
		for round := range rounds {
			var ts []*store.Timer
			for i := range perRound {
				// Alternate automations; due times spread over the last second.
				a := bundle.a.ID
				if i%2 == 1 {
					a = bundle.a2.ID
				}
				ts = append(ts, newTimer(a, fmt.Sprintf("e_%d_%d", round, i), t0.Add(-time.Duration(i)*time.Millisecond)))
			}
			upsertTimers(t, bundle.s, ts...)

			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				got   [2][]*store.Timer
				errs  [2]error
			)
			for c := range got {
				wg.Go(func() {
					<-start
					errs[c] = bundle.s.InTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
						got[c], err = tx.TimerTakeDue(ctx, t0, limit)
						return err
					})
				})
			}
			close(start)
			wg.Wait()

			seen := map[store.TimerKey]bool{}
			for c := range got {
				require.NoError(t, errs[c], "round %d, taker %d", round, c)
				require.LessOrEqual(t, len(got[c]), limit)
				require.True(t, slices.IsSortedFunc(got[c], func(a, b *store.Timer) int { return a.DueAt.Compare(b.DueAt) }),
					"round %d: taker %d got them soonest first", round, c)
				for _, tm := range got[c] {
					require.False(t, seen[tm.TimerKey], "round %d: timer %v taken twice", round, tm.TimerKey)
					seen[tm.TimerKey] = true
					takenBy[tm.TimerKey] = c
				}
			}
			require.ElementsMatch(t, timerKeys(ts), slices.Collect(maps.Keys(seen)), "round %d: every due timer is taken once", round)
			require.True(t, timerNextDue(t, bundle.s).IsZero(), "round %d: taken timers are gone", round)
		}
		require.Len(t, takenBy, rounds*perRound)
	})
}
