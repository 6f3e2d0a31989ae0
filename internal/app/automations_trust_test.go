package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/store"
)

// The trust boundary between the vendor and its tenants, as automations
// see it, and what one broken automation may not stop: a real app over
// each database, tenant keys, real receivers.

// bodyOf decodes a request's JSON body.
func bodyOf(t *testing.T, c *apiCall) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(c.Body, &m), "body: %s", c.Body)
	return m
}

// postTo is an http action posting a JSON body to url.
func postTo(url string, body map[string]any) map[string]any {
	return map[string]any{"name": "call", "type": "http", "url": url, "body": map[string]any{"type": "json", "json": body}}
}

var onCountry = map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"}

// insertAutomation writes an automation straight into the database, past
// every check an API save makes, as a hand-edited row or an older
// version's would be.
func insertAutomation(t *testing.T, b *testBundle, a *store.Automation) {
	t.Helper()
	ctx := context.Background()
	s, err := app.OpenStore(ctx, b.cfg)
	require.NoError(t, err)
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	a.Active, a.ActivatedAt, a.CreatedAt, a.UpdatedAt = true, now, now, now
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AutomationCreate(ctx, a) }))
}

func TestTenantAutomationSeesOnlyItsTenantsValuesAndSharedGlobals(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		acme := b.tenantKey(t, "acme")
		put := func(key, path string, body map[string]any) {
			t.Helper()
			res := b.call(t, key, http.MethodPut, path, body)
			require.Equal(t, http.StatusOK, res.status, "PUT %s: %s", path, res.body)
		}
		put(adminKey, "/api/variables/payroll_pw", map[string]any{"value": "VENDOR-PAYROLL", "secret": true})
		put(adminKey, "/api/variables/token", map[string]any{"value": "VENDOR-TOKEN", "secret": true})
		put(adminKey, "/api/variables/region", map[string]any{"value": "vendor-region"})
		put(adminKey, "/api/variables/base", map[string]any{"value": "shared-base", "shared": true})
		put(acme, "/api/tenants/acme/variables/token", map[string]any{"value": "ACME-TOKEN", "secret": true})

		// Sharing is for global, non-secret variables, and the API says so.
		requireProblem(t, b.call(t, adminKey, http.MethodPut, "/api/variables/pw", map[string]any{"value": "x", "secret": true, "shared": true}),
			http.StatusUnprocessableEntity, "body.shared")
		requireProblem(t, b.call(t, acme, http.MethodPut, "/api/tenants/acme/variables/own", map[string]any{"value": "x", "shared": true}),
			http.StatusUnprocessableEntity, "body.shared")
		var shown struct {
			Shared bool    `json:"shared"`
			Value  *string `json:"value"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/variables/base", nil, &shown)
		require.True(t, shown.Shared)

		// A tenant's automation naming the vendor's secret is refused where
		// the template is, not rendered empty later.
		res := b.call(t, acme, http.MethodPost, "/api/automations", map[string]any{"name": "Steal", "trigger": onCountry,
			"actions": []any{postTo(api.URL+"/steal", map[string]any{"g": "{{secrets.payroll_pw}}"})}})
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.actions[0].body.json.g")
		require.Contains(t, string(res.body), "global secret")

		res = b.call(t, acme, http.MethodPost, "/api/automations", map[string]any{"name": "Own", "trigger": onCountry,
			"actions": []any{postTo(api.URL+"/tenant", map[string]any{"token": "{{secrets.token}}", "shared": "{{vars.base}}", "region": "{{vars.region}}"})}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/automations", map[string]any{"name": "Vendor", "trigger": onCountry,
			"actions": []any{postTo(api.URL+"/vendor", map[string]any{"payroll": "{{secrets.payroll_pw}}", "token": "{{secrets.token}}", "region": "{{vars.region}}"})}}, nil)

		b.save(t, "acme", "c1", map[string]any{"country": "DE"})
		waitUntil(t, 10*time.Second, "both automations called", func() bool { return len(api.on("/tenant")) == 1 && len(api.on("/vendor")) == 1 })
		require.Equal(t, map[string]any{"token": "ACME-TOKEN", "shared": "shared-base", "region": nil}, bodyOf(t, api.on("/tenant")[0]),
			"the tenant's automation sees its own secret and the shared variable, not the vendor's region")
		require.Equal(t, map[string]any{"payroll": "VENDOR-PAYROLL", "token": "ACME-TOKEN", "region": "vendor-region"}, bodyOf(t, api.on("/vendor")[0]),
			"a vendor-wide automation sees the globals, with the event's tenant's own values winning")

		// Once the tenant's own secret is gone, the vendor's of the same
		// name does not take its place.
		require.Equal(t, http.StatusNoContent, b.call(t, acme, http.MethodDelete, "/api/tenants/acme/variables/token", nil).status)
		time.Sleep(1100 * time.Millisecond) // the variables cache keeps a second
		b.save(t, "acme", "c1", map[string]any{"country": "FR"})
		waitUntil(t, 10*time.Second, "both automations called again", func() bool { return len(api.on("/tenant")) == 2 && len(api.on("/vendor")) == 2 })
		require.Nil(t, bodyOf(t, api.on("/tenant")[1])["token"], "a missing value is null in a JSON body")
		require.Equal(t, "VENDOR-TOKEN", bodyOf(t, api.on("/vendor")[1])["token"])
	})
}

func TestTenantAutomationCannotUseVendorOAuth2Connection(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"VENDOR-BEARER","token_type":"bearer","expires_in":3600}`))
		})
		var conn struct{ ID string }
		b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Vendor's",
			"tokenUrl": api.URL + "/token", "clientId": "c", "clientSecret": "s", "grantType": "client_credentials"}, &conn)
		call := map[string]any{"name": "call", "type": "http", "url": api.URL + "/tenant-chosen",
			"auth": map[string]any{"type": "oauth2", "connectionId": conn.ID}}

		res := b.call(t, b.tenantKey(t, "acme"), http.MethodPost, "/api/automations", map[string]any{"name": "Borrow", "trigger": onCountry, "actions": []any{call}})
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.actions[0].auth.connectionId")
		res = b.call(t, adminKey, http.MethodPost, "/api/automations", map[string]any{"name": "Borrow", "tenantId": "acme", "trigger": onCountry, "actions": []any{call}})
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.actions[0].auth.connectionId")

		// A row that says otherwise, written past the API, still never
		// gets the vendor's token.
		def, err := json.Marshal(map[string]any{"trigger": onCountry, "actions": []any{call}})
		require.NoError(t, err)
		insertAutomation(t, b, &store.Automation{ID: "au_borrow", TenantID: "acme", Name: "Borrow", Definition: def})
		time.Sleep(2100 * time.Millisecond) // other writers' automations are seen within 2 s
		b.save(t, "acme", "c1", map[string]any{"country": "DE"})
		r := b.waitRuns(t, "au_borrow", 1, 10*time.Second)[0]
		r = b.waitRun(t, r.ID, 10*time.Second)
		require.Equal(t, "failed", r.State)
		require.Contains(t, r.Error, "not of this automation's scope")
		require.Empty(t, api.all(), "neither the token endpoint nor the tenant's URL was called")
	})
}

