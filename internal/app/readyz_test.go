package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// /readyz at shutdown and for the worker loops; /healthz beside it.

// readyz is /readyz's answer: its status and the checks of a 200.
type readyz struct {
	status int
	detail string
	checks map[string]*float64 // name → lastPollAgeSeconds
}

func getReadyz(t *testing.T, url string) readyz {
	t.Helper()
	res := get(t, url+"/readyz", nil)
	var body struct {
		Detail string `json:"detail"`
		Checks []struct {
			Name               string   `json:"name"`
			Status             string   `json:"status"`
			LastPollAgeSeconds *float64 `json:"lastPollAgeSeconds"`
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(res.body, &body), "%s", res.body)
	r := readyz{status: res.status, detail: body.Detail, checks: map[string]*float64{}}
	for _, c := range body.Checks {
		require.Equal(t, "ok", c.Status, "%s", res.body)
		r.checks[c.Name] = c.LastPollAgeSeconds
	}
	return r
}

// TestReadyzTurns503WhileDrainingAndHealthzStaysUp stops a real server
// with a slow request in flight (a webhook test waiting on its receiver):
// for the drain delay /readyz is 503 while /healthz is 200 and the
// listener still accepts; then the listener closes, the slow request
// still gets its answer, and Stop returns once it has.
func TestReadyzTurns503WhileDrainingAndHealthzStaysUp(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		cfg := baseConfig(t, dialect)
		cfg.DrainDelay = 700 * time.Millisecond
		cfg.ShutdownGrace = 10 * time.Second
		b, a, _ := runApp(t, cfg)
		release := make(chan struct{})
		rc := startReceiver(t, receiverOpts{Respond: func(w http.ResponseWriter, _ int, _ *received) {
			<-release
			w.WriteHeader(http.StatusOK)
		}})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "timeoutSeconds": 30})
		require.Equal(t, http.StatusOK, getReadyz(t, b.url).status)

		slow := make(chan *response, 1)
		go func() {
			// A client of its own: the test's keep-alive pool is closed by
			// the shutdown under the polls below.
			req, _ := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/"+ep.ID+"/test", nil)
			req.Header.Set("X-API-Key", adminKey)
			res, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				slow <- &response{status: -1, body: []byte(err.Error())}
				return
			}
			defer res.Body.Close()
			slow <- &response{status: res.StatusCode}
		}()
		rc.wait(t, 1, 10*time.Second) // the test request is in flight

		stopped := make(chan error, 1)
		began := time.Now()
		go func() { stopped <- a.Stop(context.Background()) }()
		var draining readyz
		waitUntil(t, 5*time.Second, "/readyz to say 503", func() bool {
			draining = getReadyz(t, b.url)
			return draining.status == http.StatusServiceUnavailable
		})
		require.Contains(t, draining.detail, "draining")
		require.Equal(t, http.StatusOK, get(t, b.url+"/healthz", nil).status, "the process is up while it drains")

		addr := strings.TrimPrefix(b.url, "http://")
		waitUntil(t, 5*time.Second, "the listener to close after the drain delay", func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		require.GreaterOrEqual(t, time.Since(began), cfg.DrainDelay, "the listener stays open for the drain delay")
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) with a request in flight", err)
		default:
		}

		close(release)
		res := <-slow
		require.Equal(t, http.StatusOK, res.status, "the request in flight is answered: %s", res.body)
		require.NoError(t, <-stopped)
	})
}

// TestReadyzReportsTheWorkerLoops: a process that sends shows its
// dispatcher, runner and timer loops with the age of their last poll; one
// whose claims keep failing turns /readyz to 503 after WorkerStallAfter,
// while /healthz stays 200.
func TestReadyzReportsTheWorkerLoops(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		cfg := baseConfig(t, dialect)
		cfg.WorkerStallAfter = time.Second
		b, _, _ := runApp(t, cfg)
		r := getReadyz(t, b.url)
		require.Equal(t, http.StatusOK, r.status)
		require.Contains(t, r.checks, "database")
		require.Nil(t, r.checks["database"], "the database has no poll age")
		for _, loop := range []string{"webhook dispatcher", "automation runner", "automation timers"} {
			require.Contains(t, r.checks, loop)
			require.NotNil(t, r.checks[loop], loop)
			require.Less(t, *r.checks[loop], 1.0, "%s polls every 100 ms", loop)
		}

		// The deliveries table goes away behind the server's back: every
		// claim of the dispatcher fails from now on.
		side := sideDB(t, dialect, cfg.DB)
		_, err := side.Exec(`ALTER TABLE deliveries RENAME TO deliveries_gone`)
		require.NoError(t, err)
		var stalled readyz
		waitUntil(t, 10*time.Second, "/readyz to report the dispatcher", func() bool {
			stalled = getReadyz(t, b.url)
			return stalled.status == http.StatusServiceUnavailable
		})
		require.Contains(t, stalled.detail, "webhook dispatcher: no successful poll of the database for")
		require.NotContains(t, stalled.detail, "automation runner", "the other loops still poll")
		require.Equal(t, http.StatusOK, get(t, b.url+"/healthz", nil).status)
		_, err = side.Exec(`ALTER TABLE deliveries_gone RENAME TO deliveries`)
		require.NoError(t, err)
		waitUntil(t, 10*time.Second, "/readyz to recover", func() bool { return getReadyz(t, b.url).status == http.StatusOK })
	})
}

func TestReadyzOfAnAPIProcessChecksTheDatabaseOnly(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "postgres")
	cfg.Role = "api"
	b, _, _ := runApp(t, cfg)
	r := getReadyz(t, b.url)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, map[string]*float64{"database": nil}, r.checks, "an api process runs no worker loop")
}

// sideDB opens the test's database beside the server, to change it
// behind the server's back.
func sideDB(t *testing.T, dialect, dsn string) *sql.DB {
	t.Helper()
	driver, source := "pgx", dsn
	if dialect == "sqlite" {
		driver, source = "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, source)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
