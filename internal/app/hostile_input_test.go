package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/records"
)

// Hostile input on every write route the served OpenAPI document lists,
// over each database: every answer is a 4xx problem+json, never a 5xx, and
// nothing stored changes.

// hostileBundle is a running app holding one of everything a write route
// can name: a field group with global and tenant fields, an entity's
// values, an endpoint with a delivery, an automation with a run, a
// variable, a tenant variable and an OAuth2 connection.
type hostileBundle struct {
	*inputBundle
	api *fakeAPI
	// ids are the real values of the path parameters, by route prefix
	// ("/api/webhooks/{id}") or by name ("tenantId").
	ids map[string]string
}

func setupHostile(t *testing.T, dialect string) *hostileBundle {
	t.Helper()
	b := &hostileBundle{inputBundle: setupInput(t, dialect)}
	customerGroup(t, b.testBundle)
	b.api = startAPI(t, func(w http.ResponseWriter, _ *apiCall) { w.WriteHeader(http.StatusBadRequest) })
	au := b.createAutomation(t, map[string]any{"name": "Hostile",
		"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
		"actions": []map[string]any{{"name": "call", "type": "http", "url": b.api.URL + "/x"}}})
	b.save(t, "acme", "cust-1", map[string]any{"country": "DE"})
	r := b.waitRuns(t, au.ID, 1, 10*time.Second)[0]
	var gf, tf, conn, rt struct{ ID string }
	b.must(t, http.StatusCreated, http.MethodPost, "/api/request-templates", map[string]any{"name": "Orders", "url": b.api.URL + "/orders"}, &rt)
	b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields", map[string]any{"key": "extra", "label": "Extra",
		"schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"customer"}}, &gf)
	b.must(t, http.StatusCreated, http.MethodPost, "/api/tenants/acme/field-groups/customer/fields", map[string]any{"key": "mine", "label": "Mine",
		"schema": map[string]any{"type": "string"}}, &tf)
	b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Orders API",
		"tokenUrl": b.api.URL + "/token", "clientId": "c", "clientSecret": "s", "grantType": "client_credentials"}, &conn)
	b.must(t, http.StatusOK, http.MethodPut, "/api/variables/region", map[string]any{"value": "eu"}, nil)
	b.must(t, http.StatusOK, http.MethodPut, "/api/tenants/acme/variables/region", map[string]any{"value": "de"}, nil)
	b.ids = map[string]string{
		"tenantId": "acme", "fg": "customer", "entityId": "cust-1", "fieldKey": "country", "name": "region",
		"/api/global-fields/{id}":             gf.ID,
		"/api/tenants/{tenantId}/fields/{id}": tf.ID,
		"/api/webhooks/{id}":                  b.ep.ID,
		"/api/deliveries/{id}":                b.delivery.ID,
		"/api/automations/{id}":               au.ID,
		"/api/runs/{id}":                      r.ID,
		"/api/oauth2-connections/{id}":        conn.ID,
		"/api/request-templates/{id}":         rt.ID,
	}
	return b
}

// snapshot is everything a refused request could have changed.
func (b *hostileBundle) snapshot(t *testing.T) []string {
	t.Helper()
	out := b.inputBundle.state(t)
	for _, path := range []string{
		"/api/field-groups?pageSize=500", "/api/global-fields?pageSize=500",
		"/api/tenants/acme/field-groups/customer/fields?pageSize=500",
		"/api/tenants/acme/field-groups/customer/entities/cust-1/values",
		"/api/field-values/search?tenantId=acme&pageSize=500",
		"/api/automations?pageSize=500", "/api/runs/" + b.ids["/api/runs/{id}"],
		"/api/oauth2-connections?pageSize=500", "/api/variables", "/api/tenants/acme/variables",
		"/api/request-templates?pageSize=500",
	} {
		res := b.admin(t, http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, res.status, "GET %s: %s", path, res.body)
		out = append(out, string(res.body))
	}
	return out
}

// writeOps are the served document's POST, PUT, PATCH and DELETE
// operations.
func (b *hostileBundle) writeOps(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	for _, op := range documentOperations(t, b.testBundle) {
		if op.method != http.MethodGet {
			ops = append(ops, op)
		}
	}
	require.Greater(t, len(ops), 30, "the document lists the write routes")
	return ops
}

