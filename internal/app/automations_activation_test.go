package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAutomationFiresOnlyForEventsAfterActivation proves that an inactive
// automation starts no run, that activating it sets activatedAt, and that
// only events after that start runs (runs are written in the event's
// transaction, so a save that started none never will).
func TestAutomationFiresOnlyForEventsAfterActivation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		a := b.createAutomation(t, map[string]any{
			"name": "Later", "active": false,
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "counter"},
			"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/later",
				"body": map[string]any{"type": "json", "json": map[string]any{"n": "{{event.value}}"}}}},
		})
		require.False(t, a.Active)
		require.Nil(t, a.ActivatedAt)

		b.save(t, "acme", "cust-1", map[string]any{"counter": 1})
		require.Empty(t, b.runs(t, a.ID, ""), "an inactive automation starts no run")

		before := time.Now().UTC().Add(-time.Second)
		var on automation
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true}, &on)
		require.True(t, on.Active)
		require.NotNil(t, on.ActivatedAt)
		require.True(t, on.ActivatedAt.After(before), "activatedAt %s is the activation's time", on.ActivatedAt)
		var got automation
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations/"+a.ID, nil, &got)
		require.Equal(t, on.ActivatedAt.UnixMicro(), got.ActivatedAt.UnixMicro())
		require.Empty(t, b.runs(t, a.ID, ""), "activation does not pick up earlier events")

		b.save(t, "acme", "cust-1", map[string]any{"counter": 2})
		b.save(t, "acme", "cust-1", map[string]any{"counter": 3})
		rs := b.waitRuns(t, a.ID, 2, 10*time.Second)
		require.Len(t, rs, 2)
		calls := api.wait(t, 2, 5*time.Second)
		var ns []string
		for _, c := range calls {
			ns = append(ns, string(c.Body))
		}
		require.ElementsMatch(t, []string{`{"n":2}`, `{"n":3}`}, ns)

		// Off again: nothing; on again: a new activatedAt, and only new events.
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": false}, &got)
		b.save(t, "acme", "cust-1", map[string]any{"counter": 4})
		require.Len(t, b.runs(t, a.ID, ""), 2)
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true}, &got)
		require.True(t, got.ActivatedAt.After(*on.ActivatedAt))
		b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true, "name": "Later on"}, &on)
		require.Equal(t, got.ActivatedAt.UnixMicro(), on.ActivatedAt.UnixMicro(), "an active automation saved active stays activated when it was")
		require.Len(t, b.runs(t, a.ID, ""), 2)
		b.save(t, "acme", "cust-1", map[string]any{"counter": 5})
		require.Len(t, b.waitRuns(t, a.ID, 3, 10*time.Second), 3)
		require.Len(t, api.wait(t, 3, 5*time.Second), 3)
	})
}

