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

func testPortal(t *testing.T, newStore func(t *testing.T) store.Store) {
	link := func(hash string, expires time.Time) *store.Portal {
		return &store.Portal{Hash: hash, TenantID: "sunrise-dental", Features: []string{"fields", "webhooks"},
			Theme: json.RawMessage(`{"name":"Zoë's CRM","accentColor":"#0a7"}`), CreatedAt: now(), ExpiresAt: expires}
	}
	create := func(t *testing.T, s store.Store, l *store.Portal) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PortalLinkCreate(ctx, l) })
	}
	redeem := func(t *testing.T, s store.Store, hash string, at time.Time) (*store.Portal, error) {
		t.Helper()
		var got *store.Portal
		err := inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			got, err = tx.PortalLinkRedeem(ctx, hash, at)
			return err
		})
		return got, err
	}

	t.Run("ALinkRedeemsOnceWithEverythingItGrants", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		l := link("l1", now().Add(time.Hour))
		create(t, s, l)
		got, err := redeem(t, s, "l1", now())
		require.NoError(t, err)
		require.Equal(t, l, got)
		_, err = redeem(t, s, "l1", now())
		require.ErrorIs(t, err, store.ErrNotFound, "a link is single-use")
	})
	t.Run("AnExpiredOrUnknownLinkDoesNotRedeem", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, link("l1", now().Add(time.Minute)))
		_, err := redeem(t, s, "l1", now().Add(2*time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = redeem(t, s, "nope", now())
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("ConcurrentRedeemsLetExactlyOneThrough", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, link("l1", now().Add(time.Hour)))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, misses := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
					_, err := tx.PortalLinkRedeem(ctx, "l1", now())
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else {
					require.ErrorIs(t, err, store.ErrNotFound)
					misses++
				}
			}()
		}
		wg.Wait()
		require.Equal(t, 1, wins)
		require.Equal(t, 7, misses)
	})
	t.Run("SessionsRoundTripAndEnd", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		sess := link("s1", now().Add(time.Hour))
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PortalSessionCreate(ctx, sess) })
		got, err := s.PortalSessionGetByHash(t.Context(), "s1")
		require.NoError(t, err)
		require.Equal(t, sess, got)
		_, err = s.PortalSessionGetByHash(t.Context(), "s2")
		require.ErrorIs(t, err, store.ErrNotFound)
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PortalSessionDelete(ctx, "s1") })
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PortalSessionDelete(ctx, "s1") })
		_, err = s.PortalSessionGetByHash(t.Context(), "s1")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DeleteExpiredRemovesOldLinksAndSessionsOnly", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		create(t, s, link("old-link", now().Add(-time.Minute)))
		create(t, s, link("new-link", now().Add(time.Hour)))
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.PortalSessionCreate(ctx, link("old-session", now().Add(-time.Minute))); err != nil {
				return err
			}
			return tx.PortalSessionCreate(ctx, link("new-session", now().Add(time.Hour)))
		})
		var n int
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			n, err = tx.PortalDeleteExpired(ctx, now())
			return err
		})
		require.Equal(t, 2, n)
		_, err := s.PortalSessionGetByHash(t.Context(), "new-session")
		require.NoError(t, err)
		_, err = s.PortalSessionGetByHash(t.Context(), "old-session")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = redeem(t, s, "new-link", now())
		require.NoError(t, err)
	})
}
