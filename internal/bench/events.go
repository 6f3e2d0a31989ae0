package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// eventsScenario publishes host events through POST /api/events and
// measures what arrives at a receiver in this process: delivered per
// second, publish→receive latency, lost and duplicated events. The events
// go to the receiver either as webhook deliveries (scenario events) or
// through an automation whose one http action posts the event id there
// (scenario runs: each event is one run).
type eventsScenario struct {
	ln   net.Listener
	srv  *http.Server
	c    *client
	whID string
	// auID is the automation of the runs scenario.
	auID string

	mu       sync.Mutex
	accepted map[string]time.Time // event id → when the publish was sent; guarded by mu
	received map[string]int       // event id → deliveries seen; guarded by mu
	latency  []time.Duration      // publish sent → delivery received; guarded by mu
	first    time.Time            // guarded by mu
	last     time.Time            // guarded by mu
	// phaseStart and phaseEnd bound the measured phase; inPhase counts
	// first receipts between them, sinceStart those after its start.
	phaseStart, phaseEnd time.Time // guarded by mu
	inPhase, sinceStart  int       // guarded by mu

	// pad fills each published body up to the configured size.
	pad string
}

// eventsPayload is the part of the delivered body the receiver reads.
type eventsPayload struct {
	EventID string `json:"eventId"`
}

func setupEvents(ctx context.Context, c *client, viaAutomation bool, eventBytes int) (op, *eventsScenario, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("receiver: %w", err)
	}
	s := &eventsScenario{ln: ln, c: c, accepted: map[string]time.Time{}, received: map[string]int{}}
	// The padding makes a body of the widest client and sequence numbers
	// about eventBytes long; the others are a few bytes shorter.
	if n := eventBytes - len(s.body(999, 9999999)); n > 0 {
		s.pad = strings.Repeat("x", n)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.receive), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()

	if viaAutomation {
		var au struct {
			ID string `json:"id"`
		}
		err = c.postJSON(ctx, "/api/automations", map[string]any{
			"name":    "fieldflow bench automation",
			"trigger": map[string]any{"event": "bench.*", "condition": "event.data.seq >= 0"},
			"actions": []map[string]any{{"name": "post", "type": "http", "method": "POST", "url": "http://" + ln.Addr().String() + "/run",
				"body":  map[string]any{"type": "json", "json": map[string]any{"eventId": "{{event.eventId}}", "seq": "{{event.data.seq}}"}},
				"retry": map[string]any{"schedule": []string{"1s", "5s"}}}},
		}, &au)
		if err != nil {
			_ = s.srv.Close()
			return nil, nil, fmt.Errorf("create automation (the server must allow private targets): %w", err)
		}
		s.auID = au.ID
		return s.publish, s, nil
	}
	var wh struct {
		ID string `json:"id"`
	}
	err = c.postJSON(ctx, "/api/webhooks", map[string]any{
		"url": "http://" + ln.Addr().String() + "/hook", "events": []string{"bench.*"},
		"description": "fieldflow bench receiver", "maxInFlight": 64, "retrySchedule": []string{"1s", "5s"},
	}, &wh)
	if err != nil {
		_ = s.srv.Close()
		return nil, nil, fmt.Errorf("register endpoint (the server must allow private targets): %w", err)
	}
	s.whID = wh.ID
	return s.publish, s, nil
}

func (s *eventsScenario) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var p eventsPayload
	if err := json.Unmarshal(body, &p); err != nil || p.EventID == "" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.received[p.EventID]++
	if s.received[p.EventID] == 1 && !s.phaseStart.IsZero() && !now.Before(s.phaseStart) {
		s.sinceStart++
		if now.Before(s.phaseEnd) {
			s.inPhase++
		}
	}
	if sent, ok := s.accepted[p.EventID]; ok && s.received[p.EventID] == 1 {
		s.latency = append(s.latency, now.Sub(sent))
	}
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// body is the published event of client's seq-th operation.
func (s *eventsScenario) body(client, seq int) []byte {
	return []byte(`{"type":"bench.published","tenantId":"bench","data":{"client":` + strconv.Itoa(client) + `,"seq":` + strconv.Itoa(seq) + `,"pad":"` + s.pad + `"}}`)
}

// queue names the server's backlog this scenario fills.
func (s *eventsScenario) queue() string {
	if s.auID != "" {
		return "runs"
	}
	return "deliveries"
}

