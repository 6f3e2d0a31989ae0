package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testAPIKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	newKey := func(hash, role, tenantID string) *store.APIKey {
		return &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: role, TenantID: tenantID, CreatedAt: now()}
	}
	create := func(t *testing.T, s store.Store, k *store.APIKey) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) })
	}

	t.Run("CreateThenGetByHash", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		k := newKey("hash-1", store.RoleTenant, "t1")
		require.NoError(t, create(t, bundle.s, k))
		got, err := bundle.s.APIKeyGetByHash(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, k, got)
	})
	t.Run("GetByUnknownHashIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, create(t, bundle.s, newKey("hash-1", store.RoleAdmin, "")))
		_, err := bundle.s.APIKeyGetByHash(ctx, "hash-2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateHashIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, create(t, bundle.s, newKey("hash-1", store.RoleAdmin, "")))
		require.ErrorIs(t, create(t, bundle.s, newKey("hash-1", store.RoleTenant, "t1")), store.ErrConflict)
		got, err := bundle.s.APIKeyGetByHash(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, store.RoleAdmin, got.Role)
	})
	t.Run("CountAdminsCountsOnlyAdminKeys", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		n, err := bundle.s.APIKeyCountAdmins(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, create(t, bundle.s, newKey("a1", store.RoleAdmin, "")))
		require.NoError(t, create(t, bundle.s, newKey("t1", store.RoleTenant, "t1")))
		require.NoError(t, create(t, bundle.s, newKey("a2", store.RoleAdmin, "")))
		n, err = bundle.s.APIKeyCountAdmins(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}

func testIdempotency(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	put := func(t *testing.T, s store.Store, r *store.IdempotencyRecord) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyPut(ctx, r) })
	}
	newRecord := func(scope, key string, at time.Time) *store.IdempotencyRecord {
		return &store.IdempotencyRecord{Scope: scope, Key: key, RequestHash: "req-" + key, Status: 201,
			ContentType: "application/json", Body: []byte(`{"id":"` + key + `"}`), CreatedAt: at}
	}

	t.Run("PutThenGetRoundTripsBodyBytes", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		r := newRecord("key_1", "k1", now())
		r.Body = []byte{0x00, 0xff, 0xfe, '{', 0x80, '\n'} // not text
		put(t, bundle.s, r)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, r, got)
	})
	t.Run("PutKeepsAnEmptyBody", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// A 204 No Content: the recorder's body is nil.
		r := newRecord("key_1", "k1", now())
		r.Status, r.ContentType, r.Body = 204, "", nil
		put(t, bundle.s, r)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, 204, got.Status)
		require.Empty(t, got.Body)
	})
	t.Run("PutUpsertsTheScopeAndKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		put(t, bundle.s, newRecord("key_1", "k1", now().Add(-time.Minute)))
		second := &store.IdempotencyRecord{Scope: "key_1", Key: "k1", RequestHash: "other", Status: 409,
			ContentType: "application/problem+json", Body: []byte(`{"title":"Conflict"}`), CreatedAt: now()}
		put(t, bundle.s, second)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, second, got)
	})
	t.Run("KeysAreScoped", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a, b := newRecord("key_1", "k1", now()), newRecord("key_2", "k1", now())
		b.Status = 200
		put(t, bundle.s, a)
		put(t, bundle.s, b)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, a, got)
		got, err = bundle.s.IdempotencyGet(ctx, "key_2", "k1")
		require.NoError(t, err)
		require.Equal(t, b, got)
		_, err = bundle.s.IdempotencyGet(ctx, "key_3", "k1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.IdempotencyGet(ctx, "key_1", "k2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteBeforeRemovesOnlyOlderRecordsAndCountsThem", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		put(t, bundle.s, newRecord("key_1", "old1", cutoff.Add(-time.Hour)))
		put(t, bundle.s, newRecord("key_2", "old2", cutoff.Add(-time.Microsecond)))
		put(t, bundle.s, newRecord("key_1", "at", cutoff))
		put(t, bundle.s, newRecord("key_1", "new", cutoff.Add(time.Second)))

		var n int
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.IdempotencyDeleteBefore(ctx, cutoff)
			return err
		})
		require.Equal(t, 2, n)
		for key, kept := range map[string]bool{"old1": false, "old2": false, "at": true, "new": true} {
			scope := "key_1"
			if key == "old2" {
				scope = "key_2"
			}
			_, err := bundle.s.IdempotencyGet(ctx, scope, key)
			if kept {
				require.NoError(t, err, key)
			} else {
				require.ErrorIs(t, err, store.ErrNotFound, key)
			}
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.IdempotencyDeleteBefore(ctx, cutoff)
			return err
		})
		require.Zero(t, n)
	})
}
