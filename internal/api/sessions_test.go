package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/store"
)

// login opens a session with the key and returns its cookie and CSRF token.
func (b *testBundle) login(t *testing.T, key string) (*http.Cookie, string) {
	t.Helper()
	res := b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: map[string]any{"key": key}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res)
	cookies := (&http.Response{Header: res.header}).Cookies()
	require.Len(t, cookies, 1, "Set-Cookie: %v", res.header.Values("Set-Cookie"))
	csrf, _ := res.obj(t)["csrfToken"].(string)
	require.NotEmpty(t, csrf)
	return cookies[0], csrf
}

// withSession sends r with the session cookie and, when csrf is set, the
// CSRF header.
func (b *testBundle) withSession(t *testing.T, c *http.Cookie, csrf string, r req) *response {
	t.Helper()
	if r.Header == nil {
		r.Header = map[string]string{}
	}
	r.Header["Cookie"] = c.Name + "=" + c.Value
	if csrf != "" {
		r.Header["X-CSRF-Token"] = csrf
	}
	return b.send(t, r)
}

func TestLoginSetsAnHttpOnlyStrictCookieThatActsAsTheKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: map[string]any{"key": b.admin}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res)
		body := res.obj(t)
		require.Equal(t, "admin", body["role"])
		require.Equal(t, "session", body["via"])
		require.NotEmpty(t, body["csrfToken"])
		require.NotContains(t, string(res.body), b.admin, "the answer does not echo the key")

		cookies := (&http.Response{Header: res.header}).Cookies()
		require.Len(t, cookies, 1)
		c := cookies[0]
		require.Equal(t, "fieldflow_session", c.Name)
		require.True(t, c.HttpOnly, "script cannot read the session")
		require.Equal(t, http.SameSiteStrictMode, c.SameSite)
		require.Equal(t, "/", c.Path)
		require.False(t, c.Secure, "plain HTTP on 127.0.0.1: a Secure cookie would never come back")
		require.InDelta(t, (12 * time.Hour).Seconds(), float64(c.MaxAge), 5)
		require.NotEqual(t, b.admin, c.Value)

		// Only the token's hash is stored.
		_, err := b.store.SessionGetByHash(t.Context(), c.Value)
		require.ErrorIs(t, err, store.ErrNotFound)
		sess, err := b.store.SessionGetByHash(t.Context(), api.HashKey(c.Value))
		require.NoError(t, err)
		require.Equal(t, store.RoleAdmin, sess.Role)

		got := b.withSession(t, c, "", req{Method: http.MethodGet, Path: "/api/field-groups"})
		require.Equal(t, http.StatusOK, got.status, "%s", got)
		cur := b.withSession(t, c, "", req{Method: http.MethodGet, Path: "/api/sessions/current"})
		require.Equal(t, http.StatusOK, cur.status, "%s", cur)
		require.Equal(t, body["csrfToken"], cur.obj(t)["csrfToken"], "a reloaded page learns the CSRF token again")
		require.Equal(t, "session", cur.obj(t)["via"])
	})
}

func TestSessionWritesNeedTheCSRFToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		c, csrf := b.login(t, b.admin)
		create := req{Method: http.MethodPost, Path: "/api/field-groups", Body: map[string]any{"key": "booking", "name": "Booking"}}

		requireProblem(t, b.withSession(t, c, "", create), http.StatusForbidden)
		requireProblem(t, b.withSession(t, c, csrf+"x", create), http.StatusForbidden)
		requireProblem(t, b.withSession(t, c, "", req{Method: http.MethodDelete, Path: "/api/field-groups/booking"}), http.StatusForbidden)
		require.Zero(t, b.eventCount(t), "a refused write changed nothing")

		res := b.withSession(t, c, csrf, create)
		require.Equal(t, http.StatusCreated, res.status, "%s", res)
		// Another session's token does not fit this one.
		c2, csrf2 := b.login(t, b.admin)
		require.NotEqual(t, csrf, csrf2)
		requireProblem(t, b.withSession(t, c2, csrf, req{Method: http.MethodPatch, Path: "/api/field-groups/booking",
			Body: map[string]any{"name": "X"}}), http.StatusForbidden)
	})
}

