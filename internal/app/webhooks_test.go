package app_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// The webhook delivery suite: a real app on 127.0.0.1 over each database,
// driven through its HTTP API, delivering to real receivers (httptest
// servers) that record what they get.

const adminKey = "ffk_webhook_suite_admin_key"

// appOpts changes the app a test gets; the zero value is the default.
type appOpts struct {
	// DenyPrivateTargets leaves AllowPrivateTargets off, so the SSRF guard
	// refuses the loopback receivers.
	DenyPrivateTargets bool
	// DeliveryPoll replaces the 100 ms poll for due deliveries.
	DeliveryPoll time.Duration
	// History, when set, is the retention of events, deliveries and runs,
	// with a retention pass every 50 ms in batches of 20.
	History time.Duration
	// Share, when set, runs the app on that bundle's database and master
	// key, as another instance of it (PostgreSQL).
	Share *testBundle
	// Role is passed to app.Config.
	Role string
}

// testBundle is a running app; adminKey is its admin key.
type testBundle struct {
	cfg app.Config
	url string
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

// startApp starts an app over a fresh database of the dialect, stopped when
// the test ends. Logs are discarded unless FIELDFLOW_TEST_LOG is set.
func startApp(t *testing.T, dialect string, opts appOpts) *testBundle {
	t.Helper()
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("FIELDFLOW_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	cfg := app.Config{
		Addr:                "127.0.0.1:0",
		Role:                opts.Role,
		AdminKey:            adminKey,
		MasterKey:           base64.StdEncoding.EncodeToString(mk),
		AllowPrivateTargets: !opts.DenyPrivateTargets,
		DeliveryPoll:        cmp.Or(opts.DeliveryPoll, 100*time.Millisecond),
		ShutdownGrace:       2 * time.Second,
		Logger:              logger,
		Stdout:              io.Discard,
		// Suites send far more (and more refused) requests than one client
		// may; the limits have tests of their own (keys_test.go).
		RateLimit:        -1,
		AuthFailureLimit: -1,
	}
	if opts.Share != nil {
		cfg.DB, cfg.MasterKey = opts.Share.cfg.DB, opts.Share.cfg.MasterKey
	} else {
		cfg.DB = storetest.DSN(t, dialect)
	}
	if opts.History != 0 {
		cfg.RetentionEvents, cfg.RetentionDeliveries, cfg.RetentionRuns = opts.History, opts.History, opts.History
		cfg.RetentionInterval, cfg.RetentionBatch = 50*time.Millisecond, 20
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop app: %v", err)
		}
	})
	require.NoError(t, a.Start(ctx))
	return &testBundle{cfg: cfg, url: "http://" + a.Addr()}
}

// tenantKey creates an API key of the tenant.
func (b *testBundle) tenantKey(t *testing.T, tenantID string) string {
	t.Helper()
	key, err := app.CreateKey(context.Background(), b.cfg, tenantID)
	require.NoError(t, err)
	return key
}

var client = &http.Client{Timeout: 30 * time.Second}

// response is a finished API exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with the key; body goes as JSON unless nil.
func (b *testBundle) call(t *testing.T, key, method, path string, body any) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", key)
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: raw}
}

// must sends a request with the admin key, requires the status and decodes
// the answer into out (when not nil).
func (b *testBundle) must(t *testing.T, status int, method, path string, body, out any) {
	t.Helper()
	res := b.call(t, adminKey, method, path, body)
	require.Equal(t, status, res.status, "%s %s: %s", method, path, res.body)
	if out != nil {
		require.NoError(t, json.Unmarshal(res.body, out), "%s %s: %s", method, path, res.body)
	}
}

// requireProblem checks a problem+json answer naming every location.
func requireProblem(t *testing.T, res *response, status int, locations ...string) {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), "body: %s", res.body)
	var p struct {
		Errors []struct {
			Location string `json:"location"`
			Message  string `json:"message"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(res.body, &p))
	var got []string
	for _, e := range p.Errors {
		require.NotEmpty(t, e.Message, "body: %s", res.body)
		got = append(got, e.Location)
	}
	for _, loc := range locations {
		require.Contains(t, got, loc, "body: %s", res.body)
	}
}

type endpoint struct {
	ID              string            `json:"id"`
	URL             string            `json:"url"`
	TenantID        *string           `json:"tenantId"`
	Events          []string          `json:"events"`
	Headers         map[string]string `json:"headers"`
	SignatureHeader string            `json:"signatureHeader"`
	SignatureFormat string            `json:"signatureFormat"`
	PublicKey       string            `json:"publicKey"`
	BodyTemplate    json.RawMessage   `json:"bodyTemplate"`
	RetrySchedule   []string          `json:"retrySchedule"`
	TimeoutSeconds  int               `json:"timeoutSeconds"`
	MaxInFlight     int               `json:"maxInFlight"`
	Active          bool              `json:"active"`
	DisabledReason  string            `json:"disabledReason"`
	Secret          string            `json:"secret"`
}

type attempt struct {
	Attempt         int               `json:"attempt"`
	StartedAt       time.Time         `json:"startedAt"`
	DurationMS      int64             `json:"durationMs"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	ResponseStatus  int               `json:"responseStatus"`
	ResponseHeaders map[string]string `json:"responseHeaders"`
	ResponseBody    string            `json:"responseBody"`
	Error           string            `json:"error"`
}

type delivery struct {
	ID           string    `json:"id"`
	EndpointID   string    `json:"endpointId"`
	EventID      string    `json:"eventId"`
	EventType    string    `json:"eventType"`
	TenantID     string    `json:"tenantId"`
	Status       string    `json:"status"`
	AttemptCount int       `json:"attemptCount"`
	LastStatus   int       `json:"lastStatus"`
	LastError    string    `json:"lastError"`
	Attempts     []attempt `json:"attempts"`
}

type deliveryPage struct {
	Data       []delivery `json:"data"`
	NextCursor string     `json:"nextCursor"`
}

type event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TenantID   string          `json:"tenantId"`
	Payload    json.RawMessage `json:"payload"`
	Deliveries []delivery      `json:"deliveries"`
}

// createEndpoint registers an endpoint with the admin key.
func (b *testBundle) createEndpoint(t *testing.T, body map[string]any) endpoint {
	t.Helper()
	var ep endpoint
	b.must(t, http.StatusCreated, http.MethodPost, "/api/webhooks", body, &ep)
	require.True(t, strings.HasPrefix(ep.ID, "wh_"), ep.ID)
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"), ep.Secret)
	return ep
}

// publish publishes a host event with the admin key and returns its id.
func (b *testBundle) publish(t *testing.T, typ, tenantID string, data map[string]any) string {
	t.Helper()
	body := map[string]any{"type": typ, "data": data}
	if tenantID != "" {
		body["tenantId"] = tenantID
	}
	var res struct{ ID string }
	b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", body, &res)
	require.True(t, strings.HasPrefix(res.ID, "evt_"), res.ID)
	return res.ID
}

