package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireTime checks that v is an RFC 3339 UTC timestamp.
func requireTime(t *testing.T, v any) {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "%v is not a string", v)
	ts, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	require.Equal(t, time.UTC, ts.Location(), s)
	require.True(t, strings.HasSuffix(s, "Z"), s)
}

// eventTypes lists the types of events, oldest first.
func eventTypes(evs []map[string]any) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev["type"].(string)
	}
	return out
}

func TestFieldGroupLifecycle(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		g := b.ok(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "booking", "name": "Booking", "description": "A booking"})
		require.ElementsMatch(t, []string{"id", "key", "name", "description", "createdAt", "updatedAt"}, keys(g))
		id := g["id"].(string)
		require.True(t, strings.HasPrefix(id, "fg_"), id)
		require.Equal(t, "booking", g["key"])
		require.Equal(t, "Booking", g["name"])
		require.Equal(t, "A booking", g["description"])
		requireTime(t, g["createdAt"])
		requireTime(t, g["updatedAt"])

		require.Equal(t, g, b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/"+id, nil), "by id")
		require.Equal(t, g, b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/booking", nil), "by key")
		list := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups", nil)
		require.Equal(t, []any{g}, list["data"])
		require.Equal(t, map[string]any{"page": 1.0, "pageSize": 50.0, "total": 1.0, "totalPages": 1.0}, list["pagination"])

		p := b.ok(t, http.StatusOK, http.MethodPatch, "/api/field-groups/booking", map[string]any{"name": "Bookings"})
		require.Equal(t, id, p["id"])
		require.Equal(t, "Bookings", p["name"])
		require.Equal(t, "A booking", p["description"], "a patch keeps what it does not name")
		p = b.ok(t, http.StatusOK, http.MethodPatch, "/api/field-groups/"+id, map[string]any{"key": "reservation"})
		require.Equal(t, "reservation", p["key"])
		b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/reservation", nil)
		requireProblem(t, b.do(t, http.MethodGet, "/api/field-groups/booking", nil), http.StatusNotFound)

		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/field-groups/reservation", nil)
		requireProblem(t, b.do(t, http.MethodGet, "/api/field-groups/"+id, nil), http.StatusNotFound)

		evs := b.listEvents(t, b.admin, "")
		require.Equal(t, []string{"field_group.created", "field_group.updated", "field_group.updated", "field_group.deleted"}, eventTypes(evs))
		updated := payload(t, evs[1])
		require.Equal(t, "reservation", updated["fieldGroup"].(map[string]any)["key"])
		require.Equal(t, "booking", updated["previous"].(map[string]any)["key"])
		require.NotContains(t, updated, "tenantId")
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFieldGroupPatchThatChangesNothingWritesNoEvent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		before := b.eventCount(t)
		g := b.ok(t, http.StatusOK, http.MethodPatch, "/api/field-groups/booking", map[string]any{"name": "BOOKING"})
		require.Equal(t, "BOOKING", g["name"])
		require.Equal(t, before, b.eventCount(t))
	})
}

func TestFieldGroupCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		before := b.eventCount(t)
		cases := []struct {
			name     string
			body     string
			status   int
			location string
		}{
			{"MalformedJSON", `{"key":"a",`, http.StatusBadRequest, "body"},
			{"NotJSON", `key=a`, http.StatusBadRequest, "body"},
			{"KeyNotString", `{"key":5,"name":"A"}`, http.StatusUnprocessableEntity, "body.key"},
			{"NameNotString", `{"key":"a","name":["A"]}`, http.StatusUnprocessableEntity, "body.name"},
			{"UnknownProperty", `{"key":"a","name":"A","color":"red"}`, http.StatusUnprocessableEntity, "body.color"},
			{"MissingName", `{"key":"a"}`, http.StatusUnprocessableEntity, "body.name"},
			{"EmptyKey", `{"key":"","name":"A"}`, http.StatusUnprocessableEntity, "body.key"},
			{"KeyWithHyphen", `{"key":"booking-2","name":"A"}`, http.StatusUnprocessableEntity, "body.key"}, // camelCase is a key; a hyphen is not
			{"KeyStartingWithDigit", `{"key":"1a","name":"A"}`, http.StatusUnprocessableEntity, "body.key"},
			{"KeyTooLong", `{"key":"` + strings.Repeat("a", 65) + `","name":"A"}`, http.StatusUnprocessableEntity, "body.key"},
			{"DuplicateKey", `{"key":"booking","name":"Again"}`, http.StatusConflict, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := b.do(t, http.MethodPost, "/api/field-groups", c.body)
				if c.location == "" {
					requireProblem(t, res, c.status)
				} else {
					requireProblem(t, res, c.status, c.location)
				}
			})
		}
		require.Equal(t, before, b.eventCount(t))
		list := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups", nil)
		require.EqualValues(t, 1, list["pagination"].(map[string]any)["total"])
	})
}

func TestFieldGroupPatchRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		b.createGroup(t, "task")
		before := b.eventCount(t)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/booking", `{"name":`), http.StatusBadRequest)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/booking", `{"name":1}`), http.StatusUnprocessableEntity, "body.name")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/booking", `{"id":"fg_x"}`), http.StatusUnprocessableEntity, "body.id")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/booking", `{"key":"Bad Key"}`), http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/booking", `{"key":"task"}`), http.StatusConflict)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/field-groups/nope", `{"name":"N"}`), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, "/api/field-groups/nope", nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodGet, "/api/field-groups/fg_01jd3zzzzzzzzzzzzzzzzzzzzz", nil), http.StatusNotFound)
		require.Equal(t, before, b.eventCount(t))
		require.Equal(t, "BOOKING", b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/booking", nil)["name"])
	})
}

func TestListsPaginate(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		for i := range 5 {
			b.createGroup(t, fmt.Sprintf("g%d", i))
		}
		var seen []any
		for page := 1; page <= 3; page++ {
			list := b.ok(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/api/field-groups?page=%d&pageSize=2", page), nil)
			require.Equal(t, map[string]any{"page": float64(page), "pageSize": 2.0, "total": 5.0, "totalPages": 3.0}, list["pagination"])
			for _, g := range list["data"].([]any) {
				seen = append(seen, g.(map[string]any)["key"])
			}
		}
		require.Equal(t, []any{"g0", "g1", "g2", "g3", "g4"}, seen, "ordered by key, each once")
		past := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups?page=4&pageSize=2", nil)
		require.Equal(t, []any{}, past["data"])

		max := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups?pageSize=500", nil)
		require.EqualValues(t, 500, max["pagination"].(map[string]any)["pageSize"])

		for _, path := range []string{"/api/field-groups", "/api/global-fields", "/api/tenants/t1/field-groups/g0/fields", "/api/field-values/search"} {
			requireProblem(t, b.do(t, http.MethodGet, path+"?pageSize=501", nil), http.StatusBadRequest, "query.pageSize")
			requireProblem(t, b.do(t, http.MethodGet, path+"?pageSize=0", nil), http.StatusBadRequest, "query.pageSize")
			requireProblem(t, b.do(t, http.MethodGet, path+"?page=0", nil), http.StatusBadRequest, "query.page")
			requireProblem(t, b.do(t, http.MethodGet, path+"?page=x", nil), http.StatusBadRequest, "query.page")
		}
	})
}

func TestGlobalFieldLifecycle(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		booking := b.createGroup(t, "booking")
		task := b.createGroup(t, "task")
		schema := map[string]any{"type": "string", "validation": map[string]any{"required": true, "maxLength": 20.0}, "ui": map[string]any{"placeholder": "INS-…"}}
		f := b.ok(t, http.StatusCreated, http.MethodPost, "/api/global-fields",
			map[string]any{"key": "insurance_number", "label": "Insurance number", "schema": schema, "fieldGroupIds": []string{"booking", task}})
		require.ElementsMatch(t, []string{"id", "key", "label", "schema", "fieldGroupIds", "createdAt", "updatedAt"}, keys(f))
		id := f["id"].(string)
		require.True(t, strings.HasPrefix(id, "gf_"), id)
		require.Equal(t, schema, f["schema"])
		require.ElementsMatch(t, []any{booking, task}, f["fieldGroupIds"], "keys resolve to ids")
		requireTime(t, f["createdAt"])

		require.Equal(t, f, b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields/"+id, nil))
		b.createGlobal(t, "notes", map[string]any{"type": "textarea"}, "task")
		for _, filter := range []string{"booking", booking} {
			list := b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields?fieldGroupId="+filter, nil)
			require.Equal(t, []any{f}, list["data"], filter)
		}
		list := b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields?fieldGroupId=task", nil)
		require.EqualValues(t, 2, list["pagination"].(map[string]any)["total"])
		list = b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields?fieldGroupId=nope", nil)
		require.Equal(t, []any{}, list["data"])

		p := b.ok(t, http.StatusOK, http.MethodPatch, "/api/global-fields/"+id,
			map[string]any{"label": "Insurance no.", "fieldGroupIds": []string{"booking"}, "schema": map[string]any{"type": "string"}})
		require.Equal(t, "Insurance no.", p["label"])
		require.Equal(t, []any{booking}, p["fieldGroupIds"])
		require.Equal(t, map[string]any{"type": "string"}, p["schema"])
		require.Equal(t, "insurance_number", p["key"])

		b.ok(t, http.StatusNoContent, http.MethodDelete, "/api/global-fields/"+id, nil)
		requireProblem(t, b.do(t, http.MethodGet, "/api/global-fields/"+id, nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+id, map[string]any{"label": "L"}), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, "/api/global-fields/"+id, nil), http.StatusNotFound)

		evs := b.listEvents(t, b.admin, "type=global_field.updated")
		require.Len(t, evs, 1)
		pl := payload(t, evs[0])
		require.Equal(t, "Insurance no.", pl["field"].(map[string]any)["label"])
		require.Equal(t, "Insurance number", pl["previous"].(map[string]any)["label"])
		require.Len(t, b.listEvents(t, b.admin, "type=global_field.created"), 2)
		require.Len(t, b.listEvents(t, b.admin, "type=global_field.deleted"), 1)
	})
}

func TestGlobalFieldCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		b.createGlobal(t, "size", map[string]any{"type": "number"}, "booking")
		before := b.eventCount(t)
		body := func(key string, schema string, groups string) string {
			return `{"key":"` + key + `","label":"L","schema":` + schema + `,"fieldGroupIds":` + groups + `}`
		}
		cases := []struct {
			name     string
			body     string
			status   int
			location string
		}{
			{"MalformedJSON", `{"key":`, http.StatusBadRequest, "body"},
			{"SchemaNotObject", body("k", `"string"`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema"},
			{"GroupsNotArray", body("k", `{"type":"string"}`, `"booking"`), http.StatusUnprocessableEntity, "body.fieldGroupIds"},
			{"NoGroups", body("k", `{"type":"string"}`, `[]`), http.StatusUnprocessableEntity, "body.fieldGroupIds"},
			{"MissingSchema", `{"key":"k","label":"L","fieldGroupIds":["booking"]}`, http.StatusUnprocessableEntity, "body.schema"},
			{"UnknownProperty", `{"key":"k","label":"L","schema":{"type":"string"},"fieldGroupIds":["booking"],"scope":"x"}`, http.StatusUnprocessableEntity, "body.scope"},
			{"UnknownSchemaProperty", body("k", `{"type":"string","format":"x"}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.format"},
			{"UnknownRule", body("k", `{"type":"string","validation":{"minimum":1}}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.validation.minimum"},
			{"UnknownType", body("k", `{"type":"money"}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.type"},
			{"RuleOfWrongType", body("k", `{"type":"string","validation":{"maxLength":"10"}}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.validation.maxLength"},
			{"BadPattern", body("k", `{"type":"string","validation":{"pattern":"("}}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.validation.pattern"},
			{"SelectWithoutOptions", body("k", `{"type":"select"}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.validation.options"},
			{"MinAboveMax", body("k", `{"type":"number","validation":{"min":5,"max":1}}`, `["booking"]`), http.StatusUnprocessableEntity, "body.schema.validation.min"},
			{"BadKey", body("bad-key", `{"type":"string"}`, `["booking"]`), http.StatusUnprocessableEntity, "body.key"},
			{"UnknownGroup", body("k", `{"type":"string"}`, `["booking","nope"]`), http.StatusUnprocessableEntity, "body.fieldGroupIds[1]"},
			{"DuplicateKeyInGroup", body("size", `{"type":"string"}`, `["booking"]`), http.StatusConflict, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := b.do(t, http.MethodPost, "/api/global-fields", c.body)
				if c.location == "" {
					requireProblem(t, res, c.status)
				} else {
					requireProblem(t, res, c.status, c.location)
				}
			})
		}
		require.Equal(t, before, b.eventCount(t))
		list := b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields", nil)
		require.EqualValues(t, 1, list["pagination"].(map[string]any)["total"])
	})
}

func TestGlobalFieldKeyIsUniquePerGroupAndPatchIsChecked(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		b.createGroup(t, "task")
		first := b.createGlobal(t, "notes", map[string]any{"type": "textarea"}, "booking")
		// The same key in another group is another field.
		second := b.createGlobal(t, "notes", map[string]any{"type": "string"}, "task")
		require.NotEqual(t, first, second)
		// Moving one into the other's group clashes.
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, map[string]any{"fieldGroupIds": []string{"task", "booking"}}), http.StatusConflict)
		f := b.ok(t, http.StatusOK, http.MethodGet, "/api/global-fields/"+second, nil)
		require.Len(t, f["fieldGroupIds"], 1)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, map[string]any{"schema": map[string]any{"type": "nope"}}), http.StatusUnprocessableEntity, "body.schema.type")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, map[string]any{"key": "renamed"}), http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, `{"label":`), http.StatusBadRequest, "body")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, `{"label":["x"]}`), http.StatusUnprocessableEntity, "body.label")
		requireProblem(t, b.do(t, http.MethodPatch, "/api/global-fields/"+second, `{"fieldGroupIds":["nope"]}`), http.StatusUnprocessableEntity, "body.fieldGroupIds[0]")
		require.Len(t, b.listEvents(t, b.admin, "type=global_field.updated"), 0)
	})
}

