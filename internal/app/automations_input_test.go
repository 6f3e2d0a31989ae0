package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bad input on every automation route, through the real HTTP API over each
// database: each refusal has its status and problem+json, and changes
// nothing.

// autoInputBundle is a running app with one vendor-wide automation and one
// failed run of it (so a retry would be accepted).
type autoInputBundle struct {
	*inputBundle
	api *fakeAPI
	au  automation
	run run
}

func setupAutoInput(t *testing.T, dialect string) *autoInputBundle {
	t.Helper()
	b := &autoInputBundle{inputBundle: &inputBundle{testBundle: startApp(t, dialect, appOpts{})}}
	customerGroup(t, b.testBundle)
	b.api = startAPI(t, func(w http.ResponseWriter, _ *apiCall) { w.WriteHeader(http.StatusBadRequest) })
	b.au = b.createAutomation(t, map[string]any{"name": "Input",
		"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
		"actions": []map[string]any{{"name": "call", "type": "http", "url": b.api.URL + "/x"}}})
	b.save(t, "acme", "cust-1", map[string]any{"country": "DE"})
	b.run = b.waitRuns(t, b.au.ID, 1, 10*time.Second)[0]
	require.Equal(t, "failed", b.run.State)
	return b
}

// state is everything a refused request could have changed.
func (b *autoInputBundle) state(t *testing.T) []string {
	t.Helper()
	get := func(path string) string {
		res := b.admin(t, http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, res.status, "GET %s: %s", path, res.body)
		return string(res.body)
	}
	return []string{
		get("/api/automations?pageSize=500"),
		get("/api/automations/" + b.au.ID + "/runs?pageSize=500"),
		get("/api/runs/" + b.run.ID),
		get("/api/events?pageSize=500"),
		fmt.Sprintf("%d requests at the API", len(b.api.all())),
	}
}

const validAutomation = `{"name":"A","trigger":{"event":"order.paid"},"actions":[{"name":"a","type":"http","url":"https://api.example/x"}]}`

// routes are the automation operations on the bundle's automation and run,
// each with a body it would accept.
func (b *autoInputBundle) routes() []route {
	au := "/api/automations/" + b.au.ID
	return []route{
		{http.MethodPost, "/api/automations", validAutomation},
		{http.MethodGet, "/api/automations", ""},
		{http.MethodGet, au, ""},
		{http.MethodPatch, au, `{"description":"changed"}`},
		{http.MethodDelete, au, ""},
		{http.MethodGet, au + "/runs", ""},
		{http.MethodGet, "/api/runs/" + b.run.ID, ""},
		{http.MethodPost, "/api/runs/" + b.run.ID + "/retry", ""},
	}
}

func TestAutomationRoutesRequireAKnownKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupAutoInput(t, dialect)
		before := b.state(t)
		b.requireKnownKey(t, b.routes())
		require.Equal(t, before, b.state(t), "a request without a known key changes nothing")
	})
}

func TestAutomationRoutesRefuseBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupAutoInput(t, dialect)
		before := b.state(t)
		au := "/api/automations/" + b.au.ID
		const head = `"name":"A","trigger":{"event":"order.paid"}`
		const action = `"name":"a","type":"http","url":"https://api.example/x"`
		manyActions := make([]string, 21)
		for i := range manyActions {
			manyActions[i] = fmt.Sprintf(`{"name":"a%d","type":"http","url":"https://api.example/x"}`, i)
		}
		big := `{"description":"` + strings.Repeat("a", 1<<20) + `"}`
		bigCreate := `{` + head + `,"description":"` + strings.Repeat("a", 1<<20) + `","actions":[{` + action + `}]}`
		b.requireRefusals(t, []refusal{
			// Malformed JSON.
			{http.MethodPost, "/api/automations", `{"name":`, http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `}],}`, http.StatusBadRequest, nil},
			{http.MethodPost, "/api/automations", "", http.StatusBadRequest, nil},
			{http.MethodPatch, au, `{"name":"x"`, http.StatusBadRequest, []string{"body"}},

			// Wrong types.
			{http.MethodPost, "/api/automations", `{"name":5,"trigger":{"event":"order.paid"},"actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.name"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"active":"yes","actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.active"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"tenantId":5,"actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPost, "/api/automations", `{"name":"A","trigger":"order.paid","actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.trigger"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":{` + action + `}}`, http.StatusUnprocessableEntity, []string{"body.actions"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"timeoutSeconds":"30"}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].timeoutSeconds"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"headers":["X-A"]}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].headers"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"retry":{"schedule":"1s"}}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].retry.schedule"}},
			{http.MethodPost, "/api/automations", `[` + validAutomation + `]`, http.StatusUnprocessableEntity, []string{"body"}},
			{http.MethodPatch, au, `{"active":"yes"}`, http.StatusUnprocessableEntity, []string{"body.active"}},
			{http.MethodPatch, au, `{"actions":"none"}`, http.StatusUnprocessableEntity, []string{"body.actions"}},

			// Unknown keys.
			{http.MethodPost, "/api/automations", `{` + head + `,"secret":"whsec_mine","actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.secret"}},
			{http.MethodPost, "/api/automations", `{"name":"A","trigger":{"event":"order.paid","fieldName":"x"},"actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.trigger.fieldName"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"timeout":30}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].timeout"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"auth":{"type":"bearer","token":"t","tokn":"t"}}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].auth.tokn"}},
			{http.MethodPatch, au, `{"tenantId":"t2"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPatch, au, `{"activatedAt":"2000-01-01T00:00:00Z"}`, http.StatusUnprocessableEntity, []string{"body.activatedAt"}},

			// Out of range.
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"timeoutSeconds":0}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].timeoutSeconds"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"timeoutSeconds":301}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].timeoutSeconds"}},
			{http.MethodPost, "/api/automations", `{"name":"` + strings.Repeat("n", 201) + `","trigger":{"event":"order.paid"},"actions":[{` + action + `}]}`, http.StatusUnprocessableEntity, []string{"body.name"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[` + strings.Join(manyActions, ",") + `]}`, http.StatusUnprocessableEntity, []string{"body.actions"}},
			{http.MethodPost, "/api/automations", `{` + head + `,"actions":[{` + action + `,"method":"TRACE"}]}`, http.StatusUnprocessableEntity, []string{"body.actions[0].method"}},
			{http.MethodPatch, au, `{"name":""}`, http.StatusUnprocessableEntity, []string{"body.name"}},
			{http.MethodPatch, au, `{"actions":[]}`, http.StatusUnprocessableEntity, []string{"body.actions"}},

			// Bodies over 1 MiB.
			{http.MethodPost, "/api/automations", bigCreate, http.StatusRequestEntityTooLarge, nil},
			{http.MethodPatch, au, big, http.StatusRequestEntityTooLarge, nil},

			// Malformed parameters.
			{http.MethodGet, au + "/runs?cursor=not-a-cursor", "", http.StatusBadRequest, []string{"query.cursor"}},
			{http.MethodGet, au + "/runs?status=lost", "", http.StatusBadRequest, []string{"query.status"}},
			{http.MethodGet, au + "/runs?pageSize=0", "", http.StatusBadRequest, []string{"query.pageSize"}},
			{http.MethodGet, au + "/runs?pageSize=501", "", http.StatusBadRequest, []string{"query.pageSize"}},
			{http.MethodGet, "/api/automations?pageSize=0", "", http.StatusBadRequest, []string{"query.pageSize"}},
			{http.MethodGet, "/api/automations?page=0", "", http.StatusBadRequest, []string{"query.page"}},
			{http.MethodGet, "/api/automations/" + strings.Repeat("x", 65), "", http.StatusBadRequest, []string{"path.id"}},
			{http.MethodGet, "/api/runs/" + strings.Repeat("x", 65), "", http.StatusBadRequest, []string{"path.id"}},
			{http.MethodPost, "/api/runs/" + strings.Repeat("x", 65) + "/retry", "", http.StatusBadRequest, []string{"path.id"}},
		})
		require.Equal(t, before, b.state(t), "a refused request stores nothing")
	})
}

