package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
)

// setupSettings starts the API with the automation settings routes.
func setupSettings(t *testing.T, dialect string) *testBundle {
	t.Helper()
	return setup(t, dialect, &serverOpts{Automations: true})
}

// requireSealed checks that the store holds plain sealed with the bundle's
// box, not in the clear.
func (b *testBundle) requireSealed(t *testing.T, sealed, plain string) {
	t.Helper()
	require.NotEqual(t, plain, sealed)
	require.True(t, strings.HasPrefix(sealed, "v1:"), "stored %q", sealed)
	opened, err := b.box.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, plain, opened)
}

func (b *testBundle) storedVariable(t *testing.T, tenantID, name string) *store.Variable {
	t.Helper()
	v, err := b.store.VariableGet(t.Context(), tenantID, name)
	require.NoError(t, err)
	return v
}

func (b *testBundle) storedOAuth2(t *testing.T, id string) *store.OAuth2Connection {
	t.Helper()
	c, err := b.store.OAuth2ConnectionGet(t.Context(), id)
	require.NoError(t, err)
	return c
}

// listData returns a list answer's data.
func listData(t *testing.T, m map[string]any) []any {
	t.Helper()
	data, ok := m["data"].([]any)
	require.True(t, ok, "data in %v", m)
	return data
}

