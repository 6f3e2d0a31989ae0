package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tenant trust boundary, walked route by route: every operation the
// served OpenAPI document lists is called with a tenant key, its path and
// query filled with the ids of another tenant and of the vendor (and with
// the key's own ids, whose answers may hold references to the others'
// resources). No answer may name anything of theirs, no write may change
// it, and nothing of theirs may be reached with a 2xx.

const (
	mineTenant  = "acme-mine"
	otherTenant = "globex-other"
)

// boundaryWorld is what exists before the walk: the vendor's resources,
// another tenant's, and the key's own tenant's, each with a live delivery
// and a finished run where it has one.
type boundaryWorld struct {
	*testBundle
	mineKey string
	// foreign are ids and values of the other tenant and the vendor that a
	// tenant key must never see; mine are the key's own ids.
	foreign map[string][]string // param kind → values
	mine    map[string][]string
	markers []string
}

func setupBoundary(t *testing.T, dialect string) *boundaryWorld {
	t.Helper()
	b := startApp(t, dialect, appOpts{})
	w := &boundaryWorld{testBundle: b, foreign: map[string][]string{}, mine: map[string][]string{}}
	customerGroup(t, b)
	w.mineKey = b.tenantKey(t, mineTenant)
	otherKey := b.tenantKey(t, otherTenant)
	rc := startReceiver(t, receiverOpts{})
	api := startAPI(t, func(w http.ResponseWriter, _ *apiCall) { w.WriteHeader(http.StatusOK) })

	add := func(m map[string][]string, kind, v string) { m[kind] = append(m[kind], v) }
	secretly := func(kind, v string) {
		add(w.foreign, kind, v)
		w.markers = append(w.markers, v)
	}

	// The vendor: a secret and a plain variable, an OAuth2 connection, an
	// endpoint and an automation for every tenant's events.
	b.must(t, http.StatusOK, http.MethodPut, "/api/variables/vendor_payroll_pw", map[string]any{"value": "vendor-secret-value-1", "secret": true}, nil)
	b.must(t, http.StatusOK, http.MethodPut, "/api/variables/vendor_plain", map[string]any{"value": "vendor-plain-value-2"}, nil)
	secretly("name", "vendor_payroll_pw")
	secretly("name", "vendor_plain")
	w.markers = append(w.markers, "vendor-secret-value-1", "vendor-plain-value-2")
	var conn struct{ ID string }
	b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Vendor CRM",
		"tokenUrl": api.URL + "/token", "clientId": "vendor-client-id-3", "clientSecret": "vendor-client-secret-4",
		"grantType": "client_credentials"}, &conn)
	secretly("id", conn.ID)
	w.markers = append(w.markers, "vendor-client-id-3", "vendor-client-secret-4")
	vendorEP := b.createEndpoint(t, map[string]any{"url": rc.URL + "/vendor", "events": []string{"order.*"}})
	secretly("id", vendorEP.ID)
	w.markers = append(w.markers, vendorEP.Secret)
	vendorAuto := b.createAutomation(t, map[string]any{"name": "Vendor rule",
		"trigger": map[string]any{"event": "order.*"},
		"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/vendor-rule"}}})
	secretly("id", vendorAuto.ID)

	// The other tenant: a tenant field, values, a variable, a connection,
	// an endpoint, an automation and an event with its delivery and runs.
	var tf struct{ ID string }
	res := b.call(t, otherKey, http.MethodPost, "/api/tenants/"+otherTenant+"/field-groups/customer/fields",
		map[string]any{"key": "other_secret_field", "label": "Theirs", "schema": map[string]any{"type": "string"}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.NoError(t, json.Unmarshal(res.body, &tf))
	secretly("id", tf.ID)
	secretly("fieldKey", "other_secret_field")
	res = b.call(t, otherKey, http.MethodPost, valuesPath(otherTenant, "other-entity-9"), map[string]any{"other_secret_field": "other-value-5", "country": "other-country-6"})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	secretly("entityId", "other-entity-9")
	w.markers = append(w.markers, "other-value-5", "other-country-6")
	res = b.call(t, otherKey, http.MethodPut, "/api/tenants/"+otherTenant+"/variables/other_var", map[string]any{"value": "other-var-value-7", "secret": true})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	secretly("name", "other_var")
	w.markers = append(w.markers, "other-var-value-7")
	res = b.call(t, otherKey, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Their CRM", "tenantId": otherTenant,
		"tokenUrl": api.URL + "/token", "clientId": "other-client-id-8", "clientSecret": "other-client-secret-8", "grantType": "client_credentials"})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.NoError(t, json.Unmarshal(res.body, &conn))
	secretly("id", conn.ID)
	w.markers = append(w.markers, "other-client-id-8", "other-client-secret-8")
	var otherEP endpoint
	res = b.call(t, otherKey, http.MethodPost, "/api/webhooks", map[string]any{"url": rc.URL + "/other", "events": []string{"order.*"}, "tenantId": otherTenant})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.NoError(t, json.Unmarshal(res.body, &otherEP))
	secretly("id", otherEP.ID)
	w.markers = append(w.markers, otherEP.Secret)
	var otherAuto automation
	res = b.call(t, otherKey, http.MethodPost, "/api/automations", map[string]any{"name": "Their rule",
		"trigger": map[string]any{"event": "order.*"},
		"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/other-rule"}}})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.NoError(t, json.Unmarshal(res.body, &otherAuto))
	secretly("id", otherAuto.ID)
	otherEvent := b.publish(t, "order.paid", otherTenant, map[string]any{"note": "other-event-data-10"})
	secretly("id", otherEvent)
	w.markers = append(w.markers, "other-event-data-10")
	secretly("tenantId", otherTenant)

	// The key's own tenant: an event that the vendor's endpoint and
	// automation also take, so its detail is where a leak would show.
	mineEvent := b.publish(t, "order.paid", mineTenant, map[string]any{"note": "mine"})
	add(w.mine, "id", mineEvent)
	add(w.mine, "tenantId", mineTenant)
	b.save(t, mineTenant, "mine-entity", map[string]any{"country": "NL"})
	add(w.mine, "entityId", "mine-entity")

	// Deliveries and runs of the vendor's and the other tenant's resources.
	// The vendor's endpoint takes both tenants' events, the other
	// tenant's its own.
	for ep, n := range map[string]int{vendorEP.ID: 2, otherEP.ID: 1} {
		for _, d := range b.waitFinished(t, ep, n, 10*time.Second) {
			secretly("id", d.ID)
		}
	}
	for _, au := range []string{vendorAuto.ID, otherAuto.ID} {
		want := 1
		if au == vendorAuto.ID {
			want = 2 // the other tenant's event and the key's own
		}
		for _, r := range b.waitRuns(t, au, want, 10*time.Second) {
			secretly("id", r.ID)
		}
	}
	for _, kind := range []string{"fg"} {
		add(w.foreign, kind, "customer")
		add(w.mine, kind, "customer")
	}
	return w
}

