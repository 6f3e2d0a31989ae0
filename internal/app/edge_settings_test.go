package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/testcert"
)

// The settings at the server's edges: TLS, CORS, the portal's
// frame-ancestors and the request body limit.

func TestServesHTTPSWithTheConfiguredCertificate(t *testing.T) {
	t.Parallel()
	cert, err := testcert.New("127.0.0.1")
	require.NoError(t, err)
	certFile, keyFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	cfg := baseConfig(t, "sqlite")
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	b, _, _ := runApp(t, cfg)
	base := strings.Replace(b.url, "http://", "https://", 1)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	secure := &http.Client{Transport: tr}
	res, err := secure.Get(base + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, 2, res.ProtoMajor, "HTTP/2 is negotiated over TLS")

	login, err := json.Marshal(map[string]string{"key": adminKey})
	require.NoError(t, err)
	res, err = secure.Post(base+"/api/sessions", "application/json", bytes.NewReader(login))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	require.Contains(t, res.Header.Get("Set-Cookie"), "Secure", "a session made over TLS has a Secure cookie")

	res, err = client.Get(b.url + "/healthz")
	require.NoError(t, err, "Go's server answers plain HTTP on a TLS port with a 400")
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}

func TestStartRefusesTLSSettingsThatCannotServe(t *testing.T) {
	t.Parallel()
	cert, err := testcert.New("127.0.0.1")
	require.NoError(t, err)
	certFile, _, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	other, err := testcert.New("127.0.0.1")
	require.NoError(t, err)
	_, otherKey, err := other.WriteFiles(t.TempDir())
	require.NoError(t, err)
	for name, c := range map[string]struct{ cert, key, want string }{
		"cert without key":       {cert: certFile, want: "TLSCertFile and TLSKeyFile: set both"},
		"key of another cert":    {cert: certFile, key: otherKey, want: "load TLS certificate"},
		"a file that is missing": {cert: certFile + ".missing", key: otherKey, want: "load TLS certificate"},
	} {
		cfg := baseConfig(t, "sqlite")
		cfg.TLSCertFile, cfg.TLSKeyFile = c.cert, c.key
		_, err := app.New(context.Background(), cfg)
		require.ErrorContains(t, err, c.want, name)
	}
}

// preflight sends a CORS preflight from origin for a POST with an API key.
func preflight(t *testing.T, url, origin string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: body}
}

func TestCORSLetsConfiguredOriginsCallTheAPIWithAKey(t *testing.T) {
	t.Parallel()
	const allowed = "https://app.example.com"
	cfg := baseConfig(t, "sqlite")
	cfg.CORSOrigins = []string{allowed, "https://admin.example.com:8443"}
	b, _, _ := runApp(t, cfg)

	res := preflight(t, b.url+"/api/field-groups", allowed)
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	require.Equal(t, allowed, res.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, res.header.Get("Access-Control-Allow-Methods"), "POST")
	for _, h := range []string{"X-API-Key", "Content-Type", "Idempotency-Key", "Authorization"} {
		require.Contains(t, res.header.Get("Access-Control-Allow-Headers"), h)
	}
	require.Empty(t, res.header.Get("Access-Control-Allow-Credentials"), "cookies never cross origins")
	require.Contains(t, res.header.Values("Vary"), "Origin")

	res = preflight(t, b.url+"/api/field-groups", "https://evil.example.net")
	requireProblem(t, res, http.StatusForbidden)
	require.Empty(t, res.header.Get("Access-Control-Allow-Origin"))
	for _, origin := range []string{"null", "https://app.example.com.evil.net", "\xff\xfe", ""} {
		res := preflight(t, b.url+"/api/field-groups", origin)
		require.Less(t, res.status, 500, "%q", origin)
		require.Empty(t, res.header.Get("Access-Control-Allow-Origin"), "%q", origin)
	}

	// The actual request: the allowed origin may read the answer, another
	// gets it without the header (the browser withholds it).
	for _, c := range []struct{ origin, group, want string }{
		{origin: allowed, group: "g1", want: allowed},
		{origin: "https://evil.example.net", group: "g2", want: ""},
	} {
		req, err := http.NewRequest(http.MethodPost, b.url+"/api/field-groups", strings.NewReader(`{"key":"`+c.group+`","name":"G"}`))
		require.NoError(t, err)
		req.Header.Set("Origin", c.origin)
		req.Header.Set("X-API-Key", adminKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusCreated, res.StatusCode, c.origin)
		require.Equal(t, c.want, res.Header.Get("Access-Control-Allow-Origin"), c.origin)
		if c.want != "" {
			require.Contains(t, res.Header.Get("Access-Control-Expose-Headers"), "Retry-After")
		}
	}
	// Without a key the API still says 401, to any origin.
	req, err := http.NewRequest(http.MethodGet, b.url+"/api/field-groups", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", allowed)
	res2, err := client.Do(req)
	require.NoError(t, err)
	res2.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res2.StatusCode)
	require.Equal(t, allowed, res2.Header.Get("Access-Control-Allow-Origin"), "the page may read why it was refused")
}

