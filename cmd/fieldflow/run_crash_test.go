package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

const (
	runCrashTenant = "runcrash"
	runCrashGroup  = "run_crash"
	runCrashField  = "note"
	runCrashStep   = "notify"
	// runCrashClients save at once; every save goes to a new entity, so
	// each save answered 2xx is exactly one run.
	runCrashClients = 16
	// runCrashAcks is how many saves must have been answered before the
	// kill, so that it lands in the middle of a running burst.
	runCrashAcks = 1000
)

// runRequest is one request an automation run made to the receiver.
type runRequest struct {
	addr  string // the connection it came on
	key   string // its Idempotency-Key
	value string
}

// runReceiver records, per entity, the requests the automation's http
// step made: a connection opened before the kill belongs to the killed
// process. After its first fastFirst requests it answers each only after
// runCrashHold (until fast is closed), so that runs pile up behind the
// automation's in-flight limit and the kill finds runs at every stage:
// done, in flight, and waiting in memory or in the database.
type runReceiver struct {
	fastFirst int64
	fast      chan struct{}

	served   atomic.Int64
	inFlight atomic.Int64
	bad      atomic.Int64 // requests without an entity

	mu    sync.Mutex
	got   map[string][]runRequest // entity id → each request; guarded by mu
	conns map[string]bool         // remote addresses seen so far; guarded by mu
}

// runCrashHold is how long the receiver holds a request once it is slow.
const runCrashHold = 400 * time.Millisecond

