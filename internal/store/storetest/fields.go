package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testFieldGroups(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}

	t.Run("CreateThenGetByIDOrKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		g := createGroup(t, bundle.s, "booking")
		byID, err := bundle.s.FieldGroupGet(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, g, byID)
		byKey, err := bundle.s.FieldGroupGet(ctx, "booking")
		require.NoError(t, err)
		require.Equal(t, g, byKey)
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.FieldGroupGet(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("TimesComeBackInUTCTruncatedToMicroseconds", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// 999ns past the microsecond: both databases truncate, neither rounds.
		at := time.Date(2026, 3, 29, 1, 30, 15, 123456_999, time.FixedZone("CEST", 2*3600))
		g := &store.FieldGroup{ID: events.NewID("fg_"), Key: "booking", Name: "Booking", CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, g) })
		got, err := bundle.s.FieldGroupGet(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, time.UTC, got.CreatedAt.Location())
		require.Equal(t, dbTime(at), got.CreatedAt)
		require.Equal(t, dbTime(at.Add(time.Hour)), got.UpdatedAt)
	})
	t.Run("DuplicateKeyIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		g := createGroup(t, bundle.s, "booking")
		g2 := *g
		g2.ID = events.NewID("fg_")
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, &g2) })
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.FieldGroupGet(ctx, g2.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ListPagesOrderedByKeyBytesWithTotal", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// "a_c" sorts before "ab" in byte order ('_' < 'b') but after it
		// under a linguistic collation that ignores punctuation.
		for _, k := range []string{"c", "ab", "a_c", "b", "a"} {
			createGroup(t, bundle.s, k)
		}
		var keys [][]string
		for page := 1; page <= 4; page++ {
			gs, total, err := bundle.s.FieldGroupList(ctx, store.Page{Page: page, PageSize: 2})
			require.NoError(t, err)
			require.Equal(t, 5, total)
			var ks []string
			for _, g := range gs {
				ks = append(ks, g.Key)
			}
			keys = append(keys, ks)
		}
		require.Equal(t, [][]string{{"a", "a_c"}, {"ab", "b"}, {"c"}, nil}, keys)
	})
	t.Run("ListOfNoGroupsIsEmptyWithTotalZero", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		gs, total, err := bundle.s.FieldGroupList(ctx, store.Page{Page: 1, PageSize: 10})
		require.NoError(t, err)
		require.Empty(t, gs)
		require.Zero(t, total)
	})
	t.Run("UpdateChangesKeyNameDescriptionAndUpdatedAt", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		g := createGroup(t, bundle.s, "booking")
		upd := *g
		upd.Key, upd.Name, upd.Description = "reservation", "Reservation", "renamed"
		upd.CreatedAt = g.CreatedAt.Add(-time.Hour) // not written by an update
		upd.UpdatedAt = g.UpdatedAt.Add(time.Minute)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupUpdate(ctx, &upd) })

		got, err := bundle.s.FieldGroupGet(ctx, "reservation")
		require.NoError(t, err)
		want := upd
		want.CreatedAt = g.CreatedAt
		require.Equal(t, &want, got)
		_, err = bundle.s.FieldGroupGet(ctx, "booking")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("UpdateToTakenKeyIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		createGroup(t, bundle.s, "booking")
		g := createGroup(t, bundle.s, "guest")
		upd := *g
		upd.Key = "booking"
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupUpdate(ctx, &upd) })
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := bundle.s.FieldGroupGet(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, "guest", got.Key)
	})
	t.Run("UpdateOrDeleteUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		g := &store.FieldGroup{ID: events.NewID("fg_"), Key: "booking", Name: "Booking", UpdatedAt: now()}
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupUpdate(ctx, g) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupDelete(ctx, g.ID) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteCascadesToTenantFieldsEntitiesValuesAndLinks", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		doomed := createGroup(t, bundle.s, "booking")
		kept := createGroup(t, bundle.s, "guest")
		shared := createGlobalField(t, bundle.s, "email", doomed.ID, kept.ID)
		doomedTF := createTenantField(t, bundle.s, "t1", doomed.ID, "room")
		keptTF := createTenantField(t, bundle.s, "t1", kept.ID, "room")
		doomedEntity := store.EntityKey{TenantID: "t1", FieldGroupID: doomed.ID, EntityID: "e1"}
		keptEntity := store.EntityKey{TenantID: "t1", FieldGroupID: kept.ID, EntityID: "e1"}
		saveStrings(t, bundle.s, doomedEntity, now(), map[string]string{"room": "12"})
		saveStrings(t, bundle.s, keptEntity, now(), map[string]string{"room": "14"})

		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupDelete(ctx, doomed.ID) })

		_, err := bundle.s.FieldGroupGet(ctx, doomed.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.TenantFieldGet(ctx, doomedTF.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		e, err := bundle.s.EntityGet(ctx, doomedEntity)
		require.NoError(t, err)
		require.Zero(t, e.Version)
		require.Empty(t, e.Values)
		_, total, err := bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: 1, PageSize: 10}, FieldGroupID: doomed.ID})
		require.NoError(t, err)
		require.Zero(t, total)
		f, err := bundle.s.GlobalFieldGet(ctx, shared.ID)
		require.NoError(t, err)
		require.Equal(t, []string{kept.ID}, f.FieldGroupIDs)

		// The other group keeps everything.
		_, err = bundle.s.TenantFieldGet(ctx, keptTF.ID)
		require.NoError(t, err)
		e, err = bundle.s.EntityGet(ctx, keptEntity)
		require.NoError(t, err)
		require.Equal(t, map[string]json.RawMessage{"room": json.RawMessage(`"14"`)}, e.Values)
		inKept, err := bundle.s.GlobalFieldsInGroup(ctx, kept.ID)
		require.NoError(t, err)
		require.Len(t, inKept, 1)
	})
}

