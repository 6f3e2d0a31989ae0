package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// firesByEntity groups a fake API's calls by the entityId in their JSON
// body.
func firesByEntity(t *testing.T, api *fakeAPI) map[string][]*apiCall {
	t.Helper()
	out := map[string][]*apiCall{}
	for _, c := range api.all() {
		var p struct {
			EntityID string `json:"entityId"`
		}
		require.NoError(t, json.Unmarshal(c.Body, &p), "%s", c.Body)
		out[p.EntityID] = append(out[p.EntityID], c)
	}
	return out
}

// TestAutomationSLAFiresOncePerHold proves the sla rule with a 2 s window:
// a held value fires once about 2 s after it was set and not again while
// held (other saves to the entity do not restart it); a value that moves
// away before 2 s never fires; moving away and back fires again.
func TestAutomationSLAFiresOncePerHold(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		a := b.createAutomation(t, map[string]any{
			"name":    "Waiting too long",
			"trigger": map[string]any{"sla": map[string]any{"fieldGroup": "customer", "fieldKey": "stage", "value": "waiting", "after": "2s"}},
			"actions": []map[string]any{{"name": "alert", "type": "http", "url": api.URL + "/alert",
				"body": map[string]any{"type": "json", "json": map[string]any{"entityId": "{{event.entityId}}", "value": "{{event.value}}",
					"after": "{{event.after}}", "country": "{{entity.values.country}}"}}}},
		})

		// The server schedules by the wall clock; Round(0) drops the
		// monotonic reading so that the checks compare wall times too (the
		// two clocks drift apart by milliseconds while the wall clock slews).
		setHeld := time.Now().Round(0)
		b.save(t, "acme", "held", map[string]any{"stage": "waiting"})
		b.save(t, "acme", "left", map[string]any{"stage": "waiting"})
		time.Sleep(time.Second)
		b.save(t, "acme", "left", map[string]any{"stage": "active"})
		b.save(t, "acme", "held", map[string]any{"country": "DE"})    // another field: the clock runs on
		b.save(t, "acme", "held", map[string]any{"stage": "waiting"}) // the same value: no change, no restart

		got := api.wait(t, 1, 5*time.Second)
		fired := time.Now()
		require.Len(t, got, 1)
		require.GreaterOrEqual(t, got[0].At.Round(0).Sub(setHeld), 2*time.Second, "not before the window ends")
		require.Less(t, got[0].At.Round(0).Sub(setHeld), 3*time.Second, "soon after the window ends")
		var p map[string]any
		require.NoError(t, json.Unmarshal(got[0].Body, &p))
		require.Equal(t, map[string]any{"entityId": "held", "value": "waiting", "after": "2s", "country": "DE"}, p)
		rs := b.waitRuns(t, a.ID, 1, 5*time.Second)
		require.Len(t, rs, 1)
		require.Equal(t, "succeeded", rs[0].State, "%+v", rs[0])
		require.Equal(t, "automation.sla_reached", rs[0].EventType)
		require.Equal(t, "acme", rs[0].TenantID)

		// Held on: nothing more. Then away and back: the clock starts again.
		time.Sleep(time.Until(fired.Add(1500 * time.Millisecond)))
		require.Len(t, api.all(), 1, "a value still held does not fire again")
		b.save(t, "acme", "held", map[string]any{"stage": "active"})
		back := time.Now()
		b.save(t, "acme", "held", map[string]any{"stage": "waiting"})
		got = api.wait(t, 2, 5*time.Second)
		require.GreaterOrEqual(t, got[1].At.Sub(back), 2*time.Second)
		require.Less(t, got[1].At.Sub(back), 3*time.Second)
		time.Sleep(500 * time.Millisecond)
		byEntity := firesByEntity(t, api)
		require.Len(t, byEntity["held"], 2)
		require.Empty(t, byEntity["left"], "a value that left before the window ended never fires")
		require.Len(t, b.waitRuns(t, a.ID, 2, 5*time.Second), 2)
	})
}

// TestAutomationDateRuleFiresOncePerValue proves the date rule with an
// offset of -1s on a datetime field: each value fires once, 1 s before
// it; the same value saved again does not fire again; a removed value
// never fires.
func TestAutomationDateRuleFiresOncePerValue(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		api := startAPI(t, nil)
		a := b.createAutomation(t, map[string]any{
			"name":    "Renewal reminder",
			"trigger": map[string]any{"date": map[string]any{"fieldGroup": "customer", "fieldKey": "renewal", "offset": "-1s"}},
			"actions": []map[string]any{{"name": "remind", "type": "http", "url": api.URL + "/remind",
				"body": map[string]any{"type": "json", "json": map[string]any{"entityId": "{{event.entityId}}", "value": "{{event.value}}", "offset": "{{event.offset}}"}}}},
		})
		stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

		first := time.Now().Round(0).Add(2 * time.Second) // wall time, as the server schedules
		b.save(t, "acme", "renews", map[string]any{"renewal": stamp(first)})
		b.save(t, "acme", "cancelled", map[string]any{"renewal": stamp(first)})
		b.must(t, http.StatusNoContent, http.MethodDelete, valuesPath("acme", "cancelled")+"/renewal", nil, nil)

		got := api.wait(t, 1, 5*time.Second)
		require.GreaterOrEqual(t, got[0].At.Round(0), first.Add(-time.Second), "not before value + offset")
		require.Less(t, got[0].At.Round(0).Sub(first.Add(-time.Second)), time.Second)
		var p map[string]any
		require.NoError(t, json.Unmarshal(got[0].Body, &p))
		require.Equal(t, map[string]any{"entityId": "renews", "value": stamp(first), "offset": "-1s"}, p)
		rs := b.waitRuns(t, a.ID, 1, 5*time.Second)
		require.Equal(t, "automation.date_reached", rs[0].EventType)

		// The value saved again is no change; a new value fires once more.
		b.save(t, "acme", "renews", map[string]any{"renewal": stamp(first)})
		second := time.Now().Add(1500 * time.Millisecond)
		b.save(t, "acme", "renews", map[string]any{"renewal": stamp(second)})
		got = api.wait(t, 2, 5*time.Second)
		require.GreaterOrEqual(t, got[1].At, second.Add(-time.Second))
		time.Sleep(time.Until(first.Add(time.Second)))
		time.Sleep(500 * time.Millisecond)
		byEntity := firesByEntity(t, api)
		require.Len(t, byEntity["renews"], 2, "once per value")
		require.Empty(t, byEntity["cancelled"], "a removed value never fires")
		require.Len(t, b.waitRuns(t, a.ID, 2, 5*time.Second), 2)
	})
}
