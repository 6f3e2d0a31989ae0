package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPublishEventStoresIt(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodPost, Path: "/api/events", Key: b.admin, Body: `{"type":"TASK_COMPLETED","tenantId":"t1","data":{"taskId":"42","<b>":"a&b"},"previous":{"state":"open"}}`})
		require.Equal(t, http.StatusAccepted, res.status, "%s", res)
		pub := res.obj(t)
		require.Equal(t, []string{"id"}, keys(pub))
		id := pub["id"].(string)
		require.True(t, strings.HasPrefix(id, "evt_"), id)

		ev := b.ok(t, http.StatusOK, http.MethodGet, "/api/events/"+id, nil)
		require.Equal(t, id, ev["id"])
		require.Equal(t, "TASK_COMPLETED", ev["type"])
		require.Equal(t, tenant, ev["tenantId"])
		requireTime(t, ev["occurredAt"])
		require.Equal(t, []any{}, ev["deliveries"])
		require.Equal(t, []any{}, ev["runs"])
		p := payload(t, ev)
		require.Equal(t, map[string]any{"event": "TASK_COMPLETED", "eventId": id, "timestamp": ev["occurredAt"], "tenantId": tenant,
			"data": map[string]any{"taskId": "42", "<b>": "a&b"}, "previous": map[string]any{"state": "open"}}, p)

		raw := b.rawEvents(t, "")
		require.Len(t, raw, 1)
		require.Equal(t, []string{"event", "eventId", "timestamp", "tenantId", "data", "previous"}, topKeys(t, raw[0]))
		require.Contains(t, string(raw[0]), `"<b>":"a&b"`, "no HTML escaping")

		// A vendor-level event has no tenant; a tenant key publishes for its own.
		vendor := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "plan.changed", "data": map[string]any{}})
		require.NotContains(t, payload(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/events/"+vendor["id"].(string), nil)), "tenantId")
		own := b.send(t, req{Method: http.MethodPost, Path: "/api/events", Key: b.tenant, Body: map[string]any{"type": "client.updated", "data": map[string]any{"a": 1}}})
		require.Equal(t, http.StatusAccepted, own.status, "%s", own)
		got := b.ok(t, http.StatusOK, http.MethodGet, "/api/events/"+own.obj(t)["id"].(string), nil)
		require.Equal(t, tenant, got["tenantId"])
		require.NotContains(t, payload(t, got), "previous")
	})
}

func TestPublishWithUsedIDReturnsFirstEvent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		body := map[string]any{"type": "TASK_COMPLETED", "tenantId": tenant, "id": "host-1", "data": map[string]any{"n": 1}}
		first := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", body)
		body["data"] = map[string]any{"n": 2}
		again := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", body)
		require.Equal(t, first["id"], again["id"])
		require.Equal(t, true, again["duplicate"])
		require.Equal(t, 1, b.eventCount(t))
		require.Equal(t, map[string]any{"n": 1.0}, payload(t, b.ok(t, http.StatusOK, http.MethodGet, "/api/events/"+first["id"].(string), nil))["data"])

		// The id is the host's per tenant.
		other := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "TASK_COMPLETED", "tenantId": otherTenant, "id": "host-1", "data": map[string]any{}})
		require.NotEqual(t, first["id"], other["id"])
		require.Equal(t, 2, b.eventCount(t))
	})
}

func TestPublishRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		cases := []struct {
			name     string
			body     string
			status   int
			location string
		}{
			{"MalformedJSON", `{"type":"X",`, http.StatusBadRequest, "body"},
			{"MissingType", `{"data":{}}`, http.StatusUnprocessableEntity, "body.type"},
			{"EmptyType", `{"type":"","data":{}}`, http.StatusUnprocessableEntity, "body.type"},
			{"TypeWithSpace", `{"type":"task done","data":{}}`, http.StatusUnprocessableEntity, "body.type"},
			{"TypeNotString", `{"type":1,"data":{}}`, http.StatusUnprocessableEntity, "body.type"},
			{"TypeTooLong", `{"type":"` + strings.Repeat("x", 129) + `","data":{}}`, http.StatusUnprocessableEntity, "body.type"},
			{"DataNotObject", `{"type":"X","data":[1]}`, http.StatusUnprocessableEntity, "body.data"},
			{"PreviousNotObject", `{"type":"X","data":{},"previous":"x"}`, http.StatusUnprocessableEntity, "body.previous"},
			{"IDNotString", `{"type":"X","data":{},"id":5}`, http.StatusUnprocessableEntity, "body.id"},
			{"UnknownProperty", `{"type":"X","data":{},"payload":{}}`, http.StatusUnprocessableEntity, "body.payload"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				requireProblem(t, b.do(t, http.MethodPost, "/api/events", c.body), c.status, c.location)
			})
		}
		require.Zero(t, b.eventCount(t))
	})
}

func TestEventsCursorPagingReturnsEveryEventOnce(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		var want []string
		for i := range 7 {
			ev := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "TICK", "data": map[string]any{"i": i}})
			want = append([]string{ev["id"].(string)}, want...) // newest first
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 4, "3 pages of 3, 3 and 1")
			path := "/api/events?pageSize=3"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			page := b.ok(t, http.StatusOK, http.MethodGet, path, nil)
			for _, ev := range page["data"].([]any) {
				got = append(got, ev.(map[string]any)["id"].(string))
			}
			next, ok := page["nextCursor"].(string)
			if !ok {
				break
			}
			cursor = next
			// An event published while paging is not repeated or skipped
			// below the cursor.
			if pages == 0 {
				b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "LATE", "data": map[string]any{}})
			}
		}
		require.Equal(t, want, got)

		requireProblem(t, b.do(t, http.MethodGet, "/api/events?cursor=not-a-cursor", nil), http.StatusBadRequest, "query.cursor")
		requireProblem(t, b.do(t, http.MethodGet, "/api/events?pageSize=501", nil), http.StatusBadRequest, "query.pageSize")
		requireProblem(t, b.do(t, http.MethodGet, "/api/events?since=yesterday", nil), http.StatusBadRequest, "query.since")
	})
}

func TestEventsFilterByTypeAndSince(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "A", "data": map[string]any{}})
		b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "B", "data": map[string]any{}})
		require.Equal(t, []string{"A"}, eventTypes(b.listEvents(t, b.admin, "type=A")))
		all := b.listEvents(t, b.admin, "")
		since := all[0]["occurredAt"].(string) // the newest
		require.Equal(t, []string{"B"}, eventTypes(b.listEvents(t, b.admin, "since="+url.QueryEscape(since))))
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		require.Empty(t, b.listEvents(t, b.admin, "since="+future))
	})
}

func TestTenantKeySeesOnlyItsTenantsEvents(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		mine := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "X", "tenantId": tenant, "data": map[string]any{}})
		theirs := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "X", "tenantId": otherTenant, "data": map[string]any{}})
		vendor := b.ok(t, http.StatusAccepted, http.MethodPost, "/api/events", map[string]any{"type": "X", "data": map[string]any{}})
		b.createGroup(t, "booking") // a vendor-level field_group.created

		seen := b.listEvents(t, b.tenant, "")
		require.Len(t, seen, 1)
		require.Equal(t, mine["id"], seen[0]["id"])
		require.Len(t, b.listEvents(t, b.tenant, "tenantId="+tenant), 1)
		require.Len(t, b.listEvents(t, b.admin, "tenantId="+otherTenant), 1)
		require.Len(t, b.listEvents(t, b.admin, ""), 4)

		res := b.send(t, req{Method: http.MethodGet, Path: "/api/events/" + mine["id"].(string), Key: b.tenant})
		require.Equal(t, http.StatusOK, res.status, "%s", res)
		for _, id := range []any{theirs["id"], vendor["id"], "evt_nope"} {
			requireProblem(t, b.send(t, req{Method: http.MethodGet, Path: fmt.Sprint("/api/events/", id), Key: b.tenant}), http.StatusNotFound)
		}
		requireProblem(t, b.do(t, http.MethodGet, "/api/events/evt_nope", nil), http.StatusNotFound)
	})
}
