package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Endpoint rows and filters that cannot do their work, through the real
// HTTP API over each database: a broken row never stops a write, a filter
// that drops or fails an event says so in the event detail, and filters
// sure to fail are refused when saved.

// eventDetail is GET /api/events/{id}.
type eventDetail struct {
	ID         string     `json:"id"`
	Type       string     `json:"type"`
	Deliveries []delivery `json:"deliveries"`
	Filtered   []struct {
		EndpointID string `json:"endpointId"`
		Reason     string `json:"reason"`
	} `json:"filtered"`
}

func (b *testBundle) eventDetail(t *testing.T, key, id string) eventDetail {
	t.Helper()
	res := b.call(t, key, http.MethodGet, "/api/events/"+id, nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var d eventDetail
	require.NoError(t, json.Unmarshal(res.body, &d), "%s", res.body)
	return d
}

// filteredReasons maps endpoint ids to why the event detail says they got
// no delivery.
func (d eventDetail) filteredReasons() map[string]string {
	out := map[string]string{}
	for _, f := range d.Filtered {
		out[f.EndpointID] = f.Reason
	}
	return out
}

// metric reads an unlabelled sample from GET /metrics.
func (b *testBundle) metric(t *testing.T, name string) string {
	t.Helper()
	res := b.call(t, adminKey, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.status)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(res.body)
	require.NotNil(t, m, "%s in /metrics", name)
	return string(m[1])
}

// bookingGroup creates the booking group of the README's examples.
func bookingGroup(t *testing.T, b *testBundle) {
	t.Helper()
	b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "booking", "name": "Booking"}, nil)
	for _, key := range []string{"insurance_number", "internal_note"} {
		b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields",
			map[string]any{"key": key, "label": key, "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"booking"}}, nil)
	}
}