func (b *testBundle) deliveries(t *testing.T, endpointID, query string) deliveryPage {
	t.Helper()
	var p deliveryPage
	path := "/api/webhooks/" + endpointID + "/deliveries"
	if query != "" {
		path += "?" + query
	}
	b.must(t, http.StatusOK, http.MethodGet, path, nil, &p)
	return p
}

func (b *testBundle) delivery(t *testing.T, id string) delivery {
	t.Helper()
	var d delivery
	b.must(t, http.StatusOK, http.MethodGet, "/api/deliveries/"+id, nil, &d)
	return d
}

// waitDelivery polls a delivery until it reaches a final state.
func (b *testBundle) waitDelivery(t *testing.T, id string, within time.Duration) delivery {
	t.Helper()
	var d delivery
	waitUntil(t, within, "delivery "+id+" to finish", func() bool {
		d = b.delivery(t, id)
		return d.Status != "pending"
	})
	return d
}

// waitFinished polls an endpoint's delivery log until it holds n
// deliveries and none is pending.
func (b *testBundle) waitFinished(t *testing.T, endpointID string, n int, within time.Duration) []delivery {
	t.Helper()
	var ds []delivery
	waitUntil(t, within, fmt.Sprintf("%d finished deliveries of %s", n, endpointID), func() bool {
		ds = b.deliveries(t, endpointID, "pageSize=500").Data
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.Status == "pending" {
				return false
			}
		}
		return true
	})
	return ds
}

// waitUntil polls cond every 20 ms and fails the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received is one request a receiver got.
type received struct {
	N      int
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiverOpts says how a receiver answers; the zero value answers 200 ok
// at once.
type receiverOpts struct {
	// Delay holds the nth answer back (at most until the test ends or the
	// sender gives up).
	Delay func(n int, got *received) time.Duration
	// Respond writes the nth answer; nil answers 200 "ok".
	Respond func(w http.ResponseWriter, n int, got *received)
}

// receiver is a webhook receiver on 127.0.0.1 that records every request.
type receiver struct {
	URL  string
	stop chan struct{}

	mu        sync.Mutex
	got       []*received // guarded by mu
	active    int         // guarded by mu
	maxActive int         // guarded by mu
	answered  int         // guarded by mu
}

// startReceiver starts a receiver, closed when the test ends; requests it
// is holding back return at once then.
func startReceiver(t *testing.T, opts receiverOpts) *receiver {
	t.Helper()
	rc := &receiver{stop: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		got := &received{N: len(rc.got) + 1, At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		rc.got = append(rc.got, got)
		rc.active++
		rc.maxActive = max(rc.maxActive, rc.active)
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			rc.active--
			rc.answered++
			rc.mu.Unlock()
		}()
		if opts.Delay != nil {
			if d := opts.Delay(got.N, got); d > 0 {
				timer := time.NewTimer(d)
				defer timer.Stop()
				select {
				case <-timer.C:
				case <-rc.stop:
					return
				case <-r.Context().Done():
					return
				}
			}
		}
		if opts.Respond != nil {
			opts.Respond(w, got.N, got)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	rc.URL = srv.URL + "/hook"
	t.Cleanup(func() {
		close(rc.stop)
		srv.Close()
	})
	return rc
}

// all returns the requests so far.
func (rc *receiver) all() []*received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*received(nil), rc.got...)
}

// wait returns the requests once there are at least n.
func (rc *receiver) wait(t *testing.T, n int, within time.Duration) []*received {
	t.Helper()
	var got []*received
	waitUntil(t, within, fmt.Sprintf("%d requests at %s", n, rc.URL), func() bool {
		got = rc.all()
		return len(got) >= n
	})
	return got
}

func (rc *receiver) stats() (active, maxActive, answered int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.active, rc.maxActive, rc.answered
}

// payload decodes a request body.
func (g *received) payload(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(g.Body, &m), "body: %s", g.Body)
	return m
}

// topKeys lists a JSON object's keys in the order they are written.
func topKeys(t *testing.T, body []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// verifyStandard checks the Standard Webhooks headers with the official
// library.
func verifyStandard(t *testing.T, secret string, got *received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got.Body, got.Header), "webhook-signature %q", got.Header.Get("webhook-signature"))
}

// nodeScript reads [[secret, body], ...] on stdin and prints, for each,
// the hex HMAC-SHA256 keyed with the whole secret string over
// JSON.stringify(JSON.parse(body)), as a typical Node receiver computes it,
// and whether that re-serialization equals the body.
const nodeScript = `let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
const c = require("crypto");
process.stdout.write(JSON.stringify(JSON.parse(s).map(([k, b]) => {
  const r = JSON.stringify(JSON.parse(b));
  return {hex: c.createHmac("sha256", Buffer.from(k, "utf8")).update(r, "utf8").digest("hex"), same: r === b};
})));
});`

type nodeResult struct {
	Hex  string `json:"hex"`
	Same bool   `json:"same"`
}

// nodeHMAC runs nodeScript once over the (secret, body) pairs. A missing
// node fails the test: the check is part of the contract.
func nodeHMAC(t *testing.T, pairs ...[2]string) []nodeResult {
	t.Helper()
	const node = "/usr/bin/node"
	_, err := os.Stat(node)
	require.NoError(t, err, "node is needed to check signatures the way a Node receiver does")
	in, err := json.Marshal(pairs)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", nodeScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node: %s", stderr.String())
	var res []nodeResult
	require.NoError(t, json.Unmarshal(out, &res), "node printed %s", out)
	require.Len(t, res, len(pairs))
	return res
}

var hexSig = regexp.MustCompile(`^[0-9a-f]{64}$`)

// closedPortURL returns a URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/hook"
}

// tricky is host event data whose encoding a re-serializing receiver must
// reproduce: HTML characters, line and paragraph separators, control
// characters, non-ASCII, floats in both notations and integer-like keys.
func tricky() map[string]any {
	return map[string]any{
		"html":   "<script>alert('x')</script> & <b>Tom & Jerry</b>",
		"seps":   "line\u2028separator\u2029paragraph",
		"ctl":    "tab\tnl\ncr\r\u0001\u001f \"quoted\" back\\slash",
		"text":   "Zürich – naïve café ✓ 日本語 😀",
		"floats": []any{0.1, 1.5, -2.25, 1e21, 1.5e300, 1e-7, 123456789.125, 3.0, 0.0, 0.000001},
		"int":    42,
		"big":    9007199254740993,
		"nested": map[string]any{"z": true, "a": []any{nil, "x", false}, "10": "ten", "2": "two", "b": map[string]any{}},
	}
}