// listNames returns the names in a list answer, in order.
func listNames(t *testing.T, m map[string]any) []string {
	t.Helper()
	names := []string{}
	for _, v := range listData(t, m) {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	return names
}

func TestVariableLifecycle(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		for _, base := range []string{"/api/variables", "/api/tenants/" + tenant + "/variables"} {
			t.Run(strings.TrimPrefix(base, "/api/"), func(t *testing.T) {
				wantTenant := ""
				if strings.Contains(base, "/tenants/") {
					wantTenant = tenant
				}
				require.Equal(t, []string{}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, base, nil)))

				v := b.ok(t, http.StatusOK, http.MethodPut, base+"/api_base", map[string]any{"value": "https://api.example.com/v1"})
				require.Equal(t, "api_base", v["name"])
				require.Equal(t, "https://api.example.com/v1", v["value"])
				require.Equal(t, false, v["secret"])
				require.NotEmpty(t, v["createdAt"])
				require.Equal(t, v["createdAt"], v["updatedAt"])
				if wantTenant == "" {
					require.NotContains(t, v, "tenantId")
				} else {
					require.Equal(t, wantTenant, v["tenantId"])
				}
				require.Equal(t, v, b.ok(t, http.StatusOK, http.MethodGet, base+"/api_base", nil))

				// PUT replaces the value and keeps createdAt; an empty value
				// is a value.
				time.Sleep(2 * time.Millisecond)
				again := b.ok(t, http.StatusOK, http.MethodPut, base+"/api_base", map[string]any{"value": ""})
				require.Equal(t, "", again["value"])
				require.Equal(t, v["createdAt"], again["createdAt"])
				require.NotEqual(t, v["updatedAt"], again["updatedAt"])
				require.Equal(t, again, b.ok(t, http.StatusOK, http.MethodGet, base+"/api_base", nil))

				b.ok(t, http.StatusOK, http.MethodPut, base+"/Zone", map[string]any{"value": "eu"})
				b.ok(t, http.StatusOK, http.MethodPut, base+"/_private", map[string]any{"value": "x"})
				list := b.ok(t, http.StatusOK, http.MethodGet, base, nil)
				require.Equal(t, []string{"Zone", "_private", "api_base"}, listNames(t, list))
				require.Equal(t, again, listData(t, list)[2])

				b.ok(t, http.StatusNoContent, http.MethodDelete, base+"/api_base", nil)
				requireProblem(t, b.do(t, http.MethodGet, base+"/api_base", nil), http.StatusNotFound)
				requireProblem(t, b.do(t, http.MethodDelete, base+"/api_base", nil), http.StatusNotFound)
				require.Equal(t, []string{"Zone", "_private"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, base, nil)))
			})
		}
		// Global and tenant variables, and tenants, do not mix.
		b.ok(t, http.StatusOK, http.MethodPut, "/api/tenants/"+otherTenant+"/variables/only_t2", map[string]any{"value": "2"})
		require.Equal(t, []string{"Zone", "_private"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/variables", nil)))
		require.Equal(t, []string{"Zone", "_private"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/tenants/"+tenant+"/variables", nil)))
		require.Equal(t, []string{"only_t2"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/tenants/"+otherTenant+"/variables", nil)))
		requireProblem(t, b.do(t, http.MethodGet, "/api/variables/only_t2", nil), http.StatusNotFound)
		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/variables/Zone", nil)
		b.ok(t, http.StatusOK, http.MethodGet, "/api/tenants/"+tenant+"/variables/Zone", nil)
	})
}

func TestSecretVariableValueIsNeverReturned(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		const plain = "sk_live_S3cret-Zoë"
		for _, tc := range []struct{ tenantID, base string }{
			{"", "/api/variables"},
			{tenant, "/api/tenants/" + tenant + "/variables"},
		} {
			put := b.do(t, http.MethodPut, tc.base+"/api_token", map[string]any{"value": plain, "secret": true})
			require.Equal(t, http.StatusOK, put.status, "%s", put)
			get := b.do(t, http.MethodGet, tc.base+"/api_token", nil)
			require.Equal(t, http.StatusOK, get.status, "%s", get)
			list := b.do(t, http.MethodGet, tc.base, nil)
			require.Equal(t, http.StatusOK, list.status, "%s", list)
			for _, res := range []*response{put, get, list} {
				require.NotContains(t, string(res.body), "S3cret", "%s", res)
			}
			for _, v := range []map[string]any{put.obj(t), get.obj(t), listData(t, list.obj(t))[0].(map[string]any)} {
				require.NotContains(t, v, "value")
				require.Equal(t, true, v["secret"])
				require.Equal(t, "api_token", v["name"])
			}
			b.requireSealed(t, b.storedVariable(t, tc.tenantID, "api_token").Value, plain)

			// Replaced by another secret: sealed afresh, still not shown.
			again := b.do(t, http.MethodPut, tc.base+"/api_token", map[string]any{"value": plain + "2", "secret": true})
			require.Equal(t, http.StatusOK, again.status, "%s", again)
			require.NotContains(t, string(again.body), "S3cret")
			b.requireSealed(t, b.storedVariable(t, tc.tenantID, "api_token").Value, plain+"2")

			// Made plain, it is stored and shown as is.
			open := b.ok(t, http.StatusOK, http.MethodPut, tc.base+"/api_token", map[string]any{"value": "public", "secret": false})
			require.Equal(t, "public", open["value"])
			require.Equal(t, false, open["secret"])
			require.Equal(t, "public", b.storedVariable(t, tc.tenantID, "api_token").Value)
		}
	})
}

func TestVariableRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		const limit = 1 << 20
		for _, base := range []string{"/api/variables", "/api/tenants/" + tenant + "/variables"} {
			t.Run(strings.TrimPrefix(base, "/api/"), func(t *testing.T) {
				for _, name := range []string{"1abc", "a-b", "a.b", "Zoë", strings.Repeat("a", 65)} {
					requireProblem(t, b.do(t, http.MethodPut, base+"/"+name, map[string]any{"value": "x"}), http.StatusBadRequest, "path.name")
				}
				requireProblem(t, b.do(t, http.MethodGet, base+"/"+strings.Repeat("a", 65), nil), http.StatusBadRequest, "path.name")
				b.ok(t, http.StatusOK, http.MethodPut, base+"/"+strings.Repeat("a", 64), map[string]any{"value": "x"})

				path := base + "/v"
				cases := []struct {
					name     string
					body     string
					status   int
					location string
				}{
					{"MalformedJSON", `{"value":`, http.StatusBadRequest, "body"},
					{"UnknownKey", `{"value":"x","color":"red"}`, http.StatusUnprocessableEntity, "body.color"},
					{"MissingValue", `{"secret":true}`, http.StatusUnprocessableEntity, "body.value"},
					{"ValueNotString", `{"value":5}`, http.StatusUnprocessableEntity, "body.value"},
					{"SecretNotBool", `{"value":"x","secret":"yes"}`, http.StatusUnprocessableEntity, "body.secret"},
					{"ValueTooLong", `{"value":"` + strings.Repeat("a", 65537) + `"}`, http.StatusUnprocessableEntity, "body.value"},
					{"BodyTooLarge", `{"value":"` + strings.Repeat("a", limit) + `"}`, http.StatusRequestEntityTooLarge, ""},
				}
				for _, c := range cases {
					res := b.do(t, http.MethodPut, path, c.body)
					if c.location == "" {
						requireProblem(t, res, c.status)
					} else {
						requireProblem(t, res, c.status, c.location)
					}
				}
				requireProblem(t, b.do(t, http.MethodGet, path, nil), http.StatusNotFound)
				// The longest value is accepted.
				long := strings.Repeat("é", 65536)
				require.Equal(t, long, b.ok(t, http.StatusOK, http.MethodPut, path, map[string]any{"value": long})["value"])

				for _, r := range []req{
					{Method: http.MethodPut, Path: path, Body: map[string]any{"value": "x"}},
					{Method: http.MethodGet, Path: path},
					{Method: http.MethodGet, Path: base},
					{Method: http.MethodDelete, Path: path},
				} {
					requireProblem(t, b.send(t, r), http.StatusUnauthorized)
					r.Key = "ff_unknown"
					requireProblem(t, b.send(t, r), http.StatusUnauthorized)
				}
				require.Equal(t, long, b.ok(t, http.StatusOK, http.MethodGet, path, nil)["value"])
			})
		}
	})
}