func testGlobalFields(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s          store.Store
		g1, g2, g3 *store.FieldGroup
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{s: s, g1: createGroup(t, s, "g1"), g2: createGroup(t, s, "g2"), g3: createGroup(t, s, "g3")}, t.Context()
	}

	t.Run("CreateThenGetKeepsGroupsInGivenOrder", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createGlobalField(t, bundle.s, "email", bundle.g3.ID, bundle.g1.ID, bundle.g2.ID)
		got, err := bundle.s.GlobalFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, f, got)
		require.Equal(t, []string{bundle.g3.ID, bundle.g1.ID, bundle.g2.ID}, got.FieldGroupIDs)
	})
	t.Run("FieldInNoGroupHasEmptyGroupIDs", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createGlobalField(t, bundle.s, "email")
		got, err := bundle.s.GlobalFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, []string{}, got.FieldGroupIDs)
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.GlobalFieldGet(ctx, "gf_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("KeyIsUniquePerGroup", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		createGlobalField(t, bundle.s, "email", bundle.g1.ID, bundle.g2.ID)

		dup := newGlobalField("email", bundle.g3.ID, bundle.g2.ID)
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldCreate(ctx, dup) })
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.GlobalFieldGet(ctx, dup.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "a refused field leaves no row behind")
		in3, err := bundle.s.GlobalFieldsInGroup(ctx, bundle.g3.ID)
		require.NoError(t, err)
		require.Empty(t, in3, "a refused field leaves no link behind")

		// The same key in a group that lacks it is fine.
		createGlobalField(t, bundle.s, "email", bundle.g3.ID)
		_, total, err := bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: store.Page{Page: 1, PageSize: 10}})
		require.NoError(t, err)
		require.Equal(t, 2, total)
	})
	t.Run("GlobalFieldsInGroupListsOnlyThatGroupsFieldsWithoutGroupIDs", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a := createGlobalField(t, bundle.s, "zeta", bundle.g1.ID, bundle.g2.ID)
		time.Sleep(time.Millisecond) // created_at orders the list
		b := createGlobalField(t, bundle.s, "alpha", bundle.g1.ID)
		createGlobalField(t, bundle.s, "other", bundle.g2.ID)

		got, err := bundle.s.GlobalFieldsInGroup(ctx, bundle.g1.ID)
		require.NoError(t, err)
		a.FieldGroupIDs, b.FieldGroupIDs = nil, nil
		require.Equal(t, []*store.GlobalField{a, b}, got)

		got, err = bundle.s.GlobalFieldsInGroup(ctx, "fg_unknown")
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("ListPagesByKeyWithAndWithoutGroupFilter", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		c := createGlobalField(t, bundle.s, "c", bundle.g1.ID)
		a := createGlobalField(t, bundle.s, "a", bundle.g2.ID, bundle.g1.ID)
		b := createGlobalField(t, bundle.s, "b", bundle.g2.ID)
		d := createGlobalField(t, bundle.s, "d")

		all := store.Page{Page: 1, PageSize: 10}
		got, total, err := bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: all})
		require.NoError(t, err)
		require.Equal(t, 4, total)
		require.Equal(t, []*store.GlobalField{a, b, c, d}, got, "each with its groups")

		got, total, err = bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: store.Page{Page: 2, PageSize: 3}})
		require.NoError(t, err)
		require.Equal(t, 4, total)
		require.Equal(t, []*store.GlobalField{d}, got)

		got, total, err = bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: all, FieldGroupID: bundle.g1.ID})
		require.NoError(t, err)
		require.Equal(t, 2, total)
		require.Equal(t, []*store.GlobalField{a, c}, got)

		got, total, err = bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: store.Page{Page: 2, PageSize: 1}, FieldGroupID: bundle.g2.ID})
		require.NoError(t, err)
		require.Equal(t, 2, total)
		require.Equal(t, []*store.GlobalField{b}, got)

		got, total, err = bundle.s.GlobalFieldList(ctx, &store.GlobalFieldListParams{Page: all, FieldGroupID: bundle.g3.ID})
		require.NoError(t, err)
		require.Zero(t, total)
		require.Empty(t, got)
	})
	t.Run("UpdateChangesLabelSchemaAndReplacesLinks", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createGlobalField(t, bundle.s, "email", bundle.g1.ID, bundle.g2.ID)
		upd := *f
		upd.Label = "E-mail"
		upd.Schema = json.RawMessage(`{"type":"string","format":"email"}`)
		upd.FieldGroupIDs = []string{bundle.g3.ID, bundle.g2.ID}
		upd.UpdatedAt = f.UpdatedAt.Add(time.Minute)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldUpdate(ctx, &upd) })

		got, err := bundle.s.GlobalFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, &upd, got)
		in1, err := bundle.s.GlobalFieldsInGroup(ctx, bundle.g1.ID)
		require.NoError(t, err)
		require.Empty(t, in1)
		in3, err := bundle.s.GlobalFieldsInGroup(ctx, bundle.g3.ID)
		require.NoError(t, err)
		require.Len(t, in3, 1)
		require.Equal(t, "E-mail", in3[0].Label)
	})
	t.Run("UpdateLinkingToGroupWithTheKeyIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		createGlobalField(t, bundle.s, "email", bundle.g2.ID)
		f := createGlobalField(t, bundle.s, "email", bundle.g1.ID)
		upd := *f
		upd.Label = "changed"
		upd.FieldGroupIDs = []string{bundle.g1.ID, bundle.g2.ID}
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldUpdate(ctx, &upd) })
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := bundle.s.GlobalFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, f, got, "a refused update changes nothing")
	})
	t.Run("UpdateOrDeleteUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		f := newGlobalField("email", bundle.g1.ID)
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldUpdate(ctx, f) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldDelete(ctx, f.ID) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteRemovesFieldAndFreesItsKeyInItsGroups", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createGlobalField(t, bundle.s, "email", bundle.g1.ID, bundle.g2.ID)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldDelete(ctx, f.ID) })

		_, err := bundle.s.GlobalFieldGet(ctx, f.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		in1, err := bundle.s.GlobalFieldsInGroup(ctx, bundle.g1.ID)
		require.NoError(t, err)
		require.Empty(t, in1)
		createGlobalField(t, bundle.s, "email", bundle.g1.ID, bundle.g2.ID)
	})
}