func TestWebhookDeliverySuccess(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{})
		renamed := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"TASK_COMPLETED"}})
		require.Equal(t, "X-Fieldflow-Signature", ep.SignatureHeader)
		require.Equal(t, []string{"1m", "5m", "30m", "2h", "12h"}, ep.RetrySchedule)
		ep2 := b.createEndpoint(t, map[string]any{"url": renamed.URL, "events": []string{"TASK_COMPLETED"},
			"signatureHeader": "X-Hub-Signature-256", "headers": map[string]string{"X-Env": "test"}})

		// The secret is shown at create only.
		var got endpoint
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+ep.ID, nil, &got)
		require.Empty(t, got.Secret)
		require.Equal(t, rc.URL, got.URL)

		data := tricky()
		evID := b.publish(t, "TASK_COMPLETED", "sunrise-dental", data)

		req := rc.wait(t, 1, 5*time.Second)[0]
		req2 := renamed.wait(t, 1, 5*time.Second)[0]
		require.Equal(t, http.MethodPost, req.Method)
		require.Equal(t, "/hook", req.Path)
		h := req.Header
		require.Equal(t, "application/json", h.Get("Content-Type"))
		require.Equal(t, "fieldflow/"+app.Version, h.Get("User-Agent"))
		require.Equal(t, "TASK_COMPLETED", h.Get("X-Fieldflow-Event"))
		require.True(t, strings.HasPrefix(h.Get("X-Fieldflow-Delivery"), "dlv_"), h.Get("X-Fieldflow-Delivery"))
		require.Equal(t, evID, h.Get("webhook-id"))
		require.NotEmpty(t, h.Get("webhook-timestamp"))
		require.Regexp(t, `^v1,[A-Za-z0-9+/]+=*$`, h.Get("webhook-signature"))
		require.Regexp(t, hexSig, h.Get("X-Fieldflow-Signature"))
		require.NotEqual(t, h.Get("X-Fieldflow-Delivery"), req2.Header.Get("X-Fieldflow-Delivery"), "one delivery per endpoint")

		// The flat body of a host event, keys in their fixed order.
		require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "data"}, topKeys(t, req.Body))
		p := req.payload(t)
		require.Equal(t, "TASK_COMPLETED", p["event"])
		require.Equal(t, evID, p["eventId"])
		require.Equal(t, "sunrise-dental", p["tenantId"])
		ts, err := time.Parse(time.RFC3339Nano, p["timestamp"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), ts, time.Minute)
		want, err := json.Marshal(data)
		require.NoError(t, err)
		gotData, err := json.Marshal(p["data"])
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(gotData))
		require.Contains(t, string(req.Body), "<script>alert('x')</script> & <b>", "no HTML escaping")
		require.Contains(t, string(req.Body), "\u2028", "U+2028 stays literal")
		require.Equal(t, req.Body, req2.Body, "every endpoint gets the same bytes")

		// Both signatures, checked as receivers check them.
		verifyStandard(t, ep.Secret, req)
		verifyStandard(t, ep2.Secret, req2)
		wrong, err := standardwebhooks.NewWebhook(ep2.Secret)
		require.NoError(t, err)
		require.Error(t, wrong.Verify(req.Body, req.Header), "another endpoint's secret must not verify")

		require.Empty(t, req2.Header.Get("X-Fieldflow-Signature"), "signatureHeader renames the hex header")
		require.Regexp(t, hexSig, req2.Header.Get("X-Hub-Signature-256"))
		require.Equal(t, "test", req2.Header.Get("X-Env"))
		res := nodeHMAC(t, [2]string{ep.Secret, string(req.Body)}, [2]string{ep2.Secret, string(req2.Body)})
		require.True(t, res[0].Same, "JSON.stringify(JSON.parse(body)) must equal the body: %s", req.Body)
		require.Equal(t, res[0].Hex, h.Get("X-Fieldflow-Signature"))
		require.Equal(t, res[1].Hex, req2.Header.Get("X-Hub-Signature-256"))

		// The log shows the success, with the signatures redacted.
		d := b.waitDelivery(t, h.Get("X-Fieldflow-Delivery"), 5*time.Second)
		require.Equal(t, "succeeded", d.Status)
		require.Equal(t, evID, d.EventID)
		require.Len(t, d.Attempts, 1)
		a := d.Attempts[0]
		require.Equal(t, 200, a.ResponseStatus)
		require.Equal(t, "ok", a.ResponseBody)
		require.Empty(t, a.Error)
		require.Equal(t, "••••", a.RequestHeaders["X-Fieldflow-Signature"])
		require.Equal(t, "••••", a.RequestHeaders["webhook-signature"])
		require.Equal(t, d.ID, a.RequestHeaders["X-Fieldflow-Delivery"])
	})
}

