package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHealthzAnswersWithoutKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodGet, Path: "/healthz"})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.JSONEq(t, `{"status":"ok"}`, string(res.body))
		res = b.send(t, req{Method: http.MethodGet, Path: "/readyz"})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.JSONEq(t, `{"status":"ok","checks":[{"name":"database","status":"ok"}]}`, string(res.body),
			"a server without worker loops checks the database alone")
	})
}

func TestReadyzFailsWhenDatabaseIsClosed(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		require.NoError(t, b.store.Close())
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/readyz"}), http.StatusServiceUnavailable)
	})
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups", nil)
		b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups"}) // 401

		res := b.do(t, http.MethodGet, "/metrics", nil)
		require.Equal(t, http.StatusOK, res.status)
		require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/plain"), res.header.Get("Content-Type"))
		text := string(res.body)
		require.Contains(t, text, `fieldflow_http_requests_total{code="200",route="GET /api/field-groups"} 1`)
		require.Contains(t, text, `fieldflow_http_requests_total{code="401",route="GET /api/field-groups"} 1`)
		require.Contains(t, text, `fieldflow_http_request_duration_seconds_bucket{route="GET /api/field-groups"`)
	})
}

// A write with an Idempotency-Key, and its replay, are served from a copy
// of the request: they count under their route all the same.
func TestMetricsCountIdempotentRequestsAndReplaysUnderTheirRoute(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		for range 2 {
			res := b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin,
				Header: map[string]string{"Idempotency-Key": "create-g1"}, Body: map[string]any{"key": "g1", "name": "G"}})
			require.Equal(t, http.StatusCreated, res.status, "%s", res)
		}
		b.send(t, req{Method: http.MethodGet, Path: "/api/no-such-route", Key: b.admin})

		text := string(b.do(t, http.MethodGet, "/metrics", nil).body)
		require.Contains(t, text, `fieldflow_http_requests_total{code="201",route="POST /api/field-groups"} 2`, "the first request and its replay")
		require.Contains(t, text, `fieldflow_http_requests_total{code="404",route="unmatched"} 1`, "only the unknown path is unmatched")
	})
}

func TestMetricsNeedAnAdminKeyOrTheMetricsToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		const token = "metrics-token-for-the-scraper"
		b := setup(t, dialect, &serverOpts{MetricsToken: token})

		res := b.send(t, req{Method: http.MethodGet, Path: "/metrics"})
		requireProblem(t, res, http.StatusUnauthorized)
		require.NotEmpty(t, res.header.Get("WWW-Authenticate"))
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/metrics", Key: "not-the-token", Bearer: true}), http.StatusUnauthorized)
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/metrics", Key: b.tenant}), http.StatusForbidden)

		for name, r := range map[string]req{
			"admin key":     {Method: http.MethodGet, Path: "/metrics", Key: b.admin},
			"metrics token": {Method: http.MethodGet, Path: "/metrics", Key: token, Bearer: true},
		} {
			res := b.send(t, r)
			require.Equal(t, http.StatusOK, res.status, "%s: %s", name, res)
			require.Contains(t, string(res.body), "fieldflow_http_requests_total", name)
		}
		// The token opens /metrics and nothing else.
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: token, Bearer: true}), http.StatusUnauthorized)
	})
}

func TestMetricsLeftOffTheAPIWhenServedElsewhere(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", &serverOpts{NoMetrics: true})
	res := b.do(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusNotFound, res.status, "%s", res)
}

// apiRoutes are the routes API.md's "Custom fields" and "Events" sections
// and "Operations" list, as OpenAPI path templates.
var apiRoutes = []string{
	"POST /api/field-groups",
	"GET /api/field-groups",
	"GET /api/field-groups/{fg}",
	"PATCH /api/field-groups/{fg}",
	"DELETE /api/field-groups/{fg}",
	"POST /api/global-fields",
	"GET /api/global-fields",
	"GET /api/global-fields/{id}",
	"PATCH /api/global-fields/{id}",
	"DELETE /api/global-fields/{id}",
	"POST /api/tenants/{tenantId}/field-groups/{fg}/fields",
	"GET /api/tenants/{tenantId}/field-groups/{fg}/fields",
	"GET /api/tenants/{tenantId}/fields/{id}",
	"PATCH /api/tenants/{tenantId}/fields/{id}",
	"DELETE /api/tenants/{tenantId}/fields/{id}",
	"GET /api/tenants/{tenantId}/field-groups/{fg}/schema",
	"POST /api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
	"GET /api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
	"DELETE /api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
	"DELETE /api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values/{fieldKey}",
	"GET /api/field-values/search",
	"POST /api/events",
	"GET /api/events",
	"GET /api/event-types",
	"GET /api/stats/overview",
	"GET /api/events/{id}",
	"POST /api/keys",
	"GET /api/keys",
	"GET /api/keys/{id}",
	"DELETE /api/keys/{id}",
	"POST /api/sessions",
	"GET /api/sessions/current",
	"DELETE /api/sessions/current",
	"POST /api/portal-sessions",
	"POST /api/portal-sessions/redeem",
	"GET /api/portal-sessions/current",
	"POST /api/expressions/check",
	"GET /api/events/stream",
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /api/openapi.json",
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/openapi.json"})
		require.Equal(t, http.StatusOK, res.status)
		var doc struct {
			OpenAPI string                                `json:"openapi"`
			Paths   map[string]map[string]json.RawMessage `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(res.body, &doc))
		require.True(t, strings.HasPrefix(doc.OpenAPI, "3."), doc.OpenAPI)

		var documented []string
		for path, item := range doc.Paths {
			for method := range item {
				if m := strings.ToUpper(method); slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, m) {
					documented = append(documented, m+" "+path)
				}
			}
		}
		// The document itself is served beside the routes it lists.
		documented = append(documented, "GET /api/openapi.json")
		require.ElementsMatch(t, apiRoutes, documented)

		// Every documented route is served: with made-up ids a route answers
		// with its own JSON (or an API error), never the mux's plain 404/405.
		fill := strings.NewReplacer("{fg}", "nope", "{id}", "nope", "{tenantId}", tenant, "{entityId}", "e1", "{fieldKey}", "k")
		for _, route := range apiRoutes {
			method, path, _ := strings.Cut(route, " ")
			r := req{Method: method, Path: fill.Replace(path), Key: b.admin, Body: "{}"}
			if route == "GET /api/events/stream" {
				// A stream never ends: a bad Last-Event-ID gets a plain answer.
				r.Header = map[string]string{"Last-Event-ID": "x"}
			}
			res := b.send(t, r)
			require.NotEqual(t, http.StatusMethodNotAllowed, res.status, route)
			ct := res.header.Get("Content-Type")
			require.True(t, res.status == http.StatusNoContent || strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/plain; version="),
				"%s answered %d %s: %s", route, res.status, ct, res)
		}
	})
}