// fill puts the real ids into a path, except param, which gets value as
// it is (already escaped).
func (b *hostileBundle) fill(op operation, param, value string) string {
	path := op.path
	for _, p := range op.params {
		v, ok := b.ids[p]
		if p == "id" {
			// The route up to {id} names its kind.
			prefix := op.path[:strings.Index(op.path, "{id}")+len("{id}")]
			v, ok = b.ids[prefix]
		}
		if !ok {
			v = "unknown-id"
		}
		if p == param {
			v = value
		}
		path = strings.Replace(path, "{"+p+"}", v, 1)
	}
	return path
}

// hostileIDs are path ids PostgreSQL cannot store or no route should take.
var hostileIDs = []string{"%ff%fe", "%00", "a%0d%0ab", "..%2fx", "t%00x", "%c3%28", strings.Repeat("a", 300), "a%20b", "%e2%80%ae"}

// hostileBodies are bodies no write route may accept.
func hostileBodies() map[string]string {
	return map[string]string{
		"malformed JSON":          `{"url":`,
		"trailing garbage":        `{} {}`,
		"wrong type, array":       `["x"]`,
		"wrong type, number":      `42`,
		"wrong types":             `{"name":1,"key":true,"value":[],"url":{},"type":7,"data":"x","events":"*","schema":"s"}`,
		"unknown keys":            `{"zzUnknown":1,"another_unknown":"x"}`,
		"invalid UTF-8":           "{\"name\":\"\xff\xfe\",\"key\":\"k\xc3\x28\"}",
		"invalid UTF-8 key":       "{\"\xff\":1}",
		"NUL in a string":         `{"tenantId":"t\u0000","id":"e\u0000","name":"n\u0000","key":"k\u0000","value":"v\u0000","country":"D\u0000E"}`,
		"NUL in a key":            `{"coun\u0000try":"DE"}`,
		"NUL nested":              `{"data":{"a":["ok","x\u0000"]},"json":{"k":"\u0000"}}`,
		"lone surrogate":          `{"name":"\ud800","country":"\udc00x"}`,
		"oversized":               `{"name":"` + strings.Repeat("a", 1<<20+10) + `"}`,
		"raw NUL byte":            "{\"name\":\"a\x00b\"}",
		"control character":       "{\"name\":\"a\nb\"}",
		"deep nesting":            strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"secret and unknown keys": `{"secret":"yes","value":{"nested":true},"zz":1}`,
	}
}

// requireRefused checks that an answer is a 4xx problem+json.
func requireRefused(t *testing.T, res *response, what string) {
	t.Helper()
	require.True(t, res.status >= 400 && res.status < 500, "%s: want a 4xx, got %d: %.300s", what, res.status, res.body)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), "%s: %.300s", what, res.body)
}

func TestHostileInputOnEveryWriteRouteIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupHostile(t, dialect)
		before := b.snapshot(t)
		ops := b.writeOps(t)
		n := 0
		for _, op := range ops {
			// Hostile ids, one parameter at a time.
			for _, p := range op.params {
				for _, id := range hostileIDs {
					path := b.fill(op, p, id)
					res := b.admin(t, op.method, path, `{}`)
					requireRefused(t, res, op.method+" "+path)
					n++
				}
			}
			if !op.hasBody {
				continue
			}
			path := b.fill(op, "", "")
			for name, body := range hostileBodies() {
				res := b.admin(t, op.method, path, body)
				requireRefused(t, res, fmt.Sprintf("%s %s with %s", op.method, path, name))
				n++
			}
			// Hostile headers with a malformed body: no Content-Type, two
			// of them, an overlong Idempotency-Key, a bad If-Match.
			for _, h := range []map[string]string{
				{"X-API-Key": adminKey, "Content-Type": ""},
				{"X-API-Key": adminKey, "Idempotency-Key": strings.Repeat("k", 300)},
				{"X-API-Key": adminKey, "If-Match": "zz"},
			} {
				res := b.raw(t, h, op.method, path, `{"name":`)
				requireRefused(t, res, fmt.Sprintf("%s %s with headers %v", op.method, path, h))
				n++
			}
			req, err := http.NewRequest(op.method, b.url+path, strings.NewReader("{\"name\":\"\xff\"}"))
			require.NoError(t, err)
			req.Header["Content-Type"] = []string{"application/json", "text/plain"}
			req.Header.Set("X-API-Key", adminKey)
			res, err := client.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.True(t, res.StatusCode >= 400 && res.StatusCode < 500, "%s %s with two Content-Types: %d", op.method, path, res.StatusCode)
			n++

			chunked := b.rawChunked(t, op.method, path, "zz\r\n{}\r\n0\r\n\r\n")
			require.Equal(t, http.StatusBadRequest, chunked.status, "%s %s with a malformed chunk size: %s", op.method, path, chunked.body)
			requireProblem(t, chunked, http.StatusBadRequest, "body")
			n++
		}
		t.Logf("%d hostile requests over %d write routes", n, len(ops))
		require.Equal(t, before, b.snapshot(t), "no hostile request changed anything")
	})
}

