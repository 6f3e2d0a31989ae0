package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Run exercises every store behaviour against the stores newStore opens.
// Each driver's tests call it once.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("FieldGroups", func(t *testing.T) { t.Parallel(); testFieldGroups(t, newStore) })
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) error {
	t.Helper()
	return s.InTx(context.Background(), fn)
}

func testFieldGroups(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("CreateGetByIDOrKey", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		g := &store.FieldGroup{ID: events.NewID("fg_"), Key: "booking", Name: "Booking", CreatedAt: now(), UpdatedAt: now()}
		require.NoError(t, inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, g) }))
		byID, err := s.FieldGroupGet(ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, g, byID)
		byKey, err := s.FieldGroupGet(ctx, "booking")
		require.NoError(t, err)
		require.Equal(t, g, byKey)
		_, err = s.FieldGroupGet(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateKeyIsConflict", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		g := &store.FieldGroup{ID: events.NewID("fg_"), Key: "booking", Name: "Booking", CreatedAt: now(), UpdatedAt: now()}
		require.NoError(t, inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, g) }))
		g2 := *g
		g2.ID = events.NewID("fg_")
		err := inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, &g2) })
		require.ErrorIs(t, err, store.ErrConflict)
	})
}