// TestAutomationRunLogExplainsSteps proves what a run log shows: a step
// whose if is false is skipped (and the next runs); template paths that
// are missing render empty (null as a whole JSON value) and are noted; and
// no secret, however it is used, appears anywhere in the run as the API
// returns it.
func TestAutomationRunLogExplainsSteps(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		const secret = "sk-live-5ecr3t-value-0042"
		const tenantSecret = "tenant-only-pa55word"
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/api_key", map[string]any{"value": secret, "secret": true}, nil)
		b.must(t, http.StatusOK, http.MethodPut, "/api/tenants/acme/variables/password", map[string]any{"value": tenantSecret, "secret": true}, nil)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/region", map[string]any{"value": "eu-1"}, nil)
		api := startAPI(t, nil)
		a := b.createAutomation(t, map[string]any{
			"name":    "Explain",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
			"actions": []map[string]any{
				{"name": "only_fr", "type": "http", "url": api.URL + "/fr", "if": "event.value == 'FR'"},
				{"name": "gaps", "type": "http", "url": api.URL + "/gaps",
					"query": map[string]any{"region": "{{vars.region}}", "zone": "{{vars.zone}}"},
					"body": map[string]any{"type": "json", "json": map[string]any{
						"text": "[{{entity.values.nothing}}]", "whole": "{{entity.values.nothing}}", "step": "{{steps.never.response.body}}"}}},
				{"name": "bearer", "type": "http", "url": api.URL + "/bearer/{{secrets.api_key}}",
					"auth":    map[string]any{"type": "bearer", "token": "{{secrets.api_key}}"},
					"headers": map[string]any{"X-Key": "k={{secrets.api_key}}"}, "query": map[string]any{"key": "{{secrets.api_key}}"},
					"body": map[string]any{"type": "json", "json": map[string]any{"key": "{{secrets.api_key}}", "note": "key is {{secrets.api_key}}"}}},
				{"name": "form", "type": "http", "url": api.URL + "/form",
					"auth": map[string]any{"type": "basic", "username": "acme", "password": "{{secrets.password}}"},
					"body": map[string]any{"type": "form", "form": map[string]any{"key": "{{secrets.api_key}}"}}},
				{"name": "apikey", "type": "http", "url": api.URL + "/apikey",
					"auth": map[string]any{"type": "apiKey", "in": "query", "name": "api_key", "value": "{{secrets.api_key}}"},
					"body": map[string]any{"type": "raw", "raw": "key={{secrets.api_key}}", "contentType": "text/plain"}},
				{"name": "after", "type": "http", "url": api.URL + "/after", "if": "steps.gaps.response.status == 200"},
			},
		})

		b.save(t, "acme", "cust-1", map[string]any{"country": "DE"})
		r := b.waitRuns(t, a.ID, 1, 10*time.Second)[0]
		require.Equal(t, "succeeded", r.State, "%+v", r)
		var states []string
		for _, s := range r.Steps {
			states = append(states, s.Name+" "+s.State)
		}
		require.Equal(t, []string{"only_fr skipped", "gaps succeeded", "bearer succeeded", "form succeeded", "apikey succeeded", "after skipped"}, states,
			"a false if skips its step; steps.gaps was not captured, so the last if fails to evaluate and skips too")
		require.Empty(t, api.on("/fr"))
		require.Empty(t, api.on("/after"))
		require.Contains(t, r.Steps[5].Error, "if could not be evaluated")

		// Missing paths: empty text, null as a whole value, each noted.
		gaps := api.on("/gaps")
		require.Len(t, gaps, 1)
		require.JSONEq(t, `{"text": "[]", "whole": null, "step": null}`, string(gaps[0].Body))
		require.Equal(t, url.Values{"region": {"eu-1"}, "zone": {""}}, gaps[0].URL.Query())
		require.ElementsMatch(t, []string{"missing template path: entity.values.nothing", "missing template path: steps.never.response.body",
			"missing template path: vars.zone"}, r.Steps[1].Notes)

		// The secrets were sent…
		bearer := api.on("/bearer/" + secret)
		require.Len(t, bearer, 1)
		require.Equal(t, "Bearer "+secret, bearer[0].Header.Get("Authorization"))
		require.Equal(t, "k="+secret, bearer[0].Header.Get("X-Key"))
		require.Equal(t, secret, bearer[0].URL.Query().Get("key"))
		require.JSONEq(t, `{"key": "`+secret+`", "note": "key is `+secret+`"}`, string(bearer[0].Body))
		form := api.on("/form")[0]
		user, pass, ok := (&http.Request{Header: form.Header}).BasicAuth()
		require.True(t, ok)
		require.Equal(t, "acme", user)
		require.Equal(t, tenantSecret, pass)
		require.Equal(t, "key="+url.QueryEscape(secret), string(form.Body))
		apikey := api.on("/apikey")[0]
		require.Equal(t, secret, apikey.URL.Query().Get("api_key"))
		require.Equal(t, "key="+secret, string(apikey.Body))

		// …and appear nowhere in what the API shows of the run.
		basic := base64.StdEncoding.EncodeToString([]byte("acme:" + tenantSecret))
		ev := b.call(t, adminKey, http.MethodGet, "/api/events/"+r.EventID, nil)
		for _, res := range []*response{
			b.call(t, adminKey, http.MethodGet, "/api/runs/"+r.ID, nil),
			b.call(t, adminKey, http.MethodGet, "/api/automations/"+a.ID+"/runs", nil),
			ev,
		} {
			require.Equal(t, http.StatusOK, res.status)
			for _, s := range []string{secret, url.QueryEscape(secret), tenantSecret, basic} {
				require.NotContains(t, string(res.body), s)
			}
		}
		require.Contains(t, string(ev.body), r.ID)
		var logged struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
			Body    string            `json:"body"`
		}
		require.NoError(t, json.Unmarshal(r.Steps[2].Request, &logged))
		require.Equal(t, api.URL+"/bearer/••••?key=••••", logged.URL)
		require.Equal(t, "••••", logged.Headers["Authorization"])
		require.Equal(t, "k=••••", logged.Headers["X-Key"])
		require.JSONEq(t, `{"key": "••••", "note": "key is ••••"}`, logged.Body)
		require.True(t, strings.Contains(string(r.Steps[4].Request), "key=••••"), "%s", r.Steps[4].Request)
	})
}

// TestAutomationRunLogHidesSecretsInErrors proves that a step that fails
// before or while sending says why without the secrets its URL holds: a
// URL whose base variable is missing, and a server that drops the
// connection.
func TestAutomationRunLogHidesSecretsInErrors(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		const secret = "sk-live-5ecr3t-value-0042"
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/api_key", map[string]any{"value": secret, "secret": true}, nil)
		drop := startAPI(t, func(w http.ResponseWriter, _ *apiCall) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		})
		a := b.createAutomation(t, map[string]any{
			"name":    "Leaky",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
			"actions": []map[string]any{
				{"name": "no_base", "type": "http", "url": "{{{vars.base}}}/orders/{{secrets.api_key}}", "if": "event.value == 'DE'"},
				{"name": "dropped", "type": "http", "url": drop.URL + "/orders/{{secrets.api_key}}", "if": "event.value == 'FR'",
					"auth": map[string]any{"type": "apiKey", "in": "query", "name": "key", "value": "{{secrets.api_key}}"}},
			},
		})

		b.save(t, "acme", "cust-de", map[string]any{"country": "DE"})
		b.save(t, "acme", "cust-fr", map[string]any{"country": "FR"})
		rs := b.waitRuns(t, a.ID, 2, 10*time.Second)
		require.Len(t, drop.all(), 1)
		for _, r := range rs {
			require.Equal(t, "failed", r.State, "%+v", r)
			res := b.call(t, adminKey, http.MethodGet, "/api/runs/"+r.ID, nil)
			require.Equal(t, http.StatusOK, res.status)
			require.NotContains(t, string(res.body), secret)
			require.Contains(t, r.Error, "/orders/••••", "the error still names the URL, redacted")
		}
	})
}
