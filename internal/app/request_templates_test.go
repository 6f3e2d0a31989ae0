package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRequestTemplatesAreSharedEditedOnceAndKeptWhileInUse builds one
// request once and reuses it in two automations that override parts of
// it; an edit reaches both, a tenant cannot use the vendor's template, and
// deleting it is refused while it is in use.
func TestRequestTemplatesAreSharedEditedOnceAndKeptWhileInUse(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		crm := startReceiver(t, receiverOpts{})
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/crm_token", map[string]any{"value": "s3cret", "secret": true}, nil)
		var rt struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		}
		b.must(t, http.StatusCreated, http.MethodPost, "/api/request-templates", map[string]any{
			"name": "CRM: upsert contact", "method": "PUT", "url": crm.URL + "/contacts/{{event.entityId}}",
			"auth":    map[string]any{"type": "bearer", "token": "{{secrets.crm_token}}"},
			"headers": map[string]any{"X-Source": "fieldflow", "X-Team": "ops"},
			"body":    map[string]any{"type": "json", "json": map[string]any{"id": "{{event.entityId}}", "stage": "{{entity.values.stage}}"}},
		}, &rt)
		require.Equal(t, int64(1), rt.Version)

		mk := func(name, field string, action map[string]any) automation {
			a := b.createAutomation(t, map[string]any{"name": name,
				"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": field},
				"actions": []map[string]any{action}})
			b.must(t, http.StatusOK, http.MethodPatch, "/api/automations/"+a.ID, map[string]any{"active": true}, nil)
			return a
		}
		a1 := mk("Stage to CRM", "stage", map[string]any{"name": "crm", "type": "http", "template": rt.ID})
		a2 := mk("Country to CRM", "country", map[string]any{"name": "crm", "type": "http", "template": rt.ID,
			"headers": map[string]any{"X-Team": "sales"}, "query": map[string]any{"reason": "country"}})

		b.save(t, "acme", "c-1", map[string]any{"stage": "won"})
		b.save(t, "acme", "c-2", map[string]any{"country": "NZ"})
		got := crm.wait(t, 2, 10*time.Second)
		byPath := map[string]*received{}
		for _, r := range got {
			byPath[r.Path] = r
		}
		r1, r2 := byPath["/hook/contacts/c-1"], byPath["/hook/contacts/c-2"]
		require.NotNil(t, r1, "paths %v", byPath)
		require.NotNil(t, r2, "paths %v", byPath)
		for _, r := range []*received{r1, r2} {
			require.Equal(t, http.MethodPut, r.Method)
			require.Equal(t, "Bearer s3cret", r.Header.Get("Authorization"))
			require.Equal(t, "fieldflow", r.Header.Get("X-Source"))
		}
		require.Equal(t, "ops", r1.Header.Get("X-Team"))
		require.Equal(t, "sales", r2.Header.Get("X-Team"), "the action's header wins over the template's")
		require.JSONEq(t, `{"id": "c-1", "stage": "won"}`, string(r1.Body))

		// One edit changes both automations' next requests.
		b.must(t, http.StatusOK, http.MethodPatch, "/api/request-templates/"+rt.ID, map[string]any{"method": "POST",
			"headers": map[string]any{"X-Source": "fieldflow-v2"}}, &rt)
		require.Equal(t, int64(2), rt.Version)
		b.save(t, "acme", "c-1", map[string]any{"stage": "lost"})
		b.save(t, "acme", "c-2", map[string]any{"country": "FR"})
		got = crm.wait(t, 4, 10*time.Second)[2:]
		for _, r := range got {
			require.Equal(t, http.MethodPost, r.Method, r.Path)
			require.Equal(t, "fieldflow-v2", r.Header.Get("X-Source"))
		}
		runs := b.waitRuns(t, a1.ID, 2, 10*time.Second)
		var latest run
		for _, r := range runs {
			full := b.run(t, r.ID)
			if len(full.Steps) > 0 && len(full.Steps[0].Notes) > 0 && full.Steps[0].Notes[0] == "request template "+rt.ID+" (CRM: upsert contact) version 2" {
				latest = full
			}
		}
		require.NotEmpty(t, latest.ID, "a run's step notes the template version it sent")

		// In use: refused, naming the automations.
		res := b.call(t, adminKey, http.MethodDelete, "/api/request-templates/"+rt.ID, nil)
		require.Equal(t, http.StatusConflict, res.status, "%s", res.body)
		require.Contains(t, string(res.body), a1.ID)
		require.Contains(t, string(res.body), a2.ID)

		// A tenant cannot reference the vendor's template, nor read it.
		tk := b.tenantKey(t, "acme")
		res = b.call(t, tk, http.MethodPost, "/api/automations", map[string]any{"name": "Borrow",
			"trigger": map[string]any{"event": "field_value.saved"},
			"actions": []map[string]any{{"name": "x", "type": "http", "template": rt.ID, "url": crm.URL + "/steal"}}})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
		require.Contains(t, string(res.body), "actions[0].template")
		res = b.call(t, tk, http.MethodGet, "/api/request-templates/"+rt.ID, nil)
		require.Equal(t, http.StatusNotFound, res.status, "%s", res.body)
		res = b.call(t, adminKey, http.MethodPost, "/api/request-templates", map[string]any{"name": "bad", "url": "ftp://x"})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)

		// Once no automation uses it, it can go.
		for _, a := range []automation{a1, a2} {
			b.must(t, http.StatusNoContent, http.MethodDelete, "/api/automations/"+a.ID, nil, nil)
		}
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/request-templates/"+rt.ID, nil, nil)
		var list struct {
			Data []json.RawMessage `json:"data"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/request-templates", nil, &list)
		require.Empty(t, list.Data)
	})
}