// rawChunked writes a request with Transfer-Encoding: chunked and the
// chunks as they are over TCP, and reads the answer.
func (b *inputBundle) rawChunked(t *testing.T, method, path, chunks string) *response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"+
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%s", method, path, adminKey, chunks)
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	var body strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&body)
	return &response{status: res.StatusCode, header: res.Header, body: []byte(body.String())}
}

func TestMalformedChunkedBodyIsABadRequest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupInput(t, dialect)
		before := b.state(t)
		for _, r := range []route{
			{http.MethodPost, "/api/events", ""},
			{http.MethodPost, "/api/webhooks", ""},
			{http.MethodPatch, "/api/webhooks/" + b.ep.ID, ""},
			{http.MethodPost, "/api/tenants/acme/field-groups/customer/entities/e1/values", ""},
		} {
			res := b.rawChunked(t, r.method, r.path, "zz\r\n{}\r\n0\r\n\r\n")
			requireProblem(t, res, http.StatusBadRequest, "body")
		}
		require.Equal(t, before, b.state(t))
	})
}

func TestInvalidTextInBodiesIsRefusedOnBothDatabases(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := &hostileBundle{inputBundle: &inputBundle{testBundle: startApp(t, dialect, appOpts{})}}
		customerGroup(t, b.testBundle)
		conn := `"name":"c","tokenUrl":"https://auth.example/token","clientId":"c","clientSecret":"s","grantType":"client_credentials"`
		values := valuesPath("acme", "e1")
		b.requireRefusals(t, []refusal{
			// Invalid UTF-8 was replaced with U+FFFD and stored.
			{http.MethodPost, "/api/events", "{\"type\":\"order.paid\",\"data\":{\"n\":\"\xff\"}}", http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, values, "{\"country\":\"D\xc3\x28\"}", http.StatusBadRequest, []string{"body"}},
			// So were unpaired surrogates.
			{http.MethodPost, values, `{"country":"\ud800"}`, http.StatusBadRequest, []string{"body.country"}},
			// NUL: PostgreSQL answered 500, SQLite stored it.
			{http.MethodPost, "/api/events", `{"type":"order.paid","tenantId":"t\u0000","data":{}}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/events", `{"type":"order.paid","id":"x\u0000","data":{}}`, http.StatusUnprocessableEntity, []string{"body.id"}},
			{http.MethodPost, "/api/events", `{"type":"order.paid","data":{"list":[1,"a\u0000"]}}`, http.StatusUnprocessableEntity, []string{"body.data.list[1]"}},
			{http.MethodPost, values, `{"country":"D\u0000E"}`, http.StatusUnprocessableEntity, []string{"body.country"}},
			{http.MethodPost, "/api/oauth2-connections", `{` + conn + `,"tenantId":"t\u0000"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			// An escaped backslash before u0000 is no NUL: the field is
			// unknown, which is the refusal.
			{http.MethodPost, values, `{"nope":"\\u0000"}`, http.StatusUnprocessableEntity, nil},
		})
		require.Empty(t, b.values(t, "acme", "e1"))
		require.Empty(t, b.events(t, "type=order.paid"))
		// A literal backslash-u0000 is text like any other.
		b.save(t, "acme", "e1", map[string]any{"country": `\u0000`})
		require.Equal(t, `\u0000`, b.values(t, "acme", "e1")["country"])
	})
}