func TestAutomationRoutesUnknownIDs(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupAutoInput(t, dialect)
		before := b.state(t)
		for _, id := range []string{"au_01hzzzzzzzzzzzzzzzzzzzzzzz", "nope", b.run.ID} {
			au := "/api/automations/" + id
			for _, r := range []route{
				{http.MethodGet, au, ""},
				{http.MethodPatch, au, `{"description":"changed"}`},
				{http.MethodDelete, au, ""},
				{http.MethodGet, au + "/runs", ""},
			} {
				requireProblem(t, b.admin(t, r.method, r.path, r.body), http.StatusNotFound)
			}
		}
		for _, id := range []string{"run_01hzzzzzzzzzzzzzzzzzzzzzzz", "nope", b.au.ID} {
			requireProblem(t, b.admin(t, http.MethodGet, "/api/runs/"+id, ""), http.StatusNotFound)
			requireProblem(t, b.admin(t, http.MethodPost, "/api/runs/"+id+"/retry", ""), http.StatusNotFound)
		}
		require.Equal(t, before, b.state(t), "a request for an unknown id changes nothing")

		// A deleted automation is unknown too, and takes its runs along.
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/automations/"+b.au.ID, nil, nil)
		for _, r := range b.routes()[2:] {
			requireProblem(t, b.admin(t, r.method, r.path, r.body), http.StatusNotFound)
		}
		var list struct{ Data []automation }
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations", nil, &list)
		require.Empty(t, list.Data)
		b.save(t, "acme", "cust-1", map[string]any{"country": "FR"})
		time.Sleep(200 * time.Millisecond)
		require.Len(t, b.api.all(), 1, "a deleted automation runs no more")
	})
}