func (r *runReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p struct {
		Entity string `json:"entity"`
		Value  string `json:"value"`
	}
	if json.Unmarshal(body, &p) != nil || p.Entity == "" {
		r.bad.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	r.got[p.Entity] = append(r.got[p.Entity], runRequest{addr: req.RemoteAddr, key: req.Header.Get("Idempotency-Key"), value: p.Value})
	r.conns[req.RemoteAddr] = true
	r.mu.Unlock()
	if r.served.Add(1) <= r.fastFirst {
		time.Sleep(2 * time.Millisecond)
	} else {
		select {
		case <-time.After(runCrashHold):
		case <-r.fast:
		}
	}
	w.WriteHeader(http.StatusOK)
}

// runCrashRun is a run as GET /api/automations/{id}/runs lists it.
type runCrashRun struct {
	ID       string `json:"id"`
	EventID  string `json:"eventId"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// listRunCrashRuns lists every run of an automation (all pages), or only
// those in state when it is not "".
func listRunCrashRuns(ctx context.Context, c *apiClient, automationID, state string) ([]runCrashRun, error) {
	var all []runCrashRun
	cursor := ""
	for {
		q := url.Values{"pageSize": {"500"}}
		if state != "" {
			q.Set("status", state)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Data       []runCrashRun `json:"data"`
			NextCursor string        `json:"nextCursor"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/api/automations/"+automationID+"/runs?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// listRunCrashEvents returns the entity of each field_value.saved event of
// the test's tenant, by event id (all pages).
func listRunCrashEvents(ctx context.Context, c *apiClient) (map[string]string, error) {
	out := map[string]string{}
	cursor := ""
	for {
		q := url.Values{"type": {"field_value.saved"}, "tenantId": {runCrashTenant}, "pageSize": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Data []struct {
				ID      string `json:"id"`
				Payload struct {
					EntityID string `json:"entityId"`
				} `json:"payload"`
			} `json:"data"`
			NextCursor string `json:"nextCursor"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/api/events?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, e := range page.Data {
			out[e.ID] = e.Payload.EntityID
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

// TestAutomationRunsSurviveSIGKILL kills `fieldflow serve` with SIGKILL
// while value saves are starting automation runs and the runs are calling
// a receiver, restarts it on the same database, and proves that every save
// answered 2xx before the kill gets its run's request to the receiver, that
// every run ends succeeded, and that a request arrives twice only if the
// killed process had already made it, with the same Idempotency-Key both
// times.
func TestAutomationRunsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs a burst against each database; skipped with -short")
	}
	bin := buildBinary(t)
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			start := time.Now()
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			opts := serverOptions{Bin: bin, DB: storetest.DSN(t, dialect),
				AdminKey: "ffk_rcrash_" + base64.RawURLEncoding.EncodeToString(key[:16]),
				// A crashed process's run leases end after 2 s instead of
				// 30 s, so the restarted one (PostgreSQL) takes its runs back
				// soon.
				Env: []string{"FIELDFLOW_ALLOW_PRIVATE_TARGETS=true", "FIELDFLOW_DELIVERY_LEASE=2s"}}
			if dialect == "postgres" {
				opts.MasterKey = base64.StdEncoding.EncodeToString(key)
			}
			recv := &runReceiver{fastFirst: runCrashAcks / 4, fast: make(chan struct{}),
				got: map[string][]runRequest{}, conns: map[string]bool{}}
			rs := httptest.NewServer(recv)
			t.Cleanup(rs.Close)
			var fastOnce sync.Once
			goFast := func() { fastOnce.Do(func() { close(recv.fast) }) }
			t.Cleanup(goFast) // before rs.Close: held requests end at once

			srv := startServer(t, opts)
			c := newAPIClient(srv.URL, opts.AdminKey, runCrashClients)
			var group struct{ ID string }
			c.must(t, http.MethodPost, "/api/field-groups", map[string]any{"key": runCrashGroup, "name": "Run crash test"}, &group)
			c.must(t, http.MethodPost, "/api/global-fields", map[string]any{"key": runCrashField, "label": "Note",
				"schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{group.ID}}, nil)
			var auto struct {
				ID     string `json:"id"`
				Active bool   `json:"active"`
			}
			c.must(t, http.MethodPost, "/api/automations", map[string]any{
				"name":    "Tell the receiver about each note",
				"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": runCrashGroup, "fieldKey": runCrashField},
				"actions": []map[string]any{{"name": runCrashStep, "type": "http", "method": "POST", "url": rs.URL + "/run",
					"body":  map[string]any{"type": "json", "json": map[string]any{"entity": "{{event.entityId}}", "value": "{{event.value}}"}},
					"retry": map[string]any{"schedule": []string{"1s", "1s", "1s"}}}},
			}, &auto)
			require.True(t, auto.Active)

			// The burst: each save is a new entity with its own value.
			var mu sync.Mutex
			accepted := map[string]string{} // entity → value, saves answered 2xx
			var n atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range runCrashClients {
				wg.Go(func() {
					for seq := 0; ctx.Err() == nil; seq++ {
						entity, value := fmt.Sprintf("c%02d-s%06d", i, seq), fmt.Sprintf("v%d.%d", i, seq)
						path := "/api/tenants/" + runCrashTenant + "/field-groups/" + runCrashGroup + "/entities/" + entity + "/values"
						if _, err := c.do(ctx, http.MethodPost, path, map[string]any{runCrashField: value}, nil); err != nil {
							return // the server is gone
						}
						mu.Lock()
						accepted[entity] = value
						mu.Unlock()
						n.Add(1)
					}
				})
			}
			deadline := time.Now().Add(20 * time.Second)
			for n.Load() < runCrashAcks && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			srv.Kill(t)
			killedAfter := time.Since(start)
			heldAtKill := recv.inFlight.Load() // requests whose answer the killed process never read
			cancel()
			wg.Wait()
			// Let the receiver read what the killed process wrote before it
			// died; connections seen by then are the killed process's.
			time.Sleep(100 * time.Millisecond)
			recv.mu.Lock()
			oldConns := maps.Clone(recv.conns)
			sentBefore := len(recv.got)
			recv.mu.Unlock()
			goFast()
			require.GreaterOrEqual(t, n.Load(), int64(runCrashAcks), "the burst did not get going")

			srv = startServer(t, opts)
			restarted := time.Now()
			c = newAPIClient(srv.URL, opts.AdminKey, 4)
			missing := func() int {
				mu.Lock()
				defer mu.Unlock()
				recv.mu.Lock()
				defer recv.mu.Unlock()
				m := 0
				for e := range accepted {
					if len(recv.got[e]) == 0 {
						m++
					}
				}
				return m
			}
			pending := func() int {
				p, err := listRunCrashRuns(context.Background(), c, auto.ID, "pending")
				require.NoError(t, err)
				return len(p)
			}
			deadline = time.Now().Add(30 * time.Second)
			for (missing() > 0 || pending() > 0) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			recovered := time.Since(restarted)
			lost := missing()

			runs, err := listRunCrashRuns(context.Background(), c, auto.ID, "")
			require.NoError(t, err)
			notSucceeded := 0
			runIDs := map[string]bool{}
			for _, r := range runs {
				runIDs[r.ID] = true
				if r.State != "succeeded" {
					notSucceeded++
					if notSucceeded > 10 {
						continue
					}
					t.Errorf("run %s (event %s) is %s after %d attempts: %s", r.ID, r.EventID, r.State, r.Attempts, r.Error)
				}
			}

			mu.Lock()
			defer mu.Unlock()
			recv.mu.Lock()
			defer recv.mu.Unlock()
			shown := 0
			for e := range accepted {
				if len(recv.got[e]) == 0 && shown < 10 {
					shown++
					t.Errorf("save of entity %s was answered 2xx before the kill, but its run never called the receiver", e)
				}
			}
			require.Zero(t, lost, "runs lost: saves answered 2xx whose run never reached the receiver")
			require.Zero(t, recv.bad.Load(), "requests without an entity")

			dups, unanswered := 0, 0
			seenKeys := map[string]bool{}
			for e, reqs := range recv.got {
				want, ok := accepted[e]
				if !ok {
					unanswered++ // stored, but its answer was cut off by the kill
				}
				byOld := 0
				for _, q := range reqs {
					if ok {
						require.Equal(t, want, q.value, "entity %s: the run sent another save's value", e)
					}
					require.Equal(t, reqs[0].key, q.key, "entity %s: copies of one run's request carry different Idempotency-Keys %v", e, reqs)
					if oldConns[q.addr] {
						byOld++
					}
				}
				require.True(t, strings.HasSuffix(reqs[0].key, "-"+runCrashStep), "entity %s: Idempotency-Key %q is not <run id>-%s", e, reqs[0].key, runCrashStep)
				runID := strings.TrimSuffix(reqs[0].key, "-"+runCrashStep)
				require.True(t, runIDs[runID], "entity %s: Idempotency-Key %q names no run of the automation", e, reqs[0].key)
				require.False(t, seenKeys[runID], "run %s called the receiver for two entities", runID)
				seenKeys[runID] = true
				if len(reqs) > 1 {
					dups += len(reqs) - 1
					require.Equal(t, 1, byOld,
						"entity %s: its run called the receiver %d times (%d by the killed process): only a request of the killed process may repeat, once", e, len(reqs), byOld)
				}
			}
			// One run per stored save (answered or not), each of which
			// called the receiver: the run committed with its event.
			evs, err := listRunCrashEvents(context.Background(), c)
			require.NoError(t, err)
			runOf := map[string]string{}
			for _, r := range runs {
				_, ok := evs[r.EventID]
				require.True(t, ok, "run %s: its event %s is not a field_value.saved of the burst", r.ID, r.EventID)
				require.Empty(t, runOf[r.EventID], "event %s started two runs, %s and %s", r.EventID, runOf[r.EventID], r.ID)
				runOf[r.EventID] = r.ID
			}
			for id, e := range evs {
				require.NotEmpty(t, runOf[id], "event %s (entity %s) is stored without its run", id, e)
			}
			require.Len(t, evs, len(accepted)+unanswered, "field_value.saved events vs saves stored")
			require.Len(t, runs, len(recv.got), "runs listed vs entities the receiver heard of")
			require.Positive(t, int64(len(runs)-sentBefore)+heldAtKill, "the kill found no run waiting or in flight")
			require.Zero(t, notSucceeded)

			t.Logf("%s: %d saves answered before SIGKILL at %s (+%d stored but unanswered); at the kill %d runs had called the receiver "+
				"(%d still held), %d had not; %d runs, all succeeded; %d lost; %d duplicates after restart, each the repeat of a request "+
				"the killed process made, with the same Idempotency-Key; recovered in %s",
				dialect, len(accepted), killedAfter.Round(time.Millisecond), unanswered, sentBefore, heldAtKill, len(runs)-sentBefore,
				len(runs), lost, dups, recovered.Round(time.Millisecond))
		})
	}
}
