package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const tagOps = "Operations"

type health struct {
	Status string `json:"status" example:"ok"`
	// Checks are /readyz's parts; /healthz has none.
	Checks []checkView `json:"checks,omitempty" doc:"Each part /readyz checked: the database, and in a process that sends, the worker loops."`
}

// checkView is one part of a ready answer.
type checkView struct {
	Name   string `json:"name" example:"webhook dispatcher" doc:"The part checked: database, webhook dispatcher, automation runner or automation timers."`
	Status string `json:"status" example:"ok" doc:"ok (a part that is not ready makes the whole answer a 503)."`
	// LastPollAgeSeconds is a worker loop's.
	LastPollAgeSeconds *float64 `json:"lastPollAgeSeconds,omitempty" example:"0.4" doc:"For a worker loop: seconds since it last polled the database successfully."`
}

// ReadyCheck is one part of /readyz beyond the database: a worker loop,
// say. Check must be quick; it runs on every /readyz.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) Readiness
}

// Readiness is a part's answer to /readyz.
type Readiness struct {
	// Err is why the part is not ready; nil when it is.
	Err error
	// LastPoll, when not zero, is when the part last did its work (a
	// worker loop's last successful poll); /readyz shows its age.
	LastPoll time.Time
}

func (s *Server) registerOps() {
	public := map[string]any{"public": true}
	huma.Register(s.api, huma.Operation{OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "The process is up", Tags: []string{tagOps}, Metadata: public, Security: []map[string][]string{}},
		func(ctx context.Context, _ *struct{}) (*out[*health], error) {
			return &out[*health]{&health{Status: "ok"}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "The process can take work: the database is reachable and migrated, and its worker loops poll",
		Description: "503 while the process drains at shutdown (it may still finish requests in flight; /healthz stays 200 until " +
			"the listener closes), when the database cannot be reached, or when a worker loop (the webhook dispatcher, the automation " +
			"runner or the timer loop of time rules) has stopped or has not polled the database successfully for too long.",
		Tags: []string{tagOps}, Metadata: public, Security: []map[string][]string{}},
		func(ctx context.Context, _ *struct{}) (*out[*health], error) {
			if s.cfg.Draining != nil && s.cfg.Draining() {
				return nil, huma.Error503ServiceUnavailable("draining: this process is shutting down")
			}
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := s.cfg.Store.Ping(ctx); err != nil {
				return nil, huma.Error503ServiceUnavailable("database not ready: " + err.Error())
			}
			h := &health{Status: "ok", Checks: []checkView{{Name: "database", Status: "ok"}}}
			var failed []string
			now := s.now()
			for _, c := range s.cfg.ReadyChecks {
				r := c.Check(ctx)
				if r.Err != nil {
					failed = append(failed, c.Name+": "+r.Err.Error())
					continue
				}
				v := checkView{Name: c.Name, Status: "ok"}
				if !r.LastPoll.IsZero() {
					age := max(now.Sub(r.LastPoll), 0).Round(time.Millisecond).Seconds()
					v.LastPollAgeSeconds = &age
				}
				h.Checks = append(h.Checks, v)
			}
			if len(failed) > 0 {
				return nil, huma.Error503ServiceUnavailable("not ready: " + strings.Join(failed, "; "))
			}
			return &out[*health]{h}, nil
		})
	if s.cfg.NoMetrics {
		return
	}
	// /metrics tells how busy the whole system is, so only an operator may
	// read it: an admin key, or the metrics token a scraper holds instead
	// of an API key. A tenant key gets 403.
	metrics := promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})
	huma.Register(s.api, huma.Operation{OperationID: "metrics", Method: http.MethodGet, Path: "/metrics",
		Summary: "Prometheus metrics (text format)",
		Description: "Needs an admin key, or `Authorization: Bearer <FIELDFLOW_METRICS_TOKEN>` when a metrics token is set. " +
			"With `--metrics-addr` set, /metrics is served there without a key instead, and not on this port. " +
			"No series is labelled with anything a tenant owns (tenant, endpoint or automation ids).",
		Tags: []string{tagOps}, Metadata: map[string]any{"admin": true, "metricsToken": true},
		Responses: map[string]*huma.Response{"200": {Description: "Prometheus text exposition format",
			Content: map[string]*huma.MediaType{"text/plain": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				r, w := humago.Unwrap(hctx)
				metrics.ServeHTTP(w, r)
			}}, nil
		})
}

// metricsTokenMatches reports whether key is the configured metrics token,
// in constant time.
func (s *Server) metricsTokenMatches(key string) bool {
	return s.cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.MetricsToken)) == 1
}

// httpMetrics counts requests and their latency by route pattern, and
// logs each request at debug.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	mux      *http.ServeMux
	log      *slog.Logger
}

func newHTTPMetrics(reg *prometheus.Registry, mux *http.ServeMux, log *slog.Logger) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fieldflow_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"route"}),
		mux: mux,
		log: log,
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)
		route := m.route(r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		if m.log.Enabled(r.Context(), slog.LevelDebug) {
			// The path, never the query or a header: those may carry a
			// key or a search value.
			m.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method), slog.String("route", route),
				slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Float64("ms", float64(elapsed.Microseconds())/1000))
		}
	})
}

// route is the request's route pattern, a bounded label. ServeMux records
// it on the request it serves; a handler that served a copy of the request
// (Idempotency-Key replays and the writes that record them) leaves it on
// the copy, so the pattern is looked up again. A path no route matches
// shares one label, so that paths cannot blow up cardinality.
func (m *httpMetrics) route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	if _, pattern := m.mux.Handler(r); pattern != "" {
		return pattern
	}
	return "unmatched"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController (flushing a live stream, deadlines)
// reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
