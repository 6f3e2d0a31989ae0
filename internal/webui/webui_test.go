package webui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/webui"
)

type testBundle struct{ url string }

func setup(t *testing.T, cfg webui.Config) *testBundle {
	t.Helper()
	if cfg.API == nil {
		cfg.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"status":404,"from":"api"}`)
		})
	}
	srv := httptest.NewServer(webui.New(cfg))
	t.Cleanup(srv.Close)
	return &testBundle{url: srv.URL}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func requireSecurityHeaders(t *testing.T, res *http.Response, frameAncestors string) {
	t.Helper()
	csp := res.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'", res.Request.URL.Path)
	require.Contains(t, csp, "script-src 'self'", res.Request.URL.Path)
	require.NotContains(t, csp, "unsafe-inline", res.Request.URL.Path)
	require.NotContains(t, csp, "unsafe-eval", res.Request.URL.Path)
	require.Contains(t, csp, "frame-ancestors "+frameAncestors, res.Request.URL.Path)
	require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), res.Request.URL.Path)
	require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), res.Request.URL.Path)
}

func TestEveryUIResponseCarriesTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	res, index := get(t, b.url+"/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	requireSecurityHeaders(t, res, "'none'")

	// The bundle's own files: every script and stylesheet index.html names.
	assets := 0
	for _, part := range strings.Split(index, `"`) {
		if strings.HasPrefix(part, "/assets/") {
			res, body := get(t, b.url+part)
			require.Equal(t, http.StatusOK, res.StatusCode, part)
			require.NotEmpty(t, body, part)
			require.Contains(t, res.Header.Get("Cache-Control"), "immutable", part)
			requireSecurityHeaders(t, res, "'none'")
			assets++
		}
	}
	require.Positive(t, assets, "index.html names its bundle: %s", index)

	for _, path := range []string{"/fields", "/assets/gone.js"} {
		res, _ := get(t, b.url+path)
		requireSecurityHeaders(t, res, "'none'")
	}
}

func TestIndexHTMLHasNoInlineScript(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	_, index := get(t, b.url+"/")
	// Every <script> loads a file: the CSP would block an inline one.
	for _, tag := range strings.Split(index, "<script")[1:] {
		require.Contains(t, tag[:strings.Index(tag, ">")], `src="/assets/`, "an inline script in %s", index)
		require.True(t, strings.HasPrefix(tag[strings.Index(tag, ">")+1:], "</script>"), "an inline script in %s", index)
	}
	require.NotContains(t, index, "http://")
	require.NotContains(t, index, "https://", "nothing is fetched from another origin")
}

func TestOnlyThePortalMayBeFramedAndOnlyByTheConfiguredOrigins(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{FrameAncestors: []string{"https://app.vendor.example", "https://admin.vendor.example"}})
	for _, path := range []string{"/portal", "/portal/webhooks"} {
		res, _ := get(t, b.url+path)
		requireSecurityHeaders(t, res, "https://app.vendor.example https://admin.vendor.example")
	}
	for _, path := range []string{"/", "/fields", "/portalx", "/settings"} {
		res, _ := get(t, b.url+path)
		requireSecurityHeaders(t, res, "'none'")
	}
}

func TestClientRoutesServeIndexHTML(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	_, index := get(t, b.url+"/")
	require.Contains(t, index, `<div id="root">`)
	for _, path := range []string{"/fields", "/webhooks/wh_123/deliveries", "/records?tenant=t1", "/index.html"} {
		res, body := get(t, b.url+path)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"), path)
		require.Equal(t, index, body, path)
	}
}

func TestAPIPathsNeverServeIndexHTML(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	for _, path := range []string{"/api", "/api/", "/api/nope", "/api/field-groups/x/y", "/healthz", "/readyz", "/metrics"} {
		res, body := get(t, b.url+path)
		require.Equal(t, http.StatusNotFound, res.StatusCode, path)
		require.Equal(t, `{"status":404,"from":"api"}`, body, "%s went to the API", path)
		require.NotContains(t, body, "<div id=\"root\">", path)
	}
}

func TestAPIPathsWithoutAnAPIAreNotFound(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(webui.New(webui.Config{}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/api/field-groups", "/healthz"} {
		res, body := get(t, srv.URL+path)
		require.Equal(t, http.StatusNotFound, res.StatusCode, path)
		require.NotContains(t, body, `<div id="root">`, path)
	}
}

func TestMissingAssetIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	res, body := get(t, b.url+"/assets/index-stale.js")
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.NotContains(t, body, `<div id="root">`)
}

func TestWritesToTheUIAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, webui.Config{})
	res, err := http.Post(b.url+"/fields", "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
}