func TestTenantKeyVariables(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		b.ok(t, http.StatusOK, http.MethodPut, "/api/variables/region", map[string]any{"value": "global"})
		other := "/api/tenants/" + otherTenant + "/variables"
		b.ok(t, http.StatusOK, http.MethodPut, other+"/region", map[string]any{"value": "t2"})

		for _, base := range []string{"/api/variables", other} {
			for _, r := range []req{
				{Method: http.MethodPut, Path: base + "/region", Body: map[string]any{"value": "stolen"}},
				{Method: http.MethodPut, Path: base + "/fresh", Body: map[string]any{"value": "stolen"}},
				{Method: http.MethodGet, Path: base + "/region"},
				{Method: http.MethodGet, Path: base},
				{Method: http.MethodDelete, Path: base + "/region"},
			} {
				r.Key = b.tenant
				requireProblem(t, b.send(t, r), http.StatusForbidden)
			}
		}
		require.Equal(t, "global", b.ok(t, http.StatusOK, http.MethodGet, "/api/variables/region", nil)["value"])
		require.Equal(t, "t2", b.ok(t, http.StatusOK, http.MethodGet, other+"/region", nil)["value"])
		require.Equal(t, []string{"region"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/variables", nil)))
		require.Equal(t, []string{"region"}, listNames(t, b.ok(t, http.StatusOK, http.MethodGet, other, nil)))

		// Its own tenant's variables are its to manage.
		own := "/api/tenants/" + tenant + "/variables"
		send := func(method, path string, body any) *response {
			return b.send(t, req{Method: method, Path: path, Key: b.tenant, Body: body})
		}
		res := send(http.MethodPut, own+"/region", map[string]any{"value": "t1"})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, tenant, res.obj(t)["tenantId"])
		res = send(http.MethodPut, own+"/token", map[string]any{"value": "s3cret", "secret": true})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.NotContains(t, res.obj(t), "value")
		res = send(http.MethodGet, own+"/region", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, "t1", res.obj(t)["value"])
		res = send(http.MethodGet, own, nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, []string{"region", "token"}, listNames(t, res.obj(t)))
		require.NotContains(t, string(res.body), "s3cret")
		res = send(http.MethodDelete, own+"/region", nil)
		require.Equal(t, http.StatusNoContent, res.status, "%s", res)
		requireProblem(t, send(http.MethodGet, own+"/region", nil), http.StatusNotFound)
		require.Equal(t, "global", b.ok(t, http.StatusOK, http.MethodGet, "/api/variables/region", nil)["value"])
	})
}

