package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

const (
	multiTenant = "multi"
	multiGroup  = "multi"
	// multiClients send at once, each to the instances in turn.
	multiClients = 6
	// multiPhase is how many requests must be answered in each phase: before
	// the kill, while one instance is down, and after its restart.
	multiPhase = 300
	// Every multiSLAEvery-th save also sets stage to waiting, which starts
	// the time rule's clock for that entity.
	multiSLAEvery = 5
)

// multiRequest is one request the receiver got.
type multiRequest struct {
	at       time.Time
	addr     string // the connection it came on
	delivery string // X-Fieldflow-Delivery, for webhook deliveries
	key      string // Idempotency-Key, for automation steps
}

// multiReceiver records what the instances send: webhook deliveries by
// event, automation runs (/run) and time rules (/sla) by entity.
type multiReceiver struct {
	mu   sync.Mutex
	hook map[string][]multiRequest // event id → deliveries; guarded by mu
	run  map[string][]multiRequest // entity → requests of the note automation; guarded by mu
	sla  map[string][]multiRequest // entity → requests of the time rule; guarded by mu
	bad  atomic.Int64
}

func (r *multiReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	got := multiRequest{at: time.Now(), addr: req.RemoteAddr, delivery: req.Header.Get("X-Fieldflow-Delivery"),
		key: req.Header.Get("Idempotency-Key")}
	var p struct {
		Entity string `json:"entity"`
	}
	r.mu.Lock()
	switch {
	case req.URL.Path == "/hook" && req.Header.Get("webhook-id") != "":
		r.hook[req.Header.Get("webhook-id")] = append(r.hook[req.Header.Get("webhook-id")], got)
	case req.URL.Path == "/run" && json.Unmarshal(body, &p) == nil && p.Entity != "":
		r.run[p.Entity] = append(r.run[p.Entity], got)
	case req.URL.Path == "/sla" && json.Unmarshal(body, &p) == nil && p.Entity != "":
		r.sla[p.Entity] = append(r.sla[p.Entity], got)
	default:
		r.bad.Add(1)
	}
	r.mu.Unlock()
	// A little work per request keeps some in flight at the kill.
	time.Sleep(2 * time.Millisecond)
	w.WriteHeader(http.StatusOK)
}

func (r *multiReceiver) has(kind map[string][]multiRequest, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(kind[id]) > 0
}

// multiCluster is the three instances: slot i's current process and
// whether it is up.
type multiCluster struct {
	mu    sync.Mutex
	procs [3]*serverProcess // guarded by mu
	down  [3]bool           // guarded by mu
}

// target returns the URL of slot i, or "" while it is down.
func (c *multiCluster) target(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[i] {
		return ""
	}
	return c.procs[i].URL
}

// send makes one request with the admin key and extra headers, and returns
// the status (0 on a transport error), the headers and the body.
func send(ctx context.Context, hc *http.Client, key, method, url string, body any, header map[string]string) (int, http.Header, []byte) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil
	}
	return resp.StatusCode, resp.Header, b
}

