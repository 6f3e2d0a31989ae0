package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// deliveryReceiver records, per event, the connections its deliveries
// came on: a connection opened before the kill belongs to the killed
// process.
type deliveryReceiver struct {
	mu    sync.Mutex
	from  map[string][]string // event id → remote address of each delivery; guarded by mu
	conns map[string]bool     // remote addresses seen so far; guarded by mu
}

func (r *deliveryReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var p struct {
		EventID string `json:"eventId"`
	}
	if json.Unmarshal(body, &p) != nil || p.EventID == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.from[p.EventID] = append(r.from[p.EventID], req.RemoteAddr)
	r.conns[req.RemoteAddr] = true
	r.mu.Unlock()
	// A little work per delivery keeps attempts in flight at the kill.
	time.Sleep(2 * time.Millisecond)
	w.WriteHeader(http.StatusNoContent)
}

// TestDeliveriesSurviveSIGKILL kills `fieldflow serve` with SIGKILL while
// events are being published and delivered, restarts it on the same
// database, and proves every accepted event reaches the receiver at least
// once, and that an event arrives twice only if its first delivery was
// already made by the killed process (an attempt in flight or not yet
// recorded when it died).
func TestDeliveriesSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs a burst against each database; skipped with -short")
	}
	bin := buildBinary(t)
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			opts := serverOptions{Bin: bin, DB: storetest.DSN(t, dialect),
				AdminKey: "ffk_dcrash_" + base64.RawURLEncoding.EncodeToString(key[:16]),
				// A crashed process's leases end after 2 s instead of 30 s,
				// so the restarted one (PostgreSQL) takes its work back soon.
				Env: []string{"FIELDFLOW_ALLOW_PRIVATE_TARGETS=true", "FIELDFLOW_DELIVERY_LEASE=2s"}}
			if dialect == "postgres" {
				opts.MasterKey = base64.StdEncoding.EncodeToString(key)
			}
			recv := &deliveryReceiver{from: map[string][]string{}, conns: map[string]bool{}}
			rs := httptest.NewServer(recv)
			t.Cleanup(rs.Close)

			srv := startServer(t, opts)
			c := newAPIClient(srv.URL, opts.AdminKey, 16)
			c.must(t, http.MethodPost, "/api/webhooks", map[string]any{"url": rs.URL + "/hook", "events": []string{"crash.*"},
				"retrySchedule": []string{"1s", "1s", "1s"}, "maxInFlight": 16}, nil)

			var mu sync.Mutex
			accepted := map[string]bool{}
			var n atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					for seq := 0; ctx.Err() == nil; seq++ {
						var out struct{ ID string }
						_, err := c.do(ctx, http.MethodPost, "/api/events", map[string]any{"type": "crash.published", "tenantId": "t",
							"data": map[string]any{"client": i, "seq": seq}}, &out)
						if err != nil {
							return // the server is gone
						}
						mu.Lock()
						accepted[out.ID] = true
						mu.Unlock()
						n.Add(1)
					}
				})
			}
			deadline := time.Now().Add(20 * time.Second)
			for n.Load() < 1500 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			srv.Kill(t)
			cancel()
			wg.Wait()
			// Connections seen by now are the killed process's; requests it
			// wrote before dying may still be read after this point.
			recv.mu.Lock()
			oldConns := maps.Clone(recv.conns)
			recv.mu.Unlock()
			require.GreaterOrEqual(t, n.Load(), int64(1500), "the burst did not get going")

			startServer(t, opts)
			missing := func() int {
				recv.mu.Lock()
				defer recv.mu.Unlock()
				m := 0
				for id := range accepted {
					if len(recv.from[id]) == 0 {
						m++
					}
				}
				return m
			}
			deadline = time.Now().Add(45 * time.Second)
			for missing() > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			require.Zero(t, missing(), "accepted events never delivered after the restart")

			recv.mu.Lock()
			defer recv.mu.Unlock()
			dups, before := 0, 0
			for id, addrs := range recv.from {
				byOld := 0
				for _, a := range addrs {
					if oldConns[a] {
						byOld++
					}
				}
				if byOld > 0 {
					before++
				}
				if len(addrs) > 1 {
					dups += len(addrs) - 1
					require.Equal(t, 1, byOld,
						"event %s was delivered %d times (%d by the killed process): only an attempt of the killed process may repeat, once", id, len(addrs), byOld)
				}
			}
			t.Logf("%s: %d events accepted, %d delivered before SIGKILL, %d duplicates after restart", dialect, len(accepted), before, dups)
		})
	}
}