func TestBrokenAutomationIsLeftOutWhileWritesGoOn(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		good := b.createAutomation(t, map[string]any{"name": "Good", "trigger": onCountry, "actions": []any{postTo(api.URL+"/good", map[string]any{"v": "{{event.value}}"})}})

		// One whose condition no longer compiles, one whose secret the
		// master key cannot open.
		badCond, err := json.Marshal(map[string]any{"trigger": map[string]any{"event": "field_value.saved", "condition": "event.value =="},
			"actions": []any{postTo(api.URL+"/bad", map[string]any{})}})
		require.NoError(t, err)
		insertAutomation(t, b, &store.Automation{ID: "au_badcond", Name: "Bad condition", Definition: badCond})
		okDef, err := json.Marshal(map[string]any{"trigger": onCountry, "actions": []any{postTo(api.URL+"/bad", map[string]any{})}})
		require.NoError(t, err)
		insertAutomation(t, b, &store.Automation{ID: "au_badsecret", Name: "Bad secret", Definition: okDef, Secret: "v1:bm90IHNlYWxlZA=="})
		time.Sleep(2100 * time.Millisecond) // other writers' automations are seen within 2 s

		b.save(t, "acme", "c1", map[string]any{"country": "DE"})
		res := b.call(t, adminKey, http.MethodPost, "/api/events", map[string]any{"type": "order.paid", "tenantId": "acme", "data": map[string]any{"n": 1}})
		require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
		api.wait(t, 1, 10*time.Second)
		require.Len(t, api.on("/good"), 1, "the other automation still runs")
		require.Empty(t, api.on("/bad"))

		var got struct {
			Health struct {
				State string `json:"state"`
				Error string `json:"error"`
			} `json:"health"`
		}
		for id, want := range map[string]string{"au_badcond": "condition", "au_badsecret": "secret"} {
			b.must(t, http.StatusOK, http.MethodGet, "/api/automations/"+id, nil, &got)
			require.Equal(t, "broken", got.Health.State, id)
			require.Contains(t, got.Health.Error, want, id)
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations/"+good.ID, nil, &got)
		require.Equal(t, "ok", got.Health.State)
		var list struct {
			Data []struct {
				ID     string `json:"id"`
				Health struct {
					State string `json:"state"`
				} `json:"health"`
			} `json:"data"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations", nil, &list)
		states := map[string]string{}
		for _, a := range list.Data {
			states[a.ID] = a.Health.State
		}
		require.Equal(t, map[string]string{good.ID: "ok", "au_badcond": "broken", "au_badsecret": "broken"}, states)
		metrics := b.call(t, adminKey, http.MethodGet, "/metrics", nil)
		require.Contains(t, string(metrics.body), "\nfieldflow_automations_broken 2\n")

		// Fixing it with a PATCH makes it whole again.
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/au_badcond", map[string]any{"trigger": onCountry}, &got)
		require.Equal(t, "ok", got.Health.State)
	})
}

func TestAutomationSaveRefusesWhatWouldOnlyFailAtRunTime(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/token", map[string]any{"value": "t", "secret": true}, nil)
		list := "[1,2,3,4,5,6,7,8,9,10]"
		six := "true"
		for _, v := range []string{"a", "b", "c", "d", "e", "f"} {
			six = list + ".all(" + v + ", " + six + ")"
		}
		call := func(extra map[string]any) map[string]any {
			a := map[string]any{"name": "call", "type": "http", "url": "https://api.example/x"}
			for k, v := range extra {
				a[k] = v
			}
			return a
		}
		for _, c := range []struct {
			name     string
			trigger  map[string]any
			action   map[string]any
			location string
		}{
			{"condition cost", map[string]any{"event": "field_value.saved", "condition": six}, call(nil), "body.trigger.condition"},
			{"if cost", onCountry, call(map[string]any{"if": six}), "body.actions[0].if"},
			{"invalid regex", map[string]any{"event": "field_value.saved", "condition": "string(event.value).matches('(')"}, call(nil), "body.trigger.condition"},
			{"date rule on a string field", map[string]any{"date": map[string]any{"fieldGroup": "customer", "fieldKey": "country"}}, call(nil), "body.trigger.date.fieldKey"},
			{"LF in bearer token", onCountry, call(map[string]any{"auth": map[string]any{"type": "bearer", "token": "abc\nX-Injected: 1"}}), "body.actions[0].auth.token"},
			{"CR in api key value", onCountry, call(map[string]any{"auth": map[string]any{"type": "apiKey", "name": "X-Key", "value": "abc\r"}}), "body.actions[0].auth.value"},
			{"LF in basic password", onCountry, call(map[string]any{"auth": map[string]any{"type": "basic", "username": "u", "password": "p\n"}}), "body.actions[0].auth.password"},
			{"secret that does not exist", onCountry, call(map[string]any{"headers": map[string]any{"X-A": "{{secrets.nope}}"}}), "body.actions[0].headers.X-A"},
		} {
			res := b.call(t, adminKey, http.MethodPost, "/api/automations", map[string]any{"name": c.name, "trigger": c.trigger, "actions": []any{c.action}})
			requireProblem(t, res, http.StatusUnprocessableEntity, c.location)
		}
		var all struct{ Data []any }
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations", nil, &all)
		require.Empty(t, all.Data, "nothing refused was stored")

		// What must keep working: a condition of ordinary cost, a date rule
		// on a datetime field, an existing secret.
		b.createAutomation(t, map[string]any{"name": "fine", "trigger": map[string]any{"event": "entity.updated", "condition": "event.changedKeys.exists(k, k == 'stage')"},
			"actions": []any{call(map[string]any{"auth": map[string]any{"type": "bearer", "token": "{{secrets.token}}"}})}})
		b.createAutomation(t, map[string]any{"name": "renewal", "trigger": map[string]any{"date": map[string]any{"fieldGroup": "customer", "fieldKey": "renewal"}},
			"actions": []any{call(nil)}})
	})
}

func TestAutomationURLBaseFromVariableAndPortWithoutPath(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/base_url", map[string]any{"value": api.URL + "/v1"}, nil)
		b.createAutomation(t, map[string]any{"name": "base", "trigger": onCountry,
			"actions": []any{map[string]any{"name": "call", "type": "http", "url": "{{vars.base_url}}/hook/{{event.value}}"}}})
		// http://127.0.0.1:<port>, a port and no path.
		require.False(t, strings.Contains(strings.TrimPrefix(api.URL, "http://"), "/"))
		b.createAutomation(t, map[string]any{"name": "port", "trigger": onCountry,
			"actions": []any{map[string]any{"name": "call", "type": "http", "url": api.URL}}})

		b.save(t, "acme", "c1", map[string]any{"country": "a/b"})
		api.wait(t, 2, 10*time.Second)
		require.Len(t, api.on("/v1/hook/a/b"), 1, "the base URL is inserted as a URL; the value after it stays one segment")
		require.Equal(t, "/v1/hook/a%2Fb", api.on("/v1/hook/a/b")[0].URL.EscapedPath())
		require.Len(t, api.on("/"), 1)
	})
}