// attemptsLogged returns the ids of the deliveries a process logged an
// attempt of (its debug log, in JSON).
func attemptsLogged(t *testing.T, p *serverProcess) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(p.output.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Delivery string `json:"delivery"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "attempt" && line.Delivery != "" {
			out[line.Delivery] = true
		}
	}
	return out
}

// TestSeveralInstancesShareOnePostgreSQL runs three `fieldflow serve`
// processes on one PostgreSQL schema, spreads event publishing and value
// saves over them, SIGKILLs one in the middle of the stream and restarts
// it. At the end every accepted event has been delivered (twice only when
// the killed process had sent it), every run is done, each entity's time
// rule fired once across the instances, every instance delivered some, and
// one Idempotency-Key sent to different instances, one after the other or
// all at once, ran once and answered the same. (SQLite is one process per
// database; there is no such variant.)
func TestSeveralInstancesShareOnePostgreSQL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs three servers; skipped with -short")
	}
	bin := buildBinary(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	opts := serverOptions{Bin: bin, DB: storetest.NewPostgresURL(t),
		AdminKey: "ffk_multi_" + base64.RawURLEncoding.EncodeToString(key[:16]), MasterKey: base64.StdEncoding.EncodeToString(key),
		Env: []string{"FIELDFLOW_ALLOW_PRIVATE_TARGETS=true",
			// The killed process's leases end after 5 s instead of 30 s; long
			// enough that a busy machine's heartbeats stay in time.
			"FIELDFLOW_DELIVERY_LEASE=5s",
			// Each process logs its attempts: which instance delivered what.
			"FIELDFLOW_LOG_LEVEL=debug", "FIELDFLOW_LOG_FORMAT=json"}}
	recv := &multiReceiver{hook: map[string][]multiRequest{}, run: map[string][]multiRequest{}, sla: map[string][]multiRequest{}}
	rs := httptest.NewServer(recv)
	t.Cleanup(rs.Close)

	cl := &multiCluster{}
	for i := range cl.procs {
		cl.procs[i] = startServer(t, opts) // one after the other: the first creates the admin key
	}
	c := newAPIClient(cl.procs[0].URL, opts.AdminKey, multiClients)
	c.must(t, http.MethodPost, "/api/field-groups", map[string]any{"key": multiGroup, "name": "Several instances"}, nil)
	for _, f := range []string{"note", "stage"} {
		c.must(t, http.MethodPost, "/api/global-fields", map[string]any{"key": f, "label": f,
			"schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{multiGroup}}, nil)
	}
	c.must(t, http.MethodPost, "/api/webhooks", map[string]any{"url": rs.URL + "/hook", "events": []string{"multi.*"},
		"retrySchedule": []string{"1s", "1s", "1s"}, "maxInFlight": 16}, nil)
	tell := func(path string) []map[string]any {
		return []map[string]any{{"name": "tell", "type": "http", "method": "POST", "url": rs.URL + path,
			"body":  map[string]any{"type": "json", "json": map[string]any{"entity": "{{event.entityId}}"}},
			"retry": map[string]any{"schedule": []string{"1s", "1s", "1s"}}}}
	}
	var onNote, onWaiting struct{ ID string }
	c.must(t, http.MethodPost, "/api/automations", map[string]any{"name": "Each note",
		"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": multiGroup, "fieldKey": "note"}, "actions": tell("/run")}, &onNote)
	c.must(t, http.MethodPost, "/api/automations", map[string]any{"name": "Waiting 2 s",
		"trigger": map[string]any{"sla": map[string]any{"fieldGroup": multiGroup, "fieldKey": "stage", "value": "waiting", "after": "2s"}},
		"actions": tell("/sla")}, &onWaiting)

	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: multiClients}}
	publish := func(ctx context.Context, base string, data map[string]any, header map[string]string) (int, http.Header, string) {
		status, h, body := send(ctx, hc, opts.AdminKey, http.MethodPost, base+"/api/events",
			map[string]any{"type": "multi.published", "tenantId": multiTenant, "data": data}, header)
		var res struct{ ID string }
		_ = json.Unmarshal(body, &res)
		return status, h, res.ID
	}
	save := func(ctx context.Context, base, entity string, values map[string]any) bool {
		status, _, _ := send(ctx, hc, opts.AdminKey, http.MethodPost,
			base+"/api/tenants/"+multiTenant+"/field-groups/"+multiGroup+"/entities/"+entity+"/values", values, nil)
		return status == http.StatusOK
	}

	// The other instances see the new endpoint and automations at their
	// next cache refresh: wait until each has delivered and run a probe.
	deadline := time.Now().Add(60 * time.Second)
	for i := range cl.procs {
		for n := 0; ; n++ {
			_, _, id := publish(t.Context(), cl.target(i), map[string]any{"probe": n}, nil)
			entity := fmt.Sprintf("probe-%d-%d", i, n)
			require.True(t, save(t.Context(), cl.target(i), entity, map[string]any{"note": "probe"}))
			time.Sleep(200 * time.Millisecond)
			if id != "" && recv.has(recv.hook, id) && recv.has(recv.run, entity) {
				break
			}
			require.True(t, time.Now().Before(deadline), "instance %d never delivered and ran a probe", i)
		}
	}

	// The stream: each client publishes and saves, to the instances in
	// turn, skipping one that is down.
	var mu sync.Mutex
	accepted := map[string]bool{}     // event ids answered 2xx
	savedNote := map[string]bool{}    // entities whose note save was answered 2xx
	savedWaiting := map[string]bool{} // of those, the ones set to waiting
	var acks atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for ci := range multiClients {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				base := cl.target((ci + seq) % 3)
				if base == "" {
					continue
				}
				if status, _, id := publish(ctx, base, map[string]any{"client": ci, "seq": seq}, nil); status == http.StatusAccepted && id != "" {
					mu.Lock()
					accepted[id] = true
					mu.Unlock()
					acks.Add(1)
				}
				entity := fmt.Sprintf("c%d-s%06d", ci, seq)
				values := map[string]any{"note": entity}
				if seq%multiSLAEvery == 0 {
					values["stage"] = "waiting"
				}
				if save(ctx, base, entity, values) {
					mu.Lock()
					savedNote[entity] = true
					if values["stage"] != nil {
						savedWaiting[entity] = true
					}
					mu.Unlock()
					acks.Add(1)
				}
			}
		})
	}
	waitAcks := func(n int64) {
		deadline := time.Now().Add(120 * time.Second)
		for acks.Load() < n {
			require.True(t, time.Now().Before(deadline), "the stream stalled at %d answers", acks.Load())
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAcks(multiPhase)
	killed := cl.procs[2]
	cl.mu.Lock()
	cl.down[2] = true
	cl.mu.Unlock()
	killed.Kill(t)
	killedAt := time.Now()
	waitAcks(acks.Load() + multiPhase)
	restarted := startServer(t, opts)
	cl.mu.Lock()
	cl.procs[2], cl.down[2] = restarted, false
	cl.mu.Unlock()
	waitAcks(acks.Load() + multiPhase)
	cancel()
	wg.Wait()

	// An Idempotency-Key answers the same on another instance...
	c = newAPIClient(cl.procs[0].URL, opts.AdminKey, 4)
	idem := map[string]string{"Idempotency-Key": "multi-seq"}
	status, _, first := publish(t.Context(), cl.procs[0].URL, map[string]any{"idem": "seq"}, idem)
	require.Equal(t, http.StatusAccepted, status)
	status, h, again := publish(t.Context(), restarted.URL, map[string]any{"idem": "seq"}, idem)
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, "true", h.Get("Idempotent-Replayed"))
	require.Equal(t, first, again, "the restarted instance answers the first instance's response")
	// ...and, sent to all three at once, runs once.
	type answer struct {
		status   int
		replayed bool
		id       string
	}
	answers := make(chan answer, 12)
	var race sync.WaitGroup
	idem = map[string]string{"Idempotency-Key": "multi-race"}
	for i := range 12 {
		race.Go(func() {
			status, h, id := publish(t.Context(), cl.target(i%3), map[string]any{"idem": "race"}, idem)
			answers <- answer{status, h.Get("Idempotent-Replayed") == "true", id}
		})
	}
	race.Wait()
	close(answers)
	ran, raceID := 0, ""
	for a := range answers {
		switch a.status {
		case http.StatusAccepted:
			if !a.replayed {
				ran++
			}
			require.True(t, raceID == "" || raceID == a.id, "two answers name different events: %s, %s", raceID, a.id)
			raceID = a.id
		case http.StatusConflict: // the first was still running
		default:
			t.Fatalf("a request with a raced Idempotency-Key answered %d", a.status)
		}
	}
	require.Equal(t, 1, ran, "exactly one of the raced requests ran")
	mu.Lock()
	accepted[first], accepted[raceID] = true, true
	mu.Unlock()

	// Wait for the work to be done: everything accepted reached the
	// receiver and nothing is pending.
	mu.Lock()
	defer mu.Unlock()
	missing := func() (events, runs, slas int) {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		for id := range accepted {
			if len(recv.hook[id]) == 0 {
				events++
			}
		}
		for e := range savedNote {
			if len(recv.run[e]) == 0 {
				runs++
			}
		}
		for e := range savedWaiting {
			if len(recv.sla[e]) == 0 {
				slas++
			}
		}
		return events, runs, slas
	}
	pending := func() int {
		n := 0
		for _, id := range []string{onNote.ID, onWaiting.ID} {
			rs, err := listRunCrashRuns(context.Background(), c, id, "pending")
			require.NoError(t, err)
			n += len(rs)
		}
		return n
	}
	deadline = time.Now().Add(120 * time.Second)
	for {
		e, r, s := missing()
		p := pending()
		if e+r+s+p == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "after 120 s: %d events undelivered, %d saves without their run's request, "+
			"%d waiting entities whose time rule did not fire, %d runs pending", e, r, s, p)
		time.Sleep(200 * time.Millisecond)
	}
	require.Zero(t, recv.bad.Load(), "requests the receiver could not place")

	// Which instance delivered what, from their logs.
	procs := map[string]*serverProcess{"instance 0": cl.procs[0], "instance 1": cl.procs[1], "instance 2 (killed)": killed,
		"instance 2 (restarted)": restarted}
	survivors := map[string]bool{}
	for name, p := range procs {
		logged := attemptsLogged(t, p)
		require.NotEmpty(t, logged, "%s delivered nothing", name)
		if p != killed {
			for id := range logged {
				survivors[id] = true
			}
		}
	}
	// A connection belongs to a surviving process when it carried a
	// delivery that only a survivor attempted.
	recv.mu.Lock()
	defer recv.mu.Unlock()
	survivorConn := map[string]bool{}
	for _, reqs := range recv.hook {
		if len(reqs) == 1 && survivors[reqs[0].delivery] {
			survivorConn[reqs[0].addr] = true
		}
	}
	dups := 0
	for id, reqs := range recv.hook {
		for _, q := range reqs[1:] {
			require.Equal(t, reqs[0].delivery, q.delivery, "event %s came in two deliveries", id)
		}
		if len(reqs) == 1 {
			continue
		}
		dups++
		require.Len(t, reqs, 2, "event %s was delivered %d times", id, len(reqs))
		require.True(t, reqs[0].at.Before(killedAt) && !survivorConn[reqs[0].addr],
			"event %s was delivered twice, the first time not by the killed process before it died", id)
	}
	// Each entity's runs: one run, whose requests share its key; a repeat
	// only of a request the killed process made.
	checkRuns := func(name, automationID string, byEntity map[string][]multiRequest) {
		runs, err := listRunCrashRuns(context.Background(), c, automationID, "")
		require.NoError(t, err)
		ids := map[string]bool{}
		for _, r := range runs {
			require.Equal(t, "succeeded", r.State, "%s run %s: %s", name, r.ID, r.Error)
			ids[r.ID] = true
		}
		seen := map[string]string{}
		for e, reqs := range byEntity {
			runID := strings.TrimSuffix(reqs[0].key, "-tell")
			require.True(t, ids[runID], "%s: entity %s was called with Idempotency-Key %q, which names no run", name, e, reqs[0].key)
			require.Empty(t, seen[runID], "%s: run %s called for two entities", name, runID)
			seen[runID] = e
			for _, q := range reqs[1:] {
				require.Equal(t, reqs[0].key, q.key, "%s: entity %s fired in two runs: it must fire once across the instances", name, e)
			}
			if len(reqs) > 1 {
				require.Len(t, reqs, 2, "%s: entity %s called %d times", name, e, len(reqs))
				require.True(t, reqs[0].at.Before(killedAt), "%s: entity %s called twice, the first time not before the kill", name, e)
			}
		}
		require.Len(t, runs, len(byEntity), "%s: one run per entity the receiver heard of", name)
	}
	checkRuns("note", onNote.ID, recv.run)
	checkRuns("time rule", onWaiting.ID, recv.sla)

	perInstance := map[string]int{}
	for name, p := range procs {
		perInstance[name] = len(attemptsLogged(t, p))
	}
	t.Logf("%d events accepted, %d saves (%d waiting), SIGKILL after %s; deliveries logged per instance %v; %d events delivered twice "+
		"(each first by the killed process)", len(accepted), len(savedNote), len(savedWaiting), killedAt.Format(time.StampMilli),
		perInstance, dups)
}