func TestWebhookFieldAndHostEvents(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		var g struct{ ID string }
		b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "booking", "name": "Booking"}, &g)
		for _, f := range []map[string]any{
			{"key": "insurance_number", "label": "Insurance number", "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"booking"}},
			{"key": "guests", "label": "Guests", "schema": map[string]any{"type": "number"}, "fieldGroupIds": []string{g.ID}},
		} {
			b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields", f, nil)
		}
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"field_value.saved", "entity.updated", "client.updated"}})

		values := "/api/tenants/sunrise-dental/field-groups/booking/entities/booking-1042/values"
		b.must(t, http.StatusOK, http.MethodPost, values, map[string]any{"insurance_number": "INS-2231", "guests": 2.5}, nil)
		got := rc.wait(t, 3, 5*time.Second)
		byKey := map[string]*received{}
		for _, r := range got {
			p := r.payload(t)
			require.Equal(t, r.Header.Get("X-Fieldflow-Event"), p["event"])
			verifyStandard(t, ep.Secret, r)
			switch p["event"] {
			case "field_value.saved":
				require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "fieldGroupId", "fieldGroupKey",
					"entityId", "fieldKey", "value", "previousValue"}, topKeys(t, r.Body))
				require.Equal(t, "sunrise-dental", p["tenantId"])
				require.Equal(t, g.ID, p["fieldGroupId"])
				require.Equal(t, "booking", p["fieldGroupKey"])
				require.Equal(t, "booking-1042", p["entityId"])
				require.Nil(t, p["previousValue"])
				byKey[p["fieldKey"].(string)] = r
			case "entity.updated":
				require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "fieldGroupId", "fieldGroupKey",
					"entityId", "values", "previousValues", "changedKeys", "version"}, topKeys(t, r.Body))
				require.Equal(t, map[string]any{"insurance_number": "INS-2231", "guests": 2.5}, p["values"])
				require.ElementsMatch(t, []any{"insurance_number", "guests"}, p["changedKeys"])
				require.EqualValues(t, 1, p["version"])
				byKey["entity"] = r
			default:
				t.Fatalf("unexpected event %s", r.Body)
			}
		}
		require.Len(t, byKey, 3, "two field_value.saved and one entity.updated")
		require.Equal(t, "INS-2231", byKey["insurance_number"].payload(t)["value"])
		require.Equal(t, 2.5, byKey["guests"].payload(t)["value"])

		// A change reports the previous value; an unchanged value emits nothing.
		b.must(t, http.StatusOK, http.MethodPost, values, map[string]any{"insurance_number": "INS-9", "guests": 2.5}, nil)
		got = rc.wait(t, 5, 5*time.Second)
		var saved, entity map[string]any
		for _, r := range got[3:] {
			p := r.payload(t)
			if p["event"] == "field_value.saved" {
				saved = p
			} else {
				entity = p
			}
		}
		require.NotNil(t, saved)
		require.NotNil(t, entity)
		require.Equal(t, "insurance_number", saved["fieldKey"])
		require.Equal(t, "INS-9", saved["value"])
		require.Equal(t, "INS-2231", saved["previousValue"])
		require.Equal(t, map[string]any{"insurance_number": "INS-2231"}, entity["previousValues"])
		require.Equal(t, []any{"insurance_number"}, entity["changedKeys"])
		require.EqualValues(t, 2, entity["version"])

		// A host event, with previous; publishing its id again fans out
		// nothing.
		hostEvent := map[string]any{"type": "client.updated", "tenantId": "sunrise-dental", "id": "client-42-v2",
			"data": map[string]any{"name": "Ada & Co <GmbH>"}, "previous": map[string]any{"name": "Ada"}}
		var pub, again struct {
			ID        string
			Duplicate bool
		}
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", hostEvent, &pub)
		require.False(t, pub.Duplicate)
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", hostEvent, &again)
		require.True(t, again.Duplicate)
		require.Equal(t, pub.ID, again.ID)
		got = rc.wait(t, 6, 5*time.Second)
		host := got[5]
		require.Equal(t, "client.updated", host.Header.Get("X-Fieldflow-Event"))
		require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "data", "previous"}, topKeys(t, host.Body))
		p := host.payload(t)
		require.Equal(t, pub.ID, p["eventId"])
		require.Equal(t, map[string]any{"name": "Ada & Co <GmbH>"}, p["data"])
		require.Equal(t, map[string]any{"name": "Ada"}, p["previous"])
		verifyStandard(t, ep.Secret, host)

		// The log holds the same six deliveries.
		ds := b.waitFinished(t, ep.ID, 6, 5*time.Second)
		counts := map[string]int{}
		for _, d := range ds {
			require.Equal(t, "succeeded", d.Status)
			counts[d.EventType]++
		}
		require.Equal(t, map[string]int{"field_value.saved": 3, "entity.updated": 2, "client.updated": 1}, counts)
	})
}

func TestWebhookRetryAfterServerError(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, n int, _ *received) {
			if n == 1 {
				w.Header().Set("X-Why", "down")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "boom")
				return
			}
			_, _ = io.WriteString(w, "fine now")
		}})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "retrySchedule": []string{"1s"}})
		b.publish(t, "order.paid", "", map[string]any{"amount": 10})
		got := rc.wait(t, 2, 5*time.Second)
		require.Equal(t, got[0].Header.Get("X-Fieldflow-Delivery"), got[1].Header.Get("X-Fieldflow-Delivery"), "a retry is the same delivery")
		require.Equal(t, got[0].Body, got[1].Body)
		d := b.waitDelivery(t, got[0].Header.Get("X-Fieldflow-Delivery"), 5*time.Second)
		require.Equal(t, "succeeded", d.Status)
		require.Equal(t, 2, d.AttemptCount)
		require.Len(t, d.Attempts, 2)
		first, second := d.Attempts[0], d.Attempts[1]
		require.Equal(t, 1, first.Attempt)
		require.Equal(t, 500, first.ResponseStatus)
		require.Equal(t, "boom", first.ResponseBody)
		require.Equal(t, "down", first.ResponseHeaders["X-Why"])
		require.Equal(t, "HTTP 500", first.Error)
		require.Equal(t, 2, second.Attempt)
		require.Equal(t, 200, second.ResponseStatus)
		require.Equal(t, "fine now", second.ResponseBody)
		require.Empty(t, second.Error)
		gap := second.StartedAt.Sub(first.StartedAt)
		require.True(t, gap >= 900*time.Millisecond && gap < 1600*time.Millisecond, "retry after %s, want 1s ±10%%", gap)
		require.Equal(t, ep.ID, d.EndpointID)
	})
}

// TestWebhookRetryOnTime runs with a poll interval far longer than the
// retry schedule: retries must come due on their own clock, each on time,
// also when several deliveries wait for retries due at different times.
func TestWebhookRetryOnTime(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{DeliveryPoll: 10 * time.Second})
		var mu sync.Mutex
		seen := map[string]int{}
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, got *received) {
			mu.Lock()
			id := got.Header.Get("X-Fieldflow-Delivery")
			seen[id]++
			n := seen[id]
			mu.Unlock()
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}})
		b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "retrySchedule": []string{"1s", "1s"}, "maxInFlight": 10})
		for i := range 3 {
			b.publish(t, "order.paid", "", map[string]any{"n": i})
			time.Sleep(300 * time.Millisecond)
		}
		// Every retry is due within about 3 s; the next poll is 10 s away.
		deadline := time.Now().Add(5 * time.Second)
		for len(rc.all()) < 9 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		byDelivery := map[string][]time.Time{}
		for _, r := range rc.all() {
			id := r.Header.Get("X-Fieldflow-Delivery")
			byDelivery[id] = append(byDelivery[id], r.At)
		}
		require.Len(t, byDelivery, 3)
		for id, at := range byDelivery {
			require.Len(t, at, 3, "%s was tried at %v: a retry waited for the poll", id, at)
			for i := 1; i < 3; i++ {
				gap := at[i].Sub(at[i-1])
				require.True(t, gap >= 850*time.Millisecond && gap < 1500*time.Millisecond, "%s: attempt %d came %s after the previous one, want 1s ±10%%", id, i+1, gap)
			}
			d := b.waitDelivery(t, id, 5*time.Second)
			require.Equal(t, "succeeded", d.Status)
			require.Equal(t, 3, d.AttemptCount)
		}
	})
}

