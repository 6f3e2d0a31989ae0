package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// newEndpoint returns an endpoint with every field set.
func newEndpoint(tenantID string, at time.Time) *store.Endpoint {
	return &store.Endpoint{
		ID:              events.NewID("ep_"),
		URL:             "https://hooks.example.com/in?src=fieldflow&x=1",
		Description:     "Bookings → CRM: Zoë 日本",
		TenantID:        tenantID,
		Events:          []string{"booking.created", "booking.*"},
		Filter:          `data.room == "12"`,
		Headers:         map[string]string{"X-Api-Key": "k\"1\"", "X-Zoë": "日本 🎉", "Empty": ""},
		SignatureHeader: "X-Signature",
		SignatureFormat: "timestamped",
		BodyTemplate:    `{"eventType":"{{event.event}}","n":12345678901234567890,"name":"Zoë 日本"}`,
		RetrySchedule:   []string{"5s", "1m", "1h30m"},
		TimeoutSeconds:  15,
		MaxInFlight:     4,
		Active:          true,
		Secret:          "enc:v1:secret",
		PrevSecret:      "enc:v1:previous",
		PrevSecretUntil: at.Add(24 * time.Hour),
		SigningKey:      "enc:v1:key",
		PrevSigningKey:  "enc:v1:previous-key",
		PublicKey:       "whpk_public",
		FailingSince:    at.Add(-time.Hour),
		CreatedAt:       at,
		UpdatedAt:       at.Add(time.Second),
	}
}

func createEndpoint(t *testing.T, s store.Store, e *store.Endpoint) *store.Endpoint {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointCreate(ctx, e) })
	return e
}

// newDelivery returns a pending, unleased delivery due at at.
func newDelivery(endpointID, eventID string, at time.Time) *store.Delivery {
	return &store.Delivery{ID: events.NewID("dl_"), EndpointID: endpointID, EventID: eventID, EventType: "booking.created",
		TenantID: "t1", State: store.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
}

func insertDeliveries(t *testing.T, s store.Store, ds ...*store.Delivery) {
	t.Helper()
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryInsert(ctx, ds) })
}

func getDelivery(t *testing.T, s store.Store, id string) *store.Delivery {
	t.Helper()
	d, err := s.DeliveryGet(t.Context(), id)
	require.NoError(t, err)
	return d
}

func claimDue(t *testing.T, s store.Store, p *store.DeliveryClaimDueParams) []*store.Delivery {
	t.Helper()
	var ds []*store.Delivery
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		ds, err = tx.DeliveryClaimDue(ctx, p)
		return err
	})
	return ds
}

func setStateIfLeased(t *testing.T, s store.Store, p *store.DeliverySetStateParams) bool {
	t.Helper()
	var applied map[string]bool
	mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		applied, err = tx.DeliverySetStatesIfLeased(ctx, []*store.DeliverySetStateParams{p})
		return err
	})
	return applied[p.ID]
}

