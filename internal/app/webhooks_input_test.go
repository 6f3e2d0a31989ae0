package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bad input on every webhook route, through the real HTTP API over each
// database: each refusal has its status and problem+json, and stores
// nothing.

// inputBundle is a running app with one endpoint at a live receiver and
// one finished delivery to it.
type inputBundle struct {
	*testBundle
	rc       *receiver
	ep       endpoint
	delivery delivery
}

func setupInput(t *testing.T, dialect string) *inputBundle {
	t.Helper()
	b := &inputBundle{testBundle: startApp(t, dialect, appOpts{}), rc: startReceiver(t, receiverOpts{})}
	b.ep = b.createEndpoint(t, map[string]any{"url": b.rc.URL, "events": []string{"order.*"}, "retrySchedule": []string{"1s"}})
	b.publish(t, "order.paid", "", map[string]any{"n": 1})
	b.delivery = b.waitFinished(t, b.ep.ID, 1, 5*time.Second)[0]
	require.Equal(t, "succeeded", b.delivery.Status)
	b.rc.wait(t, 1, 5*time.Second)
	return b
}

// raw sends body as it is (JSON unless empty) with the headers.
func (b *inputBundle) raw(t *testing.T, header map[string]string, method, path, body string) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: raw}
}

// admin sends body as it is with the admin key.
func (b *inputBundle) admin(t *testing.T, method, path, body string) *response {
	t.Helper()
	return b.raw(t, map[string]string{"X-API-Key": adminKey}, method, path, body)
}

// state is everything a refused request could have changed: the endpoint
// list (secrets rotate with updatedAt), the delivery log with its
// attempts, the event log, and what the receiver got.
func (b *inputBundle) state(t *testing.T) []string {
	t.Helper()
	get := func(path string) string {
		res := b.admin(t, http.MethodGet, path, "")
		require.Equal(t, http.StatusOK, res.status, "GET %s: %s", path, res.body)
		return string(res.body)
	}
	return []string{
		get("/api/webhooks?pageSize=500"),
		get("/api/webhooks/" + b.ep.ID + "/deliveries?pageSize=500"),
		get("/api/deliveries/" + b.delivery.ID),
		get("/api/events?pageSize=500"),
		fmt.Sprintf("%d requests at the receiver", len(b.rc.all())),
	}
}

// route is one webhook operation with a body it would accept.
type route struct {
	method, path, body string
}

// routes are the webhook operations on the bundle's endpoint and delivery.
func (b *inputBundle) routes() []route {
	wh := "/api/webhooks/" + b.ep.ID
	dl := "/api/deliveries/" + b.delivery.ID
	return []route{
		{http.MethodPost, "/api/webhooks", `{"url":"https://example.com/hook","events":["*"]}`},
		{http.MethodGet, "/api/webhooks", ""},
		{http.MethodGet, wh, ""},
		{http.MethodPatch, wh, `{"description":"changed"}`},
		{http.MethodDelete, wh, ""},
		{http.MethodPost, wh + "/rotate-secret", `{"graceHours":1}`},
		{http.MethodPost, wh + "/test", ""},
		{http.MethodGet, wh + "/deliveries", ""},
		{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z"}`},
		{http.MethodGet, dl, ""},
		{http.MethodPost, dl + "/retry", ""},
	}
}

// requireKnownKey checks that every route answers 401, with
// WWW-Authenticate, to a request without a known key.
func (b *inputBundle) requireKnownKey(t *testing.T, routes []route) {
	t.Helper()
	for _, r := range routes {
		for _, h := range []map[string]string{
			nil,
			{"X-API-Key": ""},
			{"X-API-Key": "ffk_not_a_key_anyone_has"},
			{"Authorization": "Bearer ffk_not_a_key_anyone_has"},
			{"X-API-Key": adminKey + "x"},
		} {
			res := b.raw(t, h, r.method, r.path, r.body)
			requireProblem(t, res, http.StatusUnauthorized)
			require.NotEmpty(t, res.header.Get("WWW-Authenticate"), "%s %s", r.method, r.path)
		}
	}
}

// refusal is a request the admin key sends and the status and problem
// locations it must be refused with.
type refusal struct {
	method, path, body string
	status             int
	locations          []string
}

// requireRefusals sends each request with the admin key and checks its
// refusal.
func (b *inputBundle) requireRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		res := b.admin(t, c.method, c.path, c.body)
		shown := c.body
		if len(shown) > 80 {
			shown = shown[:80] + "…"
		}
		require.Equal(t, c.status, res.status, "%s %s %s: %s", c.method, c.path, shown, res.body)
		requireProblem(t, res, c.status, c.locations...)
	}
}

func TestWebhookRoutesRequireAKnownKey(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupInput(t, dialect)
		before := b.state(t)
		b.requireKnownKey(t, b.routes())
		require.Equal(t, before, b.state(t), "a request without a known key changes nothing")
	})
}