func TestWebhookFailedAttempts(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		slow := startReceiver(t, receiverOpts{Delay: func(int, *received) time.Duration { return 3 * time.Second }})
		hung := startReceiver(t, receiverOpts{Delay: func(int, *received) time.Duration { return time.Hour }})
		epSlow := b.createEndpoint(t, map[string]any{"url": slow.URL, "events": []string{"job.*"}, "timeoutSeconds": 1, "retrySchedule": []string{"1s"}})
		epHung := b.createEndpoint(t, map[string]any{"url": hung.URL, "events": []string{"job.*"}, "timeoutSeconds": 1, "retrySchedule": []string{"1s"}})
		epDown := b.createEndpoint(t, map[string]any{"url": closedPortURL(t), "events": []string{"job.*"}, "retrySchedule": []string{"1s", "1s"}})
		b.publish(t, "job.failed", "", map[string]any{"job": 7})

		check := func(ep endpoint, attempts int, wantErr string) {
			t.Helper()
			ds := b.waitFinished(t, ep.ID, 1, 10*time.Second)
			d := ds[0]
			require.Equal(t, "failed", d.Status, "the schedule is used up")
			require.Equal(t, attempts, d.AttemptCount)
			require.Contains(t, d.LastError, wantErr)
			require.Len(t, d.Attempts, attempts)
			for i, a := range d.Attempts {
				require.Equal(t, i+1, a.Attempt)
				require.Zero(t, a.ResponseStatus)
				require.Contains(t, a.Error, wantErr)
				if i > 0 {
					prev := d.Attempts[i-1]
					gap := a.StartedAt.Sub(prev.StartedAt.Add(time.Duration(prev.DurationMS) * time.Millisecond))
					require.True(t, gap >= 850*time.Millisecond && gap < 1700*time.Millisecond, "attempt %d came %s after the previous one ended: %+v", i+1, gap, d.Attempts)
				}
			}
		}
		check(epDown, 3, "connection refused")
		check(epSlow, 2, "timeout")
		check(epHung, 2, "timeout")
		for _, d := range b.deliveries(t, epSlow.ID, "").Data[0].Attempts {
			require.True(t, d.DurationMS >= 950 && d.DurationMS < 2000, "a timed-out attempt lasts the timeout, not %d ms", d.DurationMS)
		}
		require.Len(t, slow.all(), 2, "each attempt reached the slow receiver")
		require.Len(t, hung.all(), 2)
	})
}

func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) {
			w.WriteHeader(http.StatusGone)
		}})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.*"}, "tenantId": "t1", "retrySchedule": []string{"1s"}})
		b.publish(t, "order.paid", "t1", map[string]any{"n": 1})
		ds := b.waitFinished(t, ep.ID, 1, 5*time.Second)
		require.Equal(t, "failed", ds[0].Status, "410 is not retried")
		require.Equal(t, 1, ds[0].AttemptCount)
		require.Equal(t, 410, ds[0].LastStatus)

		var got endpoint
		waitUntil(t, 5*time.Second, "the endpoint to be disabled", func() bool {
			b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+ep.ID, nil, &got)
			return !got.Active
		})
		require.Contains(t, got.DisabledReason, "410")

		var evs struct{ Data []event }
		b.must(t, http.StatusOK, http.MethodGet, "/api/events?type=webhook.disabled", nil, &evs)
		require.Len(t, evs.Data, 1)
		require.Equal(t, "t1", evs.Data[0].TenantID)
		var p struct {
			Event   string
			Webhook struct{ ID, URL string }
			Reason  string
		}
		require.NoError(t, json.Unmarshal(evs.Data[0].Payload, &p))
		require.Equal(t, "webhook.disabled", p.Event)
		require.Equal(t, ep.ID, p.Webhook.ID)
		require.Equal(t, rc.URL, p.Webhook.URL)
		require.Equal(t, got.DisabledReason, p.Reason)

		// A disabled endpoint gets nothing more; re-enabling clears the reason.
		b.publish(t, "order.paid", "t1", map[string]any{"n": 2})
		require.Len(t, b.deliveries(t, ep.ID, "").Data, 1)
		got = endpoint{}
		b.must(t, http.StatusOK, http.MethodPatch, "/api/webhooks/"+ep.ID, map[string]any{"active": true}, &got)
		require.True(t, got.Active)
		require.Empty(t, got.DisabledReason)
		require.Len(t, rc.all(), 1)
	})
}

func TestWebhookRetryAfterHeader(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		limited := func(retryAfter string) receiverOpts {
			return receiverOpts{Respond: func(w http.ResponseWriter, n int, _ *received) {
				if n == 1 {
					w.Header().Set("Retry-After", retryAfter)
					w.WriteHeader(http.StatusTooManyRequests)
				}
			}}
		}
		// Retry-After 2 s within [1 s, 2 s]: honoured; 60 s: capped at 2 s.
		rc2 := startReceiver(t, limited("2"))
		rc60 := startReceiver(t, limited("60"))
		ep2 := b.createEndpoint(t, map[string]any{"url": rc2.URL, "events": []string{"*"}, "retrySchedule": []string{"1s"}})
		ep60 := b.createEndpoint(t, map[string]any{"url": rc60.URL, "events": []string{"*"}, "retrySchedule": []string{"1s"}})
		b.publish(t, "order.paid", "", map[string]any{"n": 1})
		for _, rc := range []*receiver{rc2, rc60} {
			got := rc.wait(t, 2, 6*time.Second)
			gap := got[1].At.Sub(got[0].At)
			require.True(t, gap >= 1950*time.Millisecond && gap < 2600*time.Millisecond, "second attempt %s after the first, want 2s", gap)
		}
		for _, ep := range []endpoint{ep2, ep60} {
			d := b.waitFinished(t, ep.ID, 1, 5*time.Second)[0]
			require.Equal(t, "succeeded", d.Status)
			require.Equal(t, 429, d.Attempts[0].ResponseStatus)
			require.NotEmpty(t, d.Attempts[0].ResponseHeaders["Retry-After"])
		}
	})
}

func TestWebhookFairness(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		slow := startReceiver(t, receiverOpts{Delay: func(int, *received) time.Duration { return 5 * time.Second }})
		fast := startReceiver(t, receiverOpts{})
		b.createEndpoint(t, map[string]any{"url": slow.URL, "events": []string{"load.test"}, "maxInFlight": 2})
		b.createEndpoint(t, map[string]any{"url": fast.URL, "events": []string{"load.test"}})
		start := time.Now()
		for i := range 20 {
			b.publish(t, "load.test", "", map[string]any{"n": i})
		}
		published := time.Since(start)
		got := fast.wait(t, 20, 5*time.Second)
		last := got[19].At.Sub(start)
		require.Less(t, last, published+time.Second, "the fast endpoint got everything %s after the first publish (publishing took %s)", last, published)
		active, maxActive, answered := slow.stats()
		require.Zero(t, answered, "the slow receiver has not answered yet")
		require.Equal(t, 2, maxActive, "maxInFlight bounds the slow endpoint, which is busy")
		require.LessOrEqual(t, active, 2)
		require.Len(t, fast.all(), 20)
	})
}

func TestWebhookSSRFGuard(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{DenyPrivateTargets: true})
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "retrySchedule": []string{}})
		b.publish(t, "order.paid", "", map[string]any{"n": 1})
		d := b.waitFinished(t, ep.ID, 1, 5*time.Second)[0]
		require.Equal(t, "failed", d.Status)
		require.Len(t, d.Attempts, 1)
		require.Contains(t, d.Attempts[0].Error, "refused")
		require.Contains(t, d.Attempts[0].Error, "loopback")

		var res struct {
			Success bool
			Attempt attempt
		}
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+ep.ID+"/test", nil, &res)
		require.False(t, res.Success)
		require.Contains(t, res.Attempt.Error, "refused")
		require.Empty(t, rc.all(), "the receiver never gets a request")
	})
}