func deliveryIDs(ds []*store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// deliveryKind adapts deliveries to the lease checks they share with runs.
func deliveryKind(newStore func(t *testing.T) store.Store) leasedKind[*store.Delivery] {
	return leasedKind[*store.Delivery]{
		noun: "Delivery", plural: "Deliveries", keyPlural: "Endpoints",
		open:   newStore,
		newKey: func(t *testing.T, s store.Store) string { return createEndpoint(t, s, newEndpoint("t1", now())).ID },
		newJob: newDelivery,
		withLease: func(d *store.Delivery, owner string, until time.Time) *store.Delivery {
			c := *d
			c.LeaseOwner, c.LeasedUntil = owner, until
			return &c
		},
		finished: func(d *store.Delivery, ok bool) *store.Delivery {
			c := *d
			c.State = store.DeliveryFailed
			if ok {
				c.State = store.DeliverySucceeded
			}
			return &c
		},
		id:     func(d *store.Delivery) string { return d.ID },
		insert: insertDeliveries,
		get:    getDelivery,
		list: func(ctx context.Context, s store.Store, limit int) ([]*store.Delivery, error) {
			return s.DeliveryList(ctx, &store.DeliveryListParams{Limit: limit})
		},
		claim: func(ctx context.Context, tx store.Tx, c leaseClaim) ([]*store.Delivery, error) {
			return tx.DeliveryClaimDue(ctx, &store.DeliveryClaimDueParams{Now: c.now, Owner: c.owner, LeaseUntil: c.leaseUntil, Limit: c.limit, ExcludeEndpoints: c.exclude})
		},
		extend: func(ctx context.Context, tx store.Tx, owner string, ids []string, until time.Time) error {
			return tx.DeliveryExtendLeases(ctx, owner, ids, until)
		},
		release: func(ctx context.Context, tx store.Tx, owner string) error {
			return tx.DeliveryReleaseLeases(ctx, owner)
		},
	}
}

func testEndpoints(t *testing.T, newStore func(t *testing.T) store.Store) {
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
		// UTC, truncated.
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		e := createEndpoint(t, bundle.s, newEndpoint("t1", at))
		got, err := bundle.s.EndpointGet(ctx, e.ID)
		require.NoError(t, err)
		want := *e
		want.PrevSecretUntil, want.FailingSince = dbTime(e.PrevSecretUntil), dbTime(e.FailingSince)
		want.CreatedAt, want.UpdatedAt = dbTime(e.CreatedAt), dbTime(e.UpdatedAt)
		require.Equal(t, &want, got)
	})
	t.Run("EmptyAndZeroFieldsRoundTrip", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// Nil lists and maps stay nil, empty ones stay empty; zero times
		// (no previous secret, not failing) stay zero; false stays false.
		bare := createEndpoint(t, bundle.s, &store.Endpoint{ID: events.NewID("ep_"), URL: "http://127.0.0.1:1/", CreatedAt: now(), UpdatedAt: now()})
		empty := createEndpoint(t, bundle.s, &store.Endpoint{ID: events.NewID("ep_"), URL: "http://127.0.0.1:2/",
			Events: []string{}, Headers: map[string]string{}, RetrySchedule: []string{}, CreatedAt: now(), UpdatedAt: now()})
		for _, e := range []*store.Endpoint{bare, empty} {
			got, err := bundle.s.EndpointGet(ctx, e.ID)
			require.NoError(t, err)
			require.Equal(t, e, got)
			require.False(t, got.Active)
			require.True(t, got.PrevSecretUntil.IsZero())
			require.True(t, got.FailingSince.IsZero())
		}
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.EndpointGet(ctx, "ep_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateIDIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		e := createEndpoint(t, bundle.s, newEndpoint("t1", now()))
		dup := newEndpoint("t2", now())
		dup.ID = e.ID
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointCreate(ctx, dup) })
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := bundle.s.EndpointGet(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, "t1", got.TenantID)
	})
	t.Run("ListPagesInCreationOrderWithTotalAndTenantFilter", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		base := now().Add(-time.Hour)
		// eps[i] was created at base+i minutes; they are stored out of order.
		tenants := []string{"t1", "t2", "", "t1", "t1"}
		eps := make([]*store.Endpoint, len(tenants))
		for i, tenant := range tenants {
			eps[i] = newEndpoint(tenant, base.Add(time.Duration(i)*time.Minute))
		}
		for _, i := range []int{3, 0, 4, 2, 1} {
			createEndpoint(t, bundle.s, eps[i])
		}
		ids := func(es []*store.Endpoint) []string {
			out := []string{}
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		want := func(is ...int) []string {
			out := []string{}
			for _, i := range is {
				out = append(out, eps[i].ID)
			}
			return out
		}
		for _, tc := range []struct {
			name      string
			p         store.EndpointListParams
			want      []string
			wantTotal int
		}{
			{"FirstPage", store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 2}}, want(0, 1), 5},
			{"SecondPage", store.EndpointListParams{Page: store.Page{Page: 2, PageSize: 2}}, want(2, 3), 5},
			{"LastPage", store.EndpointListParams{Page: store.Page{Page: 3, PageSize: 2}}, want(4), 5},
			{"PastTheEnd", store.EndpointListParams{Page: store.Page{Page: 4, PageSize: 2}}, want(), 5},
			{"Tenant", store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t1")}, want(0, 3, 4), 3},
			{"TenantSecondPage", store.EndpointListParams{Page: store.Page{Page: 2, PageSize: 2}, TenantID: ptr("t1")}, want(4), 3},
			{"AllTenantsEndpointsOnly", store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("")}, want(2), 1},
			{"UnknownTenant", store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t9")}, want(), 0},
		} {
			got, total, err := bundle.s.EndpointList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, ids(got), tc.name)
			require.Equal(t, tc.wantTotal, total, tc.name)
		}
		// Listed endpoints carry every field.
		got, _, err := bundle.s.EndpointList(ctx, &store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 1}})
		require.NoError(t, err)
		require.Equal(t, []*store.Endpoint{eps[0]}, got)
	})
	t.Run("ListAllReturnsEveryEndpointByID", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		all, err := bundle.s.EndpointListAll(ctx)
		require.NoError(t, err)
		require.Empty(t, all)
		var want []*store.Endpoint
		for _, tenant := range []string{"t1", "", "t2", "t1"} {
			want = append(want, createEndpoint(t, bundle.s, newEndpoint(tenant, now())))
		}
		slices.SortFunc(want, func(a, b *store.Endpoint) int { return cmp.Compare(a.ID, b.ID) })
		all, err = bundle.s.EndpointListAll(ctx)
		require.NoError(t, err)
		require.Equal(t, want, all)
	})
	t.Run("UpdateWritesEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		e := createEndpoint(t, bundle.s, newEndpoint("t1", now().Add(-time.Hour)))
		other := createEndpoint(t, bundle.s, newEndpoint("t1", now().Add(-time.Hour)))
		upd := &store.Endpoint{
			ID: e.ID, URL: "https://other.example.com/", Description: "changed", TenantID: "t2",
			Events: []string{"booking.deleted"}, Filter: "", Headers: map[string]string{"X-New": "1"},
			SignatureHeader: "Webhook-Signature", RetrySchedule: []string{"10s"}, TimeoutSeconds: 30, MaxInFlight: 1,
			Active: false, DisabledReason: "410 Gone", Secret: "enc:v1:rotated", PrevSecret: "enc:v1:secret",
			PrevSecretUntil: now().Add(time.Hour), FailingSince: time.Time{}, // recovered
			CreatedAt: e.CreatedAt, UpdatedAt: now(),
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointUpdate(ctx, upd) })
		got, err := bundle.s.EndpointGet(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, upd, got)
		// And back: nil lists, active again, the previous secret gone.
		upd2 := *upd
		upd2.Events, upd2.Headers, upd2.RetrySchedule = nil, nil, nil
		upd2.Active, upd2.DisabledReason, upd2.PrevSecret, upd2.PrevSecretUntil = true, "", "", time.Time{}
		upd2.FailingSince = now()
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointUpdate(ctx, &upd2) })
		got, err = bundle.s.EndpointGet(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, &upd2, got)
		// The other endpoint is untouched.
		got, err = bundle.s.EndpointGet(ctx, other.ID)
		require.NoError(t, err)
		require.Equal(t, other, got)
	})
	t.Run("UpdateOrDeleteUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		e := newEndpoint("t1", now())
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointUpdate(ctx, e) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointDelete(ctx, e.ID, now()) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteLeavesATombstoneThatKeepsItsHistory", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		doomed := createEndpoint(t, bundle.s, newEndpoint("t1", now()))
		kept := createEndpoint(t, bundle.s, newEndpoint("t1", now()))
		var doomedDs, keptDs []*store.Delivery
		for i := range 3 {
			doomedDs = append(doomedDs, newDelivery(doomed.ID, fmt.Sprintf("evt_%d", i), now()))
			keptDs = append(keptDs, newDelivery(kept.ID, fmt.Sprintf("evt_%d", i), now()))
		}
		// One of the doomed endpoint's deliveries has settled, the others
		// are pending, one of them leased.
		doomedDs[0].State = store.DeliverySucceeded
		doomedDs[1].LeaseOwner, doomedDs[1].LeasedUntil = "worker-1", now().Add(time.Minute)
		insertDeliveries(t, bundle.s, append(slices.Clone(doomedDs), keptDs...)...)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			for _, d := range append(slices.Clone(doomedDs), keptDs...) {
				if err := tx.AttemptInsert(ctx, &store.Attempt{DeliveryID: d.ID, Attempt: 1, StartedAt: now(), ResponseStatus: 500}); err != nil {
					return err
				}
			}
			return nil
		})

		at := now()
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointDelete(ctx, doomed.ID, at) })

		// Gone from lists and fan-out, inactive, its secrets wiped.
		all, err := bundle.s.EndpointListAll(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.Endpoint{kept}, all)
		list, total, err := bundle.s.EndpointList(ctx, &store.EndpointListParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: ptr("t1")})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []*store.Endpoint{kept}, list)
		got, err := bundle.s.EndpointGet(ctx, doomed.ID)
		require.NoError(t, err, "the tombstone stays readable: its deliveries name it")
		require.Equal(t, at, got.DeletedAt)
		require.False(t, got.Active)
		require.Empty(t, got.Secret)
		require.Empty(t, got.PrevSecret)
		// A deleted endpoint is deleted once and updated never.
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointDelete(ctx, doomed.ID, now()) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EndpointUpdate(ctx, doomed) })
		require.ErrorIs(t, err, store.ErrNotFound)

		// Its history stays: the settled delivery as it was, the pending
		// ones failed (nothing more goes out), every attempt.
		for i, d := range doomedDs {
			got, err := bundle.s.DeliveryGet(ctx, d.ID)
			require.NoError(t, err)
			if i == 0 {
				require.Equal(t, store.DeliverySucceeded, got.State)
				continue
			}
			require.Equal(t, store.DeliveryFailed, got.State)
			require.Equal(t, "endpoint was deleted", got.LastError)
			require.Empty(t, got.LeaseOwner)
		}
		attempts, err := bundle.s.AttemptList(ctx, deliveryIDs(doomedDs))
		require.NoError(t, err)
		require.Len(t, attempts, len(doomedDs))
		claimed := claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: now().Add(time.Hour), Owner: "claimer",
			LeaseUntil: now().Add(2 * time.Hour), Limit: 100})
		require.ElementsMatch(t, deliveryIDs(keptDs), deliveryIDs(claimed), "only the live endpoint's deliveries are due")
	})
}

