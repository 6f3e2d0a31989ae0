package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// customerSchema has a field of every type; setupCustomer creates it as
// global fields of the group "customer".
var customerSchema = map[string]map[string]any{
	"company_size": {"type": "number", "validation": map[string]any{"min": 1, "max": 10000}},
	"name":         {"type": "string", "validation": map[string]any{"minLength": 2, "maxLength": 10, "pattern": "^[A-Z]"}},
	"notes":        {"type": "textarea", "validation": map[string]any{"maxLength": 20}},
	"active":       {"type": "boolean"},
	"born":         {"type": "date"},
	"seen_at":      {"type": "datetime"},
	"stage":        {"type": "select", "validation": map[string]any{"options": []string{"lead", "won", "lost"}}},
	"tags":         {"type": "multiselect", "validation": map[string]any{"options": []string{"a", "b", "c"}, "minLength": 1, "maxLength": 2}},
	"email":        {"type": "email"},
	"site":         {"type": "url"},
	"phone":        {"type": "phone"},
	"extra":        {"type": "json"},
}

// validCustomer is a valid value for every field of customerSchema.
func validCustomer() map[string]any {
	return map[string]any{
		"company_size": 42.0,
		"name":         "Acme",
		"notes":        "line 1\nline 2 ü",
		"active":       true,
		"born":         "2020-02-29",
		"seen_at":      "2026-04-04T10:00:00+02:00",
		"stage":        "won",
		"tags":         []any{"a", "c"},
		"email":        "ops@example.com",
		"site":         "https://example.com/a?b=c",
		"phone":        "+14155550123",
		"extra":        map[string]any{"nested": []any{1.0, "x", nil, false}},
	}
}

func setupCustomer(t *testing.T, dialect string, opts *serverOpts) *testBundle {
	t.Helper()
	b := setup(t, dialect, opts)
	b.createGroup(t, "customer")
	for key, schema := range customerSchema {
		b.createGlobal(t, key, schema, "customer")
	}
	return b
}