func TestWebhookEventFilters(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		cases := []struct {
			name string
			body map[string]any
			want []string // event names (data.name) it gets
		}{
			{"exact", map[string]any{"events": []string{"TASK_COMPLETED"}}, []string{"e1"}},
			{"prefix", map[string]any{"events": []string{"task.*"}}, []string{"e2", "e3"}},
			{"all", map[string]any{"events": []string{"*"}}, []string{"e1", "e2", "e3", "e4", "e5"}},
			{"tenant", map[string]any{"events": []string{"*"}, "tenantId": "t1"}, []string{"e1", "e2", "e5"}},
			{"cel", map[string]any{"events": []string{"*"}, "filter": "event.data.amount > 100 && event.tenantId != 't1'"}, []string{"e4"}},
			{"cel-string", map[string]any{"events": []string{"task.*", "order.*"}, "filter": "event.data.kind == 'vip'"}, []string{"e3"}},
		}
		rcs := make([]*receiver, len(cases))
		eps := make([]endpoint, len(cases))
		for i, c := range cases {
			rcs[i] = startReceiver(t, receiverOpts{})
			c.body["url"] = rcs[i].URL
			eps[i] = b.createEndpoint(t, c.body)
		}
		b.publish(t, "TASK_COMPLETED", "t1", map[string]any{"name": "e1", "amount": 500})
		b.publish(t, "task.created", "t1", map[string]any{"name": "e2", "amount": 50})
		b.publish(t, "task.done", "t2", map[string]any{"name": "e3", "kind": "vip"})
		b.publish(t, "order.paid", "t2", map[string]any{"name": "e4", "amount": 100.5})
		b.publish(t, "tasks", "t1", map[string]any{"name": "e5", "amount": 1000})

		for i, c := range cases {
			// Fan-out happens in the publishing transaction: the log is
			// complete now, so it shows what was not delivered too.
			var logged []string
			for _, d := range b.deliveries(t, eps[i].ID, "").Data {
				logged = append(logged, d.EventType)
			}
			require.Len(t, logged, len(c.want), "%s: %v", c.name, logged)
			got := rcs[i].wait(t, len(c.want), 5*time.Second)
			var names []string
			for _, r := range got {
				names = append(names, r.payload(t)["data"].(map[string]any)["name"].(string))
			}
			require.ElementsMatch(t, c.want, names, c.name)
		}

		bad := []struct {
			body     map[string]any
			location string
		}{
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "filter": "event.data.amount >"}, "body.filter"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "filter": "1 + 2"}, "body.filter"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "filter": "nope.x == 1"}, "body.filter"},
			{map[string]any{"url": "ftp://example.com/h", "events": []string{"*"}}, "body.url"},
			{map[string]any{"url": "https://user:pw@example.com/h", "events": []string{"*"}}, "body.url"},
			{map[string]any{"url": "example.com/h", "events": []string{"*"}}, "body.url"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "headers": map[string]string{"User-Agent": "x"}}, "body.headers.User-Agent"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "headers": map[string]string{"webhook-signature": "x"}}, "body.headers.webhook-signature"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "headers": map[string]string{"X-Ok": "a\r\nb"}}, "body.headers.X-Ok"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "signatureHeader": "Content-Type"}, "body.signatureHeader"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"task*"}}, "body.events[0]"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "retrySchedule": []string{"soon"}}, "body.retrySchedule"},
			{map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "tenantId": "bad tenant"}, "body.tenantId"},
		}
		for _, c := range bad {
			requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/webhooks", c.body), http.StatusUnprocessableEntity, c.location)
		}
		requireProblem(t, b.call(t, adminKey, http.MethodPatch, "/api/webhooks/"+eps[0].ID, map[string]any{"filter": "event.data.amount >"}),
			http.StatusUnprocessableEntity, "body.filter")
		requireProblem(t, b.call(t, adminKey, http.MethodPatch, "/api/webhooks/"+eps[0].ID, map[string]any{"url": "ftp://example.com/"}),
			http.StatusUnprocessableEntity, "body.url")
		var list struct{ Data []endpoint }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &list)
		require.Len(t, list.Data, len(cases), "nothing invalid was stored")
	})
}

