package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// The tenant the bundle's tenant key belongs to, and another one.
const (
	tenant      = "t1"
	otherTenant = "t2"
)

// serverOpts changes the server a test gets; the zero value is the default.
type serverOpts struct {
	// MaxBodyBytes is passed to api.Config.
	MaxBodyBytes int64
	// Automations serves the automation settings routes, sealing with the
	// bundle's box.
	Automations bool
	// MetricsToken and NoMetrics are passed to api.Config.
	MetricsToken string
	NoMetrics    bool
	// Limits sets the rate limits; nil turns them off, so that tests about
	// other things are never throttled.
	Limits *api.Config
}

// testBundle is a running API over a fresh store with an admin key and a
// key of tenant t1.
type testBundle struct {
	url    string
	store  store.Store
	admin  string
	tenant string
	// box seals the automation settings' secrets.
	box *secretbox.Box
}

// eachDialect runs f once per database, in parallel.
func eachDialect(t *testing.T, f func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// setup starts the API on 127.0.0.1 over a fresh store of the dialect.
func setup(t *testing.T, dialect string, opts *serverOpts) *testBundle {
	t.Helper()
	if opts == nil {
		opts = &serverOpts{}
	}
	s := storetest.Open(t, dialect)
	rs := records.New(records.Config{Store: s})
	masterKey := make([]byte, 32)
	_, _ = rand.Read(masterKey)
	box, err := secretbox.New(masterKey)
	require.NoError(t, err)
	cfg := api.Config{Records: rs, Store: s, MaxBodyBytes: opts.MaxBodyBytes, MetricsToken: opts.MetricsToken, NoMetrics: opts.NoMetrics}
	if opts.Automations {
		cfg.Automations = automations.New(automations.Config{Store: s, Box: box})
	}
	setLimits(&cfg, opts.Limits)
	srv := httptest.NewServer(api.New(cfg))
	t.Cleanup(srv.Close)
	return &testBundle{
		url:    srv.URL,
		store:  s,
		admin:  createKey(t, s, store.RoleAdmin, ""),
		tenant: createKey(t, s, store.RoleTenant, tenant),
		box:    box,
	}
}

// peer starts another API server over the bundle's store, as a second
// instance sharing the database would be, and returns the bundle with its
// URL; the keys and store are the same.
func (b *testBundle) peer(t *testing.T) *testBundle {
	t.Helper()
	cfg := api.Config{Records: records.New(records.Config{Store: b.store}), Store: b.store}
	setLimits(&cfg, nil)
	srv := httptest.NewServer(api.New(cfg))
	t.Cleanup(srv.Close)
	p := *b
	p.url = srv.URL
	return &p
}

// setLimits copies the rate limit settings of l into cfg, or turns every
// limit off when l is nil.
func setLimits(cfg *api.Config, l *api.Config) {
	if l == nil {
		l = &api.Config{RateLimit: -1, AuthFailureLimit: -1}
	}
	cfg.RateLimit, cfg.RateBurst = l.RateLimit, l.RateBurst
	cfg.AuthFailureLimit, cfg.AuthFailureBurst, cfg.ClientAddrHeader = l.AuthFailureLimit, l.AuthFailureBurst, l.ClientAddrHeader
}

func createKey(t *testing.T, s store.Store, role, tenantID string) string {
	t.Helper()
	key, hash := api.NewKey()
	k := &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: role, TenantID: tenantID, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	require.NoError(t, s.InTx(t.Context(), func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) }))
	return key
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// obj decodes the body as a JSON object.
func (r *response) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r)
	return m
}

// req is one request; Body is sent as is when it is a string or []byte and
// as JSON otherwise.
type req struct {
	Method string
	Path   string
	Key    string // sent as X-API-Key unless Bearer is set
	Bearer bool
	Body   any
	Header map[string]string
}