func TestCORSIsOffWithoutOrigins(t *testing.T) {
	t.Parallel()
	b, _, _ := runApp(t, baseConfig(t, "sqlite"))
	res := preflight(t, b.url+"/api/field-groups", "https://app.example.com")
	requireProblem(t, res, http.StatusMethodNotAllowed)
	require.Empty(t, res.header.Get("Access-Control-Allow-Origin"))
}

func TestPortalOriginsMayFrameThePortalButNeverTheDashboard(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	cfg.PortalOrigins = []string{"https://app.example.com", "https://*.example.com"}
	b, _, _ := runApp(t, cfg)
	res := get(t, b.url+"/portal", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.header.Get("Content-Security-Policy"), "frame-ancestors https://app.example.com https://*.example.com")
	require.Contains(t, get(t, b.url+"/", nil).header.Get("Content-Security-Policy"), "frame-ancestors 'none'")

	plain, _, _ := runApp(t, baseConfig(t, "sqlite"))
	require.Contains(t, get(t, plain.url+"/portal", nil).header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
}

func TestStartRefusesOriginsThatAreNotOrigins(t *testing.T) {
	t.Parallel()
	for _, o := range []string{
		"https://app.example.com; script-src *", // would add a CSP directive
		"https://app.example.com https://other", // would add a source
		"app.example.com",
		"https://app.example.com/portal",
		"javascript:alert(1)",
		"https://user@app.example.com",
		"https://*",
	} {
		cfg := baseConfig(t, "sqlite")
		cfg.PortalOrigins = []string{o}
		_, err := app.New(context.Background(), cfg)
		require.ErrorContains(t, err, "config: PortalOrigins", "%q", o)
		cfg = baseConfig(t, "sqlite")
		cfg.CORSOrigins = []string{o}
		_, err = app.New(context.Background(), cfg)
		require.ErrorContains(t, err, "config: CORSOrigins", "%q", o)
	}
	cfg := baseConfig(t, "sqlite")
	cfg.CORSOrigins = []string{"https://*.example.com"}
	_, err := app.New(context.Background(), cfg)
	require.ErrorContains(t, err, "config: CORSOrigins", "CORS matches exact origins only")
}

func TestBodyLimitIsTheConfiguredOne(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	cfg.MaxBodyBytes = 4096
	b, _, _ := runApp(t, cfg)
	event := func(n int) map[string]any {
		return map[string]any{"type": "order.paid", "data": map[string]any{"note": strings.Repeat("x", n)}}
	}
	require.Equal(t, http.StatusAccepted, b.call(t, adminKey, http.MethodPost, "/api/events", event(3000)).status)
	requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/events", event(5000)), http.StatusRequestEntityTooLarge)
}