func TestWebhookDeliveryLog(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		var mu sync.Mutex
		failing := true
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, got *received) {
			mu.Lock()
			defer mu.Unlock()
			var p struct{ Data struct{ Fail bool } }
			_ = json.Unmarshal(got.Body, &p)
			if failing && p.Data.Fail {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "nope")
			}
		}})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"log.*"}, "retrySchedule": []string{}})
		since := time.Now().UTC().Add(-time.Second)
		evIDs := make([]string, 5)
		for i := range evIDs {
			evIDs[i] = b.publish(t, "log.test", "", map[string]any{"n": i, "fail": i%2 == 1})
		}
		all := b.waitFinished(t, ep.ID, 5, 5*time.Second)
		for i, d := range all {
			require.Equal(t, evIDs[4-i], d.EventID, "newest first")
		}

		// Status filter.
		byStatus := func(status string) []delivery { return b.deliveries(t, ep.ID, "status="+status).Data }
		failed := byStatus("failed")
		require.Len(t, failed, 2)
		require.Len(t, byStatus("succeeded"), 3)
		require.Empty(t, byStatus("pending"))
		requireProblem(t, b.call(t, adminKey, http.MethodGet, "/api/webhooks/"+ep.ID+"/deliveries?status=lost", nil), http.StatusBadRequest, "query.status")

		// Cursor paging, newest first, each delivery once.
		var paged []string
		cursor := ""
		pages := 0
		for {
			q := url.Values{"pageSize": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			p := b.deliveries(t, ep.ID, q.Encode())
			pages++
			for _, d := range p.Data {
				paged = append(paged, d.EventID)
			}
			if p.NextCursor == "" {
				break
			}
			require.Len(t, p.Data, 2)
			cursor = p.NextCursor
			require.Less(t, pages, 10)
		}
		require.Equal(t, 3, pages)
		require.Equal(t, []string{evIDs[4], evIDs[3], evIDs[2], evIDs[1], evIDs[0]}, paged)
		requireProblem(t, b.call(t, adminKey, http.MethodGet, "/api/webhooks/"+ep.ID+"/deliveries?cursor=garbage", nil), http.StatusBadRequest, "query.cursor")

		// One delivery with its attempt.
		d := b.delivery(t, failed[0].ID)
		require.Equal(t, evIDs[3], d.EventID)
		require.Equal(t, "failed", d.Status)
		require.Equal(t, 500, d.LastStatus)
		require.Len(t, d.Attempts, 1)
		require.Equal(t, "nope", d.Attempts[0].ResponseBody)
		require.Equal(t, "HTTP 500", d.Attempts[0].Error)
		require.Equal(t, "log.test", d.Attempts[0].RequestHeaders["X-Fieldflow-Event"])
		require.Equal(t, http.StatusNotFound, b.call(t, adminKey, http.MethodGet, "/api/deliveries/dlv_nothing", nil).status)

		// Retry now: the same delivery goes out again.
		mu.Lock()
		failing = false
		mu.Unlock()
		var retried struct{ ID string }
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/deliveries/"+d.ID+"/retry", nil, &retried)
		require.Equal(t, d.ID, retried.ID)
		got := rc.wait(t, 6, 5*time.Second)
		require.Equal(t, d.ID, got[5].Header.Get("X-Fieldflow-Delivery"))
		d = b.waitDelivery(t, d.ID, 5*time.Second)
		require.Equal(t, "succeeded", d.Status)
		require.Equal(t, 2, d.AttemptCount)
		require.Len(t, d.Attempts, 2)
		require.Equal(t, 200, d.Attempts[1].ResponseStatus)

		// Replay the failed ones: only evIDs[1] is still failed; it goes out
		// as a new delivery of the same event.
		var replay struct{ Count int }
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/webhooks/"+ep.ID+"/replay", map[string]any{"since": since, "onlyFailed": true}, &replay)
		require.Equal(t, 1, replay.Count)
		got = rc.wait(t, 7, 5*time.Second)
		require.Equal(t, evIDs[1], got[6].Header.Get("webhook-id"))
		require.NotEqual(t, failed[1].ID, got[6].Header.Get("X-Fieldflow-Delivery"))
		require.Equal(t, failed[1].ID, b.delivery(t, failed[1].ID).ID)
		b.waitFinished(t, ep.ID, 6, 5*time.Second)
		// Now nothing is failed that was not delivered since.
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/webhooks/"+ep.ID+"/replay", map[string]any{"since": since, "onlyFailed": true}, &replay)
		require.Equal(t, 0, replay.Count)
		// A full replay sends each event once.
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/webhooks/"+ep.ID+"/replay", map[string]any{"since": since}, &replay)
		require.Equal(t, 5, replay.Count)
		got = rc.wait(t, 12, 5*time.Second)
		var replayed []string
		for _, r := range got[7:] {
			replayed = append(replayed, r.Header.Get("webhook-id"))
		}
		require.ElementsMatch(t, evIDs, replayed)
		b.waitFinished(t, ep.ID, 11, 5*time.Second)
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/webhooks/"+ep.ID+"/replay",
			map[string]any{"since": since, "until": since.Add(-time.Hour)}), http.StatusUnprocessableEntity, "body.until")

		// The event shows its deliveries: the original and the replays.
		var ev event
		b.must(t, http.StatusOK, http.MethodGet, "/api/events/"+evIDs[1], nil, &ev)
		require.Equal(t, evIDs[1], ev.ID)
		require.Len(t, ev.Deliveries, 3)
		for _, d := range ev.Deliveries {
			require.Equal(t, evIDs[1], d.EventID)
			require.Equal(t, ep.ID, d.EndpointID)
		}

		// A test send returns the attempt.
		var test struct {
			EventID    string
			DeliveryID string
			Success    bool
			Attempt    attempt
		}
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+ep.ID+"/test", nil, &test)
		require.True(t, test.Success)
		require.Equal(t, 1, test.Attempt.Attempt)
		require.Equal(t, 200, test.Attempt.ResponseStatus)
		got = rc.wait(t, 13, 5*time.Second)
		tr := got[12]
		require.Equal(t, "webhook.test", tr.Header.Get("X-Fieldflow-Event"))
		require.Equal(t, test.DeliveryID, tr.Header.Get("X-Fieldflow-Delivery"))
		require.Equal(t, test.EventID, tr.Header.Get("webhook-id"))
		require.Equal(t, ep.ID, tr.payload(t)["data"].(map[string]any)["webhookId"])
		verifyStandard(t, ep.Secret, tr)
		require.Equal(t, "succeeded", b.delivery(t, test.DeliveryID).Status)
	})
}

func TestWebhookRotateSecret(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}})
		old := ep.Secret
		var rot struct{ Secret string }
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+ep.ID+"/rotate-secret", map[string]any{"graceHours": 1}, &rot)
		require.True(t, strings.HasPrefix(rot.Secret, "whsec_"))
		require.NotEqual(t, old, rot.Secret)
		b.publish(t, "order.paid", "", tricky())
		r := rc.wait(t, 1, 5*time.Second)[0]

		// During the grace both secrets sign, newest first, and each
		// signature verifies with its own secret.
		std := strings.Split(r.Header.Get("webhook-signature"), " ")
		require.Len(t, std, 2)
		for i, secret := range []string{rot.Secret, old} {
			h := r.Header.Clone()
			h.Set("webhook-signature", std[i])
			wh, err := standardwebhooks.NewWebhook(secret)
			require.NoError(t, err)
			require.NoError(t, wh.Verify(r.Body, h), "signature %d", i)
			h.Set("webhook-signature", std[1-i])
			require.Error(t, wh.Verify(r.Body, h), "signature %d must not verify with the other secret", 1-i)
		}
		// The hex header holds one signature, by the newest secret: a
		// receiver comparing it whole accepts it once it has the new secret.
		res := nodeHMAC(t, [2]string{rot.Secret, string(r.Body)})
		require.True(t, res[0].Same)
		require.Equal(t, res[0].Hex, r.Header.Get("X-Fieldflow-Signature"))

		// Rotating without grace drops the old secret at once.
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+ep.ID+"/rotate-secret", map[string]any{"graceHours": 0}, &rot)
		b.publish(t, "order.paid", "", map[string]any{"n": 2})
		r = rc.wait(t, 2, 5*time.Second)[1]
		require.NotContains(t, r.Header.Get("webhook-signature"), " ")
		require.Regexp(t, hexSig, r.Header.Get("X-Fieldflow-Signature"))
		verifyStandard(t, rot.Secret, r)
		wh, err := standardwebhooks.NewWebhook(old)
		require.NoError(t, err)
		require.Error(t, wh.Verify(r.Body, r.Header))
	})
}