func (b *testBundle) send(t *testing.T, r req) *response {
	t.Helper()
	var body io.Reader
	switch v := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	case []byte:
		body = bytes.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequestWithContext(t.Context(), r.Method, b.url+r.Path, body)
	require.NoError(t, err)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Key != "" {
		if r.Bearer {
			hr.Header.Set("Authorization", "Bearer "+r.Key)
		} else {
			hr.Header.Set("X-API-Key", r.Key)
		}
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: raw}
}

// do sends a request with the admin key.
func (b *testBundle) do(t *testing.T, method, path string, body any) *response {
	t.Helper()
	return b.send(t, req{Method: method, Path: path, Key: b.admin, Body: body})
}

// ok sends a request with the admin key and requires the status.
func (b *testBundle) ok(t *testing.T, status int, method, path string, body any) map[string]any {
	t.Helper()
	res := b.do(t, method, path, body)
	require.Equal(t, status, res.status, "%s %s: %s", method, path, res)
	if status == http.StatusNoContent {
		require.Empty(t, res.body)
		return nil
	}
	return res.obj(t)
}

// requireProblem checks an RFC 9457 error with the status and, when given,
// an errors[] entry at every location.
func requireProblem(t *testing.T, res *response, status int, locations ...string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), "body: %s", res)
	p := res.obj(t)
	require.NotEmpty(t, p["type"], "type in %s", res)
	require.Equal(t, http.StatusText(status), p["title"], "title in %s", res)
	require.EqualValues(t, status, p["status"], "status in %s", res)
	require.NotEmpty(t, p["detail"], "detail in %s", res)
	var got []string
	if errs, ok := p["errors"].([]any); ok {
		for _, e := range errs {
			got = append(got, e.(map[string]any)["location"].(string))
		}
	}
	for _, loc := range locations {
		require.Contains(t, got, loc, "errors[].location in %s", res)
	}
	return p
}

// listEvents returns every event the key sees, newest first, following
// cursors.
func (b *testBundle) listEvents(t *testing.T, key, query string) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	for range 1000 {
		q := url.Values{"pageSize": {"500"}}
		if query != "" {
			parsed, err := url.ParseQuery(query)
			require.NoError(t, err)
			for k, v := range parsed {
				q[k] = v
			}
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		res := b.send(t, req{Method: http.MethodGet, Path: "/api/events?" + q.Encode(), Key: key})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res)
		var page struct {
			Data       []map[string]any `json:"data"`
			NextCursor string           `json:"nextCursor"`
		}
		require.NoError(t, json.Unmarshal(res.body, &page))
		all = append(all, page.Data...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatal("event listing did not end")
	return nil
}

// eventCount is the number of stored events, as an admin sees them.
func (b *testBundle) eventCount(t *testing.T) int {
	t.Helper()
	return len(b.listEvents(t, b.admin, ""))
}

// payload decodes an event's payload.
func payload(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	p, ok := ev["payload"].(map[string]any)
	require.True(t, ok, "payload of %v", ev)
	return p
}

// createGroup creates a field group and returns its id.
func (b *testBundle) createGroup(t *testing.T, key string) string {
	t.Helper()
	g := b.ok(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": key, "name": strings.ToUpper(key)})
	return g["id"].(string)
}

// createGlobal creates a global field in the groups and returns its id.
func (b *testBundle) createGlobal(t *testing.T, key string, schema map[string]any, groups ...string) string {
	t.Helper()
	f := b.ok(t, http.StatusCreated, http.MethodPost, "/api/global-fields", map[string]any{"key": key, "label": key, "schema": schema, "fieldGroupIds": groups})
	return f["id"].(string)
}

// valuesPath is the values path of an entity of tenant t1 in the group.
func valuesPath(tenantID, group, entity string) string {
	return "/api/tenants/" + tenantID + "/field-groups/" + group + "/entities/" + entity + "/values"
}

// String shows the exchange in failure messages, cut short.
func (r *response) String() string {
	const max = 2000
	if len(r.body) > max {
		return fmt.Sprintf("%d %s… (%d bytes)", r.status, r.body[:max], len(r.body))
	}
	return fmt.Sprintf("%d %s", r.status, r.body)
}