func ptr[T any](v T) *T { return &v }

func testDeliveries(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s       store.Store
		ep, ep2 *store.Endpoint
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{
			s:   s,
			ep:  createEndpoint(t, s, newEndpoint("t1", now())),
			ep2: createEndpoint(t, s, newEndpoint("t2", now())),
		}, t.Context()
	}

	t.Run("InsertAssignsIncreasingSeq", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		a, b, c := newDelivery(bundle.ep.ID, "evt_a", now()), newDelivery(bundle.ep2.ID, "evt_a", now()), newDelivery(bundle.ep.ID, "evt_b", now())
		insertDeliveries(t, bundle.s, a, b)
		insertDeliveries(t, bundle.s, c)
		require.Positive(t, a.Seq)
		require.Greater(t, b.Seq, a.Seq)
		require.Greater(t, c.Seq, b.Seq)
	})
	t.Run("GetRoundTripsEveryField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		d := &store.Delivery{ID: events.NewID("dl_"), EndpointID: bundle.ep.ID, EventID: "evt_1", EventType: "booking.updated",
			TenantID: "t1", State: store.DeliveryPending, Attempts: 3, NextAttemptAt: at.Add(time.Minute),
			LeasedUntil: at.Add(30 * time.Second), LeaseOwner: "w_1", LastStatus: 503, LastError: "503 Service Unavailable: Zoë 日本",
			CreatedAt: at.Add(-time.Hour), UpdatedAt: at}
		insertDeliveries(t, bundle.s, d)
		got, err := bundle.s.DeliveryGet(ctx, d.ID)
		require.NoError(t, err)
		want := *d
		want.NextAttemptAt, want.LeasedUntil = dbTime(d.NextAttemptAt), dbTime(d.LeasedUntil)
		want.CreatedAt, want.UpdatedAt = dbTime(d.CreatedAt), dbTime(d.UpdatedAt)
		require.Equal(t, &want, got)

		// An unleased delivery keeps its zero lease time.
		bare := newDelivery(bundle.ep.ID, "evt_2", now())
		bare.TenantID = ""
		insertDeliveries(t, bundle.s, bare)
		got, err = bundle.s.DeliveryGet(ctx, bare.ID)
		require.NoError(t, err)
		require.Equal(t, bare, got)
		require.True(t, got.LeasedUntil.IsZero())
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.DeliveryGet(ctx, "dl_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateIDIsConflictAndInsertsNothing", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		d := newDelivery(bundle.ep.ID, "evt_1", now())
		insertDeliveries(t, bundle.s, d)
		fresh := newDelivery(bundle.ep.ID, "evt_2", now())
		dup := newDelivery(bundle.ep2.ID, "evt_3", now())
		dup.ID = d.ID
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.DeliveryInsert(ctx, []*store.Delivery{fresh, dup})
		})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.DeliveryGet(ctx, fresh.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, d, getDelivery(t, bundle.s, d.ID))
	})
	t.Run("InsertForUnknownEndpointFails", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		d := newDelivery("ep_nope", "evt_1", now())
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryInsert(ctx, []*store.Delivery{d}) })
		require.Error(t, err)
		_, err = bundle.s.DeliveryGet(ctx, d.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ListFiltersNewestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		ep1, ep2 := bundle.ep.ID, bundle.ep2.ID
		at := now()
		ds := []*store.Delivery{
			newDelivery(ep1, "evt_a", at),
			newDelivery(ep1, "evt_b", at),
			newDelivery(ep2, "evt_a", at),
			newDelivery(ep1, "evt_c", at),
			newDelivery(ep2, "evt_b", at),
			newDelivery(ep1, "evt_a", at),
		}
		for i, state := range []store.DeliveryState{store.DeliveryPending, store.DeliverySucceeded, store.DeliveryFailed,
			store.DeliveryFailed, store.DeliveryPending, store.DeliverySucceeded} {
			ds[i].State = state
		}
		insertDeliveries(t, bundle.s, ds[:4]...)
		insertDeliveries(t, bundle.s, ds[4:]...)
		d := func(is ...int) []*store.Delivery {
			out := make([]*store.Delivery, len(is))
			for i, n := range is {
				out[i] = ds[n]
			}
			return out
		}
		for _, tc := range []struct {
			name string
			p    store.DeliveryListParams
			want []*store.Delivery
		}{
			{"All", store.DeliveryListParams{Limit: 100}, d(5, 4, 3, 2, 1, 0)},
			{"Limit", store.DeliveryListParams{Limit: 2}, d(5, 4)},
			{"Endpoint", store.DeliveryListParams{EndpointID: ep1, Limit: 100}, d(5, 3, 1, 0)},
			{"Event", store.DeliveryListParams{EventID: "evt_a", Limit: 100}, d(5, 2, 0)},
			{"State", store.DeliveryListParams{State: store.DeliveryFailed, Limit: 100}, d(3, 2)},
			{"BeforeSeq", store.DeliveryListParams{BeforeSeq: ds[3].Seq, Limit: 100}, d(2, 1, 0)},
			{"BeforeSeqPages", store.DeliveryListParams{BeforeSeq: ds[5].Seq, Limit: 2}, d(4, 3)},
			{"BeforeSeqLastPage", store.DeliveryListParams{BeforeSeq: ds[1].Seq, Limit: 2}, d(0)},
			{"EndpointAndEventAndState", store.DeliveryListParams{EndpointID: ep1, EventID: "evt_a", State: store.DeliverySucceeded, Limit: 100}, d(5)},
			{"EndpointStateAndCursor", store.DeliveryListParams{EndpointID: ep1, State: store.DeliveryPending, BeforeSeq: ds[5].Seq, Limit: 100}, d(0)},
			{"NoMatch", store.DeliveryListParams{EventID: "evt_nope", Limit: 100}, d()},
		} {
			got, err := bundle.s.DeliveryList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			if len(tc.want) == 0 {
				require.Empty(t, got, tc.name)
				continue
			}
			require.Equal(t, tc.want, got, tc.name)
		}
	})
	t.Run("EventsInRangeListsEachEventOnceInSeqOrder", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		base := now().Add(-time.Hour)
		at := func(d time.Duration) time.Time { return base.Add(d) }
		mk := func(endpointID, eventID string, state store.DeliveryState, created time.Time) *store.Delivery {
			d := newDelivery(endpointID, eventID, created)
			d.State = state
			return d
		}
		ep1, ep2 := bundle.ep.ID, bundle.ep2.ID
		ds := []*store.Delivery{
			mk(ep1, "evt_a", store.DeliveryFailed, at(-time.Minute)), // 0: before the range
			mk(ep1, "evt_a", store.DeliveryFailed, at(0)),            // 1: Since is inclusive
			mk(ep1, "evt_b", store.DeliverySucceeded, at(time.Minute)),
			mk(ep1, "evt_a", store.DeliveryPending, at(2*time.Minute)), // 3: a replay of evt_a
			mk(ep1, "evt_c", store.DeliveryFailed, at(3*time.Minute)),
			mk(ep1, "evt_d", store.DeliveryFailed, at(4*time.Minute)), // 5: Until is exclusive
			mk(ep2, "evt_e", store.DeliveryFailed, at(time.Minute)),   // 6: another endpoint
		}
		insertDeliveries(t, bundle.s, ds...)
		d := func(is ...int) []*store.Delivery {
			out := make([]*store.Delivery, len(is))
			for i, n := range is {
				out[i] = ds[n]
			}
			return out
		}
		for _, tc := range []struct {
			name string
			p    store.DeliveryRangeParams
			want []*store.Delivery
		}{
			{"NoUpperBound", store.DeliveryRangeParams{EndpointID: ep1, Since: base, Limit: 100}, d(1, 2, 4, 5)},
			{"UntilIsExclusive", store.DeliveryRangeParams{EndpointID: ep1, Since: base, Until: at(4 * time.Minute), Limit: 100}, d(1, 2, 4)},
			{"SinceIsInclusive", store.DeliveryRangeParams{EndpointID: ep1, Since: at(time.Minute), Until: at(3 * time.Minute), Limit: 100}, d(2, 3)},
			{"Limit", store.DeliveryRangeParams{EndpointID: ep1, Since: base, Limit: 2}, d(1, 2)},
			{"EverythingEver", store.DeliveryRangeParams{EndpointID: ep1, Limit: 100}, d(0, 2, 4, 5)},
			{"OtherEndpoint", store.DeliveryRangeParams{EndpointID: ep2, Since: base, Limit: 100}, d(6)},
			{"EmptyRange", store.DeliveryRangeParams{EndpointID: ep1, Since: at(time.Hour), Limit: 100}, d()},
			{"UnknownEndpoint", store.DeliveryRangeParams{EndpointID: "ep_nope", Limit: 100}, d()},
		} {
			got, err := bundle.s.DeliveryEventsInRange(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			if len(tc.want) == 0 {
				require.Empty(t, got, tc.name)
				continue
			}
			require.Equal(t, tc.want, got, tc.name)
		}
	})
	t.Run("EventsInRangeOnlyFailed", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		base := now().Add(-time.Hour)
		mk := func(eventID string, state store.DeliveryState, created time.Duration) *store.Delivery {
			d := newDelivery(bundle.ep.ID, eventID, base.Add(created))
			d.State = state
			return d
		}
		ds := []*store.Delivery{
			mk("evt_x", store.DeliveryFailed, 0),
			mk("evt_y", store.DeliverySucceeded, time.Minute),
			mk("evt_x", store.DeliveryFailed, 2*time.Minute), // a replay that failed again
			mk("evt_z", store.DeliveryPending, 3*time.Minute),
			mk("evt_w", store.DeliveryFailed, 4*time.Minute),
			mk("evt_v", store.DeliveryFailed, 5*time.Minute),
			// Failed, but delivered since, or about to be tried again: left
			// out, even when the later delivery is outside the range.
			mk("evt_u", store.DeliveryFailed, 30*time.Second),
			mk("evt_u", store.DeliverySucceeded, 2*time.Hour),
			mk("evt_t", store.DeliveryFailed, 30*time.Second),
			mk("evt_t", store.DeliveryPending, 90*time.Second),
		}
		insertDeliveries(t, bundle.s, ds...)
		// Another endpoint's deliveries of the same events count for neither.
		other := newDelivery(bundle.ep2.ID, "evt_x", base)
		other.State = store.DeliverySucceeded
		insertDeliveries(t, bundle.s, other)

		got, err := bundle.s.DeliveryEventsInRange(ctx, &store.DeliveryRangeParams{EndpointID: bundle.ep.ID, Since: base, OnlyFailed: true, Limit: 100})
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{ds[0], ds[4], ds[5]}, got)
		got, err = bundle.s.DeliveryEventsInRange(ctx, &store.DeliveryRangeParams{EndpointID: bundle.ep.ID, Since: base.Add(time.Minute),
			Until: base.Add(5 * time.Minute), OnlyFailed: true, Limit: 100})
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{ds[2], ds[4]}, got)
		got, err = bundle.s.DeliveryEventsInRange(ctx, &store.DeliveryRangeParams{EndpointID: bundle.ep.ID, Since: base, OnlyFailed: true, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{ds[0]}, got)
	})
	t.Run("EventPayloadsReturnsExactBytesForManyIDs", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		got, err := bundle.s.EventPayloads(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, got)

		// More than two chunks of 500. Payloads keep their bytes exactly:
		// non-ASCII, U+2028, escapes, spacing and key order.
		const n = 1201
		evs := make([]*events.Event, n)
		want := make(map[string][]byte, n)
		ids := make([]string, 0, n+3)
		for i := range evs {
			payload := fmt.Appendf(nil, "{\"z\":%d, \"a\":\"Zoë 日本 🎉 \u2028\",\"esc\":\"\\\"\\\\\\n\\u0000\"}", i)
			evs[i] = &events.Event{ID: events.NewID("evt_"), Type: "booking.created", TenantID: "t1", OccurredAt: now(), Payload: payload}
			want[evs[i].ID] = payload
			ids = append(ids, evs[i].ID)
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, evs) })
		// Unknown ids are left out; repeated ids (several deliveries of one
		// event) are answered once.
		ids = append(ids, "evt_nope", evs[0].ID, evs[n-1].ID)
		slices.Reverse(ids)
		got, err = bundle.s.EventPayloads(ctx, ids)
		require.NoError(t, err)
		require.Len(t, got, n)
		for id, payload := range want {
			require.Equal(t, string(payload), string(got[id]), id)
		}

		got, err = bundle.s.EventPayloads(ctx, []string{"evt_nope"})
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func testDeliveryLeases(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s   store.Store
		ep  *store.Endpoint
		ep2 *store.Endpoint
		t0  time.Time
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{
			s:   s,
			ep:  createEndpoint(t, s, newEndpoint("t1", now())),
			ep2: createEndpoint(t, s, newEndpoint("t1", now())),
			t0:  now(),
		}, t.Context()
	}
	// leased returns a pending delivery due a minute ago and leased by owner
	// until until.
	leased := func(endpointID, owner string, until time.Time) *store.Delivery {
		d := newDelivery(endpointID, events.NewID("evt_"), until.Add(-time.Hour))
		d.LeaseOwner, d.LeasedUntil = owner, until
		return d
	}

	t.Run("ClaimDueTakesOnlyPendingDueUnleasedOrExpiredDeliveries", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0, ep := bundle.t0, bundle.ep.ID
		due := newDelivery(ep, "evt_due", t0.Add(-time.Minute))
		dueNow := newDelivery(ep, "evt_due_now", t0) // next_attempt_at <= now
		expired := leased(ep, "w_gone", t0.Add(-time.Second))
		held := leased(ep, "w_other", t0.Add(time.Minute))
		notDue := newDelivery(ep, "evt_later", t0.Add(time.Microsecond))
		succeeded := newDelivery(ep, "evt_ok", t0.Add(-time.Minute))
		succeeded.State = store.DeliverySucceeded
		failed := newDelivery(ep, "evt_failed", t0.Add(-time.Minute))
		failed.State = store.DeliveryFailed
		insertDeliveries(t, bundle.s, due, dueNow, expired, held, notDue, succeeded, failed)

		leaseUntil := t0.Add(30 * time.Second)
		got := claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: leaseUntil, Limit: 100})
		require.ElementsMatch(t, []string{due.ID, dueNow.ID, expired.ID}, deliveryIDs(got))
		for _, d := range got {
			require.Equal(t, "w_1", d.LeaseOwner)
			require.Equal(t, leaseUntil, d.LeasedUntil)
			require.Equal(t, store.DeliveryPending, d.State)
			stored := getDelivery(t, bundle.s, d.ID)
			require.Equal(t, d, stored, "the claim returns the rows as stored")
		}
		// The claim changed only the lease.
		want := *due
		want.LeaseOwner, want.LeasedUntil = "w_1", leaseUntil
		require.Equal(t, &want, getDelivery(t, bundle.s, due.ID))
		for _, d := range []*store.Delivery{held, notDue, succeeded, failed} {
			require.Equal(t, d, getDelivery(t, bundle.s, d.ID), d.EventID)
		}
		// Nothing else is due now.
		require.Empty(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: t0, Owner: "w_2", LeaseUntil: leaseUntil, Limit: 100}))
	})
	testLeaseClaims(t, deliveryKind(newStore))
	testLeaseUpkeep(t, deliveryKind(newStore))
	t.Run("SetStateIfLeasedAppliesOnlyForTheHolderOfAPendingDelivery", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		d := newDelivery(bundle.ep.ID, "evt_1", t0)
		insertDeliveries(t, bundle.s, d)

		// Unleased: nobody holds it.
		require.False(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt(d.ID, "w_1", 1, 200, t0)))
		require.Equal(t, d, getDelivery(t, bundle.s, d.ID))

		claimed := claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(time.Minute), Limit: 10})
		require.Len(t, claimed, 1)
		require.False(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt(d.ID, "w_2", 1, 200, t0)), "another owner")
		require.Equal(t, claimed[0], getDelivery(t, bundle.s, d.ID))

		at := t0.Add(2 * time.Second)
		require.True(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt(d.ID, "w_1", 1, 204, at)))
		want := *d
		want.State, want.Attempts, want.LastStatus, want.NextAttemptAt, want.UpdatedAt = store.DeliverySucceeded, 1, 204, at, at
		require.Equal(t, &want, getDelivery(t, bundle.s, d.ID), "the lease is cleared")

		// No longer pending: a second report does not apply.
		require.False(t, setStateIfLeased(t, bundle.s, store.DeliveryFailedAt(d.ID, "w_1", 2, 500, "late", at)))
		require.Equal(t, &want, getDelivery(t, bundle.s, d.ID))

		require.False(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt("dl_nope", "w_1", 1, 200, at)), "unknown delivery")
	})
	t.Run("SetStatesIfLeasedAppliesEachRowOnItsOwnLease", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		t0 := bundle.t0
		// More rows than one statement takes, leased to two owners, with
		// one row of every outcome; w_1 reports on all of them.
		var ds []*store.Delivery
		for i := range 300 {
			owner := "w_1"
			if i%3 == 0 {
				owner = "w_2"
			}
			ds = append(ds, leased(bundle.ep.ID, owner, t0.Add(time.Hour)))
		}
		insertDeliveries(t, bundle.s, ds...)
		at, next := t0.Add(time.Second), t0.Add(time.Minute)
		var ps []*store.DeliverySetStateParams
		want := map[string]bool{}
		for i, d := range ds {
			switch i % 3 {
			case 1:
				ps = append(ps, store.DeliverySucceededAt(d.ID, "w_1", 1, 200+i%7, at))
			case 2:
				ps = append(ps, store.DeliveryRetryAt(d.ID, "w_1", 1, 500, fmt.Sprintf("try %d: Zoë", i), next, at))
			default:
				ps = append(ps, store.DeliveryFailedAt(d.ID, "w_1", 1, 0, "not w_1's", at))
			}
			if d.LeaseOwner == "w_1" {
				want[d.ID] = true
			}
		}
		ps = append(ps, store.DeliverySucceededAt("dl_nope", "w_1", 1, 200, at))
		var applied map[string]bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			applied, err = tx.DeliverySetStatesIfLeased(ctx, ps)
			return err
		})
		require.Equal(t, want, applied)
		for i, d := range ds {
			got, err := bundle.s.DeliveryGet(ctx, d.ID)
			require.NoError(t, err)
			w := *d
			switch i % 3 {
			case 1:
				w.State, w.Attempts, w.LastStatus, w.NextAttemptAt, w.UpdatedAt = store.DeliverySucceeded, 1, 200+i%7, at, at
			case 2:
				w.Attempts, w.LastStatus, w.LastError, w.NextAttemptAt, w.UpdatedAt = 1, 500, fmt.Sprintf("try %d: Zoë", i), next, at
			}
			if i%3 != 0 {
				w.LeaseOwner, w.LeasedUntil = "", time.Time{}
			}
			require.Equal(t, &w, got, "delivery %d", i)
		}
	})
	t.Run("SetStateIfLeasedRetryMakesItDueLaterAndUnleased", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		d := newDelivery(bundle.ep.ID, "evt_1", t0)
		insertDeliveries(t, bundle.s, d)
		require.Len(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(time.Hour), Limit: 10}), 1)

		at, next := t0.Add(time.Second), t0.Add(5*time.Minute)
		require.True(t, setStateIfLeased(t, bundle.s, store.DeliveryRetryAt(d.ID, "w_1", 1, 503, "503 Service Unavailable", next, at)))
		want := *d
		want.Attempts, want.LastStatus, want.LastError, want.NextAttemptAt, want.UpdatedAt = 1, 503, "503 Service Unavailable", next, at
		require.Equal(t, &want, getDelivery(t, bundle.s, d.ID))

		// Not due before next, even though its old lease would still run.
		require.Empty(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: next.Add(-time.Microsecond), Owner: "w_2", LeaseUntil: next.Add(time.Hour), Limit: 10}))
		got := claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: next, Owner: "w_2", LeaseUntil: next.Add(time.Minute), Limit: 10})
		require.Equal(t, []string{d.ID}, deliveryIDs(got))

		// A retry that fails for good.
		require.True(t, setStateIfLeased(t, bundle.s, store.DeliveryFailedAt(d.ID, "w_2", 2, 0, "dial tcp: connection refused", next)))
		want.State, want.Attempts, want.LastStatus, want.LastError, want.UpdatedAt = store.DeliveryFailed, 2, 0, "dial tcp: connection refused", next
		require.Equal(t, &want, getDelivery(t, bundle.s, d.ID))
		require.Empty(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: next.Add(time.Hour), Owner: "w_2", LeaseUntil: next.Add(2 * time.Hour), Limit: 10}),
			"a failed delivery is never claimed")
	})
	t.Run("SetStateIfLeasedLosesToATakeover", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		t0 := bundle.t0
		d := newDelivery(bundle.ep.ID, "evt_1", t0)
		insertDeliveries(t, bundle.s, d)
		require.Len(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: t0, Owner: "w_1", LeaseUntil: t0.Add(10 * time.Second), Limit: 10}), 1)
		later := t0.Add(20 * time.Second)
		require.Len(t, claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: later, Owner: "w_2", LeaseUntil: later.Add(10 * time.Second), Limit: 10}), 1)

		require.False(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt(d.ID, "w_1", 1, 200, later)), "w_1 lost its lease")
		require.Equal(t, "w_2", getDelivery(t, bundle.s, d.ID).LeaseOwner)
		require.True(t, setStateIfLeased(t, bundle.s, store.DeliverySucceededAt(d.ID, "w_2", 1, 200, later)))
		require.Equal(t, store.DeliverySucceeded, getDelivery(t, bundle.s, d.ID).State)
	})
	t.Run("RetryNowMakesAnyDeliveryPendingAndDueNow", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		t0 := bundle.t0
		failed := newDelivery(bundle.ep.ID, "evt_1", t0.Add(-time.Hour))
		failed.State, failed.Attempts, failed.LastStatus, failed.LastError = store.DeliveryFailed, 5, 500, "500 Internal Server Error"
		succeeded := newDelivery(bundle.ep.ID, "evt_2", t0.Add(-time.Hour))
		succeeded.State, succeeded.Attempts, succeeded.LastStatus = store.DeliverySucceeded, 1, 200
		held := leased(bundle.ep.ID, "w_1", t0.Add(time.Hour))
		held.NextAttemptAt = t0.Add(time.Hour)
		untouched := newDelivery(bundle.ep.ID, "evt_4", t0.Add(time.Hour))
		insertDeliveries(t, bundle.s, failed, succeeded, held, untouched)

		at := t0.Add(time.Second)
		for _, d := range []*store.Delivery{failed, succeeded, held} {
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryRetryNow(ctx, d.ID, at) })
			want := *d
			// Attempts and the last outcome are kept for the log.
			want.State, want.NextAttemptAt, want.UpdatedAt, want.LeaseOwner, want.LeasedUntil = store.DeliveryPending, at, at, "", time.Time{}
			require.Equal(t, &want, getDelivery(t, bundle.s, d.ID), d.EventID)
		}
		require.Equal(t, untouched, getDelivery(t, bundle.s, untouched.ID))
		got := claimDue(t, bundle.s, &store.DeliveryClaimDueParams{Now: at, Owner: "w_2", LeaseUntil: at.Add(time.Minute), Limit: 10})
		require.ElementsMatch(t, []string{failed.ID, succeeded.ID, held.ID}, deliveryIDs(got))

		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryRetryNow(ctx, "dl_nope", at) })
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.DeliveryGet(ctx, "dl_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func testAttempts(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s      store.Store
		d1, d2 *store.Delivery
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		ep := createEndpoint(t, s, newEndpoint("t1", now()))
		d1, d2 := newDelivery(ep.ID, "evt_1", now()), newDelivery(ep.ID, "evt_2", now())
		insertDeliveries(t, s, d1, d2)
		return &testBundle{s: s, d1: d1, d2: d2}, t.Context()
	}
	insert := func(t *testing.T, s store.Store, as ...*store.Attempt) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.AttemptInsert(ctx, as...) })
	}
	newAttempt := func(deliveryID string, n int, at time.Time) *store.Attempt {
		return &store.Attempt{DeliveryID: deliveryID, Attempt: n, StartedAt: at, DurationMS: int64(100 * n),
			RequestHeaders:  map[string]string{"Content-Type": "application/json", "X-Signature": "t=1,v1=abc"},
			ResponseStatus:  500 + n,
			ResponseHeaders: map[string]string{"Retry-After": "30", "X-Zoë": "日本"},
			ResponseBody:    fmt.Sprintf("{\"error\":\"try %d\", \"note\":\"Zoë 🎉\"}\n", n),
			Error:           fmt.Sprintf("%d from endpoint", 500+n)}
	}

	t.Run("InsertThenListRoundTripsOldestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		a1, a2, a3 := newAttempt(bundle.d1.ID, 1, at), newAttempt(bundle.d1.ID, 2, at.Add(time.Minute)), newAttempt(bundle.d1.ID, 3, at.Add(time.Hour))
		// A connection error: no response, no headers.
		a3.ResponseStatus, a3.ResponseHeaders, a3.ResponseBody, a3.Error = 0, nil, "", "dial tcp: connection refused"
		b1 := &store.Attempt{DeliveryID: bundle.d2.ID, Attempt: 1}
		insert(t, bundle.s, a3, a1)
		insert(t, bundle.s, b1, a2)
		in := func(a *store.Attempt) *store.Attempt {
			c := *a
			c.StartedAt = dbTime(a.StartedAt)
			return &c
		}

		got, err := bundle.s.AttemptList(ctx, []string{bundle.d1.ID})
		require.NoError(t, err)
		require.Equal(t, []*store.Attempt{in(a1), in(a2), in(a3)}, got)

		got, err = bundle.s.AttemptList(ctx, []string{bundle.d2.ID, bundle.d1.ID, "dl_nope"})
		require.NoError(t, err)
		require.ElementsMatch(t, []*store.Attempt{in(a1), in(a2), in(a3), in(b1)}, got)
		// Each delivery's attempts come oldest first.
		last := map[string]int{}
		for _, a := range got {
			require.Greater(t, a.Attempt, last[a.DeliveryID], "attempts of %s out of order", a.DeliveryID)
			last[a.DeliveryID] = a.Attempt
		}
	})
	t.Run("InsertingAnAttemptTwiceKeepsTheFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		first := newAttempt(bundle.d1.ID, 1, now())
		insert(t, bundle.s, first)
		// A write retried after an unknown outcome: no error, one row.
		again := newAttempt(bundle.d1.ID, 1, now().Add(time.Second))
		again.ResponseStatus, again.Error = 200, ""
		insert(t, bundle.s, again)
		insert(t, bundle.s, again, again)
		got, err := bundle.s.AttemptList(ctx, []string{bundle.d1.ID})
		require.NoError(t, err)
		require.Equal(t, []*store.Attempt{first}, got)
		// The same attempt number of another delivery is its own row.
		other := newAttempt(bundle.d2.ID, 1, now())
		insert(t, bundle.s, other)
		got, err = bundle.s.AttemptList(ctx, []string{bundle.d2.ID})
		require.NoError(t, err)
		require.Equal(t, []*store.Attempt{other}, got)
	})
	t.Run("InsertForUnknownDeliveryFails", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.AttemptInsert(ctx, newAttempt("dl_nope", 1, now()))
		})
		require.Error(t, err)
		got, err := bundle.s.AttemptList(ctx, []string{"dl_nope"})
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("ListOfNoDeliveriesIsEmpty", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		insert(t, bundle.s, newAttempt(bundle.d1.ID, 1, now()))
		for _, ids := range [][]string{nil, {}, {bundle.d2.ID}} {
			got, err := bundle.s.AttemptList(ctx, ids)
			require.NoError(t, err)
			require.Empty(t, got)
		}
	})
}