// snapshot is everything of the vendor and the other tenant a write
// could change, read with the admin key.
func (w *boundaryWorld) snapshot(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for _, path := range []string{
		"/api/webhooks?pageSize=500", "/api/automations?pageSize=500", "/api/variables",
		"/api/tenants/" + otherTenant + "/variables", "/api/oauth2-connections?pageSize=500",
		"/api/tenants/" + otherTenant + "/field-groups/customer/fields", valuesPath(otherTenant, "other-entity-9"),
		"/api/global-fields?pageSize=500", "/api/field-groups?pageSize=500",
		"/api/events?pageSize=500&tenantId=" + otherTenant,
	} {
		res := w.call(t, adminKey, http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.status, "GET %s: %s", path, res.body)
		fmt.Fprintf(&sb, "%s\n%s\n", path, res.body)
	}
	return sb.String()
}

// operation is one method and path template of the served OpenAPI
// document.
type operation struct {
	method, path string
	params       []string // path parameter names, in order
	query        []string // query parameter names
	hasBody      bool
	stream       bool // answers text/event-stream, which never ends by itself
}

// documentOperations reads every GET, POST, PUT, PATCH and DELETE of the
// served OpenAPI document, in a fixed order.
func documentOperations(t *testing.T, b *testBundle) []operation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters  []struct{ Name, In string }
			RequestBody *struct{} `json:"requestBody"`
			Responses   map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		}
	}
	b.must(t, http.StatusOK, http.MethodGet, "/api/openapi.json", nil, &doc)
	var ops []operation
	for path, item := range doc.Paths {
		for method, op := range item {
			m := strings.ToUpper(method)
			if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, m) {
				continue
			}
			_, stream := op.Responses["200"].Content["text/event-stream"]
			o := operation{method: m, path: path, hasBody: op.RequestBody != nil, stream: stream}
			for _, p := range op.Parameters {
				if p.In == "query" {
					o.query = append(o.query, p.Name)
				}
			}
			for _, p := range pathParam.FindAllStringSubmatch(path, -1) {
				o.params = append(o.params, p[1])
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].method+ops[i].path < ops[j].method+ops[j].path })
	return ops
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func (w *boundaryWorld) operations(t *testing.T) []operation {
	t.Helper()
	ops := documentOperations(t, w.testBundle)
	require.Greater(t, len(ops), 40, "the document lists the API")
	return ops
}