// connectionBody is a valid connection to create, with secrets that must
// never show.
func connectionBody() map[string]any {
	return map[string]any{
		"name":         "CRM",
		"tokenUrl":     "https://auth.example.com/oauth/token",
		"clientId":     "client-1",
		"clientSecret": "cs-S3cret",
		"scopes":       []string{"read", "write"},
		"grantType":    "refresh_token",
		"refreshToken": "rt-S3cret",
	}
}

// with returns a copy of m with the changes; a nil value removes the key.
func with(m map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// requireNoSecrets checks that an answer shows no connection secret.
func requireNoSecrets(t *testing.T, res *response) {
	t.Helper()
	for _, s := range []string{"S3cret", "clientSecret", "refreshToken", "accessToken"} {
		require.NotContains(t, string(res.body), s, "%s", res)
	}
}

func TestOAuth2ConnectionLifecycle(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		empty := b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections", nil)
		require.Equal(t, []any{}, listData(t, empty))

		created := b.do(t, http.MethodPost, "/api/oauth2-connections", connectionBody())
		require.Equal(t, http.StatusCreated, created.status, "%s", created)
		requireNoSecrets(t, created)
		c := created.obj(t)
		id, _ := c["id"].(string)
		require.True(t, strings.HasPrefix(id, "oac_"), id)
		require.Equal(t, "CRM", c["name"])
		require.Nil(t, c["tenantId"])
		require.Contains(t, c, "tenantId")
		require.Equal(t, "https://auth.example.com/oauth/token", c["tokenUrl"])
		require.Equal(t, "client-1", c["clientId"])
		require.Equal(t, []any{"read", "write"}, c["scopes"])
		require.Equal(t, "refresh_token", c["grantType"])
		require.Equal(t, true, c["hasRefreshToken"])
		require.NotEmpty(t, c["createdAt"])

		stored := b.storedOAuth2(t, id)
		b.requireSealed(t, stored.ClientSecret, "cs-S3cret")
		b.requireSealed(t, stored.RefreshToken, "rt-S3cret")

		get := b.do(t, http.MethodGet, "/api/oauth2-connections/"+id, nil)
		require.Equal(t, http.StatusOK, get.status, "%s", get)
		requireNoSecrets(t, get)
		require.Equal(t, c, get.obj(t))

		// A client_credentials connection without scopes.
		cc := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections",
			with(connectionBody(), map[string]any{"name": "Billing", "grantType": "client_credentials", "refreshToken": nil, "scopes": nil, "tenantId": tenant}))
		require.Equal(t, false, cc["hasRefreshToken"])
		require.Equal(t, []any{}, cc["scopes"])
		require.Equal(t, tenant, cc["tenantId"])
		require.Empty(t, b.storedOAuth2(t, cc["id"].(string)).RefreshToken)

		list := b.do(t, http.MethodGet, "/api/oauth2-connections", nil)
		require.Equal(t, http.StatusOK, list.status, "%s", list)
		requireNoSecrets(t, list)
		lm := list.obj(t)
		require.Equal(t, []any{c, cc}, listData(t, lm))
		require.EqualValues(t, 2, lm["pagination"].(map[string]any)["total"])
		page2 := b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections?pageSize=1&page=2", nil)
		require.Equal(t, []any{cc}, listData(t, page2))
		require.EqualValues(t, 2, page2["pagination"].(map[string]any)["totalPages"])
		require.Equal(t, []any{cc}, listData(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections?tenantId="+tenant, nil)))
		require.Equal(t, []any{}, listData(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections?tenantId="+otherTenant, nil)))

		patched := b.do(t, http.MethodPatch, "/api/oauth2-connections/"+id, map[string]any{"name": "CRM (prod)"})
		require.Equal(t, http.StatusOK, patched.status, "%s", patched)
		requireNoSecrets(t, patched)
		pm := patched.obj(t)
		require.Equal(t, "CRM (prod)", pm["name"])
		require.Equal(t, true, pm["hasRefreshToken"])
		require.Equal(t, c["createdAt"], pm["createdAt"])
		require.Equal(t, c["scopes"], pm["scopes"])
		require.Equal(t, pm, b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections/"+id, nil))

		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/oauth2-connections/"+id, nil)
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			requireProblem(t, b.do(t, method, "/api/oauth2-connections/"+id, nil), http.StatusNotFound)
		}
		requireProblem(t, b.do(t, http.MethodPatch, "/api/oauth2-connections/"+id, map[string]any{"name": "x"}), http.StatusNotFound)
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			requireProblem(t, b.do(t, method, "/api/oauth2-connections/oac_nope", nil), http.StatusNotFound)
		}
		requireProblem(t, b.do(t, http.MethodPatch, "/api/oauth2-connections/oac_nope", map[string]any{"name": "x"}), http.StatusNotFound)
		require.Equal(t, []any{cc}, listData(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections", nil)))
	})
}

func TestOAuth2ConnectionRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		const limit = 1 << 20
		base := connectionBody()
		cases := []struct {
			name     string
			body     any
			status   int
			location string
		}{
			{"MalformedJSON", `{"name":`, http.StatusBadRequest, "body"},
			{"UnknownKey", with(base, map[string]any{"color": "red"}), http.StatusUnprocessableEntity, "body.color"},
			{"RefreshGrantWithoutToken", with(base, map[string]any{"refreshToken": nil}), http.StatusUnprocessableEntity, "body.refreshToken"},
			{"RefreshGrantWithEmptyToken", with(base, map[string]any{"refreshToken": ""}), http.StatusUnprocessableEntity, "body.refreshToken"},
			{"TokenURLNotURL", with(base, map[string]any{"tokenUrl": "not a url"}), http.StatusUnprocessableEntity, "body.tokenUrl"},
			{"TokenURLRelative", with(base, map[string]any{"tokenUrl": "/oauth/token"}), http.StatusUnprocessableEntity, "body.tokenUrl"},
			{"TokenURLNotHTTP", with(base, map[string]any{"tokenUrl": "ftp://auth.example.com/token"}), http.StatusUnprocessableEntity, "body.tokenUrl"},
			{"TokenURLWithCredentials", with(base, map[string]any{"tokenUrl": "https://u:p@auth.example.com/token"}), http.StatusUnprocessableEntity, "body.tokenUrl"},
			{"BadGrantType", with(base, map[string]any{"grantType": "password"}), http.StatusUnprocessableEntity, "body.grantType"},
			{"MissingGrantType", with(base, map[string]any{"grantType": nil}), http.StatusUnprocessableEntity, "body.grantType"},
			{"MissingClientSecret", with(base, map[string]any{"clientSecret": nil}), http.StatusUnprocessableEntity, "body.clientSecret"},
			{"EmptyName", with(base, map[string]any{"name": ""}), http.StatusUnprocessableEntity, "body.name"},
			{"BodyTooLarge", with(base, map[string]any{"name": strings.Repeat("a", limit)}), http.StatusRequestEntityTooLarge, ""},
		}
		for _, c := range cases {
			res := b.do(t, http.MethodPost, "/api/oauth2-connections", c.body)
			if c.location == "" {
				requireProblem(t, res, c.status)
			} else {
				requireProblem(t, res, c.status, c.location)
			}
			// No refusal echoes a secret back, not even the ones where
			// huma would report the whole body as the value.
			require.NotContains(t, string(res.body), "S3cret", "%s: %s", c.name, res)
		}
		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: "/api/oauth2-connections", Body: base}), http.StatusUnauthorized)
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/oauth2-connections"}), http.StatusUnauthorized)
		list := b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections", nil)
		require.EqualValues(t, 0, list["pagination"].(map[string]any)["total"])

		// A patch is checked as a whole connection, and a refused one
		// changes nothing.
		cc := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections",
			with(base, map[string]any{"grantType": "client_credentials", "refreshToken": nil}))
		path := "/api/oauth2-connections/" + cc["id"].(string)
		before := b.storedOAuth2(t, cc["id"].(string))
		for _, c := range []struct {
			body     any
			status   int
			location string
		}{
			{`{"name":`, http.StatusBadRequest, "body"},
			{map[string]any{"grantType": "refresh_token"}, http.StatusUnprocessableEntity, "body.refreshToken"},
			{map[string]any{"grantType": "password"}, http.StatusUnprocessableEntity, "body.grantType"},
			{map[string]any{"tokenUrl": "ftp://x"}, http.StatusUnprocessableEntity, "body.tokenUrl"},
			{map[string]any{"clientSecret": ""}, http.StatusUnprocessableEntity, "body.clientSecret"},
			{map[string]any{"tenantId": otherTenant}, http.StatusUnprocessableEntity, "body.tenantId"},
		} {
			requireProblem(t, b.do(t, http.MethodPatch, path, c.body), c.status, c.location)
		}
		require.Equal(t, before, b.storedOAuth2(t, cc["id"].(string)))
	})
}