func TestWebhookRoutesRefuseBadBodies(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupInput(t, dialect)
		before := b.state(t)
		wh := "/api/webhooks/" + b.ep.ID
		const valid = `"url":"https://example.com/hook","events":["*"]`
		big := `{"description":"` + strings.Repeat("a", 1<<20) + `"}`
		b.requireRefusals(t, []refusal{
			// Malformed JSON.
			{http.MethodPost, "/api/webhooks", `{"url":`, http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,}`, http.StatusBadRequest, nil},
			{http.MethodPatch, wh, `{"description":"x"`, http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, wh + "/rotate-secret", `{"graceHours":`, http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, wh + "/replay", `{"since":`, http.StatusBadRequest, []string{"body"}},
			{http.MethodPost, "/api/webhooks", "", http.StatusBadRequest, nil},

			// Wrong types.
			{http.MethodPost, "/api/webhooks", `{"url":"https://example.com/hook","events":"*"}`, http.StatusUnprocessableEntity, []string{"body.events"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"timeoutSeconds":"30"}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"maxInFlight":"10"}`, http.StatusUnprocessableEntity, []string{"body.maxInFlight"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"active":"yes"}`, http.StatusUnprocessableEntity, []string{"body.active"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"headers":["X-A"]}`, http.StatusUnprocessableEntity, []string{"body.headers"}},
			{http.MethodPost, "/api/webhooks", `["https://example.com/hook"]`, http.StatusUnprocessableEntity, []string{"body"}},
			{http.MethodPatch, wh, `{"events":"*"}`, http.StatusUnprocessableEntity, []string{"body.events"}},
			{http.MethodPatch, wh, `{"timeoutSeconds":"30"}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPost, wh + "/rotate-secret", `{"graceHours":"1"}`, http.StatusUnprocessableEntity, []string{"body.graceHours"}},
			{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z","onlyFailed":"yes"}`, http.StatusUnprocessableEntity, []string{"body.onlyFailed"}},

			// Unknown keys.
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"secret":"whsec_mine"}`, http.StatusUnprocessableEntity, []string{"body.secret"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"timeout":30}`, http.StatusUnprocessableEntity, []string{"body.timeout"}},
			{http.MethodPatch, wh, `{"tenantId":"t2"}`, http.StatusUnprocessableEntity, []string{"body.tenantId"}},
			{http.MethodPatch, wh, `{"disabledReason":""}`, http.StatusUnprocessableEntity, []string{"body.disabledReason"}},
			{http.MethodPost, wh + "/rotate-secret", `{"grace":1}`, http.StatusUnprocessableEntity, []string{"body.grace"}},
			{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z","status":"failed"}`, http.StatusUnprocessableEntity, []string{"body.status"}},

			// Out of range.
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"timeoutSeconds":0}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"timeoutSeconds":301}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"maxInFlight":0}`, http.StatusUnprocessableEntity, []string{"body.maxInFlight"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"maxInFlight":1001}`, http.StatusUnprocessableEntity, []string{"body.maxInFlight"}},
			{http.MethodPost, "/api/webhooks", `{"url":"https://example.com/hook","events":[]}`, http.StatusUnprocessableEntity, []string{"body.events"}},
			{http.MethodPost, "/api/webhooks", `{"events":["*"]}`, http.StatusUnprocessableEntity, []string{"body.url"}},
			{http.MethodPatch, wh, `{"timeoutSeconds":0}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPatch, wh, `{"timeoutSeconds":301}`, http.StatusUnprocessableEntity, []string{"body.timeoutSeconds"}},
			{http.MethodPatch, wh, `{"maxInFlight":0}`, http.StatusUnprocessableEntity, []string{"body.maxInFlight"}},
			{http.MethodPost, wh + "/rotate-secret", `{"graceHours":-1}`, http.StatusUnprocessableEntity, []string{"body.graceHours"}},
			{http.MethodPost, wh + "/rotate-secret", `{"graceHours":721}`, http.StatusUnprocessableEntity, []string{"body.graceHours"}},

			// Values the endpoint checks refuse.
			{http.MethodPost, "/api/webhooks", `{"url":"ftp://example.com/hook","events":["*"]}`, http.StatusUnprocessableEntity, []string{"body.url"}},
			{http.MethodPost, "/api/webhooks", `{"url":"https://user:pw@example.com/hook","events":["*"]}`, http.StatusUnprocessableEntity, []string{"body.url"}},
			{http.MethodPost, "/api/webhooks", `{"url":"https://example.com/hook","events":["order.*.paid"]}`, http.StatusUnprocessableEntity, []string{"body.events[0]"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"retrySchedule":["0s"]}`, http.StatusUnprocessableEntity, []string{"body.retrySchedule"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"headers":{"Content-Type":"text/plain"}}`, http.StatusUnprocessableEntity, []string{"body.headers.Content-Type"}},
			{http.MethodPost, "/api/webhooks", `{` + valid + `,"filter":"event.fieldKey =="}`, http.StatusUnprocessableEntity, []string{"body.filter"}},
			{http.MethodPatch, wh, `{"url":"not a url"}`, http.StatusUnprocessableEntity, []string{"body.url"}},
			{http.MethodPatch, wh, `{"signatureHeader":"webhook-signature"}`, http.StatusUnprocessableEntity, []string{"body.signatureHeader"}},
			{http.MethodPatch, wh, `{"retrySchedule":["soon"]}`, http.StatusUnprocessableEntity, []string{"body.retrySchedule"}},

			// Replay ranges.
			{http.MethodPost, wh + "/replay", `{}`, http.StatusUnprocessableEntity, []string{"body.since"}},
			{http.MethodPost, wh + "/replay", `{"since":"yesterday"}`, http.StatusUnprocessableEntity, []string{"body.since"}},
			{http.MethodPost, wh + "/replay", `{"since":"2026-01-01"}`, http.StatusUnprocessableEntity, []string{"body.since"}},
			{http.MethodPost, wh + "/replay", `{"since":1767225600}`, http.StatusUnprocessableEntity, []string{"body.since"}},
			{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z","until":"tomorrow"}`, http.StatusUnprocessableEntity, []string{"body.until"}},
			{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z","until":"1999-01-01T00:00:00Z"}`, http.StatusUnprocessableEntity, []string{"body.until"}},
			{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z","until":"2000-01-01T00:00:00Z"}`, http.StatusUnprocessableEntity, []string{"body.until"}},

			// Bodies over 1 MiB.
			{http.MethodPost, "/api/webhooks", big, http.StatusRequestEntityTooLarge, nil},
			{http.MethodPatch, wh, big, http.StatusRequestEntityTooLarge, nil},
			{http.MethodPost, wh + "/rotate-secret", big, http.StatusRequestEntityTooLarge, nil},
			{http.MethodPost, wh + "/replay", big, http.StatusRequestEntityTooLarge, nil},

			// Malformed parameters.
			{http.MethodGet, wh + "/deliveries?status=lost", "", http.StatusBadRequest, []string{"query.status"}},
			{http.MethodGet, wh + "/deliveries?cursor=not-a-cursor", "", http.StatusBadRequest, []string{"query.cursor"}},
			{http.MethodGet, wh + "/deliveries?pageSize=0", "", http.StatusBadRequest, []string{"query.pageSize"}},
			{http.MethodGet, wh + "/deliveries?pageSize=501", "", http.StatusBadRequest, []string{"query.pageSize"}},
			{http.MethodGet, "/api/webhooks/" + strings.Repeat("x", 65), "", http.StatusBadRequest, []string{"path.id"}},
			{http.MethodGet, "/api/deliveries/" + strings.Repeat("x", 65), "", http.StatusBadRequest, []string{"path.id"}},
		})
		require.Equal(t, before, b.state(t), "a refused request stores nothing")
	})
}