// readmeEndpoint is the body of the README's "Register an endpoint".
func readmeEndpoint(t *testing.T) map[string]any {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)\$FF/api/webhooks \\\n\s*-d '(.*?)'`).FindSubmatch(readme)
	require.NotNil(t, m, "the README registers an endpoint")
	var body map[string]any
	require.NoError(t, json.Unmarshal(m[1], &body), "%s", m[1])
	return body
}

// The README's endpoint (field_value.* and TASK_COMPLETED, filter
// event.fieldKey != "internal_note") gets TASK_COMPLETED, which has no
// fieldKey, and every field event but the internal note's; the event
// detail of the note's save says the filter left it out.
func TestReadmeWebhookExampleDeliversAsItReads(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		bookingGroup(t, b)
		rc := startReceiver(t, receiverOpts{})
		body := readmeEndpoint(t)
		require.Equal(t, `event.fieldKey != "internal_note"`, body["filter"], "the README example this test is about")
		body["url"] = rc.URL
		ep := b.createEndpoint(t, body)

		values := "/api/tenants/sunrise-dental/field-groups/booking/entities/booking-1042/values"
		b.must(t, http.StatusOK, http.MethodPost, values, map[string]any{"internal_note": "call back"}, nil)
		task := b.publish(t, "TASK_COMPLETED", "sunrise-dental", map[string]any{"task": "t1"})
		b.must(t, http.StatusOK, http.MethodPost, values, map[string]any{"insurance_number": "INS-2231"}, nil)

		rc.wait(t, 2, 5*time.Second)
		time.Sleep(200 * time.Millisecond) // let a wrong third delivery arrive
		got := rc.all()
		var seen []string
		for _, r := range got {
			p := r.payload(t)
			seen = append(seen, strings.TrimSpace(p["event"].(string)+" "+fmtKey(p["fieldKey"])))
		}
		require.ElementsMatch(t, []string{"TASK_COMPLETED", "field_value.saved insurance_number"}, seen)

		var notes []storedEvent
		for _, ev := range b.events(t, "type=field_value.saved") {
			if ev.Payload["fieldKey"] == "internal_note" {
				notes = append(notes, ev)
			}
		}
		require.Len(t, notes, 1)
		d := b.eventDetail(t, adminKey, notes[0].ID)
		require.Empty(t, d.Deliveries)
		require.Equal(t, map[string]string{ep.ID: "filter false"}, d.filteredReasons())
		require.Empty(t, b.eventDetail(t, adminKey, task).Filtered, "TASK_COMPLETED was delivered")
	})
}

// mustMasterKey decodes the app's base64 master key.
func mustMasterKey(t *testing.T, b64 string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	return k
}

func fmtKey(v any) string {
	s, _ := v.(string)
	return s
}

// A filter whose evaluation fails (here a key data does not have) drops
// the event for that endpoint only, and says so: the event detail, seen
// by whoever may see the endpoint, gives the reason, and a metric counts it.
func TestWebhookFilterErrorIsShownInEventDetail(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		rc := startReceiver(t, receiverOpts{})
		vip := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.*"}, "tenantId": "t1", "filter": `event.data.kind == "vip"`})
		all := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.*"}})

		id := b.publish(t, "order.paid", "t1", map[string]any{"n": 1})
		rc.wait(t, 1, 5*time.Second)

		d := b.eventDetail(t, adminKey, id)
		require.Len(t, d.Deliveries, 1)
		require.Equal(t, all.ID, d.Deliveries[0].EndpointID)
		require.Equal(t, map[string]string{vip.ID: "filter error: no such key: kind"}, d.filteredReasons())
		require.Equal(t, "1", b.metric(t, "fieldflow_webhook_filter_errors_total"))

		d = b.eventDetail(t, b.tenantKey(t, "t1"), id)
		require.Equal(t, map[string]string{vip.ID: "filter error: no such key: kind"}, d.filteredReasons(), "the tenant's own endpoint")
	})
}

// A broken endpoint row (a filter that no longer compiles, a secret sealed
// with another master key) is left out of fan-out and shown broken, and
// every save and publish goes on, delivering to the other endpoints.
func TestWebhookBrokenEndpointRowDoesNotStopWrites(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		bookingGroup(t, b)
		rc := startReceiver(t, receiverOpts{})
		good := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}})

		ctx := context.Background()
		s, err := app.OpenStore(ctx, b.cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		otherBox, err := secretbox.New(key)
		require.NoError(t, err)
		mine, err := secretbox.New(mustMasterKey(t, b.cfg.MasterKey))
		require.NoError(t, err)
		now := time.Now().UTC().Truncate(time.Microsecond)
		rows := []*store.Endpoint{
			{ID: "wh_brokenfilter", Filter: `event.data.x ==`, Secret: mine.Seal("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
			{ID: "wh_brokensecret", Secret: otherBox.Seal("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		}
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, ep := range rows {
				ep.URL, ep.Events, ep.Headers, ep.SignatureHeader = rc.URL, []string{"*"}, map[string]string{}, "X-Fieldflow-Signature"
				ep.RetrySchedule, ep.TimeoutSeconds, ep.MaxInFlight, ep.Active, ep.CreatedAt, ep.UpdatedAt = []string{"1m"}, 5, 1, true, now, now
				if err := tx.EndpointCreate(ctx, ep); err != nil {
					return err
				}
			}
			return nil
		}))
		// The app's endpoint cache reloads within its refresh interval.
		time.Sleep(2100 * time.Millisecond)

		id := b.publish(t, "order.paid", "", map[string]any{"n": 1})
		b.must(t, http.StatusOK, http.MethodPost, "/api/tenants/sunrise-dental/field-groups/booking/entities/b1/values",
			map[string]any{"insurance_number": "INS-1"}, nil)
		// order.paid, field_value.saved and entity.updated, all to the good endpoint.
		rc.wait(t, 3, 5*time.Second)
		for _, d := range b.deliveries(t, good.ID, "").Data {
			require.Equal(t, good.ID, d.EndpointID)
		}
		require.Len(t, b.deliveries(t, good.ID, "").Data, 3)

		for _, id := range []string{"wh_brokenfilter", "wh_brokensecret"} {
			var ep struct {
				Health struct{ State, Error string } `json:"health"`
			}
			b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+id, nil, &ep)
			require.Equal(t, "broken", ep.Health.State, id)
			require.NotEmpty(t, ep.Health.Error, id)
			require.Empty(t, b.deliveries(t, id, "").Data, id)
		}
		var list struct {
			Data []struct {
				ID     string                 `json:"id"`
				Health struct{ State string } `json:"health"`
			}
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &list)
		states := map[string]string{}
		for _, ep := range list.Data {
			states[ep.ID] = ep.Health.State
		}
		require.Equal(t, map[string]string{good.ID: "healthy", "wh_brokenfilter": "broken", "wh_brokensecret": "broken"}, states)
		require.Equal(t, "2", b.metric(t, "fieldflow_webhook_endpoints_broken"))

		reasons := b.eventDetail(t, adminKey, id).filteredReasons()
		require.Contains(t, reasons["wh_brokenfilter"], "endpoint broken: filter does not compile")
		require.Contains(t, reasons["wh_brokensecret"], "endpoint broken: secret cannot be opened")
	})
}

// Filters sure to fail at run time are refused at save, naming
// body.filter; and events may not be null (an endpoint that matches
// nothing), on create or update.
func TestWebhookSaveRefusesFiltersSureToFailAndNullEvents(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": "https://example.com/h", "events": []string{"*"}})
		ten := "[1,2,3,4,5,6,7,8,9,10]"
		costly := ten + ".all(a, " + ten + ".all(b, " + ten + ".all(c, " + ten + ".all(d, " + ten + ".all(e, " + ten + ".all(f, true))))))"
		for _, filter := range []string{costly, `event.data.name.matches('(')`, `matches(event.event, '[')`} {
			body := map[string]any{"url": "https://example.com/h", "events": []string{"*"}, "filter": filter}
			requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/webhooks", body), http.StatusUnprocessableEntity, "body.filter")
			requireProblem(t, b.call(t, adminKey, http.MethodPatch, "/api/webhooks/"+ep.ID, map[string]any{"filter": filter}),
				http.StatusUnprocessableEntity, "body.filter")
		}
		requireProblem(t, b.call(t, adminKey, http.MethodPost, "/api/webhooks", map[string]any{"url": "https://example.com/h", "events": nil}),
			http.StatusUnprocessableEntity, "body.events")
		requireProblem(t, b.call(t, adminKey, http.MethodPatch, "/api/webhooks/"+ep.ID, map[string]any{"events": nil}),
			http.StatusUnprocessableEntity, "body.events")

		var got endpoint
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+ep.ID, nil, &got)
		require.Equal(t, []string{"*"}, got.Events, "nothing refused was stored")
		var list struct{ Data []endpoint }
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks", nil, &list)
		require.Len(t, list.Data, 1)
		b.must(t, http.StatusOK, http.MethodPatch, "/api/webhooks/"+ep.ID, map[string]any{"description": "events absent keeps them"}, &got)
		require.Equal(t, []string{"*"}, got.Events)
	})
}