func testTenantFields(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s      store.Store
		g1, g2 *store.FieldGroup
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{s: s, g1: createGroup(t, s, "g1"), g2: createGroup(t, s, "g2")}, t.Context()
	}
	page := store.Page{Page: 1, PageSize: 10}

	t.Run("CreateThenGet", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "room")
		got, err := bundle.s.TenantFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, f, got)
	})
	t.Run("TenantGroupKeyIsUnique", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		createTenantField(t, bundle.s, "t1", bundle.g1.ID, "room")
		dup := newTenantField("t1", bundle.g1.ID, "room")
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldCreate(ctx, dup) })
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.TenantFieldGet(ctx, dup.ID)
		require.ErrorIs(t, err, store.ErrNotFound)

		// Another tenant, or another group, may use the key.
		createTenantField(t, bundle.s, "t2", bundle.g1.ID, "room")
		createTenantField(t, bundle.s, "t1", bundle.g2.ID, "room")
	})
	t.Run("KeyTakenByAnyTenantInAnyOfTheGroups", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		g3 := createGroup(t, bundle.s, "g3")
		createTenantField(t, bundle.s, "t2", bundle.g2.ID, "room")

		for _, tc := range []struct {
			name     string
			groupIDs []string
			key      string
			want     bool
		}{
			{"InTheOnlyGroup", []string{bundle.g2.ID}, "room", true},
			{"InOneOfSeveralGroups", []string{bundle.g1.ID, bundle.g2.ID, g3.ID}, "room", true},
			{"NotInTheseGroups", []string{bundle.g1.ID, g3.ID}, "room", false},
			{"OtherKey", []string{bundle.g2.ID}, "floor", false},
			{"NoGroups", nil, "room", false},
		} {
			taken, err := bundle.s.TenantFieldKeyTaken(ctx, tc.groupIDs, tc.key)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, taken, tc.name)
		}
	})
	t.Run("ListFiltersByTenantAndGroupPagedByKeyWithTotal", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		c := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "c")
		a := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "a")
		b := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "b")
		createTenantField(t, bundle.s, "t2", bundle.g1.ID, "a")
		other := createTenantField(t, bundle.s, "t1", bundle.g2.ID, "a")

		got, total, err := bundle.s.TenantFieldList(ctx, &store.TenantFieldListParams{Page: page, TenantID: "t1", FieldGroupID: bundle.g1.ID})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []*store.TenantField{a, b, c}, got)

		got, total, err = bundle.s.TenantFieldList(ctx, &store.TenantFieldListParams{Page: store.Page{Page: 2, PageSize: 2}, TenantID: "t1", FieldGroupID: bundle.g1.ID})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []*store.TenantField{c}, got)

		got, total, err = bundle.s.TenantFieldList(ctx, &store.TenantFieldListParams{Page: page, TenantID: "t1", FieldGroupID: bundle.g2.ID})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []*store.TenantField{other}, got)

		got, total, err = bundle.s.TenantFieldList(ctx, &store.TenantFieldListParams{Page: page, TenantID: "t3", FieldGroupID: bundle.g1.ID})
		require.NoError(t, err)
		require.Zero(t, total)
		require.Empty(t, got)
	})
	t.Run("UpdateChangesLabelSchemaAndUpdatedAt", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "room")
		upd := *f
		upd.Label = "Room number"
		upd.Schema = json.RawMessage(`{"type":"integer","minimum":1}`)
		upd.UpdatedAt = f.UpdatedAt.Add(time.Minute)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldUpdate(ctx, &upd) })
		got, err := bundle.s.TenantFieldGet(ctx, f.ID)
		require.NoError(t, err)
		require.Equal(t, &upd, got)
	})
	t.Run("DeleteRemovesTheField", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "room")
		kept := createTenantField(t, bundle.s, "t1", bundle.g1.ID, "floor")
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldDelete(ctx, f.ID) })
		_, err := bundle.s.TenantFieldGet(ctx, f.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		got, total, err := bundle.s.TenantFieldList(ctx, &store.TenantFieldListParams{Page: page, TenantID: "t1", FieldGroupID: bundle.g1.ID})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []*store.TenantField{kept}, got)
		taken, err := bundle.s.TenantFieldKeyTaken(ctx, []string{bundle.g1.ID}, "room")
		require.NoError(t, err)
		require.False(t, taken)
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.TenantFieldGet(ctx, "tf_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		f := newTenantField("t1", bundle.g1.ID, "room")
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldUpdate(ctx, f) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldDelete(ctx, f.ID) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("CreateInUnknownGroupFails", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		f := newTenantField("t1", "fg_unknown", "room")
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldCreate(ctx, f) })
		require.Error(t, err)
		_, err = bundle.s.TenantFieldGet(ctx, f.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