// testClose covers what a store does once closed. It belongs with testStore
// in tx.go; it sits here to keep one change in one file.
func testClose(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		createGroup(t, s, "booking")
		return &testBundle{s: s}, t.Context()
	}

	t.Run("InTxAfterCloseReturnsAnError", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, bundle.s.Close())
		// A deadline turns a hang into a failure that names it.
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for range 2 {
			var ran atomic.Bool
			err := bundle.s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				ran.Store(true)
				return nil
			})
			require.Error(t, err)
			require.NotErrorIs(t, err, context.DeadlineExceeded, "InTx blocked after Close")
			require.False(t, ran.Load())
		}
		require.NoError(t, bundle.s.Close(), "a second Close is harmless")
	})
	t.Run("CloseDuringConcurrentInTxNeitherPanicsNorBlocks", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		const callers = 16
		var (
			wg        sync.WaitGroup
			committed atomic.Int64
			errs      [callers]error
		)
		for c := range callers {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := bundle.s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
						return tx.FieldGroupCreate(ctx, &store.FieldGroup{ID: fmt.Sprintf("fg_%d_%d", c, i), Key: fmt.Sprintf("k_%d_%d", c, i),
							Name: "n", CreatedAt: now(), UpdatedAt: now()})
					})
					if err != nil {
						errs[c] = err
						return
					}
					committed.Add(1)
				}
			})
		}
		for committed.Load() < 2*callers && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		require.NoError(t, bundle.s.Close())
		wg.Wait()
		for c, err := range errs {
			require.Error(t, err, "caller %d", c)
			require.False(t, errors.Is(err, context.DeadlineExceeded), "caller %d blocked after Close: %v", c, err)
		}
	})
}