func TestTenantFieldLifecycle(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		groupID := b.createGroup(t, "booking")
		base := "/api/tenants/" + tenant
		create := b.send(t, req{Method: http.MethodPost, Path: base + "/field-groups/booking/fields", Key: b.tenant,
			Body: map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "select", "validation": map[string]any{"options": []string{"A", "B"}}}}})
		require.Equal(t, http.StatusCreated, create.status, "%s", create)
		f := create.obj(t)
		require.ElementsMatch(t, []string{"id", "tenantId", "fieldGroupId", "key", "label", "schema", "createdAt", "updatedAt"}, keys(f))
		id := f["id"].(string)
		require.True(t, strings.HasPrefix(id, "tf_"), id)
		require.Equal(t, tenant, f["tenantId"])
		require.Equal(t, groupID, f["fieldGroupId"])

		get := b.send(t, req{Method: http.MethodGet, Path: base + "/fields/" + id, Key: b.tenant})
		require.Equal(t, http.StatusOK, get.status)
		require.Equal(t, f, get.obj(t))
		list := b.send(t, req{Method: http.MethodGet, Path: base + "/field-groups/" + groupID + "/fields", Key: b.tenant})
		require.Equal(t, http.StatusOK, list.status)
		require.Equal(t, []any{f}, list.obj(t)["data"])
		// Another tenant has none, and cannot reach this one by id.
		other := b.ok(t, http.StatusOK, http.MethodGet, "/api/tenants/t2/field-groups/booking/fields", nil)
		require.Equal(t, []any{}, other["data"])
		requireProblem(t, b.do(t, http.MethodGet, "/api/tenants/t2/fields/"+id, nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodPatch, "/api/tenants/t2/fields/"+id, map[string]any{"label": "X"}), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, "/api/tenants/t2/fields/"+id, nil), http.StatusNotFound)

		patch := b.send(t, req{Method: http.MethodPatch, Path: base + "/fields/" + id, Key: b.tenant, Body: map[string]any{"label": "Room no."}})
		require.Equal(t, http.StatusOK, patch.status, "%s", patch)
		require.Equal(t, "Room no.", patch.obj(t)["label"])
		requireProblem(t, b.do(t, http.MethodPatch, base+"/fields/"+id, `{"label":`), http.StatusBadRequest)
		requireProblem(t, b.do(t, http.MethodPatch, base+"/fields/"+id, `{"key":"other"}`), http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.do(t, http.MethodPatch, base+"/fields/"+id, `{"schema":{"type":"select"}}`), http.StatusUnprocessableEntity, "body.schema.validation.options")

		del := b.send(t, req{Method: http.MethodDelete, Path: base + "/fields/" + id, Key: b.tenant})
		require.Equal(t, http.StatusNoContent, del.status, "%s", del)
		requireProblem(t, b.do(t, http.MethodGet, base+"/fields/"+id, nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodGet, base+"/fields/tf_nope", nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodGet, base+"/field-groups/nope/fields", nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodPost, base+"/field-groups/nope/fields", map[string]any{"key": "k", "label": "K", "schema": map[string]any{"type": "string"}}), http.StatusNotFound)

		evs := b.listEvents(t, b.admin, "tenantId="+tenant)
		require.Equal(t, []string{"tenant_field.created", "tenant_field.updated", "tenant_field.deleted"}, eventTypes(evs))
		for _, ev := range evs {
			require.Equal(t, tenant, payload(t, ev)["tenantId"])
		}
	})
}

