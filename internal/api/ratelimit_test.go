package api_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
)

// requireTooMany checks a 429 problem with a whole number of seconds in
// Retry-After.
func requireTooMany(t *testing.T, res *response) {
	t.Helper()
	requireProblem(t, res, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
	require.GreaterOrEqual(t, secs, 1)
}

func TestRequestsBeyondTheKeyRateAre429WithRetryAfter(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, &serverOpts{Limits: &api.Config{RateLimit: 0.5, RateBurst: 3, AuthFailureLimit: -1}})
		for i := range 3 {
			res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin})
			require.Equal(t, http.StatusOK, res.status, "request %d of the burst: %s", i, res)
		}
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin})
		requireTooMany(t, res)
		require.Equal(t, "2", res.header.Get("Retry-After"), "one token at 0.5/s takes 2 s")
		requireTooMany(t, b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: map[string]any{"key": "x", "name": "X"}}))
		// Another key has its own bucket; the refused POST created nothing.
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups/x", Key: b.tenant}), http.StatusNotFound)

		// Operations without a key are not limited per key.
		for range 5 {
			res := b.send(t, req{Method: http.MethodGet, Path: "/healthz"})
			require.Equal(t, http.StatusOK, res.status, "%s", res)
		}
	})
}

func TestExpensiveRoutesCostMoreThanOneRequest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, &serverOpts{Limits: &api.Config{RateLimit: 0.1, RateBurst: 6, AuthFailureLimit: -1}})
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-values/search", Key: b.admin})
		require.Equal(t, http.StatusOK, res.status, "a search costs 5 of 6: %s", res)
		res = b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin})
		require.Equal(t, http.StatusOK, res.status, "a list costs the last one: %s", res)
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin}))

		for range 2 {
			res = b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.tenant})
			require.Equal(t, http.StatusOK, res.status, "%s", res)
		}
		res = b.send(t, req{Method: http.MethodGet, Path: "/api/field-values/search?tenantId=" + tenant, Key: b.tenant})
		requireTooMany(t, res)
		require.Equal(t, "10", res.header.Get("Retry-After"), "4 tokens left, a search needs 5: one more at 0.1/s")
		res = b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.tenant})
		require.Equal(t, http.StatusOK, res.status, "the refused search took nothing: %s", res)
	})
}

func TestFailedAuthenticationsAreLimitedPerClientAddress(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, &serverOpts{Limits: &api.Config{RateLimit: -1, AuthFailureLimit: 0.5, AuthFailureBurst: 3}})
		for _, r := range []req{
			{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess1"},
			{Method: http.MethodGet, Path: "/api/field-groups"},
			{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess2", Bearer: true},
		} {
			requireProblem(t, b.send(t, r), http.StatusUnauthorized)
		}
		// The address has used its budget: every request from it waits,
		// whether its key is right or wrong, so a guess tells nothing.
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess3"}))
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin}))
		// X-Forwarded-For is not trusted by default: it does not pick a new
		// address.
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess4",
			Header: map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}}))
		res := b.send(t, req{Method: http.MethodGet, Path: "/healthz"})
		require.Equal(t, http.StatusOK, res.status, "public operations are not limited: %s", res)
	})
}

func TestFailedAuthenticationLimitFollowsATrustedProxyHeader(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, &serverOpts{Limits: &api.Config{RateLimit: -1, AuthFailureLimit: 0.5, AuthFailureBurst: 2, ClientAddrHeader: "X-Forwarded-For"}})
		from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
		for range 2 {
			requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess", Header: from("198.51.100.7, 203.0.113.1")}), http.StatusUnauthorized)
		}
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: "ffk_guess", Header: from("203.0.113.1")}))
		// The client's own claim before the proxy's entry changes nothing.
		requireTooMany(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin, Header: from("192.0.2.1, 203.0.113.1")}))
		// Another client behind the proxy is not held back.
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: b.admin, Header: from("203.0.113.2")})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
	})
}
