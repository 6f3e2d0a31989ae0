package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testSessions(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s   store.Store
		key *store.APIKey
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		k := &store.APIKey{ID: events.NewID("key_"), Hash: "key-hash-" + events.NewID(""), Role: store.RoleTenant, TenantID: "t1", CreatedAt: now()}
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) })
		return &testBundle{s: s, key: k}, t.Context()
	}
	create := func(t *testing.T, s store.Store, sess *store.Session) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.SessionCreate(ctx, sess) })
	}

	t.Run("CreateThenGetByHashCarriesTheKeysRoleAndTenant", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		sess := &store.Session{Hash: "s1", KeyID: bundle.key.ID, CreatedAt: now(), ExpiresAt: now().Add(12 * time.Hour)}
		create(t, bundle.s, sess)
		got, err := bundle.s.SessionGetByHash(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, &store.Session{Hash: "s1", KeyID: bundle.key.ID, Role: store.RoleTenant, TenantID: "t1",
			CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt}, got)
	})
	t.Run("UnknownHashIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.SessionGetByHash(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateHashIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		create(t, bundle.s, &store.Session{Hash: "s1", KeyID: bundle.key.ID, CreatedAt: now(), ExpiresAt: now()})
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			return tx.SessionCreate(ctx, &store.Session{Hash: "s1", KeyID: bundle.key.ID, CreatedAt: now(), ExpiresAt: now()})
		})
		require.ErrorIs(t, err, store.ErrConflict)
	})
	t.Run("DeleteEndsTheSessionAndToleratesRepeats", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		create(t, bundle.s, &store.Session{Hash: "s1", KeyID: bundle.key.ID, CreatedAt: now(), ExpiresAt: now().Add(time.Hour)})
		create(t, bundle.s, &store.Session{Hash: "s2", KeyID: bundle.key.ID, CreatedAt: now(), ExpiresAt: now().Add(time.Hour)})
		for range 2 {
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.SessionDelete(ctx, "s1") })
		}
		_, err := bundle.s.SessionGetByHash(ctx, "s1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.SessionGetByHash(ctx, "s2")
		require.NoError(t, err, "only the named session ends")
	})
	t.Run("DeleteExpiredRemovesOnlyExpiredOnesAndCountsThem", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		create(t, bundle.s, &store.Session{Hash: "old", KeyID: bundle.key.ID, CreatedAt: cutoff.Add(-time.Hour), ExpiresAt: cutoff.Add(-time.Second)})
		create(t, bundle.s, &store.Session{Hash: "live", KeyID: bundle.key.ID, CreatedAt: cutoff, ExpiresAt: cutoff.Add(time.Hour)})
		var n int
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.SessionDeleteExpired(ctx, cutoff)
			return err
		})
		require.Equal(t, 1, n)
		_, err := bundle.s.SessionGetByHash(ctx, "old")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.SessionGetByHash(ctx, "live")
		require.NoError(t, err)
	})
}
