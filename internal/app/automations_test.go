package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The automation suite: a real app over each database, automations created
// through the API, firing on real saves and calling real receivers.

type runStep struct {
	Index      int             `json:"index"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Attempt    int             `json:"attempt"`
	State      string          `json:"state"`
	DurationMS int64           `json:"durationMs"`
	Request    json.RawMessage `json:"request"`
	Response   *struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"response"`
	Error string   `json:"error"`
	Notes []string `json:"notes"`
}

type run struct {
	ID           string    `json:"id"`
	AutomationID string    `json:"automationId"`
	EventID      string    `json:"eventId"`
	EventType    string    `json:"eventType"`
	TenantID     string    `json:"tenantId"`
	State        string    `json:"state"`
	Step         int       `json:"step"`
	Attempts     int       `json:"attempts"`
	Error        string    `json:"error"`
	Steps        []runStep `json:"steps"`
	CausedBy     []struct {
		AutomationID string `json:"automationId"`
		RunID        string `json:"runId"`
	} `json:"causedBy"`
}

type automation struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Active      bool       `json:"active"`
	ActivatedAt *time.Time `json:"activatedAt"`
	Secret      string     `json:"secret"`
}

// customerGroup creates the customer group with the fields the automation
// tests use.
func customerGroup(t *testing.T, b *testBundle) {
	t.Helper()
	b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "customer", "name": "Customer"}, nil)
	for _, f := range []map[string]any{
		{"key": "company_size", "label": "Company size", "schema": map[string]any{"type": "select", "validation": map[string]any{"options": []string{"1-10", "11-50", "51-200", "201+"}}}},
		{"key": "sales_notified", "label": "Sales notified", "schema": map[string]any{"type": "boolean"}},
		{"key": "country", "label": "Country", "schema": map[string]any{"type": "string"}},
		{"key": "shipping_rate", "label": "Shipping rate", "schema": map[string]any{"type": "number"}},
		{"key": "stage", "label": "Stage", "schema": map[string]any{"type": "string"}},
		{"key": "counter", "label": "Counter", "schema": map[string]any{"type": "number"}},
		{"key": "renewal", "label": "Renewal", "schema": map[string]any{"type": "datetime"}},
		{"key": "note", "label": "Note", "schema": map[string]any{"type": "textarea"}},
		{"key": "ref", "label": "Reference", "schema": map[string]any{"type": "string"}},
	} {
		f["fieldGroupIds"] = []string{"customer"}
		b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields", f, nil)
	}
}

func valuesPath(tenant, entity string) string {
	return "/api/tenants/" + tenant + "/field-groups/customer/entities/" + entity + "/values"
}

func (b *testBundle) save(t *testing.T, tenant, entity string, values map[string]any) {
	t.Helper()
	b.must(t, http.StatusOK, http.MethodPost, valuesPath(tenant, entity), values, nil)
}

func (b *testBundle) values(t *testing.T, tenant, entity string) map[string]any {
	t.Helper()
	var out struct {
		Data map[string]any `json:"data"`
	}
	b.must(t, http.StatusOK, http.MethodGet, valuesPath(tenant, entity), nil, &out)
	return out.Data
}

func (b *testBundle) createAutomation(t *testing.T, body map[string]any) automation {
	t.Helper()
	var a automation
	b.must(t, http.StatusCreated, http.MethodPost, "/api/automations", body, &a)
	require.True(t, strings.HasPrefix(a.ID, "au_"), a.ID)
	return a
}

func (b *testBundle) runs(t *testing.T, automationID, query string) []run {
	t.Helper()
	var p struct {
		Data       []run  `json:"data"`
		NextCursor string `json:"nextCursor"`
	}
	path := "/api/automations/" + automationID + "/runs"
	if query != "" {
		path += "?" + query
	}
	b.must(t, http.StatusOK, http.MethodGet, path, nil, &p)
	return p.Data
}

// waitRuns polls an automation's runs until n of them are final.
func (b *testBundle) waitRuns(t *testing.T, automationID string, n int, within time.Duration) []run {
	t.Helper()
	var rs []run
	waitUntil(t, within, "runs to finish", func() bool {
		rs = b.runs(t, automationID, "pageSize=500")
		done := 0
		for _, r := range rs {
			if r.State != "pending" {
				done++
			}
		}
		return done >= n
	})
	return rs
}

