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
		for _, path := range []string{"/healthz", "/readyz"} {
			res := b.send(t, req{Method: http.MethodGet, Path: path})
			require.Equal(t, http.StatusOK, res.status, "%s: %s", path, res)
			require.JSONEq(t, `{"status":"ok"}`, string(res.body), path)
		}
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

		res := b.send(t, req{Method: http.MethodGet, Path: "/metrics"})
		require.Equal(t, http.StatusOK, res.status)
		require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/plain"), res.header.Get("Content-Type"))
		text := string(res.body)
		require.Contains(t, text, `fieldflow_http_requests_total{code="200",route="GET /api/field-groups"} 1`)
		require.Contains(t, text, `fieldflow_http_requests_total{code="401",route="GET /api/field-groups"} 1`)
		require.Contains(t, text, `fieldflow_http_request_duration_seconds_bucket{route="GET /api/field-groups"`)
	})
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
	"GET /api/events/{id}",
	"POST /api/sessions",
	"GET /api/sessions/current",
	"DELETE /api/sessions/current",
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
			res := b.do(t, method, fill.Replace(path), "{}")
			require.NotEqual(t, http.StatusMethodNotAllowed, res.status, route)
			ct := res.header.Get("Content-Type")
			require.True(t, res.status == http.StatusNoContent || strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/plain; version="),
				"%s answered %d %s: %s", route, res.status, ct, res)
		}
	})
}