func TestOAuth2ConnectionCredentialsCanBePatched(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		c := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections",
			with(connectionBody(), map[string]any{"grantType": "client_credentials", "refreshToken": nil}))
		id := c["id"].(string)
		path := "/api/oauth2-connections/" + id
		// cacheToken stands in for a fetched access token.
		cacheToken := func() {
			t.Helper()
			require.NoError(t, b.store.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
				sc, err := tx.OAuth2ConnectionGet(ctx, id)
				if err != nil {
					return err
				}
				sc.AccessToken, sc.TokenExpiresAt = b.box.Seal("at-1"), time.Now().Add(time.Hour).UTC().Truncate(time.Second)
				return tx.OAuth2ConnectionUpdate(ctx, sc)
			}))
		}
		patch := func(body map[string]any) map[string]any {
			t.Helper()
			res := b.do(t, http.MethodPatch, path, body)
			require.Equal(t, http.StatusOK, res.status, "%s", res)
			requireNoSecrets(t, res)
			return res.obj(t)
		}

		// A new client secret is sealed and drops the cached token.
		cacheToken()
		patch(map[string]any{"clientSecret": "cs-S3cret-2"})
		stored := b.storedOAuth2(t, id)
		b.requireSealed(t, stored.ClientSecret, "cs-S3cret-2")
		require.Empty(t, stored.AccessToken)
		require.True(t, stored.TokenExpiresAt.IsZero())

		// Renaming keeps the cached token.
		cacheToken()
		require.Equal(t, "Renamed", patch(map[string]any{"name": "Renamed"})["name"])
		require.NotEmpty(t, b.storedOAuth2(t, id).AccessToken)

		// Switching to the refresh_token grant with its token.
		m := patch(map[string]any{"grantType": "refresh_token", "refreshToken": "rt-S3cret"})
		require.Equal(t, "refresh_token", m["grantType"])
		require.Equal(t, true, m["hasRefreshToken"])
		stored = b.storedOAuth2(t, id)
		b.requireSealed(t, stored.RefreshToken, "rt-S3cret")
		require.Empty(t, stored.AccessToken)

		// Later patches open the sealed refresh token to check the
		// connection, and keep it.
		for _, body := range []map[string]any{
			{"clientId": "client-2"},
			{"tokenUrl": "http://auth.internal:8080/token"},
			{"scopes": []string{}},
			{"clientSecret": "cs-S3cret-3", "scopes": []string{"a", "b"}},
			{"name": "Again"},
		} {
			m = patch(body)
			require.Equal(t, true, m["hasRefreshToken"], "%v", body)
		}
		require.Equal(t, "client-2", m["clientId"])
		require.Equal(t, "http://auth.internal:8080/token", m["tokenUrl"])
		require.Equal(t, []any{"a", "b"}, m["scopes"])
		require.Equal(t, "Again", m["name"])
		stored = b.storedOAuth2(t, id)
		b.requireSealed(t, stored.RefreshToken, "rt-S3cret")
		b.requireSealed(t, stored.ClientSecret, "cs-S3cret-3")
		require.Equal(t, m, b.ok(t, http.StatusOK, http.MethodGet, path, nil))

		// Back to client credentials; the refresh token stays stored.
		m = patch(map[string]any{"grantType": "client_credentials"})
		require.Equal(t, "client_credentials", m["grantType"])
	})
}

