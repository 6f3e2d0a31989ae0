package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
)

// TestAutomationLoopStopsAtDepthLimit proves that a rule that triggers
// itself, and two rules that trigger each other, stop after
// events.MaxCauseDepth writes: the run that would write once more fails
// with an error naming the chain, and nothing runs afterwards.
func TestAutomationLoopStopsAtDepthLimit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		self := b.createAutomation(t, map[string]any{
			"name":    "Stamp the reference",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "ref"},
			"actions": []map[string]any{{"name": "stamp", "type": "set_field", "values": map[string]any{"ref": "{{event.eventId}}"}}},
		})
		ping := b.createAutomation(t, map[string]any{
			"name":    "Ping",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "stage", "to": "ping"},
			"actions": []map[string]any{{"name": "flip", "type": "set_field", "values": map[string]any{"stage": "pong"}}},
		})
		pong := b.createAutomation(t, map[string]any{
			"name":    "Pong",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "stage", "to": "pong"},
			"actions": []map[string]any{{"name": "flop", "type": "set_field", "values": map[string]any{"stage": "ping"}}},
		})

		b.save(t, "acme", "looper", map[string]any{"ref": "start"})
		b.save(t, "acme", "flipper", map[string]any{"stage": "ping"})

		// One run per write, plus the first: MaxCauseDepth+1 runs each.
		const want = events.MaxCauseDepth + 1
		rs := b.waitRuns(t, self.ID, want, 10*time.Second)
		waitUntil(t, 10*time.Second, "the ping-pong runs", func() bool {
			done := 0
			for _, id := range []string{ping.ID, pong.ID} {
				for _, r := range b.runs(t, id, "pageSize=500") {
					if r.State != "pending" {
						done++
					}
				}
			}
			return done >= want
		})
		flips := append(b.runs(t, ping.ID, "pageSize=500"), b.runs(t, pong.ID, "pageSize=500")...)

		// Nothing keeps going.
		time.Sleep(time.Second)
		require.Len(t, b.runs(t, self.ID, "pageSize=500"), want)
		require.Len(t, b.runs(t, ping.ID, "pageSize=500"), 3)
		require.Len(t, b.runs(t, pong.ID, "pageSize=500"), 3)

		for name, c := range map[string]struct {
			runs   []run
			entity string
			chain  []string
		}{
			"self":      {rs, "looper", []string{self.ID, self.ID, self.ID, self.ID, self.ID, self.ID}},
			"ping-pong": {flips, "flipper", []string{ping.ID, pong.ID, ping.ID, pong.ID, ping.ID, pong.ID}},
		} {
			require.Len(t, c.runs, want, name)
			var failed []run
			for _, r := range c.runs {
				switch r.State {
				case "failed":
					failed = append(failed, r)
				default:
					require.Equal(t, "succeeded", r.State, "%s: %+v", name, r)
				}
			}
			require.Len(t, failed, 1, name)
			last := failed[0]
			require.Len(t, last.CausedBy, events.MaxCauseDepth, "%s: the failed run is the deepest", name)
			require.Contains(t, last.Error, "cause chain deeper than 5", name)
			require.Contains(t, last.Error, strings.Join(c.chain, " → "), name)
			for i, cause := range last.CausedBy {
				require.Equal(t, c.chain[i], cause.AutomationID, "%s: link %d", name, i)
			}
			require.Len(t, last.Steps, 1)
			require.Equal(t, "failed", last.Steps[0].State)
			for _, r := range c.runs {
				require.LessOrEqual(t, len(r.CausedBy), events.MaxCauseDepth)
			}

			// Five writes: the entity's version is the API's save plus five.
			var vals struct {
				Version int `json:"version"`
			}
			b.must(t, http.StatusOK, http.MethodGet, valuesPath("acme", c.entity), nil, &vals)
			require.Equal(t, 1+events.MaxCauseDepth, vals.Version, name)
		}
		require.Equal(t, "pong", b.values(t, "acme", "flipper")["stage"], "the fifth write set pong; the ping after it was stopped")

		// The run log pages newest first, each run once, and filters by state.
		var paged []string
		cursor := ""
		for pages := 1; ; pages++ {
			require.LessOrEqual(t, pages, want/2, "pages of 2")
			var p struct {
				Data       []run  `json:"data"`
				NextCursor string `json:"nextCursor"`
			}
			q := url.Values{"pageSize": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			b.must(t, http.StatusOK, http.MethodGet, "/api/automations/"+self.ID+"/runs?"+q.Encode(), nil, &p)
			for _, r := range p.Data {
				paged = append(paged, r.ID)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		var newestFirst []string
		for _, r := range b.runs(t, self.ID, "pageSize=500") {
			newestFirst = append(newestFirst, r.ID)
		}
		require.Equal(t, newestFirst, paged)
		require.Len(t, paged, want)
		failed := b.runs(t, self.ID, "status=failed")
		require.Len(t, failed, 1)
		require.Equal(t, paged[0], failed[0].ID, "the deepest run is the newest")
		require.Len(t, b.runs(t, self.ID, "status=succeeded"), want-1)
		require.Empty(t, b.runs(t, self.ID, "status=pending"))
	})
}
