package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/postgres"
	"github.com/fieldflow/fieldflow/internal/store/sqlite"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// keyList is GET /api/keys decoded.
type keyList struct {
	Data       []map[string]any `json:"data"`
	Pagination struct {
		Total int `json:"total"`
	} `json:"pagination"`
}

func (b *testBundle) listKeys(t *testing.T, query string) keyList {
	t.Helper()
	res := b.do(t, http.MethodGet, "/api/keys"+query, nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res)
	var l keyList
	require.NoError(t, json.Unmarshal(res.body, &l))
	return l
}

func TestAdminCreatesListsGetsAndRevokesKeys(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		before := time.Now().UTC()
		created := b.ok(t, http.StatusCreated, http.MethodPost, "/api/keys",
			map[string]any{"role": "tenant", "tenantId": tenant, "name": "billing service", "expiresIn": "720h"})
		secret, _ := created["key"].(string)
		require.True(t, strings.HasPrefix(secret, "ffk_"), "the key is shown once: %v", created)
		id := created["id"].(string)
		require.True(t, strings.HasPrefix(id, "key_"))
		require.Equal(t, secret[len("ffk_"):len("ffk_")+8], created["prefix"])
		require.Equal(t, "tenant", created["role"])
		require.Equal(t, tenant, created["tenantId"])
		require.Equal(t, "billing service", created["name"])
		require.Equal(t, true, created["active"])
		require.Nil(t, created["revokedAt"])
		expires, err := time.Parse(time.RFC3339, created["expiresAt"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, before.Add(720*time.Hour), expires, time.Minute)

		// The new key works, for its tenant only.
		res := b.send(t, req{Method: http.MethodGet, Path: valuesPath(tenant, "g", "e1"), Key: secret})
		require.NotEqual(t, http.StatusUnauthorized, res.status, "%s", res)
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: valuesPath(otherTenant, "g", "e1"), Key: secret}), http.StatusForbidden)

		// Lists and reads never show the secret or its hash.
		raw := b.do(t, http.MethodGet, "/api/keys", nil)
		require.Equal(t, http.StatusOK, raw.status, "%s", raw)
		require.NotContains(t, string(raw.body), secret)
		require.NotContains(t, string(raw.body), api.HashKey(secret))
		l := b.listKeys(t, "")
		require.Equal(t, 3, l.Pagination.Total, "the bundle's two keys and the new one")
		var listed map[string]any
		for _, k := range l.Data {
			require.NotContains(t, k, "key")
			require.NotContains(t, k, "hash")
			if k["id"] == id {
				listed = k
			}
		}
		require.NotNil(t, listed, "the new key is listed")
		require.NotNil(t, listed["lastUsedAt"], "its use was recorded")
		got := b.ok(t, http.StatusOK, http.MethodGet, "/api/keys/"+id, nil)
		require.Equal(t, listed, got)
		byTenant := b.listKeys(t, "?tenantId="+tenant+"&pageSize=1")
		require.Equal(t, 2, byTenant.Pagination.Total, "the bundle's tenant key and the new one")
		require.Len(t, byTenant.Data, 1)

		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/keys/"+id, nil)
		p := requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: valuesPath(tenant, "g", "e1"), Key: secret}), http.StatusUnauthorized)
		require.Equal(t, "API key revoked", p["detail"])
		got = b.ok(t, http.StatusOK, http.MethodGet, "/api/keys/"+id, nil)
		require.Equal(t, false, got["active"])
		require.NotNil(t, got["revokedAt"])
		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/keys/"+id, nil) // again: nothing changes
		for _, k := range b.listKeys(t, "?active=true").Data {
			require.NotEqual(t, id, k["id"], "active=true leaves revoked keys out")
		}
		requireProblem(t, b.do(t, http.MethodGet, "/api/keys/key_unknown", nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, "/api/keys/key_unknown", nil), http.StatusNotFound)

		// An admin key made through the API is an admin key.
		adm := b.ok(t, http.StatusCreated, http.MethodPost, "/api/keys", map[string]any{"role": "admin"})
		b.ok(t, http.StatusCreated, http.MethodPost, "/api/keys", map[string]any{"role": "admin", "name": "made by a made key"})
		res = b.send(t, req{Method: http.MethodGet, Path: "/api/keys", Key: adm["key"].(string)})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Nil(t, adm["expiresAt"], "no expiry asked for: never expires")
	})
}

