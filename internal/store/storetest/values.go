package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
)

func testEntities(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s   store.Store
		key store.EntityKey
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		g := createGroup(t, s, "booking")
		return &testBundle{s: s, key: store.EntityKey{TenantID: "t1", FieldGroupID: g.ID, EntityID: "e1"}}, t.Context()
	}

	t.Run("GetUnknownIsVersionZeroWithNoValues", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		e, err := bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Equal(t, &store.Entity{EntityKey: bundle.key, Values: map[string]json.RawMessage{}}, e)
	})
	t.Run("LockCreatesVersionZeroThenReturnsTheCurrentVersion", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// Assertions stay outside fn: it may run on the store's committer
		// goroutine, where FailNow must not be called.
		var (
			locked int64
			seen   *store.Entity
		)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			if locked, err = tx.EntityLock(ctx, bundle.key); err != nil {
				return err
			}
			seen, err = tx.EntityGet(ctx, bundle.key)
			return err
		})
		require.Zero(t, locked)
		require.Zero(t, seen.Version)
		require.Empty(t, seen.Values)
		e, err := bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Zero(t, e.Version)
		require.Empty(t, e.Values)

		saveStrings(t, bundle.s, bundle.key, now(), map[string]string{"room": "12"})
		saveStrings(t, bundle.s, bundle.key, now(), map[string]string{"room": "14"})
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			locked, err = tx.EntityLock(ctx, bundle.key)
			return err
		})
		require.Equal(t, int64(2), locked)
	})
	t.Run("SaveSetsOverwritesAndDeletesValuesAndSetsVersionAndTimes", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		first := now()
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.EntityLock(ctx, bundle.key); err != nil {
				return err
			}
			return tx.EntitySave(ctx, &store.EntitySaveParams{
				EntityKey: bundle.key,
				Set: map[string]json.RawMessage{
					"room":   json.RawMessage(`"12"`),
					"guests": json.RawMessage(`{"adults":2,"names":["Zoë","Ada"]}`),
					"paid":   json.RawMessage(`true`),
				},
				ValueText: map[string]string{"room": "12", "guests": `{"adults":2,"names":["Zoë","Ada"]}`, "paid": "true"},
				Version:   1,
				At:        first,
			})
		})
		e, err := bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Equal(t, &store.Entity{
			EntityKey: bundle.key,
			Values: map[string]json.RawMessage{
				"room":   json.RawMessage(`"12"`),
				"guests": json.RawMessage(`{"adults":2,"names":["Zoë","Ada"]}`),
				"paid":   json.RawMessage(`true`),
			},
			Version:   1,
			CreatedAt: first,
			UpdatedAt: first,
		}, e)

		second := first.Add(time.Minute)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			v, err := tx.EntityLock(ctx, bundle.key)
			if err != nil {
				return err
			}
			return tx.EntitySave(ctx, &store.EntitySaveParams{
				EntityKey: bundle.key,
				Set:       map[string]json.RawMessage{"room": json.RawMessage(`"14"`), "floor": json.RawMessage(`3`)},
				ValueText: map[string]string{"room": "14", "floor": "3"},
				Delete:    []string{"guests", "never_set"},
				Version:   v + 1,
				At:        second,
			})
		})
		e, err = bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Equal(t, &store.Entity{
			EntityKey: bundle.key,
			Values: map[string]json.RawMessage{
				"room":  json.RawMessage(`"14"`),
				"floor": json.RawMessage(`3`),
				"paid":  json.RawMessage(`true`),
			},
			Version:   2,
			CreatedAt: first,
			UpdatedAt: second,
		}, e, "created at the first save, updated at the last")
	})
	t.Run("EntitiesAreKeyedByTenantGroupAndID", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		other := createGroup(t, bundle.s, "guest")
		saveStrings(t, bundle.s, bundle.key, now(), map[string]string{"room": "12"})
		for _, k := range []store.EntityKey{
			{TenantID: "t2", FieldGroupID: bundle.key.FieldGroupID, EntityID: bundle.key.EntityID},
			{TenantID: bundle.key.TenantID, FieldGroupID: other.ID, EntityID: bundle.key.EntityID},
			{TenantID: bundle.key.TenantID, FieldGroupID: bundle.key.FieldGroupID, EntityID: "e2"},
		} {
			e, err := bundle.s.EntityGet(ctx, k)
			require.NoError(t, err)
			require.Zero(t, e.Version, "%+v", k)
			require.Empty(t, e.Values, "%+v", k)
		}
	})
	t.Run("DeleteRemovesValues", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		kept := bundle.key
		kept.EntityID = "e2"
		saveStrings(t, bundle.s, bundle.key, now(), map[string]string{"room": "12", "floor": "1"})
		saveStrings(t, bundle.s, kept, now(), map[string]string{"room": "14"})
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EntityDelete(ctx, bundle.key) })

		e, err := bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Zero(t, e.Version)
		require.Empty(t, e.Values)
		rows, total, err := bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: 1, PageSize: 10}, TenantID: "t1"})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, "e2", rows[0].EntityID)
	})
	t.Run("ConcurrentSavesOfOneEntitySerialize", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				errs <- bundle.s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					v, err := tx.EntityLock(ctx, bundle.key)
					if err != nil {
						return err
					}
					return tx.EntitySave(ctx, &store.EntitySaveParams{EntityKey: bundle.key, Version: v + 1, At: now()})
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		e, err := bundle.s.EntityGet(ctx, bundle.key)
		require.NoError(t, err)
		require.Equal(t, int64(n), e.Version, "every save saw the version the one before it wrote")
	})
}