func TestWebhookTenantKeys(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		k1, k2 := b.tenantKey(t, "t1"), b.tenantKey(t, "t2")
		rc1, rc2 := startReceiver(t, receiverOpts{}), startReceiver(t, receiverOpts{})
		create := func(key string, body map[string]any) endpoint {
			t.Helper()
			res := b.call(t, key, http.MethodPost, "/api/webhooks", body)
			require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
			var ep endpoint
			require.NoError(t, json.Unmarshal(res.body, &ep))
			return ep
		}
		ep1 := create(k1, map[string]any{"url": rc1.URL, "events": []string{"*"}})
		require.NotNil(t, ep1.TenantID)
		require.Equal(t, "t1", *ep1.TenantID, "a tenant key's endpoint belongs to its tenant")
		ep2 := create(k2, map[string]any{"url": rc2.URL, "events": []string{"*"}, "tenantId": "t2"})
		global := b.createEndpoint(t, map[string]any{"url": "https://example.com/all", "events": []string{"*"}, "active": false})
		require.Nil(t, global.TenantID)
		requireProblem(t, b.call(t, k1, http.MethodPost, "/api/webhooks", map[string]any{"url": rc1.URL, "events": []string{"*"}, "tenantId": "t2"}), http.StatusForbidden)

		ids := func(key, query string) []string {
			t.Helper()
			res := b.call(t, key, http.MethodGet, "/api/webhooks"+query, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.body)
			var list struct{ Data []endpoint }
			require.NoError(t, json.Unmarshal(res.body, &list))
			var out []string
			for _, ep := range list.Data {
				out = append(out, ep.ID)
			}
			return out
		}
		require.Equal(t, []string{ep1.ID}, ids(k1, ""))
		require.Equal(t, []string{ep1.ID}, ids(k1, "?tenantId=t1"))
		require.Equal(t, []string{ep2.ID}, ids(k2, ""))
		require.ElementsMatch(t, []string{ep1.ID, ep2.ID, global.ID}, ids(adminKey, ""))
		require.Equal(t, []string{ep2.ID}, ids(adminKey, "?tenantId=t2"))
		require.Equal(t, http.StatusForbidden, b.call(t, k1, http.MethodGet, "/api/webhooks?tenantId=t2", nil).status)

		// Each tenant's events reach only its endpoint.
		for _, k := range []string{k1, k2} {
			res := b.call(t, k, http.MethodPost, "/api/events", map[string]any{"type": "order.paid", "data": map[string]any{"by": k[:8]}})
			require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
		}
		r1 := rc1.wait(t, 1, 5*time.Second)
		r2 := rc2.wait(t, 1, 5*time.Second)
		require.Equal(t, "t1", r1[0].payload(t)["tenantId"])
		require.Equal(t, "t2", r2[0].payload(t)["tenantId"])
		d2 := b.waitFinished(t, ep2.ID, 1, 5*time.Second)[0]
		b.waitFinished(t, ep1.ID, 1, 5*time.Second)

		// Another tenant's endpoint, and the admin's, do not exist for t1.
		for _, id := range []string{ep2.ID, global.ID} {
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, "/api/webhooks/" + id, nil},
				{http.MethodPatch, "/api/webhooks/" + id, map[string]any{"description": "mine now"}},
				{http.MethodGet, "/api/webhooks/" + id + "/deliveries", nil},
				{http.MethodPost, "/api/webhooks/" + id + "/test", nil},
				{http.MethodPost, "/api/webhooks/" + id + "/rotate-secret", map[string]any{}},
				{http.MethodPost, "/api/webhooks/" + id + "/replay", map[string]any{"since": time.Now().Add(-time.Hour)}},
				{http.MethodDelete, "/api/webhooks/" + id, nil},
			} {
				res := b.call(t, k1, c.method, c.path, c.body)
				require.Equal(t, http.StatusNotFound, res.status, "%s %s: %s", c.method, c.path, res.body)
			}
		}
		for _, path := range []string{"/api/deliveries/" + d2.ID, "/api/events/" + d2.EventID} {
			require.Equal(t, http.StatusNotFound, b.call(t, k1, http.MethodGet, path, nil).status, path)
		}
		require.Equal(t, http.StatusNotFound, b.call(t, k1, http.MethodPost, "/api/deliveries/"+d2.ID+"/retry", nil).status)
		require.Len(t, rc2.all(), 1, "nothing was sent to t2's receiver on t1's behalf")

		// The admin sees and may do everything.
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+ep2.ID, nil, nil)
		b.must(t, http.StatusOK, http.MethodGet, "/api/deliveries/"+d2.ID, nil, nil)
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/webhooks/"+ep2.ID, nil, nil)
		require.Equal(t, http.StatusNotFound, b.call(t, k2, http.MethodGet, "/api/webhooks/"+ep2.ID, nil).status)
		// The tenant may manage its own endpoint.
		res := b.call(t, k1, http.MethodPatch, "/api/webhooks/"+ep1.ID, map[string]any{"description": "t1's"})
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	})
}

// TestWebhookRetryOfDeliveryInFlightIsRefused proves that "retry now" does
// not take a delivery away from the process attempting it (which would
// send it twice), and works again once the attempt is over.
func TestWebhookRetryOfDeliveryInFlightIsRefused(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		release := make(chan struct{})
		rc := startReceiver(t, receiverOpts{Delay: func(n int, _ *received) time.Duration {
			if n == 1 {
				<-release
			}
			return 0
		}})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"inflight.test"}})
		b.publish(t, "inflight.test", "", map[string]any{"n": 1})
		rc.wait(t, 1, 5*time.Second) // the first attempt is in flight now
		ds := b.deliveries(t, ep.ID, "").Data
		require.Len(t, ds, 1)
		res := b.call(t, b.cfg.AdminKey, http.MethodPost, "/api/deliveries/"+ds[0].ID+"/retry", nil)
		requireProblem(t, res, http.StatusConflict)

		close(release)
		b.waitDelivery(t, ds[0].ID, 5*time.Second)
		b.must(t, http.StatusAccepted, http.MethodPost, "/api/deliveries/"+ds[0].ID+"/retry", nil, nil)
		rc.wait(t, 2, 5*time.Second)
	})
}

// TestSplitRolesDeliver proves the split deployment: an api process takes
// the publish and sends nothing, a worker process on the same database
// serves no API but delivers what the api process accepted.
func TestSplitRolesDeliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := storetest.DSN(t, "postgres")
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	start := func(role string) *app.App {
		cfg := app.Config{DB: dsn, Addr: "127.0.0.1:0", AdminKey: adminKey, MasterKey: base64.StdEncoding.EncodeToString(mk),
			AllowPrivateTargets: true, DeliveryPoll: 100 * time.Millisecond, ShutdownGrace: 2 * time.Second, Role: role,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard}
		a, err := app.New(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = a.Stop(context.Background()) })
		require.NoError(t, a.Start(ctx))
		return a
	}
	apiApp := start("api")
	b := &testBundle{cfg: app.Config{AdminKey: adminKey}, url: "http://" + apiApp.Addr()}
	rc := startReceiver(t, receiverOpts{})
	b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"split.test"}})
	b.publish(t, "split.test", "", map[string]any{"n": 1})
	time.Sleep(300 * time.Millisecond)
	require.Empty(t, rc.all(), "an api process does not send")

	worker := start("worker")
	rc.wait(t, 1, 5*time.Second)
	res, err := http.Get("http://" + worker.Addr() + "/api/field-groups")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode, "a worker serves no API")
	res, err = http.Get("http://" + worker.Addr() + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}