// TestAutomationTenantKeys proves the tenant scope of automations and
// runs: a tenant key creates and sees only its tenant's automations and
// their runs; another tenant's, and the vendor-wide ones, do not exist
// for it (404, as for webhook endpoints and deliveries); it cannot create
// one for another tenant or for all (403); an automation of a tenant runs
// only on that tenant's events.
func TestAutomationTenantKeys(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := &inputBundle{testBundle: startApp(t, dialect, appOpts{})}
		customerGroup(t, b.testBundle)
		k1, k2 := b.tenantKey(t, "t1"), b.tenantKey(t, "t2")
		api := startAPI(t, func(w http.ResponseWriter, _ *apiCall) { w.WriteHeader(http.StatusBadRequest) })
		def := func(extra map[string]any) map[string]any {
			body := map[string]any{"name": "Scoped",
				"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"},
				"actions": []map[string]any{{"name": "call", "type": "http", "url": api.URL + "/x"}}}
			for k, v := range extra {
				body[k] = v
			}
			return body
		}
		create := func(key string, body map[string]any) automation {
			t.Helper()
			res := b.call(t, key, http.MethodPost, "/api/automations", body)
			require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
			var a automation
			require.NoError(t, json.Unmarshal(res.body, &a))
			return a
		}
		tenantOf := func(id string) any {
			var a map[string]any
			b.must(t, http.StatusOK, http.MethodGet, "/api/automations/"+id, nil, &a)
			return a["tenantId"]
		}
		a1 := create(k1, def(nil))
		require.Equal(t, "t1", tenantOf(a1.ID), "a tenant key's automation belongs to its tenant")
		a2 := create(k2, def(map[string]any{"tenantId": "t2"}))
		all := b.createAutomation(t, def(nil))
		require.Nil(t, tenantOf(all.ID))
		for _, body := range []map[string]any{def(map[string]any{"tenantId": "t2"}), def(map[string]any{"tenantId": ""})} {
			requireProblem(t, b.call(t, k1, http.MethodPost, "/api/automations", body), http.StatusForbidden)
		}

		ids := func(key, query string) []string {
			t.Helper()
			res := b.call(t, key, http.MethodGet, "/api/automations"+query, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.body)
			var list struct{ Data []automation }
			require.NoError(t, json.Unmarshal(res.body, &list))
			var out []string
			for _, a := range list.Data {
				out = append(out, a.ID)
			}
			return out
		}
		require.Equal(t, []string{a1.ID}, ids(k1, ""))
		require.Equal(t, []string{a1.ID}, ids(k1, "?tenantId=t1"))
		require.Equal(t, []string{a2.ID}, ids(k2, ""))
		require.ElementsMatch(t, []string{a1.ID, a2.ID, all.ID}, ids(adminKey, ""))
		require.Equal(t, []string{a2.ID}, ids(adminKey, "?tenantId=t2"))
		requireProblem(t, b.call(t, k1, http.MethodGet, "/api/automations?tenantId=t2", nil), http.StatusForbidden)

		// Each tenant's save runs its own automation and the vendor-wide one.
		b.save(t, "t1", "cust-1", map[string]any{"country": "DE"})
		b.save(t, "t2", "cust-2", map[string]any{"country": "DE"})
		r1 := b.waitRuns(t, a1.ID, 1, 10*time.Second)
		r2 := b.waitRuns(t, a2.ID, 1, 10*time.Second)
		rAll := b.waitRuns(t, all.ID, 2, 10*time.Second)
		require.Len(t, r1, 1)
		require.Len(t, r2, 1)
		require.Equal(t, "t1", r1[0].TenantID)
		require.Equal(t, "t2", r2[0].TenantID)
		var allOnT1 run
		for _, r := range rAll {
			if r.TenantID == "t1" {
				allOnT1 = r
			}
		}
		require.NotEmpty(t, allOnT1.ID)
		require.Equal(t, "failed", allOnT1.State)
		calls := len(api.all())

		// t2's automation and run, and the vendor-wide ones, do not exist for t1.
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/api/automations/" + a2.ID, nil},
			{http.MethodPatch, "/api/automations/" + a2.ID, map[string]any{"active": false}},
			{http.MethodGet, "/api/automations/" + a2.ID + "/runs", nil},
			{http.MethodDelete, "/api/automations/" + a2.ID, nil},
			{http.MethodGet, "/api/runs/" + r2[0].ID, nil},
			{http.MethodPost, "/api/runs/" + r2[0].ID + "/retry", nil},
			{http.MethodGet, "/api/automations/" + all.ID, nil},
			{http.MethodPatch, "/api/automations/" + all.ID, map[string]any{"active": false}},
			{http.MethodGet, "/api/automations/" + all.ID + "/runs", nil},
			{http.MethodDelete, "/api/automations/" + all.ID, nil},
			{http.MethodGet, "/api/runs/" + allOnT1.ID, nil},
			{http.MethodPost, "/api/runs/" + allOnT1.ID + "/retry", nil},
		} {
			res := b.call(t, k1, c.method, c.path, c.body)
			require.Equal(t, http.StatusNotFound, res.status, "%s %s: %s", c.method, c.path, res.body)
			requireProblem(t, res, http.StatusNotFound)
		}
		time.Sleep(200 * time.Millisecond)
		require.Len(t, api.all(), calls, "nothing was retried on t1's behalf")
		require.Equal(t, "failed", b.run(t, allOnT1.ID).State)
		require.ElementsMatch(t, []string{a1.ID, a2.ID, all.ID}, ids(adminKey, ""), "nothing was deleted")
		require.True(t, b.run(t, r2[0].ID).State == "failed")

		// The tenant manages its own automation and its runs.
		res := b.call(t, k1, http.MethodGet, "/api/runs/"+r1[0].ID, nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		res = b.call(t, k1, http.MethodGet, "/api/automations/"+a1.ID+"/runs", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		res = b.call(t, k1, http.MethodPost, "/api/runs/"+r1[0].ID+"/retry", nil)
		require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
		b.waitRun(t, r1[0].ID, 10*time.Second)
		res = b.call(t, k1, http.MethodPatch, "/api/automations/"+a1.ID, map[string]any{"description": "t1's"})
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		requireProblem(t, b.call(t, k1, http.MethodPatch, "/api/automations/"+a1.ID, map[string]any{"tenantId": "t2"}), http.StatusUnprocessableEntity, "body.tenantId")
		res = b.call(t, k1, http.MethodDelete, "/api/automations/"+a1.ID, nil)
		require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)

		// The admin sees and may do everything.
		b.must(t, http.StatusOK, http.MethodGet, "/api/runs/"+r2[0].ID, nil, nil)
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/runs/"+allOnT1.ID+"/retry", nil, nil)
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/automations/"+a2.ID, nil, nil)
		require.Equal(t, http.StatusNotFound, b.call(t, k2, http.MethodGet, "/api/automations/"+a2.ID, nil).status)
	})
}