func TestIdsFollowOnePatternEverywhere(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := &hostileBundle{inputBundle: &inputBundle{testBundle: startApp(t, dialect, appOpts{})}}
		customerGroup(t, b.testBundle)
		conn := `"name":"c","tokenUrl":"https://auth.example/token","clientId":"c","clientSecret":"s","grantType":"client_credentials"`
		b.requireRefusals(t, []refusal{
			// Entity ids took NUL and CR/LF and emitted them.
			{http.MethodPost, valuesPath("acme", "%00"), `{"country":"DE"}`, http.StatusBadRequest, []string{"path.entityId"}},
			{http.MethodPost, valuesPath("acme", "a%0d%0ab"), `{"country":"DE"}`, http.StatusBadRequest, []string{"path.entityId"}},
			{http.MethodPost, valuesPath("acme", "a%20b"), `{"country":"DE"}`, http.StatusBadRequest, []string{"path.entityId"}},
			{http.MethodPost, valuesPath("acme", strings.Repeat("e", 129)), `{"country":"DE"}`, http.StatusBadRequest, []string{"path.entityId"}},
			{http.MethodPost, valuesPath(".acme", "e1"), `{"country":"DE"}`, http.StatusBadRequest, []string{"path.tenantId"}},
			// Body tenant ids took what the tenant routes refuse.
			{http.MethodPost, "/api/events", `{"type":"order.paid","tenantId":"../base\r\n","data":{}}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/events", `{"type":"order.paid","tenantId":"a b","data":{}}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/events", `{"type":"order.paid","id":"../x","data":{}}`, http.StatusUnprocessableEntity, []string{"body.id"}},
			{http.MethodPost, "/api/oauth2-connections", `{` + conn + `,"tenantId":"../base\r\n"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/oauth2-connections", `{` + conn + `,"tenantId":".hidden"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/webhooks", `{"url":"https://example.com/h","events":["*"],"tenantId":".hidden"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/automations", `{"name":"A","tenantId":".hidden","trigger":{"event":"order.paid"},"actions":[{"name":"a","type":"http","url":"https://api.example/x"}]}`,
				http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			// Opaque ids: PostgreSQL answered 500.
			{http.MethodDelete, "/api/webhooks/%ff%fe", "", http.StatusBadRequest, []string{"path.id"}},
			{http.MethodDelete, "/api/automations/%00", "", http.StatusBadRequest, []string{"path.id"}},
			{http.MethodPatch, "/api/oauth2-connections/x%00", `{}`, http.StatusBadRequest, []string{"path.id"}},
			{http.MethodDelete, "/api/tenants/acme/variables/%ff", "", http.StatusBadRequest, []string{"path.name"}},
			{http.MethodGet, "/api/events?tenantId=%00", "", http.StatusBadRequest, []string{"query.tenantId"}},
		})
		require.Empty(t, b.events(t, "type=order.paid"), "no refused publish stored an event")
		var conns struct{ Data []any }
		b.must(t, http.StatusOK, http.MethodGet, "/api/oauth2-connections", nil, &conns)
		require.Empty(t, conns.Data)

		// Every id that matches the pattern works.
		for _, id := range []string{"a", "acme", "A9", "sunrise-dental", "org:42", "user@example.com", "v1.2_x", strings.Repeat("e", 128)} {
			b.save(t, id, id, map[string]any{"country": "DE"})
			require.Equal(t, "DE", b.values(t, id, id)["country"], id)
			b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "order.paid", "tenantId": id, "id": id, "data": map[string]any{}}, nil)
		}
	})
}

func TestPublishRefusesReservedEventNames(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		tenant := b.tenantKey(t, "acme")
		for _, typ := range []string{"field_value.saved", "entity.updated", "webhook.test", "automation.run_failed",
			"field_group.created", "global_field.deleted", "tenant_field.updated", "webhook.anything", "entity.", "tenant.erased"} {
			for _, key := range []string{adminKey, tenant} {
				res := b.call(t, key, http.MethodPost, "/api/events", map[string]any{"type": typ, "data": map[string]any{}})
				requireProblem(t, res, http.StatusUnprocessableEntity, "body.type")
				for _, prefix := range []string{"field_group.", "global_field.", "tenant_field.", "field_value.", "entity.", "webhook.", "automation.", "tenant."} {
					require.Contains(t, string(res.body), prefix, "the answer lists the reserved prefixes")
				}
			}
		}
		require.Empty(t, b.events(t, ""), "nothing was published (no group was made)")
		// Names that only look alike are the host's.
		for _, typ := range []string{"entity_updated", "webhooks.test", "my.field_value.saved", "Entity.updated", "automation", "tenants.erased"} {
			b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": typ, "data": map[string]any{}}, nil)
		}
	})
}

