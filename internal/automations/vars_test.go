package automations

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

type varsBundle struct {
	store store.Store
	svc   *Service
	// other is a second service on the same database: another process.
	other *Service
}

func setupVars(t *testing.T, dialect string) *varsBundle {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	require.NoError(t, err)
	b := &varsBundle{store: storetest.Open(t, dialect)}
	b.svc = New(Config{Store: b.store, Box: box})
	b.other = New(Config{Store: b.store, Box: box})
	// An hour, so that only an invalidation can explain a fresh read.
	b.svc.vars = newVarCache(b.svc, time.Hour)
	return b
}

// TestVariableEditIsSeenByTheNextRunAtOnce proves the variable cache is
// invalidated by edits made through the service (what the API calls): the
// next run sees a put or a delete at once, though the cache would keep the
// old values for an hour. An edit made by another process waits for the
// cache to expire.
func TestVariableEditIsSeenByTheNextRunAtOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupVars(t, dialect)
		ctx := context.Background()
		put := func(svc *Service, tenant, name, value string, secret bool) {
			t.Helper()
			_, err := svc.PutVariable(ctx, scope.Admin(), tenant, name, &VariableInput{Value: value, Secret: secret})
			require.NoError(t, err)
		}
		seen := func(automationTenant, eventTenant string) (map[string]string, map[string]string) {
			t.Helper()
			vars, secrets, err := b.svc.vars.get(ctx, automationTenant, eventTenant)
			require.NoError(t, err)
			return vars, secrets
		}

		put(b.svc, "", "region", "eu", false)
		put(b.svc, "acme", "token", "T1", true)
		vars, secrets := seen("", "acme")
		require.Equal(t, "eu", vars["region"])
		require.Equal(t, "T1", secrets["token"])

		put(b.svc, "", "region", "us", false)
		put(b.svc, "acme", "token", "T2", true)
		vars, secrets = seen("", "acme")
		require.Equal(t, "us", vars["region"], "a global variable's edit is seen at once")
		require.Equal(t, "T2", secrets["token"], "a tenant secret's edit is seen at once")
		vars, _ = seen("acme", "acme")
		require.Empty(t, vars["region"], "a tenant's automation still sees no unshared global")

		require.NoError(t, b.svc.DeleteVariable(ctx, scope.Admin(), "acme", "token"))
		_, secrets = seen("", "acme")
		require.NotContains(t, secrets, "token", "a delete is seen at once")

		put(b.other, "", "region", "ap", false)
		vars, _ = seen("", "acme")
		require.Equal(t, "us", vars["region"], "another process's edit waits for the cache to expire")
	})
}
