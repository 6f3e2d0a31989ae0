package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/api/contract"
	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// This file keeps docs/receiving-webhooks.md true: every example body in it
// is what a real app, over each database, sends to a real receiver. It uses
// helpers of its own (prefixed doc) so that it does not depend on the other
// suites' helpers.

const docAdminKey = "ffk_docs_examples_admin_key"

// docReceiver records every request it gets, by path.
type docReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []docRequest // guarded by mu
}

type docRequest struct {
	path   string
	header http.Header
	body   []byte
}

func newDocReceiver(t *testing.T) *docReceiver {
	t.Helper()
	r := &docReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, docRequest{path: req.URL.Path, header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		switch req.URL.Path {
		case "/hooks/gone":
			w.WriteHeader(http.StatusGone)
		case "/hooks/fail":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *docReceiver) requests() []docRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// find returns the first request to path whose X-Fieldflow-Event is typ
// (any when empty) and whose body contains every one of has.
func (r *docReceiver) find(path, typ string, has ...string) (docRequest, bool) {
	for _, q := range r.requests() {
		if q.path != path || (typ != "" && q.header.Get("X-Fieldflow-Event") != typ) {
			continue
		}
		ok := true
		for _, s := range has {
			ok = ok && bytes.Contains(q.body, []byte(s))
		}
		if ok {
			return q, true
		}
	}
	return docRequest{}, false
}

// docExample says which received request a documented example is.
type docExample struct {
	name string   // the name in the doc's <!-- example: name --> marker
	path string   // where the receiver got it
	typ  string   // its X-Fieldflow-Event, when delivered to an endpoint
	has  []string // substrings that pick one among several of the type
	// member, when set, documents only this member of the body (the event
	// inside a webhook action's {event, record}).
	member string
}

var docExamples = []docExample{
	{name: "field_group.created", path: "/hooks/all", typ: "field_group.created"},
	{name: "field_group.updated", path: "/hooks/all", typ: "field_group.updated"},
	{name: "field_group.deleted", path: "/hooks/all", typ: "field_group.deleted"},
	{name: "global_field.created", path: "/hooks/all", typ: "global_field.created", has: []string{`"key":"insurance_number"`}},
	{name: "global_field.updated", path: "/hooks/all", typ: "global_field.updated"},
	{name: "global_field.deleted", path: "/hooks/all", typ: "global_field.deleted"},
	{name: "tenant_field.created", path: "/hooks/all", typ: "tenant_field.created"},
	{name: "tenant_field.updated", path: "/hooks/all", typ: "tenant_field.updated"},
	{name: "tenant_field.deleted", path: "/hooks/all", typ: "tenant_field.deleted"},
	{name: "field_value.saved", path: "/hooks/all", typ: "field_value.saved", has: []string{`"previousValue":"INS-2231"`}},
	{name: "field_value.deleted", path: "/hooks/all", typ: "field_value.deleted"},
	{name: "entity.updated", path: "/hooks/all", typ: "entity.updated", has: []string{`"version":2`}},
	{name: "TASK_COMPLETED", path: "/hooks/all", typ: "TASK_COMPLETED"},
	{name: "webhook.test", path: "/hooks/all", typ: "webhook.test"},
	{name: "webhook.disabled", path: "/hooks/all", typ: "webhook.disabled"},
	{name: "automation.run_failed", path: "/hooks/all", typ: "automation.run_failed"},
	{name: "tenant.erased", path: "/hooks/all", typ: "tenant.erased"},
	{name: "webhook-action", path: "/hooks/action/sla"},
	{name: "automation.sla_reached", path: "/hooks/action/sla", member: "event"},
	{name: "automation.date_reached", path: "/hooks/action/date", member: "event"},
}

// requireCatalogued checks a received body against the schema the event
// catalog (the OpenAPI document's webhooks section) gives its type, with
// huma's validator over the API's own schema registry. A body with no
// catalog entry (the webhook action's {event, record}) is left alone.
func requireCatalogued(t *testing.T, name string, body []byte) {
	t.Helper()
	if !strings.Contains(name, ".") && name != "TASK_COMPLETED" {
		return
	}
	want := name
	if name == "TASK_COMPLETED" {
		want = contract.HostEventType
	}
	for _, e := range contract.Events() {
		if e.Type != want {
			continue
		}
		reg := api.SchemaRegistry()
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		res := &huma.ValidateResult{}
		huma.Validate(reg, reg.Schema(e.Payload, false, ""), huma.NewPathBuffer(nil, 0), huma.ModeReadFromServer, v, res)
		require.Empty(t, res.Errors, "%s does not match its schema in the event catalog: %s", name, body)
		return
	}
	t.Fatalf("%s has no entry in the event catalog", name)
}

// docNormalize maps what differs from run to run (ids, times, the
// receiver's address) to fixed text, so a documented body and a received
// one compare equal when only those differ.
func docNormalize(s, receiverURL string) string {
	s = strings.ReplaceAll(s, receiverURL, "https://example.com")
	s = docIDs.ReplaceAllString(s, "${1}_ID")
	s = docTimes.ReplaceAllString(s, `"TIME"`)
	return s
}

var (
	docIDs   = regexp.MustCompile(`\b(evt|fg|gf|tf|wh|dlv|au|run)_[0-9a-z]{26}\b`)
	docTimes = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`)
	// An example in the doc: the marker line, then a json code block.
	docBlock = regexp.MustCompile("(?s)<!-- example: (\\S+) -->\n```json\n(.*?)\n```")
)

// TestReceivingWebhooksDocShowsTheBodiesReceiversGet drives a real app
// through every built-in event type (and a host event, a webhook action and
// both time rules) and requires docs/receiving-webhooks.md to show each
// body as received, key order included (ids, times and the receiver's
// address aside). FIELDFLOW_DOCS_PRINT=1 logs the received bodies, to
// refresh the doc after a deliberate change.
func TestReceivingWebhooksDocShowsTheBodiesReceiversGet(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/receiving-webhooks.md")
	require.NoError(t, err)
	documented := map[string]string{}
	for _, m := range docBlock.FindAllSubmatch(doc, -1) {
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, m[2]), "example %s is not JSON", m[1])
		documented[string(m[1])] = compact.String()
	}
	var names []string
	for _, e := range docExamples {
		names = append(names, e.name)
	}
	printing := os.Getenv("FIELDFLOW_DOCS_PRINT") != ""
	if !printing {
		require.ElementsMatch(t, names, keysOf(documented), "the doc shows one example per event type")
	}

	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			recv := newDocReceiver(t)
			base := docStartApp(t, dialect)
			docScenario(t, base, recv)

			for _, e := range docExamples {
				q, ok := recv.find(e.path, e.typ, e.has...)
				require.True(t, ok, "no %s received", e.name)
				body := q.body
				if e.member != "" {
					var outer map[string]json.RawMessage
					require.NoError(t, json.Unmarshal(body, &outer))
					body = outer[e.member]
				}
				requireCatalogued(t, e.name, body)
				if printing {
					t.Logf("example %s:\n%s", e.name, strings.ReplaceAll(string(body), recv.srv.URL, "https://example.com"))
					continue
				}
				require.Equal(t, docNormalize(documented[e.name], recv.srv.URL), docNormalize(string(body), recv.srv.URL),
					"docs/receiving-webhooks.md, example %s", e.name)
			}

			// The header table names every header a delivery carries.
			q, ok := recv.find("/hooks/all", "field_value.saved")
			require.True(t, ok)
			for name := range q.header {
				switch name {
				case "Content-Length", "Accept-Encoding":
					continue // the transport's, not fieldflow's
				}
				// Header names are case-insensitive; Go's server
				// canonicalizes the lower-case Standard Webhooks ones.
				require.Contains(t, strings.ToLower(string(doc)), "`"+strings.ToLower(name)+"`", "docs/receiving-webhooks.md names header %s", name)
			}
		})
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// docStartApp starts an app over a fresh database, stopped when the test
// ends, and returns its base URL.
func docStartApp(t *testing.T, dialect string) string {
	t.Helper()
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	cfg := app.Config{
		DB:                  storetest.DSN(t, dialect),
		Addr:                "127.0.0.1:0",
		AdminKey:            docAdminKey,
		MasterKey:           base64.StdEncoding.EncodeToString(mk),
		AllowPrivateTargets: true,
		DeliveryPoll:        100 * time.Millisecond,
		ShutdownGrace:       2 * time.Second,
		Logger:              slog.New(slog.DiscardHandler),
		Stdout:              io.Discard,
	}
	a, err := app.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop app: %v", err)
		}
	})
	require.NoError(t, a.Start(context.Background()))
	return "http://" + a.Addr()
}

// docCall sends body as JSON with the admin key, requires status and
// returns the decoded answer (nil for an empty one).
func docCall(t *testing.T, base string, status int, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", docAdminKey)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, status, res.StatusCode, "%s %s: %s", method, path, raw)
	if len(raw) == 0 {
		return nil
	}
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	return out
}

// docScenario makes every documented event happen, in the order the doc
// tells it, and waits until the receiver has them all.
func docScenario(t *testing.T, base string, r *docReceiver) {
	t.Helper()
	recvURL := r.srv.URL
	const tenantValues = "/api/tenants/sunrise-dental/field-groups/booking/entities/booking-1042/values"
	all := docCall(t, base, http.StatusCreated, http.MethodPost, "/api/webhooks", map[string]any{
		"url": recvURL + "/hooks/all", "events": []string{"*"}, "description": "everything"})

	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "booking", "name": "Booking"})
	docCall(t, base, http.StatusOK, http.MethodPatch, "/api/field-groups/booking", map[string]any{"name": "Bookings"})
	ins := docCall(t, base, http.StatusCreated, http.MethodPost, "/api/global-fields", map[string]any{
		"key": "insurance_number", "label": "Insurance number", "fieldGroupIds": []string{"booking"},
		"schema": map[string]any{"type": "string", "validation": map[string]any{"maxLength": 32}}})
	docCall(t, base, http.StatusOK, http.MethodPatch, "/api/global-fields/"+ins["id"].(string), map[string]any{"label": "Insurance no."})
	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/global-fields", map[string]any{
		"key": "appointment_at", "label": "Appointment", "fieldGroupIds": []string{"booking"},
		"schema": map[string]any{"type": "datetime"}})
	chair := docCall(t, base, http.StatusCreated, http.MethodPost, "/api/tenants/sunrise-dental/field-groups/booking/fields", map[string]any{
		"key": "chair", "label": "Chair", "schema": map[string]any{"type": "select", "validation": map[string]any{"options": []string{"A", "B"}}}})
	docCall(t, base, http.StatusOK, http.MethodPatch, "/api/tenants/sunrise-dental/fields/"+chair["id"].(string), map[string]any{"label": "Treatment chair"})

	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/automations", map[string]any{
		"name":    "Chair A held for a second",
		"trigger": map[string]any{"sla": map[string]any{"fieldGroup": "booking", "fieldKey": "chair", "value": "A", "after": "1s"}},
		"actions": []map[string]any{{"name": "notify", "type": "webhook", "url": recvURL + "/hooks/action/sla"}}})
	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/automations", map[string]any{
		"name":    "A second before the appointment",
		"trigger": map[string]any{"date": map[string]any{"fieldGroup": "booking", "fieldKey": "appointment_at", "offset": "-1s"}},
		"actions": []map[string]any{{"name": "remind", "type": "webhook", "url": recvURL + "/hooks/action/date"}}})
	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/automations", map[string]any{
		"name":    "Tell the task tracker",
		"trigger": map[string]any{"event": "TASK_COMPLETED"},
		"actions": []map[string]any{{"name": "tracker", "type": "http", "method": "POST", "url": recvURL + "/hooks/fail"}}})
	docCall(t, base, http.StatusCreated, http.MethodPost, "/api/webhooks", map[string]any{
		"url": recvURL + "/hooks/gone", "events": []string{"TASK_COMPLETED"}, "description": "retired receiver"})

	docCall(t, base, http.StatusOK, http.MethodPost, tenantValues, map[string]any{"insurance_number": "INS-2231", "chair": "A"})
	docCall(t, base, http.StatusOK, http.MethodPost, tenantValues, map[string]any{"insurance_number": "INS-2232"})
	docCall(t, base, http.StatusOK, http.MethodPost, tenantValues, map[string]any{"insurance_number": nil})
	appointment := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second)
	docCall(t, base, http.StatusOK, http.MethodPost, tenantValues, map[string]any{"appointment_at": appointment.Format(time.RFC3339)})
	docCall(t, base, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{
		"type": "TASK_COMPLETED", "tenantId": "sunrise-dental",
		"data": map[string]any{"taskId": "t-7", "status": "done"}, "previous": map[string]any{"status": "open"}})
	docCall(t, base, http.StatusOK, http.MethodPost, "/api/webhooks/"+all["id"].(string)+"/test", nil)

	// The time rules, the disabled endpoint and the failed run come
	// asynchronously; the deletions wait for them (deleting the group
	// would end the time rules' clocks).
	docWaitFor(t, r, []docExample{
		{path: "/hooks/action/sla"}, {path: "/hooks/action/date"},
		{path: "/hooks/all", typ: "webhook.disabled"}, {path: "/hooks/all", typ: "automation.run_failed"},
		{path: "/hooks/all", typ: "webhook.test"}, {path: "/hooks/all", typ: "TASK_COMPLETED"},
	})

	docCall(t, base, http.StatusNoContent, http.MethodDelete, "/api/tenants/sunrise-dental/fields/"+chair["id"].(string), nil)
	docCall(t, base, http.StatusNoContent, http.MethodDelete, "/api/global-fields/"+ins["id"].(string), nil)
	docCall(t, base, http.StatusNoContent, http.MethodDelete, "/api/field-groups/booking", nil)
	// A former customer's data is erased: its one event and that event's
	// delivery.
	docCall(t, base, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{
		"type": "clinic.closed", "tenantId": "old-clinic", "data": map[string]any{}})
	docWaitFor(t, r, []docExample{{path: "/hooks/all", typ: "clinic.closed"}})
	docCall(t, base, http.StatusAccepted, http.MethodDelete, "/api/tenants/old-clinic", nil)
	docWaitFor(t, r, docExamples)
}

// docWaitFor waits up to 20 s until the receiver has got each of want.
func docWaitFor(t *testing.T, r *docReceiver, want []docExample) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var missing []string
		for _, e := range want {
			if _, ok := r.find(e.path, e.typ, e.has...); !ok {
				missing = append(missing, e.path+" "+e.typ)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			require.Failf(t, "the receiver never got", "%v", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
