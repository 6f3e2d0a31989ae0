package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMissingOrUnknownKeyIsUnauthorized(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		routes := []struct{ method, path string }{
			{http.MethodGet, "/api/field-groups"},
			{http.MethodPost, "/api/field-groups"},
			{http.MethodGet, "/api/global-fields"},
			{http.MethodGet, "/api/tenants/t1/field-groups/g/schema"},
			{http.MethodPost, valuesPath(tenant, "g", "e1")},
			{http.MethodGet, "/api/field-values/search"},
			{http.MethodPost, "/api/events"},
			{http.MethodGet, "/api/events"},
			{http.MethodGet, "/api/events/evt_x"},
		}
		for _, r := range routes {
			res := b.send(t, req{Method: r.method, Path: r.path, Body: `{"key":"g","name":"G"}`})
			requireProblem(t, res, http.StatusUnauthorized)
			require.Contains(t, res.header.Get("WWW-Authenticate"), "Bearer", r.path)

			requireProblem(t, b.send(t, req{Method: r.method, Path: r.path, Key: "ffk_unknown"}), http.StatusUnauthorized)
			requireProblem(t, b.send(t, req{Method: r.method, Path: r.path, Key: "ffk_unknown", Bearer: true}), http.StatusUnauthorized)
		}
		requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Header: map[string]string{"Authorization": "Basic " + b.admin}}), http.StatusUnauthorized)
		// Nothing was created by the refused POSTs.
		require.Zero(t, b.eventCount(t))
	})
}

func TestKeyIsAcceptedInEitherHeader(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		for _, key := range []string{b.admin, b.tenant} {
			for _, bearer := range []bool{false, true} {
				res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Key: key, Bearer: bearer})
				require.Equal(t, http.StatusOK, res.status, "bearer=%v: %s", bearer, res)
			}
		}
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-groups", Header: map[string]string{"Authorization": "bearer " + b.admin}})
		require.Equal(t, http.StatusOK, res.status, "the scheme is case-insensitive: %s", res)
	})
}

func TestTenantKeyCannotUseAdminRoutes(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		groupID := b.createGroup(t, "booking")
		globalID := b.createGlobal(t, "note", map[string]any{"type": "string"}, "booking")
		before := b.eventCount(t)

		refused := []req{
			{Method: http.MethodPost, Path: "/api/field-groups", Body: map[string]any{"key": "task", "name": "Task"}},
			{Method: http.MethodPatch, Path: "/api/field-groups/" + groupID, Body: map[string]any{"name": "Renamed"}},
			{Method: http.MethodDelete, Path: "/api/field-groups/booking"},
			{Method: http.MethodPost, Path: "/api/global-fields", Body: map[string]any{"key": "k", "label": "K", "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"booking"}}},
			{Method: http.MethodPatch, Path: "/api/global-fields/" + globalID, Body: map[string]any{"label": "Renamed"}},
			{Method: http.MethodDelete, Path: "/api/global-fields/" + globalID},
		}
		for _, r := range refused {
			r.Key = b.tenant
			requireProblem(t, b.send(t, r), http.StatusForbidden)
		}
		require.Equal(t, before, b.eventCount(t))
		g := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/booking", nil)
		require.Equal(t, "BOOKING", g["name"])

		// Reading the vendor's definitions is allowed.
		for _, path := range []string{"/api/field-groups", "/api/field-groups/booking", "/api/global-fields", "/api/global-fields/" + globalID} {
			res := b.send(t, req{Method: http.MethodGet, Path: path, Key: b.tenant})
			require.Equal(t, http.StatusOK, res.status, "%s: %s", path, res)
		}
	})
}

func TestTenantKeyCannotTouchAnotherTenant(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		tf := b.ok(t, http.StatusCreated, http.MethodPost, "/api/tenants/t2/field-groups/booking/fields",
			map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "string"}})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(otherTenant, "booking", "e1"), map[string]any{"room": "A"})
		before := b.eventCount(t)

		other := "/api/tenants/" + otherTenant
		refused := []req{
			{Method: http.MethodPost, Path: other + "/field-groups/booking/fields", Body: map[string]any{"key": "x", "label": "X", "schema": map[string]any{"type": "string"}}},
			{Method: http.MethodGet, Path: other + "/field-groups/booking/fields"},
			{Method: http.MethodGet, Path: other + "/fields/" + tf["id"].(string)},
			{Method: http.MethodPatch, Path: other + "/fields/" + tf["id"].(string), Body: map[string]any{"label": "Y"}},
			{Method: http.MethodDelete, Path: other + "/fields/" + tf["id"].(string)},
			{Method: http.MethodGet, Path: other + "/field-groups/booking/schema"},
			{Method: http.MethodPost, Path: valuesPath(otherTenant, "booking", "e1"), Body: map[string]any{"room": "B"}},
			{Method: http.MethodGet, Path: valuesPath(otherTenant, "booking", "e1")},
			{Method: http.MethodDelete, Path: valuesPath(otherTenant, "booking", "e1")},
			{Method: http.MethodDelete, Path: valuesPath(otherTenant, "booking", "e1") + "/room"},
			{Method: http.MethodGet, Path: "/api/field-values/search?tenantId=" + otherTenant},
			{Method: http.MethodPost, Path: "/api/events", Body: map[string]any{"type": "X", "tenantId": otherTenant, "data": map[string]any{}}},
			{Method: http.MethodGet, Path: "/api/events?tenantId=" + otherTenant},
		}
		for _, r := range refused {
			r.Key = b.tenant
			requireProblem(t, b.send(t, r), http.StatusForbidden)
		}
		require.Equal(t, before, b.eventCount(t))
		vals := b.ok(t, http.StatusOK, http.MethodGet, valuesPath(otherTenant, "booking", "e1"), nil)
		require.Equal(t, map[string]any{"room": "A"}, vals["data"])
		b.ok(t, http.StatusOK, http.MethodGet, other+"/fields/"+tf["id"].(string), nil)
	})
}
