package sqlite_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/sqlite"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// TestReclaimHandsPrunedPagesBackToTheFileSystem proves that the database
// is incrementally vacuumed: pages retention frees are not kept as a free
// list for ever, Reclaim returns them, a bounded number at a time.
func TestReclaimHandsPrunedPagesBackToTheFileSystem(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := storetest.NewSQLitePath(t)
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	pragma := func(name string) int {
		t.Helper()
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "PRAGMA "+name).Scan(&n))
		return n
	}
	require.Equal(t, 2, pragma("auto_vacuum"), "incremental")

	payload := []byte(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	old := time.Now().Add(-time.Hour)
	for range 10 {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			evs := make([]*events.Event, 300)
			for i := range evs {
				evs[i] = &events.Event{ID: events.NewID("evt_"), Type: "big", OccurredAt: old, Payload: payload}
			}
			return tx.EventInsert(ctx, evs)
		}))
	}
	pagesBefore := pragma("page_count")
	for {
		var n int
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.Prune(ctx, &store.PruneParams{Kind: store.PruneEvents, Before: time.Now(), Limit: 1000})
			return err
		}))
		if n == 0 {
			break
		}
	}
	free := pragma("freelist_count")
	require.Greater(t, free, 2000, "pruning 12 MB freed pages")

	require.NoError(t, s.Reclaim(ctx))
	require.Less(t, pragma("freelist_count"), free, "Reclaim returned free pages")
	for pragma("freelist_count") > 0 {
		require.NoError(t, s.Reclaim(ctx))
	}
	require.Less(t, pragma("page_count"), pagesBefore/2, "the file shrank")
}
