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

// Run exercises every store behaviour against the stores newStore opens.
// Each driver's tests call it once. Every subtest opens its own store, so
// they all run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("FieldGroups", func(t *testing.T) { t.Parallel(); testFieldGroups(t, newStore) })
	t.Run("GlobalFields", func(t *testing.T) { t.Parallel(); testGlobalFields(t, newStore) })
	t.Run("TenantFields", func(t *testing.T) { t.Parallel(); testTenantFields(t, newStore) })
	t.Run("Entities", func(t *testing.T) { t.Parallel(); testEntities(t, newStore) })
	t.Run("FieldValues", func(t *testing.T) { t.Parallel(); testFieldValues(t, newStore) })
	t.Run("Events", func(t *testing.T) { t.Parallel(); testEvents(t, newStore) })
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); testAPIKeys(t, newStore) })
	t.Run("Idempotency", func(t *testing.T) { t.Parallel(); testIdempotency(t, newStore) })
	t.Run("IdempotencyClaims", func(t *testing.T) { t.Parallel(); testIdempotencyClaims(t, newStore) })
	t.Run("Wakes", func(t *testing.T) { t.Parallel(); testWakes(t, newStore) })
	t.Run("Endpoints", func(t *testing.T) { t.Parallel(); testEndpoints(t, newStore) })
	t.Run("Backlog", func(t *testing.T) { t.Parallel(); testBacklog(t, newStore) })
	t.Run("Stats", func(t *testing.T) { t.Parallel(); testStats(t, newStore) })
	t.Run("Deliveries", func(t *testing.T) { t.Parallel(); testDeliveries(t, newStore) })
	t.Run("DeliveryLeases", func(t *testing.T) { t.Parallel(); testDeliveryLeases(t, newStore) })
	t.Run("Attempts", func(t *testing.T) { t.Parallel(); testAttempts(t, newStore) })
	t.Run("Variables", func(t *testing.T) { t.Parallel(); testVariables(t, newStore) })
	t.Run("OAuth2Connections", func(t *testing.T) { t.Parallel(); testOAuth2Connections(t, newStore) })
	t.Run("RequestTemplates", func(t *testing.T) { t.Parallel(); testRequestTemplates(t, newStore) })
	t.Run("Automations", func(t *testing.T) { t.Parallel(); testAutomations(t, newStore) })
	t.Run("Runs", func(t *testing.T) { t.Parallel(); testRuns(t, newStore) })
	t.Run("RunLeases", func(t *testing.T) { t.Parallel(); testRunLeases(t, newStore) })
	t.Run("RunSteps", func(t *testing.T) { t.Parallel(); testRunSteps(t, newStore) })
	t.Run("Timers", func(t *testing.T) { t.Parallel(); testTimers(t, newStore) })
	t.Run("Secrets", func(t *testing.T) { t.Parallel(); testSecrets(t, newStore) })
	t.Run("InTx", func(t *testing.T) { t.Parallel(); testInTx(t, newStore) })
	t.Run("Store", func(t *testing.T) { t.Parallel(); testStore(t, newStore) })
	t.Run("Close", func(t *testing.T) { t.Parallel(); testClose(t, newStore) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, newStore) })
	t.Run("Portal", func(t *testing.T) { t.Parallel(); testPortal(t, newStore) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); testRetention(t, newStore) })
}

// now is the current time as both databases keep it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// dbTime is t as the databases return it.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// inTx runs fn in a transaction of s and returns InTx's error.
func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) error {
	t.Helper()
	return s.InTx(t.Context(), fn)
}

// mustTx runs fn in a transaction of s and fails the test if it fails.
func mustTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	require.NoError(t, inTx(t, s, fn))
}

func createGroup(t *testing.T, s store.Store, key string) *store.FieldGroup {
	t.Helper()
	g := &store.FieldGroup{ID: events.NewID("fg_"), Key: key, Name: "Group " + key, Description: "about " + key,
		CreatedAt: now(), UpdatedAt: now()}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.FieldGroupCreate(ctx, g) })
	return g
}

func createGlobalField(t *testing.T, s store.Store, key string, groupIDs ...string) *store.GlobalField {
	t.Helper()
	f := newGlobalField(key, groupIDs...)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.GlobalFieldCreate(ctx, f) })
	return f
}

func newGlobalField(key string, groupIDs ...string) *store.GlobalField {
	if groupIDs == nil {
		groupIDs = []string{}
	}
	return &store.GlobalField{ID: events.NewID("gf_"), Key: key, Label: "Label " + key,
		Schema: json.RawMessage(`{"type":"string","validation":{"required":true}}`), FieldGroupIDs: groupIDs,
		CreatedAt: now(), UpdatedAt: now()}
}

func createTenantField(t *testing.T, s store.Store, tenantID, groupID, key string) *store.TenantField {
	t.Helper()
	f := newTenantField(tenantID, groupID, key)
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.TenantFieldCreate(ctx, f) })
	return f
}

func newTenantField(tenantID, groupID, key string) *store.TenantField {
	return &store.TenantField{ID: events.NewID("tf_"), TenantID: tenantID, FieldGroupID: groupID, Key: key,
		Label: "Label " + key, Schema: json.RawMessage(`{"type":"number"}`), CreatedAt: now(), UpdatedAt: now()}
}

// saveString locks the entity and sets each key to a JSON string whose
// search text is the string itself, as the records package does. It returns
// the new version.
func saveStrings(t *testing.T, s store.Store, k store.EntityKey, at time.Time, values map[string]string) int64 {
	t.Helper()
	p := &store.EntitySaveParams{EntityKey: k, Set: map[string]json.RawMessage{}, ValueText: map[string]string{}, At: at}
	for key, text := range values {
		raw, err := json.Marshal(text)
		require.NoError(t, err)
		p.Set[key] = raw
		p.ValueText[key] = text
	}
	mustTx(t, s, func(ctx context.Context, tx store.Tx) error {
		v, err := tx.EntityLock(ctx, k)
		if err != nil {
			return err
		}
		p.Version = v + 1
		return tx.EntitySave(ctx, p)
	})
	return p.Version
}