func TestWebhookRoutesUnknownIDs(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupInput(t, dialect)
		before := b.state(t)
		for _, id := range []string{"wh_01hzzzzzzzzzzzzzzzzzzzzzzz", "nope", b.delivery.ID} {
			wh := "/api/webhooks/" + id
			for _, r := range []route{
				{http.MethodGet, wh, ""},
				{http.MethodPatch, wh, `{"description":"changed"}`},
				{http.MethodDelete, wh, ""},
				{http.MethodPost, wh + "/rotate-secret", `{"graceHours":1}`},
				{http.MethodPost, wh + "/rotate-secret", ""},
				{http.MethodPost, wh + "/test", ""},
				{http.MethodGet, wh + "/deliveries", ""},
				{http.MethodPost, wh + "/replay", `{"since":"2000-01-01T00:00:00Z"}`},
			} {
				requireProblem(t, b.admin(t, r.method, r.path, r.body), http.StatusNotFound)
			}
		}
		for _, id := range []string{"dlv_01hzzzzzzzzzzzzzzzzzzzzzzz", b.ep.ID} {
			requireProblem(t, b.admin(t, http.MethodGet, "/api/deliveries/"+id, ""), http.StatusNotFound)
			requireProblem(t, b.admin(t, http.MethodPost, "/api/deliveries/"+id+"/retry", ""), http.StatusNotFound)
		}
		require.Equal(t, before, b.state(t), "a request for an unknown id changes nothing")

		// A deleted endpoint is unknown too; its deliveries stay readable
		// for the record until retention takes them, and cannot be retried.
		b.must(t, http.StatusNoContent, http.MethodDelete, "/api/webhooks/"+b.ep.ID, nil, nil)
		routes := b.routes()
		for _, r := range routes[2 : len(routes)-2] {
			requireProblem(t, b.admin(t, r.method, r.path, r.body), http.StatusNotFound)
		}
		require.Equal(t, http.StatusOK, b.admin(t, http.MethodGet, "/api/deliveries/"+b.delivery.ID, "").status)
		requireProblem(t, b.admin(t, http.MethodPost, "/api/deliveries/"+b.delivery.ID+"/retry", ""), http.StatusConflict)
		var list struct{ Data []endpoint }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &list)
		require.Empty(t, list.Data)
		require.Len(t, b.rc.all(), 1, "nothing was sent for an unknown id")
	})
}
