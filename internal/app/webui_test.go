package app_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeServesTheWebAppBesideTheAPI: `fieldflow serve` answers / with the
// embedded app and keeps /api/… and the operations routes for the API.
func TestServeServesTheWebAppBesideTheAPI(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		for _, path := range []string{"/", "/fields"} {
			res, err := http.Get(b.url + path)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode, path)
			require.Contains(t, string(body), `<div id="root">`, path)
			require.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", path)
		}
		res := b.call(t, adminKey, http.MethodGet, "/api/field-groups", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		res = b.call(t, adminKey, http.MethodGet, "/api/no-such-route", nil)
		require.Equal(t, http.StatusNotFound, res.status)
		require.NotContains(t, string(res.body), `<div id="root">`)
		res = b.call(t, "", http.MethodGet, "/healthz", nil)
		require.Equal(t, http.StatusOK, res.status)
	})
}