func TestKeyRoutesAreAdminOnly(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		id := b.listKeys(t, "").Data[0]["id"].(string)
		for _, r := range []req{
			{Method: http.MethodPost, Path: "/api/keys", Body: map[string]any{"role": "tenant", "tenantId": tenant}},
			{Method: http.MethodGet, Path: "/api/keys"},
			{Method: http.MethodGet, Path: "/api/keys/" + id},
			{Method: http.MethodDelete, Path: "/api/keys/" + id},
		} {
			r.Key = b.tenant
			requireProblem(t, b.send(t, r), http.StatusForbidden)
		}
		require.Equal(t, 2, b.listKeys(t, "?active=true").Pagination.Total, "nothing was created or revoked")
	})
}

func TestCreateKeyRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for _, c := range []struct {
			body     map[string]any
			location string
		}{
			{map[string]any{"tenantId": tenant}, "body.role"},
			{map[string]any{"role": "owner"}, "body.role"},
			{map[string]any{"role": "tenant"}, "body.tenantId"},
			{map[string]any{"role": "tenant", "tenantId": "bad id with spaces"}, "body.tenantId"},
			{map[string]any{"role": "tenant", "tenantId": "a/b"}, "body.tenantId"},
			{map[string]any{"role": "admin", "tenantId": tenant}, "body.tenantId"},
			{map[string]any{"role": "admin", "name": "line\nbreak"}, "body.name"},
			{map[string]any{"role": "admin", "name": strings.Repeat("n", 101)}, "body.name"},
			{map[string]any{"role": "admin", "expiresAt": past}, "body.expiresAt"},
			{map[string]any{"role": "admin", "expiresAt": "tomorrow"}, "body.expiresAt"},
			{map[string]any{"role": "admin", "expiresIn": "30 days"}, "body.expiresIn"},
			{map[string]any{"role": "admin", "expiresIn": "-1h"}, "body.expiresIn"},
			{map[string]any{"role": "admin", "expiresIn": "1000000h"}, "body.expiresIn"},
			{map[string]any{"role": "admin", "expiresIn": "1h", "expiresAt": future}, "body.expiresIn"},
		} {
			res := b.do(t, http.MethodPost, "/api/keys", c.body)
			require.Less(t, res.status, 500, "%v: %s", c.body, res)
			require.GreaterOrEqual(t, res.status, 400, "%v: %s", c.body, res)
			requireProblem(t, res, res.status, c.location)
		}
		requireProblem(t, b.do(t, http.MethodPost, "/api/keys", `{"role":`), http.StatusBadRequest)
		require.Equal(t, 2, b.listKeys(t, "").Pagination.Total, "no key was created")
	})
}

func TestRevokingTheLastActiveAdminKeyIsConflict(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		var adminID string
		for _, k := range b.listKeys(t, "").Data {
			if k["role"] == "admin" {
				adminID = k["id"].(string)
			}
		}
		p := requireProblem(t, b.do(t, http.MethodDelete, "/api/keys/"+adminID, nil), http.StatusConflict)
		require.Contains(t, p["detail"], "last active admin key")
		b.ok(t, http.StatusOK, http.MethodGet, "/api/keys/"+adminID, nil) // still works

		// With a second admin key, the first may go, and the second not.
		second := b.ok(t, http.StatusCreated, http.MethodPost, "/api/keys", map[string]any{"role": "admin"})
		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/keys/"+adminID, nil)
		res := b.send(t, req{Method: http.MethodDelete, Path: "/api/keys/" + second["id"].(string), Key: second["key"].(string)})
		requireProblem(t, res, http.StatusConflict)
	})
}

func TestExpiredKeyIsUnauthorizedAtOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		expired := createKeyWith(t, b.store, &store.APIKey{Role: store.RoleAdmin, ExpiresAt: time.Now().Add(-time.Second)})
		p := requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: expired}), http.StatusUnauthorized)
		require.Equal(t, "API key expired", p["detail"])

		soon := createKeyWith(t, b.store, &store.APIKey{Role: store.RoleAdmin, ExpiresAt: time.Now().Add(500 * time.Millisecond)})
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: soon})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		time.Sleep(600 * time.Millisecond)
		p = requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: soon}), http.StatusUnauthorized)
		require.Equal(t, "API key expired", p["detail"])
	})
}

func TestLastUsedAtIsWrittenAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		now := time.Now().UTC()
		recent := now.Add(-10 * time.Second).Truncate(time.Microsecond)
		stale := now.Add(-2 * time.Minute).Truncate(time.Microsecond)
		fresh := createKeyWith(t, b.store, &store.APIKey{Role: store.RoleAdmin, LastUsedAt: recent})
		old := createKeyWith(t, b.store, &store.APIKey{Role: store.RoleAdmin, LastUsedAt: stale})
		for range 3 {
			for _, k := range []string{fresh, old} {
				res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: k})
				require.Equal(t, http.StatusOK, res.status, "%s", res)
			}
		}
		got, err := b.store.APIKeyGetByHash(t.Context(), api.HashKey(fresh))
		require.NoError(t, err)
		require.Equal(t, recent, got.LastUsedAt, "used 10 s ago: not written again")
		got, err = b.store.APIKeyGetByHash(t.Context(), api.HashKey(old))
		require.NoError(t, err)
		require.WithinDuration(t, now, got.LastUsedAt, 5*time.Second, "used 2 min ago: written")
	})
}

// createKeyWith stores k (its id and hash filled in) and returns the key.
func createKeyWith(t *testing.T, s store.Store, k *store.APIKey) string {
	t.Helper()
	key, hash := api.NewKey()
	k.ID, k.Hash = events.NewID("key_"), hash
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	require.NoError(t, s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) }))
	return key
}

// TestRevokedKeyFailsAtOnceOnEveryInstance runs two API servers, each with
// its own store, over one database, as two instances of a deployment are:
// a key revoked through one fails on its next request to the other, which
// had just accepted it.
func TestRevokedKeyFailsAtOnceOnEveryInstance(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.DSN(t, dialect)
		open := func() store.Store {
			var s store.Store
			var err error
			if dialect == "sqlite" {
				s, err = sqlite.Open(t.Context(), dsn)
			} else {
				s, err = postgres.Open(t.Context(), dsn)
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
		start := func(s store.Store) *testBundle {
			cfg := api.Config{Records: records.New(records.Config{Store: s}), Store: s}
			setLimits(&cfg, nil)
			srv := httptest.NewServer(api.New(cfg))
			t.Cleanup(srv.Close)
			return &testBundle{url: srv.URL, store: s}
		}
		first, second := start(open()), start(open())
		first.admin = createKey(t, first.store, store.RoleAdmin, "")
		second.admin = first.admin

		created := first.ok(t, http.StatusCreated, http.MethodPost, "/api/keys", map[string]any{"role": "tenant", "tenantId": tenant})
		key := created["key"].(string)
		for _, b := range []*testBundle{first, second, second} {
			res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: key})
			require.Equal(t, http.StatusOK, res.status, "%s", res)
		}
		first.ok(t, http.StatusNoContent, http.MethodDelete, "/api/keys/"+created["id"].(string), nil)
		for _, b := range []*testBundle{second, first} {
			p := requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: key}), http.StatusUnauthorized)
			require.Equal(t, "API key revoked", p["detail"])
		}
	})
}