// kindOf maps a path parameter to the kind of value it takes.
func kindOf(param string) string {
	switch param {
	case "tenantId", "fg", "entityId", "fieldKey", "name":
		return param
	}
	return "id"
}

// fill expands a path template with every combination of values where
// at least one value is foreign (or, with own, with the key's own values
// only).
func fill(path string, values func(kind string) []string) []string {
	out := []string{""}
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		var next []string
		opts := []string{seg}
		if strings.HasPrefix(seg, "{") {
			opts = values(kindOf(strings.Trim(seg, "{}")))
		}
		for _, prefix := range out {
			for _, o := range opts {
				next = append(next, prefix+"/"+url.PathEscape(o))
			}
		}
		out = next
	}
	return out
}

// bodyFor is a body the operation would accept, so that a missing scope
// check is not hidden behind a validation error.
func bodyFor(op operation) any {
	p := op.path
	switch {
	case op.method == http.MethodPost && p == "/api/webhooks":
		return map[string]any{"url": "https://example.com/sneaky", "events": []string{"*"}, "tenantId": otherTenant}
	case op.method == http.MethodPost && p == "/api/automations":
		return map[string]any{"name": "sneaky", "tenantId": otherTenant, "trigger": map[string]any{"event": "order.*"},
			"actions": []map[string]any{{"name": "call", "type": "http", "url": "https://example.com/sneaky"}}}
	case op.method == http.MethodPost && p == "/api/oauth2-connections":
		return map[string]any{"name": "sneaky", "tenantId": otherTenant, "tokenUrl": "https://example.com/token",
			"clientId": "c", "clientSecret": "s", "grantType": "client_credentials"}
	case op.method == http.MethodPost && p == "/api/events":
		return map[string]any{"type": "order.sneaky", "tenantId": otherTenant, "data": map[string]any{}}
	case op.method == http.MethodPost && p == "/api/field-groups":
		return map[string]any{"key": "sneaky", "name": "Sneaky"}
	case op.method == http.MethodPost && p == "/api/global-fields":
		return map[string]any{"key": "sneaky", "label": "S", "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"customer"}}
	case strings.HasSuffix(p, "/fields") && op.method == http.MethodPost:
		return map[string]any{"key": "sneaky", "label": "S", "schema": map[string]any{"type": "string"}}
	case strings.HasSuffix(p, "/values") && op.method == http.MethodPost:
		return map[string]any{"country": "sneaky"}
	case strings.HasSuffix(p, "/replay"):
		return map[string]any{"since": "2000-01-01T00:00:00Z"}
	case strings.HasSuffix(p, "/rotate-secret"):
		return map[string]any{"graceHours": 1}
	case op.method == http.MethodPut:
		return map[string]any{"value": "sneaky"}
	case op.method == http.MethodPatch && strings.Contains(p, "/webhooks/"):
		return map[string]any{"description": "sneaky"}
	case op.method == http.MethodPatch && strings.Contains(p, "/fields/"), op.method == http.MethodPatch && strings.Contains(p, "/global-fields/"):
		return map[string]any{"label": "sneaky"}
	case op.method == http.MethodPatch:
		return map[string]any{"name": "sneaky"}
	}
	return nil
}

// leaked returns the markers body names that the request did not name
// itself (an error may quote the id it was asked for).
func leaked(markers []string, request string, body []byte) []string {
	var out []string
	for _, m := range markers {
		if strings.Contains(string(body), m) && !strings.Contains(request, url.PathEscape(m)) && !strings.Contains(request, url.QueryEscape(m)) {
			out = append(out, m)
		}
	}
	return out
}

// TestTenantKeyReachesNothingOfOthers walks every route of the served
// OpenAPI document with a tenant key: with another tenant's or the
// vendor's ids in its path or query it never answers 2xx, no answer names
// anything of theirs (not an own event's detail, not a list, not the
// metrics), and no write changes their data.
func TestTenantKeyReachesNothingOfOthers(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		w := setupBoundary(t, dialect)
		before := w.snapshot(t)
		ops := w.operations(t)
		calls := 0
		check := func(op operation, path string, foreign bool) {
			t.Helper()
			var res *response
			if op.stream {
				res = w.readStream(t, w.mineKey, path) // the whole log, from its start
			} else {
				res = w.call(t, w.mineKey, op.method, path, bodyFor(op))
			}
			calls++
			require.Less(t, res.status, 500, "%s %s: %s", op.method, path, res.body)
			if foreign && res.status < 300 {
				t.Errorf("%s %s reached a foreign resource: %d %.300s", op.method, path, res.status, res.body)
			}
			if l := leaked(w.markers, path, res.body); len(l) > 0 {
				t.Errorf("%s %s (%d) names foreign data %q: %.300s", op.method, path, res.status, l, res.body)
			}
		}
		for _, op := range ops {
			hasParams := strings.Contains(op.path, "{")
			// The key's own ids: answers may be 2xx but name nothing foreign.
			// Writes on its own resources are left out (they would change the
			// world the rest of the walk reads); GETs are enough for leaks.
			if op.method == http.MethodGet {
				for _, p := range fill(op.path, func(kind string) []string { return w.mine[kind] }) {
					check(op, p, false)
				}
			}
			if !hasParams && op.method != http.MethodGet {
				// A body naming the other tenant.
				check(op, op.path, bodyFor(op) != nil && strings.Contains(fmt.Sprint(bodyFor(op)), otherTenant))
			}
			if hasParams {
				for _, p := range fill(op.path, func(kind string) []string { return w.foreign[kind] }) {
					// Field groups are the vendor's and shared with every tenant:
					// reading one is allowed, but not writing.
					onlyShared := !strings.ContainsAny(strings.ReplaceAll(op.path, "{fg}", ""), "{")
					check(op, p, !(onlyShared && op.method == http.MethodGet))
				}
			}
			// Every query parameter that names a tenant, set to the other one.
			if slices.Contains(op.query, "tenantId") {
				for _, p := range fill(op.path, func(kind string) []string { return w.mine[kind] }) {
					check(op, p+"?tenantId="+url.QueryEscape(otherTenant), true)
				}
			}
		}
		t.Logf("%d calls over %d operations", calls, len(ops))
		require.Equal(t, before, w.snapshot(t), "a tenant key's writes changed another tenant's or the vendor's data")
	})
}