// startPhase marks the measured phase, from start to end.
func (s *eventsScenario) startPhase(start, end time.Time) {
	s.mu.Lock()
	s.phaseStart, s.phaseEnd = start, end
	s.mu.Unlock()
}

// counts says how many events arrived first during the measured phase, and
// since its start.
func (s *eventsScenario) counts() (inPhase, sinceStart int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inPhase, s.sinceStart
}

func (s *eventsScenario) publish(ctx context.Context, client, seq int) error {
	body := s.body(client, seq)
	sent := time.Now()
	var out struct {
		ID string `json:"id"`
	}
	if err := s.c.do(ctx, http.MethodPost, "/api/events", body, &out); err != nil {
		return err
	}
	s.mu.Lock()
	s.accepted[out.ID] = sent
	if n := s.received[out.ID]; n > 0 {
		// Delivered before the publish answer was read: count it now.
		s.latency = append(s.latency, time.Since(sent))
	}
	s.mu.Unlock()
	return nil
}

// finish waits up to drain for every accepted event to arrive, then adds
// the delivery figures to res.
func (s *eventsScenario) finish(ctx context.Context, res *Result, start time.Time, drain time.Duration) {
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if s.missing() == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.srv.Close()
	if s.auID != "" {
		res.Extra = append(res.Extra, s.runStates(ctx, deadline))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dups := 0
	for _, n := range s.received {
		if n > 1 {
			dups += n - 1
		}
	}
	lost := 0
	for id := range s.accepted {
		if s.received[id] == 0 {
			lost++
		}
	}
	slices.Sort(s.latency)
	pct := func(p float64) time.Duration {
		if len(s.latency) == 0 {
			return 0
		}
		i := int(float64(len(s.latency))*p+0.5) - 1
		return s.latency[min(max(i, 0), len(s.latency)-1)]
	}
	// Delivered per second counts the events published in the measured
	// phase, over the time from its start to the last delivery.
	measured, last := 0, start
	for id, sent := range s.accepted {
		if !sent.Before(start) && s.received[id] > 0 {
			measured++
		}
	}
	if s.last.After(last) {
		last = s.last
	}
	delivered := 0.0
	if span := last.Sub(start); span > 0 {
		delivered = float64(measured) / span.Seconds()
	}
	res.Extra = append(res.Extra,
		fmt.Sprintf("accepted: %d (all phases), delivered: %d unique, lost: %d, duplicates: %d", len(s.accepted), len(s.latency), lost, dups),
		fmt.Sprintf("delivered/s: %.0f (events published in the measured phase, until the last delivery)", delivered),
		fmt.Sprintf("publish→receive: p50 %s  p95 %s  p99 %s  max %s", roundDur(pct(.5)), roundDur(pct(.95)), roundDur(pct(.99)), roundDur(pct(1))),
	)
	if rss := peakRSS(); rss != "" {
		res.Extra = append(res.Extra, "peak RSS of this process (the bench, and the server when it runs in this process): "+rss)
	}
	res.Lost, res.Duplicates = lost, dups
}

// runStates waits (until deadline) for the run log to record every run as
// finished, so "completed" means the run's result is written, not only
// that its request arrived, and says how many runs ended in each state.
func (s *eventsScenario) runStates(ctx context.Context, deadline time.Time) string {
	count := func(state string) (int, error) {
		n, cursor := 0, ""
		for {
			var page struct {
				Data       []struct{} `json:"data"`
				NextCursor string     `json:"nextCursor"`
			}
			path := "/api/automations/" + s.auID + "/runs?pageSize=500&status=" + state
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			if err := s.c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
				return 0, err
			}
			n += len(page.Data)
			if page.NextCursor == "" || state == "pending" {
				return n, nil
			}
			cursor = page.NextCursor
		}
	}
	pending, err := count("pending")
	for err == nil && pending > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		pending, err = count("pending")
	}
	if err != nil {
		return "run log: " + err.Error()
	}
	failed, err := count("failed")
	if err != nil {
		return "run log: " + err.Error()
	}
	return fmt.Sprintf("run log: %d runs still pending, %d failed", pending, failed)
}

func (s *eventsScenario) missing() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.accepted {
		if s.received[id] == 0 {
			n++
		}
	}
	return n
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
