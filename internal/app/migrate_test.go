package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/store/sqlstore"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// TestMigrateDownAndUpAgainThroughEveryMigration rolls every migration
// back one by one and applies them again, on both databases, so that each
// down migration is known to work before an operator needs it.
func TestMigrateDownAndUpAgainThroughEveryMigration(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mk := make([]byte, 32)
			_, _ = rand.Read(mk)
			cfg := app.Config{DB: storetest.DSN(t, dialect), MasterKey: base64.StdEncoding.EncodeToString(mk)}

			list, err := app.MigrationStatus(ctx, cfg)
			require.NoError(t, err)
			require.NotEmpty(t, list)
			for _, m := range list {
				require.False(t, m.Applied, "a new database has nothing applied: %+v", m)
				require.NotEmpty(t, m.Name)
			}
			applied, err := app.MigrateUp(ctx, cfg)
			require.NoError(t, err)
			require.Len(t, applied, len(list))

			for i := len(list) - 1; i >= 0; i-- {
				v, err := app.MigrateDown(ctx, cfg)
				require.NoError(t, err, "roll back %05d", list[i].Version)
				require.Equal(t, list[i].Version, v)
				st, err := app.MigrationStatus(ctx, cfg)
				require.NoError(t, err)
				require.False(t, st[i].Applied)
				if i > 0 {
					require.True(t, st[i-1].Applied)
				}
			}
			_, err = app.MigrateDown(ctx, cfg)
			require.ErrorIs(t, err, sqlstore.ErrNothingToRollBack)

			applied, err = app.MigrateUp(ctx, cfg)
			require.NoError(t, err)
			require.Len(t, applied, len(list), "every migration applies again after its down")
			// The schema that came back is one the server runs on.
			s, err := app.OpenStore(ctx, cfg)
			require.NoError(t, err)
			require.NoError(t, s.Ping(ctx))
			require.NoError(t, s.Close())
		})
	}
}
