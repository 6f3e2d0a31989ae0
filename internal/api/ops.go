package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const tagOps = "Operations"

type health struct {
	Status string `json:"status" example:"ok"`
}

func (s *Server) registerOps() {
	public := map[string]any{"public": true}
	huma.Register(s.api, huma.Operation{OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "The process is up", Tags: []string{tagOps}, Metadata: public, Security: []map[string][]string{}},
		func(ctx context.Context, _ *struct{}) (*out[*health], error) {
			return &out[*health]{&health{Status: "ok"}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "The database is reachable and migrated", Tags: []string{tagOps}, Metadata: public, Security: []map[string][]string{}},
		func(ctx context.Context, _ *struct{}) (*out[*health], error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := s.cfg.Store.Ping(ctx); err != nil {
				return nil, huma.Error503ServiceUnavailable("database not ready: " + err.Error())
			}
			return &out[*health]{&health{Status: "ok"}}, nil
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

// httpMetrics counts requests and their latency by route pattern.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fieldflow_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		// ServeMux records the matched pattern on the request; unmatched
		// requests share one label so paths cannot blow up cardinality.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