func TestLoginWithABadKeyIsRefused(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: map[string]any{"key": "ffk_unknown"}})
		requireProblem(t, res, http.StatusUnauthorized, "body.key")
		require.Empty(t, res.header.Values("Set-Cookie"))
		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: map[string]any{"key": ""}}),
			http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: map[string]any{}}),
			http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: "/api/sessions", Body: `{"key":`}), http.StatusBadRequest)
	})
}

func TestTenantSessionActsAsItsTenantKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		c, csrf := b.login(t, b.tenant)

		cur := b.withSession(t, c, "", req{Method: http.MethodGet, Path: "/api/sessions/current"}).obj(t)
		require.Equal(t, "tenant", cur["role"])
		require.Equal(t, tenant, cur["tenantId"])

		requireProblem(t, b.withSession(t, c, csrf, req{Method: http.MethodPost, Path: "/api/field-groups",
			Body: map[string]any{"key": "task", "name": "Task"}}), http.StatusForbidden)
		requireProblem(t, b.withSession(t, c, csrf, req{Method: http.MethodPost, Path: valuesPath(otherTenant, "booking", "e1"),
			Body: map[string]any{}}), http.StatusForbidden)
		requireProblem(t, b.withSession(t, c, "", req{Method: http.MethodGet, Path: valuesPath(otherTenant, "booking", "e1")}), http.StatusForbidden)
		res := b.withSession(t, c, "", req{Method: http.MethodGet, Path: valuesPath(tenant, "booking", "e1")})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
	})
}

func TestLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		c, csrf := b.login(t, b.admin)
		logout := req{Method: http.MethodDelete, Path: "/api/sessions/current"}

		requireProblem(t, b.withSession(t, c, "", logout), http.StatusForbidden)
		require.Equal(t, http.StatusOK, b.withSession(t, c, "", req{Method: http.MethodGet, Path: "/api/field-groups"}).status,
			"a logout without the CSRF token ends nothing")

		res := b.withSession(t, c, csrf, logout)
		require.Equal(t, http.StatusNoContent, res.status, "%s", res)
		cleared := (&http.Response{Header: res.header}).Cookies()
		require.Len(t, cleared, 1)
		require.Equal(t, "fieldflow_session", cleared[0].Name)
		require.Negative(t, cleared[0].MaxAge, "the browser drops the cookie")

		requireProblem(t, b.withSession(t, c, "", req{Method: http.MethodGet, Path: "/api/field-groups"}), http.StatusUnauthorized)
		_, err := b.store.SessionGetByHash(t.Context(), api.HashKey(c.Value))
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestExpiredOrUnknownSessionIsUnauthorized(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		c, _ := b.login(t, b.admin)
		sess, err := b.store.SessionGetByHash(t.Context(), api.HashKey(c.Value))
		require.NoError(t, err)

		// A session that ended a second ago, under the same key.
		expired := "ffs_expired-token"
		require.NoError(t, b.store.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			return tx.SessionCreate(ctx, &store.Session{Hash: api.HashKey(expired), KeyID: sess.KeyID,
				CreatedAt: time.Now().UTC().Add(-13 * time.Hour), ExpiresAt: time.Now().UTC().Add(-time.Second)})
		}))
		for _, token := range []string{expired, "ffs_never-issued", ""} {
			res := b.withSession(t, &http.Cookie{Name: "fieldflow_session", Value: token}, "", req{Method: http.MethodGet, Path: "/api/field-groups"})
			requireProblem(t, res, http.StatusUnauthorized)
		}
	})
}

func TestAPIKeyRequestsSayTheyUseAKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		cur := b.ok(t, http.StatusOK, http.MethodGet, "/api/sessions/current", nil)
		require.Equal(t, "key", cur["via"])
		require.Equal(t, "admin", cur["role"])
		require.Empty(t, cur["csrfToken"], "a key needs no CSRF token")
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/sessions/current"}), http.StatusUnauthorized)
	})
}