func TestTenantKeyOAuth2Connections(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupSettings(t, dialect)
		mine := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", with(connectionBody(), map[string]any{"tenantId": tenant}))
		theirs := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", with(connectionBody(), map[string]any{"tenantId": otherTenant}))
		global := b.ok(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", connectionBody())
		send := func(method, path string, body any) *response {
			return b.send(t, req{Method: method, Path: path, Key: b.tenant, Body: body})
		}

		res := send(http.MethodGet, "/api/oauth2-connections", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		requireNoSecrets(t, res)
		require.Equal(t, []any{mine}, listData(t, res.obj(t)))
		res = send(http.MethodGet, "/api/oauth2-connections?tenantId="+tenant, nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, []any{mine}, listData(t, res.obj(t)))
		requireProblem(t, send(http.MethodGet, "/api/oauth2-connections?tenantId="+otherTenant, nil), http.StatusForbidden)

		for _, c := range []map[string]any{theirs, global} {
			path := "/api/oauth2-connections/" + c["id"].(string)
			requireProblem(t, send(http.MethodGet, path, nil), http.StatusNotFound)
			requireProblem(t, send(http.MethodPatch, path, map[string]any{"name": "stolen"}), http.StatusNotFound)
			requireProblem(t, send(http.MethodDelete, path, nil), http.StatusNotFound)
			require.Equal(t, c, b.ok(t, http.StatusOK, http.MethodGet, path, nil))
		}
		requireProblem(t, send(http.MethodPost, "/api/oauth2-connections", with(connectionBody(), map[string]any{"tenantId": otherTenant})), http.StatusForbidden)

		// A connection it creates is its own tenant's.
		res = send(http.MethodPost, "/api/oauth2-connections", connectionBody())
		require.Equal(t, http.StatusCreated, res.status, "%s", res)
		requireNoSecrets(t, res)
		created := res.obj(t)
		require.Equal(t, tenant, created["tenantId"])

		path := "/api/oauth2-connections/" + mine["id"].(string)
		res = send(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, mine, res.obj(t))
		res = send(http.MethodPatch, path, map[string]any{"name": "Mine", "clientSecret": "cs-S3cret-2"})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, "Mine", res.obj(t)["name"])
		b.requireSealed(t, b.storedOAuth2(t, mine["id"].(string)).ClientSecret, "cs-S3cret-2")
		res = send(http.MethodDelete, path, nil)
		require.Equal(t, http.StatusNoContent, res.status, "%s", res)
		requireProblem(t, send(http.MethodGet, path, nil), http.StatusNotFound)

		all := b.ok(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections", nil)
		require.Equal(t, []any{theirs, global, created}, listData(t, all))
	})
}