func TestEventDetailShowsATenantOnlyWhatItsKeyMaySee(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{})
		api := startAPI(t, func(w http.ResponseWriter, _ *apiCall) { _, _ = w.Write([]byte(`{"vendor":"secret"}`)) })
		tenant := b.tenantKey(t, "acme")
		vendorEP := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.*"}})
		var tenantEP endpoint
		res := b.call(t, tenant, http.MethodPost, "/api/webhooks", map[string]any{"url": rc.URL, "events": []string{"order.*"}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
		require.NoError(t, json.Unmarshal(res.body, &tenantEP))
		vendorAU := b.createAutomation(t, map[string]any{"name": "Vendor", "trigger": map[string]any{"event": "order.paid"},
			"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/vendor", "captureResponse": true}}})
		var tenantAU automation
		res = b.call(t, tenant, http.MethodPost, "/api/automations", map[string]any{"name": "Mine", "trigger": map[string]any{"event": "order.paid"},
			"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/tenant"}}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
		require.NoError(t, json.Unmarshal(res.body, &tenantAU))

		evID := b.publish(t, "order.paid", "acme", map[string]any{"n": 1})
		b.waitFinished(t, vendorEP.ID, 1, 10*time.Second)
		b.waitFinished(t, tenantEP.ID, 1, 10*time.Second)
		b.waitRuns(t, vendorAU.ID, 1, 10*time.Second)
		b.waitRuns(t, tenantAU.ID, 1, 10*time.Second)

		type detail struct {
			Deliveries []delivery `json:"deliveries"`
			Runs       []run      `json:"runs"`
		}
		get := func(key string) detail {
			res := b.call(t, key, http.MethodGet, "/api/events/"+evID, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.body)
			var d detail
			require.NoError(t, json.Unmarshal(res.body, &d))
			return d
		}
		endpoints := func(d detail) []string {
			var ids []string
			for _, x := range d.Deliveries {
				ids = append(ids, x.EndpointID)
			}
			sort.Strings(ids)
			return ids
		}
		automations := func(d detail) []string {
			var ids []string
			for _, x := range d.Runs {
				ids = append(ids, x.AutomationID)
			}
			sort.Strings(ids)
			return ids
		}
		both := func(a, b string) []string { s := []string{a, b}; sort.Strings(s); return s }

		admin := get(adminKey)
		require.Equal(t, both(vendorEP.ID, tenantEP.ID), endpoints(admin))
		require.Equal(t, both(vendorAU.ID, tenantAU.ID), automations(admin))

		mine := get(tenant)
		require.Equal(t, []string{tenantEP.ID}, endpoints(mine), "a tenant key sees its own endpoint's delivery, not the vendor's")
		require.Equal(t, []string{tenantAU.ID}, automations(mine), "a tenant key sees its own automation's run, not the vendor's")
		// The same rule as the delivery and run routes.
		for _, d := range admin.Deliveries {
			want := http.StatusNotFound
			if d.EndpointID == tenantEP.ID {
				want = http.StatusOK
			}
			require.Equal(t, want, b.call(t, tenant, http.MethodGet, "/api/deliveries/"+d.ID, nil).status)
		}
		for _, r := range admin.Runs {
			want := http.StatusNotFound
			if r.AutomationID == tenantAU.ID {
				want = http.StatusOK
			}
			require.Equal(t, want, b.call(t, tenant, http.MethodGet, "/api/runs/"+r.ID, nil).status)
		}
	})
}

func TestUnknownRoutesAndMethodsAnswerProblemJSON(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := &inputBundle{testBundle: startApp(t, dialect, appOpts{})}
		res := b.admin(t, http.MethodGet, "/api/no-such-thing", "")
		requireProblem(t, res, http.StatusNotFound)
		// Outside /api an unknown path is a page of the web app (its client
		// routes), so only API paths are checked here.
		res = b.admin(t, http.MethodDelete, "/api", "")
		requireProblem(t, res, http.StatusNotFound)
		res = b.admin(t, http.MethodPut, "/api/events", `{}`)
		requireProblem(t, res, http.StatusMethodNotAllowed)
		require.Contains(t, res.header.Get("Allow"), http.MethodPost)
		require.Contains(t, res.header.Get("Allow"), http.MethodGet)
	})
}

func TestEveryPathIDOfTheDocumentFollowsTheIDPattern(t *testing.T) {
	t.Parallel()
	b := &inputBundle{testBundle: startApp(t, "sqlite", appOpts{})}
	res := b.admin(t, http.MethodGet, "/api/openapi.json", "")
	require.Equal(t, http.StatusOK, res.status)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				In     string `json:"in"`
				Schema struct {
					Pattern string `json:"pattern"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(res.body, &doc))
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			for _, p := range op.Parameters {
				if p.In != "path" {
					continue
				}
				want := records.IDPattern
				if p.Name == "name" {
					// Variable names are template names ({{vars.name}}).
					want = `^[A-Za-z_][A-Za-z0-9_]{0,63}$`
				}
				require.Equal(t, want, p.Schema.Pattern, "%s %s: {%s}", method, path, p.Name)
				n++
			}
		}
	}
	require.Greater(t, n, 40)
}