// rawEvents returns the payloads of the events the admin sees, newest
// first, exactly as stored.
func (b *testBundle) rawEvents(t *testing.T, query string) []json.RawMessage {
	t.Helper()
	res := b.do(t, http.MethodGet, "/api/events?pageSize=500&"+query, nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res)
	var page struct {
		Data []struct {
			Payload json.RawMessage `json:"payload"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(res.body, &page))
	out := make([]json.RawMessage, len(page.Data))
	for i, d := range page.Data {
		out[i] = d.Payload
	}
	return out
}

// topKeys lists an object's keys in the order they appear.
func topKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var out []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		out = append(out, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return out
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestSaveValuesAcceptsEveryType(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")

		empty := b.ok(t, http.StatusOK, http.MethodGet, path, nil)
		require.Equal(t, map[string]any{"data": map[string]any{}, "version": 0.0}, empty, "an unknown entity has no values")

		res := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.tenant, Body: validCustomer()})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, `"1"`, res.header.Get("ETag"))
		require.Equal(t, map[string]any{"data": validCustomer(), "version": 1.0}, res.obj(t))

		get := b.send(t, req{Method: http.MethodGet, Path: path, Key: b.tenant})
		require.Equal(t, http.StatusOK, get.status)
		require.Equal(t, `"1"`, get.header.Get("ETag"))
		require.Equal(t, map[string]any{"data": validCustomer(), "version": 1.0}, get.obj(t))

		// The group may be named by id as well as by key.
		g := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/customer", nil)
		byID := b.ok(t, http.StatusOK, http.MethodGet, valuesPath(tenant, g["id"].(string), "acme-1"), nil)
		require.Equal(t, validCustomer(), byID["data"])

		// json fields take any JSON value.
		for _, v := range []any{"text", 1.5, true, []any{}, map[string]any{}} {
			b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"extra": v})
		}
	})
}

func TestSaveValuesEmitsOneEventPerChangedKeyAndOneEntityUpdated(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		g := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/customer", nil)
		path := valuesPath(tenant, "customer", "acme-1")
		start := b.eventCount(t)

		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"company_size": 5, "name": "Acme"})
		evs := b.rawEvents(t, "tenantId="+tenant)
		require.Len(t, evs, 3)
		// Newest first: entity.updated, then name, then company_size.
		saved := decode(t, evs[2])
		require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "fieldGroupId", "fieldGroupKey", "entityId", "fieldKey", "value", "previousValue"}, topKeys(t, evs[2]))
		require.Equal(t, "field_value.saved", saved["event"])
		require.True(t, strings.HasPrefix(saved["eventId"].(string), "evt_"))
		requireTime(t, saved["timestamp"])
		require.Equal(t, tenant, saved["tenantId"])
		require.Equal(t, g["id"], saved["fieldGroupId"])
		require.Equal(t, "customer", saved["fieldGroupKey"])
		require.Equal(t, "acme-1", saved["entityId"])
		require.Equal(t, "company_size", saved["fieldKey"])
		require.Equal(t, 5.0, saved["value"])
		require.Nil(t, saved["previousValue"])
		require.Contains(t, saved, "previousValue")
		require.Equal(t, "name", decode(t, evs[1])["fieldKey"])

		updated := decode(t, evs[0])
		require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "fieldGroupId", "fieldGroupKey", "entityId", "values", "previousValues", "changedKeys", "version"}, topKeys(t, evs[0]))
		require.Equal(t, "entity.updated", updated["event"])
		require.Equal(t, map[string]any{"company_size": 5.0, "name": "Acme"}, updated["values"])
		require.Equal(t, map[string]any{"company_size": nil, "name": nil}, updated["previousValues"])
		require.Equal(t, []any{"company_size", "name"}, updated["changedKeys"])
		require.Equal(t, 1.0, updated["version"])

		// Only the key that changed gets an event.
		res := b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"company_size": 6, "name": "Acme"})
		require.Equal(t, 2.0, res["version"])
		evs = b.rawEvents(t, "tenantId="+tenant)
		require.Len(t, evs, 5)
		saved = decode(t, evs[1])
		require.Equal(t, "company_size", saved["fieldKey"])
		require.Equal(t, 6.0, saved["value"])
		require.Equal(t, 5.0, saved["previousValue"])
		updated = decode(t, evs[0])
		require.Equal(t, map[string]any{"company_size": 6.0, "name": "Acme"}, updated["values"])
		require.Equal(t, map[string]any{"company_size": 5.0}, updated["previousValues"])
		require.Equal(t, []any{"company_size"}, updated["changedKeys"])
		require.Equal(t, 2.0, updated["version"])
		require.Equal(t, start+5, b.eventCount(t))
	})
}

func TestSaveIdenticalValuesWritesNothing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		b.ok(t, http.StatusOK, http.MethodPost, path, validCustomer())
		before := b.eventCount(t)

		res := b.do(t, http.MethodPost, path, validCustomer())
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		require.Equal(t, `"1"`, res.header.Get("ETag"))
		require.Equal(t, map[string]any{"data": validCustomer(), "version": 1.0}, res.obj(t))
		// The same number written another way is the same value.
		res = b.do(t, http.MethodPost, path, `{"company_size": 42.0, "extra": {"nested": [1e0, "x", null, false]}}`)
		require.Equal(t, 1.0, res.obj(t)["version"])
		// Removing a key that is not there changes nothing either.
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"notes": nil})
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"notes": nil})
		require.Equal(t, before+2, b.eventCount(t), "one removal: field_value.deleted and entity.updated")
		res = b.do(t, http.MethodPost, path, map[string]any{})
		require.Equal(t, 2.0, res.obj(t)["version"])
		require.Equal(t, before+2, b.eventCount(t))

		// A new entity saved with nothing stays unknown.
		empty := b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "customer", "new"), map[string]any{"notes": nil})
		require.Equal(t, map[string]any{"data": map[string]any{}, "version": 0.0}, empty)
		require.Equal(t, before+2, b.eventCount(t))
	})
}

func TestNullRemovesKeyAndEmitsDeleted(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"name": "Acme", "tags": []string{"b"}})

		res := b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"tags": nil})
		require.Equal(t, map[string]any{"data": map[string]any{"name": "Acme"}, "version": 2.0}, res)
		require.Equal(t, res, b.ok(t, http.StatusOK, http.MethodGet, path, nil))

		evs := b.rawEvents(t, "tenantId="+tenant)
		deleted := decode(t, evs[1])
		require.Equal(t, "field_value.deleted", deleted["event"])
		require.Equal(t, "tags", deleted["fieldKey"])
		require.Contains(t, deleted, "value")
		require.Nil(t, deleted["value"])
		require.Equal(t, []any{"b"}, deleted["previousValue"])
		updated := decode(t, evs[0])
		require.Equal(t, "entity.updated", updated["event"])
		require.Equal(t, map[string]any{"name": "Acme"}, updated["values"])
		require.Equal(t, map[string]any{"tags": []any{"b"}}, updated["previousValues"])
		require.Equal(t, []any{"tags"}, updated["changedKeys"])
		require.Equal(t, 2.0, updated["version"])
	})
}

func TestSaveValuesRefusesInvalidValuesAndStoresNothing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		b.ok(t, http.StatusOK, http.MethodPost, path, validCustomer())
		before := b.eventCount(t)

		cases := []struct {
			name  string
			key   string
			value any
		}{
			{"NumberAsString", "company_size", "42"},
			{"NumberBelowMin", "company_size", 0},
			{"NumberAboveMax", "company_size", 10001},
			{"NumberAsArray", "company_size", []int{1}},
			{"StringAsNumber", "name", 5},
			{"StringTooShort", "name", "A"},
			{"StringTooLong", "name", "Abcdefghijk"},
			{"StringNotMatchingPattern", "name", "acme"},
			{"StringWithNewline", "name", "Ac\nme"},
			{"TextareaAsBoolean", "notes", true},
			{"TextareaTooLong", "notes", strings.Repeat("ü", 21)},
			{"BooleanAsString", "active", "yes"},
			{"BooleanAsNumber", "active", 1},
			{"DateOutOfRange", "born", "2026-13-01"},
			{"DateWithTime", "born", "2026-04-04T10:00:00Z"},
			{"DateAsNumber", "born", 20260404},
			{"DateTimeWithoutTime", "seen_at", "2026-04-04"},
			{"DateTimeWithoutZone", "seen_at", "2026-04-04T10:00:00"},
			{"DateTimeWords", "seen_at", "yesterday"},
			{"SelectUnknownOption", "stage", "open"},
			{"SelectAsArray", "stage", []string{"won"}},
			{"MultiselectAsString", "tags", "a"},
			{"MultiselectUnknownOption", "tags", []string{"a", "d"}},
			{"MultiselectDuplicate", "tags", []string{"a", "a"}},
			{"MultiselectTooMany", "tags", []string{"a", "b", "c"}},
			{"MultiselectTooFew", "tags", []string{}},
			{"MultiselectNumberItem", "tags", []any{1}},
			{"EmailWithoutAt", "email", "ops.example.com"},
			{"EmailWithName", "email", "Ops <ops@example.com>"},
			{"EmailAsNumber", "email", 1},
			{"URLNotHTTP", "site", "ftp://example.com/x"},
			{"URLWithoutScheme", "site", "example.com"},
			{"URLRelative", "site", "/a/b"},
			{"PhoneWithoutPlus", "phone", "14155550123"},
			{"PhoneWithSpaces", "phone", "+1 415 555 0123"},
			{"PhoneLeadingZero", "phone", "+0415550123"},
			{"PhoneTooLong", "phone", "+1234567890123456"},
			{"UnknownField", "nope", "x"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// A valid change beside the bad one is not stored either.
				body := map[string]any{c.key: c.value, "stage": "lost"}
				if c.key == "stage" {
					body = map[string]any{c.key: c.value, "active": false}
				}
				res := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.tenant, Body: body})
				p := requireProblem(t, res, http.StatusUnprocessableEntity, "body."+c.key)
				require.Len(t, p["errors"], 1, "%s", res)
				e := p["errors"].([]any)[0].(map[string]any)
				require.NotEmpty(t, e["message"])
				require.Contains(t, e, "value")
			})
		}
		res := b.do(t, http.MethodPost, path, map[string]any{"name": 5, "phone": "12", "company_size": 7})
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.name", "body.phone")

		require.Equal(t, before, b.eventCount(t))
		require.Equal(t, map[string]any{"data": validCustomer(), "version": 1.0}, b.ok(t, http.StatusOK, http.MethodGet, path, nil))
	})
}

func TestSaveValuesRefusesMalformedBodies(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		for _, body := range []string{`{"name":`, `{"name":"Acme"}{}`, `{"name":"Acme"} x`, `name=Acme`, ``} {
			requireProblem(t, b.do(t, http.MethodPost, path, body), http.StatusBadRequest)
		}
		// Well-formed JSON of the wrong type is a validation failure.
		for _, body := range []string{`null`, `["name"]`, `"name"`, `42`} {
			requireProblem(t, b.do(t, http.MethodPost, path, body), http.StatusUnprocessableEntity, "body")
		}
		requireProblem(t, b.do(t, http.MethodPost, valuesPath(tenant, "nope", "acme-1"), map[string]any{"name": "Acme"}), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodGet, valuesPath(tenant, "nope", "acme-1"), nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodPost, valuesPath("bad tenant!", "customer", "acme-1"), map[string]any{"name": "Acme"}), http.StatusBadRequest, "path.tenantId")
		require.Zero(t, len(b.listEvents(t, b.admin, "tenantId="+tenant)))
	})
}

func TestRequiredFieldMustAlwaysHaveValue(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "ticket")
		b.createGlobal(t, "title", map[string]any{"type": "string", "validation": map[string]any{"required": true}}, "ticket")
		b.createGlobal(t, "body", map[string]any{"type": "textarea"}, "ticket")
		path := valuesPath(tenant, "ticket", "tk-1")
		before := b.eventCount(t)

		requireProblem(t, b.do(t, http.MethodPost, path, map[string]any{"body": "text"}), http.StatusUnprocessableEntity, "body.title")
		require.Equal(t, before, b.eventCount(t))

		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"title": "Broken", "body": "text"})
		before = b.eventCount(t)
		requireProblem(t, b.do(t, http.MethodPost, path, map[string]any{"title": nil, "body": "other"}), http.StatusUnprocessableEntity, "body.title")
		requireProblem(t, b.do(t, http.MethodDelete, path+"/title", nil), http.StatusUnprocessableEntity, "body.title")
		require.Equal(t, before, b.eventCount(t))
		require.Equal(t, map[string]any{"title": "Broken", "body": "text"}, b.ok(t, http.StatusOK, http.MethodGet, path, nil)["data"])

		// A save that leaves the required value alone is fine.
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"body": "more"})
	})
}

func TestUniqueValuesArePerTenantAndGroup(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "ticket")
		b.createGroup(t, "order")
		b.createGlobal(t, "ref", map[string]any{"type": "string", "validation": map[string]any{"unique": true}}, "ticket", "order")
		b.createGlobal(t, "num", map[string]any{"type": "number", "validation": map[string]any{"unique": true}}, "ticket")
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "ticket", "tk-1"), map[string]any{"ref": "R-1", "num": 7})
		before := b.eventCount(t)

		requireProblem(t, b.do(t, http.MethodPost, valuesPath(tenant, "ticket", "tk-2"), map[string]any{"ref": "R-1"}), http.StatusUnprocessableEntity, "body.ref")
		requireProblem(t, b.do(t, http.MethodPost, valuesPath(tenant, "ticket", "tk-2"), map[string]any{"ref": "R-2", "num": 7.0}), http.StatusUnprocessableEntity, "body.num")
		require.Equal(t, before, b.eventCount(t))
		require.Equal(t, map[string]any{}, b.ok(t, http.StatusOK, http.MethodGet, valuesPath(tenant, "ticket", "tk-2"), nil)["data"])

		// The entity that holds the value may save it again.
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "ticket", "tk-1"), map[string]any{"ref": "R-1", "num": 7})
		// Another tenant, or another group, may hold the same value.
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(otherTenant, "ticket", "tk-2"), map[string]any{"ref": "R-1", "num": 7})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "order", "o-1"), map[string]any{"ref": "R-1"})
		// Once freed, the value may move.
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "ticket", "tk-1"), map[string]any{"ref": nil})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "ticket", "tk-2"), map[string]any{"ref": "R-1"})
	})
}

func TestTenantFieldValuesAreValidated(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "booking")
		create := b.send(t, req{Method: http.MethodPost, Path: "/api/tenants/" + tenant + "/field-groups/booking/fields", Key: b.tenant,
			Body: map[string]any{"key": "room", "label": "Room", "schema": map[string]any{"type": "number", "validation": map[string]any{"max": 10}}}})
		require.Equal(t, http.StatusCreated, create.status, "%s", create)

		res := b.send(t, req{Method: http.MethodPost, Path: valuesPath(tenant, "booking", "b-1"), Key: b.tenant, Body: map[string]any{"room": 3}})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		res = b.send(t, req{Method: http.MethodPost, Path: valuesPath(tenant, "booking", "b-1"), Key: b.tenant, Body: map[string]any{"room": 11}})
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.room")
		// Another tenant does not have the field.
		requireProblem(t, b.do(t, http.MethodPost, valuesPath(otherTenant, "booking", "b-1"), map[string]any{"room": 3}), http.StatusUnprocessableEntity, "body.room")
	})
}

func TestIfMatchRefusesLostUpdate(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"name": "Acme"})
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"name": "Acme2"})
		before := b.eventCount(t)

		stale := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"name": "Mine"}, Header: map[string]string{"If-Match": "1"}})
		requireProblem(t, stale, http.StatusPreconditionFailed)
		require.Equal(t, before, b.eventCount(t))
		require.Equal(t, map[string]any{"data": map[string]any{"name": "Acme2"}, "version": 2.0}, b.ok(t, http.StatusOK, http.MethodGet, path, nil))

		for i, ifMatch := range []string{"2", `"3"`, `W/"4"`} {
			res := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"company_size": i + 1}, Header: map[string]string{"If-Match": ifMatch}})
			require.Equal(t, http.StatusOK, res.status, "If-Match %s: %s", ifMatch, res)
			require.EqualValues(t, i+3, res.obj(t)["version"])
		}
		// A new entity is at version 0.
		fresh := b.send(t, req{Method: http.MethodPost, Path: valuesPath(tenant, "customer", "new"), Key: b.admin, Body: map[string]any{"name": "New"}, Header: map[string]string{"If-Match": "0"}})
		require.Equal(t, http.StatusOK, fresh.status, "%s", fresh)
		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: valuesPath(tenant, "customer", "other"), Key: b.admin, Body: map[string]any{"name": "New"}, Header: map[string]string{"If-Match": "1"}}), http.StatusPreconditionFailed)

		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"name": "X"}, Header: map[string]string{"If-Match": "abc"}}), http.StatusBadRequest, "header.If-Match")
	})
}

func TestDeleteValues(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		path := valuesPath(tenant, "customer", "acme-1")
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"name": "Acme", "company_size": 5, "active": true})

		res := b.send(t, req{Method: http.MethodDelete, Path: path + "/name", Key: b.tenant})
		require.Equal(t, http.StatusNoContent, res.status, "%s", res)
		require.Equal(t, map[string]any{"data": map[string]any{"company_size": 5.0, "active": true}, "version": 2.0}, b.ok(t, http.StatusOK, http.MethodGet, path, nil))
		evs := b.rawEvents(t, "tenantId="+tenant)
		deleted := decode(t, evs[1])
		require.Equal(t, "field_value.deleted", deleted["event"])
		require.Equal(t, "Acme", deleted["previousValue"])
		require.Equal(t, []any{"name"}, decode(t, evs[0])["changedKeys"])
		before := b.eventCount(t)
		requireProblem(t, b.do(t, http.MethodDelete, path+"/name", nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, valuesPath(tenant, "nope", "acme-1"), nil), http.StatusNotFound)
		requireProblem(t, b.do(t, http.MethodDelete, valuesPath(tenant, "nope", "acme-1")+"/name", nil), http.StatusNotFound)
		require.Equal(t, before, b.eventCount(t))

		b.ok(t, http.StatusNoContent, http.MethodDelete, path, nil)
		got := b.ok(t, http.StatusOK, http.MethodGet, path, nil)
		require.Equal(t, map[string]any{}, got["data"])
		evs = b.rawEvents(t, "tenantId="+tenant)
		all := decode(t, evs[0])
		require.Equal(t, "entity.updated", all["event"])
		require.Equal(t, map[string]any{}, all["values"])
		require.Equal(t, map[string]any{"company_size": 5.0, "active": true}, all["previousValues"])
		require.Equal(t, []any{"active", "company_size"}, all["changedKeys"])
		require.Equal(t, before+3, b.eventCount(t))

		// Deleting what is already gone is a no-op.
		b.ok(t, http.StatusNoContent, http.MethodDelete, path, nil)
		b.ok(t, http.StatusNoContent, http.MethodDelete, valuesPath(tenant, "customer", "never"), nil)
		require.Equal(t, before+3, b.eventCount(t))
	})
}

func TestSearchFiltersValues(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		b.createGroup(t, "task")
		b.createGlobal(t, "stage", map[string]any{"type": "select", "validation": map[string]any{"options": []string{"won", "open"}}}, "task")
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "customer", "c-1"), map[string]any{"stage": "won", "company_size": 42})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "customer", "c-2"), map[string]any{"stage": "lead", "active": true})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(otherTenant, "customer", "c-1"), map[string]any{"stage": "won"})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "task", "t-1"), map[string]any{"stage": "won"})

		search := func(key, query string) map[string]any {
			t.Helper()
			res := b.send(t, req{Method: http.MethodGet, Path: "/api/field-values/search?" + query, Key: key})
			require.Equal(t, http.StatusOK, res.status, "%s: %s", query, res)
			return res.obj(t)
		}
		rowIDs := func(list map[string]any) []string {
			var out []string
			for _, r := range list["data"].([]any) {
				m := r.(map[string]any)
				out = append(out, m["tenantId"].(string)+"/"+m["fieldGroupKey"].(string)+"/"+m["entityId"].(string)+"/"+m["fieldKey"].(string))
			}
			return out
		}

		all := search(b.admin, "")
		require.EqualValues(t, 6, all["pagination"].(map[string]any)["total"])
		row := search(b.admin, "tenantId=t1&fieldGroupId=customer&entityId=c-1&fieldKey=company_size")["data"].([]any)
		require.Len(t, row, 1)
		r := row[0].(map[string]any)
		require.ElementsMatch(t, []string{"tenantId", "fieldGroupId", "fieldGroupKey", "fieldGroupName", "entityId", "fieldKey", "value", "updatedAt"}, keys(r))
		require.Equal(t, "CUSTOMER", r["fieldGroupName"])
		require.Equal(t, 42.0, r["value"])
		requireTime(t, r["updatedAt"])

		require.ElementsMatch(t, []string{"t1/customer/c-1/stage", "t2/customer/c-1/stage", "t1/task/t-1/stage"}, rowIDs(search(b.admin, "value=won")))
		require.ElementsMatch(t, []string{"t1/customer/c-1/stage", "t1/task/t-1/stage"}, rowIDs(search(b.admin, "value=won&tenantId=t1")))
		g := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-groups/task", nil)
		require.ElementsMatch(t, []string{"t1/task/t-1/stage"}, rowIDs(search(b.admin, "fieldGroupId="+g["id"].(string))))
		require.ElementsMatch(t, []string{"t1/customer/c-1/company_size"}, rowIDs(search(b.admin, "value=42")))
		require.ElementsMatch(t, []string{"t1/customer/c-2/active"}, rowIDs(search(b.admin, "value=true")))
		require.ElementsMatch(t, []string{"t1/customer/c-2/stage", "t1/customer/c-2/active"}, rowIDs(search(b.admin, "entityId=c-2")))
		require.Empty(t, rowIDs(search(b.admin, "fieldGroupId=nope")))
		require.Empty(t, rowIDs(search(b.admin, "value=WON")))

		// A tenant key sees its own tenant's values only.
		mine := search(b.tenant, "value=won")
		require.ElementsMatch(t, []string{"t1/customer/c-1/stage", "t1/task/t-1/stage"}, rowIDs(mine))
		require.ElementsMatch(t, []string{"t1/customer/c-1/stage", "t1/task/t-1/stage"}, rowIDs(search(b.tenant, "value=won&tenantId=t1")))

		// Pages cover every row once.
		var seen []string
		for page := 1; page <= 3; page++ {
			list := search(b.admin, "pageSize=2&page="+string(rune('0'+page)))
			require.Equal(t, map[string]any{"page": float64(page), "pageSize": 2.0, "total": 6.0, "totalPages": 3.0}, list["pagination"])
			seen = append(seen, rowIDs(list)...)
		}
		require.ElementsMatch(t, rowIDs(all), seen)
	})
}

func TestLargeValuesAreStoredSearchedAndKeptUnique(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.createGroup(t, "doc")
		b.createGlobal(t, "body", map[string]any{"type": "textarea", "validation": map[string]any{"unique": true}}, "doc")
		b.createGlobal(t, "meta", map[string]any{"type": "json"}, "doc")
		// Text that does not compress, well past what a btree index row holds.
		var sb strings.Builder
		for i := 0; sb.Len() < 300_000; i++ {
			fmt.Fprintf(&sb, "%x ü ", uint64(i)*0x9e3779b97f4a7c15)
		}
		text := sb.String()
		prefix := func(n int) string {
			for !utf8.RuneStart(text[n]) {
				n--
			}
			return text[:n]
		}
		meta := map[string]any{"text": prefix(5000), "n": 1.0}

		res := b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "doc", "d-1"), map[string]any{"body": text, "meta": meta})
		require.Equal(t, map[string]any{"body": text, "meta": meta}, res["data"])
		require.Equal(t, map[string]any{"body": text, "meta": meta}, b.ok(t, http.StatusOK, http.MethodGet, valuesPath(tenant, "doc", "d-1"), nil)["data"])

		// Only a text equal to the whole value matches or clashes.
		requireProblem(t, b.do(t, http.MethodPost, valuesPath(tenant, "doc", "d-2"), map[string]any{"body": text}), http.StatusUnprocessableEntity, "body.body")
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "doc", "d-2"), map[string]any{"body": text + "!"})
		b.ok(t, http.StatusOK, http.MethodPost, valuesPath(tenant, "doc", "d-3"), map[string]any{"body": prefix(1200)})

		found := b.ok(t, http.StatusOK, http.MethodGet, "/api/field-values/search?fieldKey=body&value="+url.QueryEscape(prefix(1200)), nil)
		require.Len(t, found["data"], 1)
		require.Equal(t, "d-3", found["data"].([]any)[0].(map[string]any)["entityId"])
		found = b.ok(t, http.StatusOK, http.MethodGet, "/api/field-values/search?fieldKey=body&value="+url.QueryEscape(prefix(1300)), nil)
		require.Empty(t, found["data"])
	})
}