func TestTenantFieldKeyMayNotClash(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		b.createGroup(t, "task")
		b.createGlobal(t, "insurance_number", map[string]any{"type": "string"}, "booking")
		fields := "/api/tenants/" + tenant + "/field-groups/booking/fields"
		b.ok(t, http.StatusCreated, http.MethodPost, fields, map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "string"}})
		before := b.eventCount(t)

		// With a global key of the group.
		requireProblem(t, b.do(t, http.MethodPost, fields, map[string]any{"key": "insurance_number", "label": "X", "schema": map[string]any{"type": "string"}}), http.StatusConflict)
		// With the tenant's own field.
		requireProblem(t, b.do(t, http.MethodPost, fields, map[string]any{"key": "room", "label": "X", "schema": map[string]any{"type": "string"}}), http.StatusConflict)
		// A global field may not take a key a tenant already uses.
		requireProblem(t, b.do(t, http.MethodPost, "/api/global-fields", map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"booking"}}), http.StatusConflict)
		require.Equal(t, before, b.eventCount(t))

		// Other tenants and groups are free to use the keys.
		b.ok(t, http.StatusCreated, http.MethodPost, "/api/tenants/t2/field-groups/booking/fields", map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "string"}})
		b.ok(t, http.StatusCreated, http.MethodPost, "/api/tenants/"+tenant+"/field-groups/task/fields", map[string]any{"key": "insurance_number", "label": "X", "schema": map[string]any{"type": "string"}})
	})
}

func TestTenantFieldCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		before := b.eventCount(t)
		fields := "/api/tenants/" + tenant + "/field-groups/booking/fields"
		requireProblem(t, b.do(t, http.MethodPost, fields, `{"key":"room"`), http.StatusBadRequest, "body")
		requireProblem(t, b.do(t, http.MethodPost, fields, `{"key":"room","label":1,"schema":{"type":"string"}}`), http.StatusUnprocessableEntity, "body.label")
		requireProblem(t, b.do(t, http.MethodPost, fields, `{"key":"room","label":"R","schema":{"type":"string"},"fieldGroupIds":[]}`), http.StatusUnprocessableEntity, "body.fieldGroupIds")
		requireProblem(t, b.do(t, http.MethodPost, fields, `{"key":"room no","label":"R","schema":{"type":"string"}}`), http.StatusUnprocessableEntity, "body.key")
		requireProblem(t, b.do(t, http.MethodPost, fields, `{"key":"room","label":"R","schema":{"type":"boolean","validation":{"min":1}}}`), http.StatusUnprocessableEntity, "body.schema.validation.min")
		requireProblem(t, b.do(t, http.MethodPost, "/api/tenants/bad%20tenant/field-groups/booking/fields", `{"key":"room","label":"R","schema":{"type":"string"}}`), http.StatusBadRequest, "path.tenantId")
		require.Equal(t, before, b.eventCount(t))
	})
}

func TestSchemaMergesGlobalAndTenantFields(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		gid := b.createGlobal(t, "insurance_number", map[string]any{"type": "string"}, "booking")
		tf := b.ok(t, http.StatusCreated, http.MethodPost, "/api/tenants/"+tenant+"/field-groups/booking/fields",
			map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "number"}})
		b.ok(t, http.StatusCreated, http.MethodPost, "/api/tenants/t2/field-groups/booking/fields",
			map[string]any{"key": "vip", "label": "VIP", "schema": map[string]any{"type": "boolean"}})

		res := b.send(t, req{Method: http.MethodGet, Path: "/api/tenants/" + tenant + "/field-groups/booking/schema", Key: b.tenant})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, []any{
			map[string]any{"id": gid, "key": "insurance_number", "label": "insurance_number", "schema": map[string]any{"type": "string"}, "scope": "global"},
			map[string]any{"id": tf["id"], "key": "room", "label": "Room", "schema": map[string]any{"type": "number"}, "scope": "tenant"},
		}, res.obj(t)["data"])

		other := b.ok(t, http.StatusOK, http.MethodGet, "/api/tenants/t3/field-groups/booking/schema", nil)
		require.Len(t, other["data"], 1, "a tenant without fields sees the global ones")
		requireProblem(t, b.do(t, http.MethodGet, "/api/tenants/t1/field-groups/nope/schema", nil), http.StatusNotFound)
	})
}