func TestAutomationNotifiesWhenCompanyGrows(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/slack_token", map[string]any{"value": "xoxb-secret-1", "secret": true}, nil)
		rc := startReceiver(t, receiverOpts{})
		a := b.createAutomation(t, map[string]any{
			"name": "Notify sales when accounts grow",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "company_size",
				"from": "1-10", "to": "51-200", "condition": "tenant.id != 'demo'"},
			"actions": []map[string]any{
				{"name": "notify", "type": "http", "method": "POST", "url": rc.URL,
					"auth":    map[string]any{"type": "bearer", "token": "{{secrets.slack_token}}"},
					"headers": map[string]any{"X-App-Version": "2024-11-01"}, "query": map[string]any{"source": "workflow"},
					"body":           map[string]any{"type": "json", "json": map[string]any{"text": "{{event.entityId}} grew to {{event.value}}"}},
					"timeoutSeconds": 30, "retry": map[string]any{"schedule": []string{"10s", "1m", "10m"}}, "captureResponse": true},
				{"name": "mark", "type": "set_field", "values": map[string]any{"sales_notified": true}},
			},
		})
		require.True(t, a.Active)
		require.NotNil(t, a.ActivatedAt)

		b.save(t, "acme", "cust-1", map[string]any{"company_size": "1-10"})
		b.save(t, "demo", "cust-2", map[string]any{"company_size": "1-10"})
		b.save(t, "acme", "cust-1", map[string]any{"company_size": "51-200"})
		b.save(t, "demo", "cust-2", map[string]any{"company_size": "51-200"}) // the condition refuses the demo tenant

		rs := b.waitRuns(t, a.ID, 1, 10*time.Second)
		require.Len(t, rs, 1)
		r := rs[0]
		require.Equal(t, "succeeded", r.State, "%+v", r)
		require.Equal(t, "acme", r.TenantID)
		got := rc.wait(t, 1, 5*time.Second)[0]
		require.Equal(t, "Bearer xoxb-secret-1", got.Header.Get("Authorization"))
		require.Equal(t, "2024-11-01", got.Header.Get("X-App-Version"))
		require.Equal(t, r.ID+"-notify", got.Header.Get("Idempotency-Key"))
		require.JSONEq(t, `{"text":"cust-1 grew to 51-200"}`, string(got.Body))
		require.Len(t, r.Steps, 2)
		require.Equal(t, "notify", r.Steps[0].Name)
		require.Equal(t, "succeeded", r.Steps[0].State)
		require.NotContains(t, string(r.Steps[0].Request), "xoxb-secret-1")
		require.Contains(t, string(r.Steps[0].Request), "••••")
		require.Equal(t, 200, r.Steps[0].Response.Status)
		require.Equal(t, "succeeded", r.Steps[1].State)
		require.Equal(t, true, b.values(t, "acme", "cust-1")["sales_notified"])
		require.Nil(t, b.values(t, "demo", "cust-2")["sales_notified"])

		var ev struct {
			Runs []run `json:"runs"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/events/"+r.EventID, nil, &ev)
		require.Len(t, ev.Runs, 1)
		require.Equal(t, r.ID, ev.Runs[0].ID)
	})
}

// run returns one run with its steps.
func (b *testBundle) run(t *testing.T, id string) run {
	t.Helper()
	var r run
	b.must(t, http.StatusOK, http.MethodGet, "/api/runs/"+id, nil, &r)
	return r
}

// waitRun polls a run until it is final.
func (b *testBundle) waitRun(t *testing.T, id string, within time.Duration) run {
	t.Helper()
	var r run
	waitUntil(t, within, "run "+id+" to finish", func() bool {
		r = b.run(t, id)
		return r.State != "pending"
	})
	return r
}

// storedEvent is an event of the event log.
type storedEvent struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	TenantID string         `json:"tenantId"`
	Payload  map[string]any `json:"payload"`
}

// events lists the event log, newest first.
func (b *testBundle) events(t *testing.T, query string) []storedEvent {
	t.Helper()
	var p struct {
		Data []storedEvent `json:"data"`
	}
	b.must(t, http.StatusOK, http.MethodGet, "/api/events?pageSize=500&"+query, nil, &p)
	return p.Data
}

// apiCall is one request a fake API got.
type apiCall struct {
	N      int
	At     time.Time
	Method string
	// URL is as the server parsed it: Path decoded, EscapedPath() and
	// RawQuery as sent.
	URL    *url.URL
	Header http.Header
	Body   []byte
}

// fakeAPI is an HTTP API on 127.0.0.1, stopped when the test ends, that
// records every request and answers through its handler (nil: 200 "ok").
type fakeAPI struct {
	URL string // no trailing slash

	mu    sync.Mutex
	calls []*apiCall // guarded by mu
}

func startAPI(t *testing.T, answer func(w http.ResponseWriter, c *apiCall)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		c := &apiCall{N: len(f.calls) + 1, At: time.Now(), Method: r.Method, URL: r.URL, Header: r.Header.Clone(), Body: body}
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		if answer == nil {
			_, _ = io.WriteString(w, "ok")
			return
		}
		answer(w, c)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// all returns the requests so far.
func (f *fakeAPI) all() []*apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*apiCall(nil), f.calls...)
}

// on returns the requests so far to one path.
func (f *fakeAPI) on(path string) []*apiCall {
	var out []*apiCall
	for _, c := range f.all() {
		if c.URL.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// wait returns the requests once there are at least n.
func (f *fakeAPI) wait(t *testing.T, n int, within time.Duration) []*apiCall {
	t.Helper()
	var got []*apiCall
	waitUntil(t, within, fmt.Sprintf("%d requests at %s", n, f.URL), func() bool {
		got = f.all()
		return len(got) >= n
	})
	return got
}
