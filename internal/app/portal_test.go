package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// portalClient calls the API as the portal page does: with the portal
// session's cookie, the portal header and, on writes, the CSRF token.
type portalClient struct {
	b      *testBundle
	cookie *http.Cookie
	csrf   string
}

func (c *portalClient) call(t *testing.T, method, path string, body any, headers map[string]string) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.b.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.AddCookie(c.cookie)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: raw}
}

func (c *portalClient) get(t *testing.T, path string) *response {
	return c.call(t, http.MethodGet, path, nil, map[string]string{"X-Fieldflow-Portal": "1"})
}

func (c *portalClient) write(t *testing.T, method, path string, body any) *response {
	return c.call(t, method, path, body, map[string]string{"X-Fieldflow-Portal": "1", "X-CSRF-Token": c.csrf})
}

// mintPortal mints a link with the admin key and redeems it.
func mintPortal(t *testing.T, b *testBundle, body map[string]any) (*portalClient, string) {
	t.Helper()
	var link struct {
		URL, Path string
		ExpiresAt time.Time
	}
	b.must(t, http.StatusCreated, http.MethodPost, "/api/portal-sessions", body, &link)
	require.True(t, strings.HasPrefix(link.URL, b.url+"/portal#token=ffp_"), link.URL)
	require.Equal(t, link.URL, b.url+link.Path)
	token := strings.TrimPrefix(link.Path, "/portal#token=")
	res := b.call(t, "", http.MethodPost, "/api/portal-sessions/redeem", map[string]any{"token": token})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	var view struct {
		TenantID  string   `json:"tenantId"`
		Features  []string `json:"features"`
		CSRFToken string   `json:"csrfToken"`
	}
	require.NoError(t, json.Unmarshal(res.body, &view))
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == "fieldflow_portal" {
			cookie = c
		}
	}
	require.NotNil(t, cookie, "the redeem sets the portal cookie")
	require.True(t, cookie.HttpOnly)
	return &portalClient{b: b, cookie: cookie, csrf: view.CSRFToken}, token
}

func TestPortalLinkOpensOneTenantsSectionsOnceUntilItsExpiry(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		mine := b.createEndpoint(t, map[string]any{"url": "https://acme.example.com/hooks", "events": []string{"*"}, "tenantId": "acme"})
		theirs := b.createEndpoint(t, map[string]any{"url": "https://globex.example.com/hooks", "events": []string{"*"}, "tenantId": "globex"})
		vendor := b.createEndpoint(t, map[string]any{"url": "https://vendor.example.com/hooks", "events": []string{"*"}})

		// Only an admin mints; a tenant key cannot, even for itself.
		requireProblem(t, b.call(t, b.tenantKey(t, "acme"), http.MethodPost, "/api/portal-sessions", map[string]any{"tenantId": "acme"}), http.StatusForbidden)
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/portal-sessions", map[string]any{"tenantId": "acme", "features": []string{"keys"}}),
			http.StatusUnprocessableEntity, "body.features[0]")

		p, token := mintPortal(t, b, map[string]any{"tenantId": "acme", "expiresIn": 5, "features": []string{"webhooks", "fields"},
			"theme": map[string]any{"name": "Zoë's CRM", "accentColor": "#0a7f5a", "mode": "dark"}})
		requireProblem(t, b.call(t, "", http.MethodPost, "/api/portal-sessions/redeem", map[string]any{"token": token}), http.StatusUnauthorized)

		// It is acme, through the portal.
		res := p.get(t, "/api/portal-sessions/current")
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.Contains(t, string(res.body), `"tenantId":"acme"`)
		require.Contains(t, string(res.body), `"name":"Zoë's CRM"`)
		res = p.get(t, "/api/sessions/current")
		require.Contains(t, string(res.body), `"via":"portal"`)

		// Its endpoints only: not globex's, not the vendor's.
		res = p.get(t, "/api/webhooks")
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.Contains(t, string(res.body), mine.ID)
		require.NotContains(t, string(res.body), theirs.ID)
		require.NotContains(t, string(res.body), vendor.ID)
		requireProblem(t, p.get(t, "/api/webhooks/"+theirs.ID), http.StatusNotFound)

		// Sections it was not given, and vendor-only routes, are refused.
		requireProblem(t, p.get(t, "/api/automations"), http.StatusForbidden)
		requireProblem(t, p.get(t, "/api/variables"), http.StatusForbidden)
		requireProblem(t, p.get(t, "/api/tenants/acme/field-groups/booking/entities/e1/values"), http.StatusForbidden)
		requireProblem(t, p.get(t, "/api/keys"), http.StatusForbidden)
		requireProblem(t, p.write(t, http.MethodPost, "/api/portal-sessions", map[string]any{"tenantId": "acme"}), http.StatusForbidden)
		requireProblem(t, p.write(t, http.MethodPost, "/api/field-groups", map[string]any{"key": "x", "name": "X"}), http.StatusForbidden)
		requireProblem(t, p.get(t, "/api/tenants/globex/field-groups/booking/fields"), http.StatusForbidden)

		// Writes need the CSRF token; with it, the tenant's own changes go.
		res = p.call(t, http.MethodPost, "/api/webhooks", map[string]any{"url": "https://acme.example.com/two", "events": []string{"*"}},
			map[string]string{"X-Fieldflow-Portal": "1"})
		requireProblem(t, res, http.StatusForbidden)
		res = p.write(t, http.MethodPost, "/api/webhooks", map[string]any{"url": "https://acme.example.com/two", "events": []string{"*"}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
		require.Contains(t, string(res.body), `"tenantId":"acme"`, "created as acme's")
		requireProblem(t, p.write(t, http.MethodPost, "/api/webhooks", map[string]any{"url": "https://x.example.com/", "events": []string{"*"}, "tenantId": "globex"}),
			http.StatusForbidden)

		// Without the portal header the cookie is not a credential.
		requireProblem(t, p.call(t, http.MethodGet, "/api/webhooks", nil, nil), http.StatusUnauthorized)

		// At its expiry it ends.
		time.Sleep(time.Until(time.Now().Add(5500 * time.Millisecond)))
		requireProblem(t, p.get(t, "/api/webhooks"), http.StatusUnauthorized)
	})
}
