package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeServer answers the calls of the saves scenario the way fieldflow
// does and records what it was sent.
type fakeServer struct {
	mu        sync.Mutex
	setup     []string         // guarded by mu
	saves     int              // guarded by mu
	lastValue map[string]int64 // entity → last n; guarded by mu
	// failSaves makes every save answer 500.
	failSaves bool
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != "test-key" {
		http.Error(w, "unknown key", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/api/field-groups" || r.URL.Path == "/api/global-fields"):
		f.setup = append(f.setup, r.URL.Path)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/values"):
		if f.failSaves {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		var v struct{ N *int64 }
		if err := json.Unmarshal(body, &v); err != nil || v.N == nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		entity := strings.Split(r.URL.Path, "/")[7]
		if last, ok := f.lastValue[entity]; ok && last == *v.N {
			http.Error(w, "unchanged value", http.StatusConflict)
			return
		}
		f.lastValue[entity] = *v.N
		f.saves++
		_, _ = w.Write([]byte(`{"data":{},"version":1}`))
	default:
		http.NotFound(w, r)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		fake *fakeServer
		cfg  Config
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		fake := &fakeServer{lastValue: map[string]int64{}}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		return &testBundle{fake: fake, cfg: Config{URL: srv.URL, Key: "test-key", Clients: 4, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond}}
	}

	t.Run("SavesAsFastAsPossible", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		res, err := Run(context.Background(), bundle.cfg)
		require.NoError(t, err)
		require.Equal(t, []string{"/api/field-groups", "/api/global-fields"}, bundle.fake.setup)
		require.Zero(t, res.Errors, res.FirstError)
		require.Positive(t, res.Ops)
		require.Less(t, res.Ops, bundle.fake.saves, "warmup saves are not counted")
		require.GreaterOrEqual(t, res.Elapsed, bundle.cfg.Duration)
		require.LessOrEqual(t, res.P50, res.P95)
		require.LessOrEqual(t, res.P95, res.P99)
		require.LessOrEqual(t, res.P99, res.Max)
	})

	t.Run("FixedRate", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Rate = 200
		bundle.cfg.Duration = 500 * time.Millisecond
		bundle.cfg.Warmup = -1
		res, err := Run(context.Background(), bundle.cfg)
		require.NoError(t, err)
		require.Zero(t, res.Errors, res.FirstError)
		require.InDelta(t, 100, res.Ops, 2, "200/s for 0.5 s")
		require.GreaterOrEqual(t, res.Elapsed, bundle.cfg.Duration)
		// Only an upper bound: a loaded machine (or the race detector) may
		// finish the last operations late, which lowers the rate but must
		// never raise it above the one asked for.
		require.LessOrEqual(t, res.PerSecond(), 204.0)
	})

	t.Run("CountsErrors", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.fake.failSaves = true
		bundle.cfg.Warmup = -1
		res, err := Run(context.Background(), bundle.cfg)
		require.NoError(t, err)
		require.Zero(t, res.Ops)
		require.Positive(t, res.Errors)
		require.Contains(t, res.FirstError, "status 500")
	})

	t.Run("SetupFailureIsAnError", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Key = "wrong"
		_, err := Run(context.Background(), bundle.cfg)
		require.ErrorContains(t, err, "create field group")
		require.ErrorContains(t, err, "status 401")
	})

	t.Run("RefusesUnknownScenario", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Scenario = "nope"
		_, err := Run(context.Background(), bundle.cfg)
		require.ErrorContains(t, err, `Scenario "nope"`)
	})
}

func TestSummarise(t *testing.T) {
	t.Parallel()

	samples := make([]sample, 2)
	for i := 100; i >= 1; i-- {
		s := &samples[i%2]
		s.latencies = append(s.latencies, time.Duration(i)*time.Millisecond)
	}
	samples[1].errors = 3
	res := summarise(Config{Scenario: "saves", Clients: 2}, samples, 2*time.Second)
	require.Equal(t, 100, res.Ops)
	require.Equal(t, 3, res.Errors)
	require.Equal(t, 50*time.Millisecond, res.P50)
	require.Equal(t, 95*time.Millisecond, res.P95)
	require.Equal(t, 99*time.Millisecond, res.P99)
	require.Equal(t, 100*time.Millisecond, res.Max)
	require.InDelta(t, 50, res.PerSecond(), 0.001)
}

func TestEventBodiesAreTheConfiguredSize(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"wh_1"}`))
	}))
	t.Cleanup(srv.Close)
	c := &client{http: srv.Client(), base: srv.URL, key: "k"}
	_, s, err := setupEvents(context.Background(), c, false, 500)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.srv.Close() })
	for _, b := range [][]byte{s.body(0, 0), s.body(999, 9999999)} {
		require.InDelta(t, 500, len(b), 12, "%s", b)
		require.True(t, json.Valid(b), "%s", b)
	}
}
