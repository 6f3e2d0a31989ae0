package retention_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/retention"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// crashingStore is a real store whose process "dies" after a number of
// committed transactions: every later one fails, as if the process were
// gone, and the pass stops there.
type crashingStore struct {
	store.Store
	left atomic.Int64
}

var (
	errCrashed = errors.New("the process crashed")
	quiet      = slog.New(slog.DiscardHandler)
)

func (s *crashingStore) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if s.left.Add(-1) < 0 {
		return errCrashed
	}
	return s.Store.InTx(ctx, fn)
}

// TestErasureInterruptedByACrashIsFinishedByTheNextStart erases a tenant
// with a service that crashes after three batches: the erasure is left
// pending with what it removed so far, nothing is announced, and a new
// service over the same database (a restart) finishes it and writes
// tenant.erased once.
func TestErasureInterruptedByACrashIsFinishedByTheNextStart(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := storetest.Open(t, dialect)
			now := time.Now().UTC()
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				var evs []*events.Event
				for i := range 25 {
					for _, tenant := range []string{"gone", "stays"} {
						ev, err := events.New("order.paid", tenant, now, events.Member{Key: "n", Value: i})
						if err != nil {
							return err
						}
						evs = append(evs, ev)
					}
				}
				return tx.EventInsert(ctx, evs)
			}))

			crashing := &crashingStore{Store: s}
			crashing.left.Store(1 + 3) // the request, then three batches
			first := retention.New(retention.Config{Store: crashing, BatchSize: 5, Logger: quiet})
			_, err := first.RequestErasure(ctx, scope.Admin(), "gone")
			require.NoError(t, err)
			_, err = first.RunOnce(ctx)
			require.ErrorIs(t, err, errCrashed)

			e, err := s.TenantErasureGet(ctx, "gone")
			require.NoError(t, err)
			require.Equal(t, store.ErasurePending, e.State, "a crash leaves it pending, never half-done and forgotten")
			require.EqualValues(t, 15, e.Removed, "three batches of five were committed")
			left, err := s.EventList(ctx, &store.EventListParams{TenantID: ptr("gone"), Limit: 100})
			require.NoError(t, err)
			require.Len(t, left, 10)
			announced, err := s.EventList(ctx, &store.EventListParams{Type: events.TenantErased, Limit: 10})
			require.NoError(t, err)
			require.Empty(t, announced)

			// The restart: a new service with nothing in memory.
			restarted := retention.New(retention.Config{Store: s, BatchSize: 5, Logger: quiet})
			r, err := restarted.RunOnce(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"gone"}, r.Erased)
			e, err = s.TenantErasureGet(ctx, "gone")
			require.NoError(t, err)
			require.Equal(t, store.ErasureDone, e.State)
			require.EqualValues(t, 25, e.Removed)
			left, err = s.EventList(ctx, &store.EventListParams{TenantID: ptr("gone"), Limit: 100})
			require.NoError(t, err)
			require.Empty(t, left)
			kept, err := s.EventList(ctx, &store.EventListParams{TenantID: ptr("stays"), Limit: 100})
			require.NoError(t, err)
			require.Len(t, kept, 25)
			announced, err = s.EventList(ctx, &store.EventListParams{Type: events.TenantErased, Limit: 10})
			require.NoError(t, err)
			require.Len(t, announced, 1)
			require.Equal(t, e.EventID, announced[0].ID)
			require.JSONEq(t, fmt.Sprintf(`{"event":"tenant.erased","eventId":%q,"timestamp":%q,"erasedTenantId":"gone","requestedAt":%q,"rowsRemoved":25}`,
				e.EventID, events.FormatTime(announced[0].OccurredAt), events.FormatTime(e.RequestedAt)), string(announced[0].Payload))

			// Another pass finds nothing more to do.
			r, err = restarted.RunOnce(ctx)
			require.NoError(t, err)
			require.Empty(t, r.Erased)
		})
	}
}

// TestErasureAndRetentionAreAdminOnly proves the service checks the scope
// itself, whatever route calls it.
func TestErasureAndRetentionAreAdminOnly(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, "sqlite")
	svc := retention.New(retention.Config{Store: s, Logger: quiet})
	ctx := t.Context()
	for _, sc := range []scope.Scope{scope.Tenant("gone"), {}} {
		_, err := svc.RequestErasure(ctx, sc, "gone")
		require.Error(t, err)
		_, err = svc.SetTenantRetention(ctx, sc, "gone", 10)
		require.Error(t, err)
		require.Error(t, svc.ResetTenantRetention(ctx, sc, "gone"))
	}
	_, err := s.TenantErasureGet(ctx, "gone")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing was started")
}

func ptr[T any](v T) *T { return &v }