func testFieldValues(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s              store.Store
		booking, guest *store.FieldGroup
		at             time.Time
	}
	// setup stores, ordered as a search returns them:
	//
	//	t1 booking e1 {room: "12", vip: "Zoë"}
	//	t1 booking e2 {room: "14"}
	//	t1 guest   e1 {room: "12"}
	//	t2 booking e1 {room: "12"}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		b := &testBundle{s: s, guest: createGroup(t, s, "guest"), booking: createGroup(t, s, "booking"), at: now()}
		saveStrings(t, s, store.EntityKey{TenantID: "t2", FieldGroupID: b.booking.ID, EntityID: "e1"}, b.at, map[string]string{"room": "12"})
		saveStrings(t, s, store.EntityKey{TenantID: "t1", FieldGroupID: b.guest.ID, EntityID: "e1"}, b.at, map[string]string{"room": "12"})
		saveStrings(t, s, store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e2"}, b.at, map[string]string{"room": "14"})
		saveStrings(t, s, store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e1"}, b.at, map[string]string{"room": "12", "vip": "Zoë"})
		return b, t.Context()
	}
	row := func(b *testBundle, tenant string, g *store.FieldGroup, entity, key, text string) *store.FieldValueRow {
		raw, _ := json.Marshal(text)
		return &store.FieldValueRow{TenantID: tenant, FieldGroupID: g.ID, FieldGroupKey: g.Key, FieldGroupName: g.Name,
			EntityID: entity, FieldKey: key, Value: raw, UpdatedAt: b.at}
	}
	page := store.Page{Page: 1, PageSize: 10}
	ptr := func(s string) *string { return &s }

	t.Run("SearchFiltersByEachParam", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		b := bundle
		for _, tc := range []struct {
			name string
			p    store.FieldValueSearchParams
			want []*store.FieldValueRow
		}{
			{"All", store.FieldValueSearchParams{Page: page}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e1", "room", "12"),
				row(b, "t1", b.booking, "e1", "vip", "Zoë"),
				row(b, "t1", b.booking, "e2", "room", "14"),
				row(b, "t1", b.guest, "e1", "room", "12"),
				row(b, "t2", b.booking, "e1", "room", "12"),
			}},
			{"Tenant", store.FieldValueSearchParams{Page: page, TenantID: "t2"}, []*store.FieldValueRow{
				row(b, "t2", b.booking, "e1", "room", "12"),
			}},
			{"Group", store.FieldValueSearchParams{Page: page, FieldGroupID: b.guest.ID}, []*store.FieldValueRow{
				row(b, "t1", b.guest, "e1", "room", "12"),
			}},
			{"Entity", store.FieldValueSearchParams{Page: page, EntityID: "e2"}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e2", "room", "14"),
			}},
			{"FieldKey", store.FieldValueSearchParams{Page: page, FieldKey: "vip"}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e1", "vip", "Zoë"),
			}},
			{"ValueMatchesValueText", store.FieldValueSearchParams{Page: page, Value: ptr("12")}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e1", "room", "12"),
				row(b, "t1", b.guest, "e1", "room", "12"),
				row(b, "t2", b.booking, "e1", "room", "12"),
			}},
			{"NonASCIIValue", store.FieldValueSearchParams{Page: page, Value: ptr("Zoë")}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e1", "vip", "Zoë"),
			}},
			{"ValueIsNotMatchedAgainstTheJSON", store.FieldValueSearchParams{Page: page, Value: ptr(`"12"`)}, nil},
			{"EmptyValueMatchesOnlyEmptyText", store.FieldValueSearchParams{Page: page, Value: ptr("")}, nil},
			{"AllFilters", store.FieldValueSearchParams{Page: page, TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e1", FieldKey: "room", Value: ptr("12")}, []*store.FieldValueRow{
				row(b, "t1", b.booking, "e1", "room", "12"),
			}},
		} {
			got, total, err := bundle.s.FieldValueSearch(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, got, tc.name)
			require.Equal(t, len(tc.want), total, tc.name)
		}
	})
	t.Run("SearchPagesWithTotal", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		var pages [][]string
		for p := 1; p <= 3; p++ {
			got, total, err := bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: p, PageSize: 2}, FieldKey: "room"})
			require.NoError(t, err)
			require.Equal(t, 4, total)
			var ids []string
			for _, r := range got {
				ids = append(ids, r.TenantID+"/"+r.FieldGroupKey+"/"+r.EntityID)
			}
			pages = append(pages, ids)
		}
		require.Equal(t, [][]string{{"t1/booking/e1", "t1/booking/e2"}, {"t1/guest/e1", "t2/booking/e1"}, nil}, pages)
	})
	t.Run("ValueTakenExcludesTheEntityAndIsScopedToTenantGroupAndKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		b := bundle
		for _, tc := range []struct {
			name string
			p    store.FieldValueTakenParams
			want bool
		}{
			{"HeldByAnotherEntity", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e2"}, FieldKey: "room", ValueText: "12"}, true},
			{"HeldByANewEntity", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e9"}, FieldKey: "room", ValueText: "14"}, true},
			{"HeldOnlyByItself", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e1"}, FieldKey: "vip", ValueText: "Zoë"}, false},
			{"HeldInAnotherTenant", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t2", FieldGroupID: b.booking.ID, EntityID: "e9"}, FieldKey: "room", ValueText: "14"}, false},
			{"HeldInAnotherGroup", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.guest.ID, EntityID: "e9"}, FieldKey: "room", ValueText: "14"}, false},
			{"HeldUnderAnotherKey", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e9"}, FieldKey: "floor", ValueText: "12"}, false},
			{"NotHeld", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e9"}, FieldKey: "room", ValueText: "99"}, false},
			{"ComparedAsTextNotJSON", store.FieldValueTakenParams{EntityKey: store.EntityKey{TenantID: "t1", FieldGroupID: b.booking.ID, EntityID: "e9"}, FieldKey: "room", ValueText: `"12"`}, false},
		} {
			taken, err := bundle.s.FieldValueTaken(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, taken, tc.name)
		}
	})
	t.Run("ValueTakenSeesTheTransactionsOwnWrites", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		k := store.EntityKey{TenantID: "t3", FieldGroupID: bundle.booking.ID, EntityID: "e1"}
		other := k
		other.EntityID = "e2"
		var taken bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			if _, err := tx.EntityLock(ctx, k); err != nil {
				return err
			}
			if err := tx.EntitySave(ctx, &store.EntitySaveParams{EntityKey: k, Set: map[string]json.RawMessage{"room": json.RawMessage(`"7"`)},
				ValueText: map[string]string{"room": "7"}, Version: 1, At: now()}); err != nil {
				return err
			}
			taken, err = tx.FieldValueTaken(ctx, &store.FieldValueTakenParams{EntityKey: other, FieldKey: "room", ValueText: "7"})
			return err
		})
		require.True(t, taken)
	})
}
