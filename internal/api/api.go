// Package api serves fieldflow's HTTP API: routing, authentication,
// RFC 9457 problem+json errors, idempotency keys, metrics and the OpenAPI
// document, all on net/http's ServeMux through huma.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/api/contract"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/retention"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// Config configures the API.
type Config struct {
	Records *records.Service
	Store   store.Store
	// Version is reported in the OpenAPI document.
	Version string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the HTTP metrics; defaults to a new registry.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies; a bigger one is a 413. Defaults to
	// 1 MiB.
	MaxBodyBytes int64
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	// Defaults to 24 hours.
	IdempotencyTTL time.Duration
	// Automations serves the automation and automation settings routes
	// when set.
	Automations *automations.Service
	// OpsOnly serves only /healthz, /readyz, /metrics and the OpenAPI
	// document: a worker process sends deliveries but takes no API calls.
	OpsOnly bool
	// MetricsToken, when set, is a bearer token that may read /metrics (and
	// nothing else), for a scraper that should hold no API key. An admin
	// key may always read /metrics.
	MetricsToken string
	// NoMetrics leaves /metrics out of this handler: the app serves it on
	// a listener of its own (--metrics-addr).
	NoMetrics bool
	// Webhooks serves the webhook routes when set.
	Webhooks *webhooks.Service
	// Retention serves the tenant erasure and retention routes when set.
	Retention *retention.Service

	// RateLimit is the sustained number of requests per second each API
	// key may make; a request beyond it is a 429 with Retry-After.
	// Expensive routes cost more than one request (see routeCost). Zero
	// means 100; negative turns per-key limiting off. Each instance counts
	// on its own.
	RateLimit float64
	// RateBurst is how many requests a key may make at once before the
	// sustained rate applies. Zero means 200.
	RateBurst int
	// AuthFailureLimit is how many failed authentications (a missing,
	// unknown, revoked or expired key) per second one client address may
	// make; beyond it every request from that address is a 429 until its
	// budget refills, so that guessing keys is slow. Zero means 10;
	// negative turns it off.
	AuthFailureLimit float64
	// AuthFailureBurst is how many failed authentications an address may
	// make at once. Zero means 20.
	AuthFailureBurst int
	// ClientAddrHeader names the header a trusted reverse proxy sets to the
	// client's address (X-Real-IP, or X-Forwarded-For whose last entry is
	// then used), for the failed-authentication limit. Empty means the
	// connection's address: behind a proxy that is the proxy's, shared by
	// every client. Never set it without such a proxy, or clients choose
	// their own address.
	ClientAddrHeader string
	// ReadyChecks are asked by /readyz after the database, in order: the
	// worker loops of a process that sends. None means the database alone.
	ReadyChecks []ReadyCheck
	// Draining, when set, is asked first by /readyz: true makes it a 503
	// while the process stops, so that load balancers send no more.
	Draining func() bool
	// CORSOrigins are the origins whose browser pages may call the API
	// (with an API key in a header, never with cookies); "*" allows any.
	// Empty means none: no preflight is answered.
	CORSOrigins []string
}

// Server is the HTTP handler of the API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	api     huma.API
	auth    *authenticator
	limits  limits
	now     func() time.Time
	handler http.Handler
	doc     []byte // the OpenAPI document, finished (serveDocument)

	streamsDone chan struct{} // closed by StopStreams
	stopStreams sync.Once
}

// JSON keys are case-sensitive: "fieldkey" is an unknown key, not fieldKey.
// huma keeps this switch as a package variable that every request reads;
// setting it before any server starts (in init) is the only race-free way.
func init() { huma.ValidateStrictCasing = true }

// New builds the API. It sets huma's error constructor, which is global to
// huma: parameter errors become 400, as API.md says.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.IdempotencyTTL == 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = defaultRateLimit
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = defaultRateBurst
	}
	if cfg.AuthFailureLimit == 0 {
		cfg.AuthFailureLimit = defaultAuthFailureLimit
	}
	if cfg.AuthFailureBurst == 0 {
		cfg.AuthFailureBurst = defaultAuthFailureBurst
	}
	setHumaGlobals.Do(initHuma)

	s := &Server{cfg: cfg, mux: http.NewServeMux(), now: time.Now, streamsDone: make(chan struct{})}
	s.auth = newAuthenticator(cfg.Store, cfg.Logger, s.now)
	s.limits = limits{keys: newLimiter(cfg.RateLimit, cfg.RateBurst), failures: newLimiter(cfg.AuthFailureLimit, cfg.AuthFailureBurst)}
	hc := huma.DefaultConfig("fieldflow", cfg.Version)
	hc.OpenAPIPath = "" // served by serveDocument, finished
	hc.Components.Schemas = SchemaRegistry()
	hc.DocsPath = ""
	hc.SchemasPath = ""
	hc.CreateHooks = nil
	hc.Transformers = append([]huma.Transformer{s.logInternal}, hc.Transformers...)
	hc.Info.Description = "Custom fields, events, webhooks and automations for multi-tenant SaaS. " +
		"Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`. Errors are RFC 9457 problem+json. " +
		"Requests are rate limited per key (by default 100/s with bursts of 200; a search or the statistics overview costs 5, a webhook test 10, a replay 20) " +
		"and failed authentications per client address (10/s, bursts of 20): over a limit the answer is 429 with `Retry-After` in seconds."
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey": {Type: "apiKey", In: "header", Name: "X-API-Key"},
		"bearer": {Type: "http", Scheme: "bearer"},
	}
	hc.Security = []map[string][]string{{"apiKey": {}}, {"bearer": {}}}
	s.api = humago.New(s.mux, hc)
	s.api.UseMiddleware(s.authMiddleware)

	if !cfg.OpsOnly {
		s.registerKeys()
		s.registerFields()
		s.registerEvents()
		s.registerWebhooks()
		s.registerSettings()
		s.registerAutomations()
		s.registerSessions()
		s.registerPortal()
		s.registerExpressions()
		s.registerStream()
		s.registerTenants()
		s.registerStats()
	}
	s.registerOps()
	s.finishDocument()
	if err := s.serveDocument(); err != nil {
		panic(fmt.Sprintf("api: the OpenAPI document cannot be built: %v", err)) // a bug in a route's types
	}
	// huma caps typed bodies at its own 1 MiB default and RawBody ones not
	// at all; its handlers read the *Operation the document holds. It also
	// refuses a body that fills the cap, hence the +1.
	for _, item := range s.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				op.MaxBodyBytes = cfg.MaxBodyBytes + 1
			}
		}
	}

	idem := &idempotency{store: cfg.Store, ttl: cfg.IdempotencyTTL, auth: s.auth, maxBody: cfg.MaxBodyBytes}
	m := newHTTPMetrics(cfg.Registry, s.mux, cfg.Logger)
	s.handler = m.wrap(newCORS(cfg.CORSOrigins).wrap(checkInput(cfg.MaxBodyBytes, s.mux, idem.wrap(problemStatus(s.mux)))))
	return s
}

// setHumaGlobals sets huma's global error constructor and array default
// once: servers built while another serves would otherwise race on them.
var setHumaGlobals sync.Once

func initHuma() {
	huma.NewError = newError
	// An array the API answers is never null (lists answer []); an
	// optional array of a request that may be null says so on its twin.
	huma.DefaultArrayNullable = false
}

// SchemaRegistry returns a schema registry as the API's: the domain's
// types carry json tags only, and their schemas (limits, enums,
// descriptions) are made from their twins in package contract. Tests use
// it to check bodies against the document.
func SchemaRegistry() huma.Registry {
	setHumaGlobals.Do(initHuma)
	r := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	for _, t := range contract.Twins() {
		r.RegisterTypeAlias(t.Domain, t.Schema)
	}
	return r
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// newError builds problem+json errors; failures located only in the query,
// path or headers are the client's malformed parameters: 400, not 422.
func newError(status int, msg string, errs ...error) huma.StatusError {
	details := make([]*huma.ErrorDetail, 0, len(errs))
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			detail := d.ErrorDetail()
			// huma puts a missing property at its parent ("body"); the
			// contract names the offending part: "body.name".
			if name, ok := strings.CutPrefix(detail.Message, "expected required property "); ok && strings.HasPrefix(detail.Location, "body") {
				if name, ok = strings.CutSuffix(name, " to be present"); ok {
					detail.Location += "." + name
				}
			}
			// huma echoes the whole body (or the whole object holding a bad
			// key) as the value. That can be a megabyte, and it can hold
			// secrets (clientSecret, a secret variable) that an idempotency
			// record would then keep; the location says enough.
			if _, isObject := detail.Value.(map[string]any); isObject || detail.Location == "body" {
				detail = &huma.ErrorDetail{Message: detail.Message, Location: detail.Location}
			}
			details = append(details, detail)
		} else {
			details = append(details, &huma.ErrorDetail{Message: err.Error()})
		}
	}
	if status == http.StatusUnprocessableEntity && len(details) > 0 {
		params := true
		for _, d := range details {
			if !strings.HasPrefix(d.Location, "query.") && !strings.HasPrefix(d.Location, "path.") && !strings.HasPrefix(d.Location, "header.") {
				params = false
			}
		}
		if params {
			status = http.StatusBadRequest
		}
	}
	return &huma.ErrorModel{Type: "about:blank", Status: status, Title: http.StatusText(status), Detail: msg, Errors: details}
}

// fail turns a domain error into an HTTP error: sentinels and typed
// errors pick the status, and the chain's text (all of it ours: drivers'
// text stops in the store, see sqlstore's interpret) is the detail.
func fail(err error) error {
	var ve *problem.ValidationError
	var se huma.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, scope.ErrOtherTenant):
		return huma.Error403Forbidden(scope.ErrOtherTenant.Error())
	case errors.Is(err, scope.ErrAdminOnly):
		return huma.Error403Forbidden(scope.ErrAdminOnly.Error())
	case errors.As(err, &ve):
		errs := make([]error, len(ve.Problems))
		for i, p := range ve.Problems {
			errs[i] = &huma.ErrorDetail{Location: p.Location, Message: p.Message, Value: p.Value}
		}
		return huma.Error422UnprocessableEntity("validation failed", errs...)
	case errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound(detail(err, store.ErrNotFound, "not found"))
	case errors.Is(err, store.ErrConflict):
		return huma.Error409Conflict(detail(err, store.ErrConflict, "already exists"))
	case errors.Is(err, automations.ErrRunNotFailed):
		return huma.Error409Conflict(err.Error())
	case errors.Is(err, records.ErrVersionMismatch):
		return huma.Error412PreconditionFailed(err.Error())
	case errors.Is(err, context.Canceled):
		return huma.NewError(499, "client closed request")
	}
	return &internalError{StatusError: huma.Error500InternalServerError("internal error"), cause: err}
}

// internalError is a 500 whose cause is logged with the server's logger
// (logInternal) and never shown to the client.
type internalError struct {
	huma.StatusError
	cause error
}

// logInternal is a huma transformer: it logs an internalError's cause and
// writes the plain problem in its place.
func (s *Server) logInternal(ctx huma.Context, _ string, v any) (any, error) {
	ie, ok := v.(*internalError)
	if !ok {
		return v, nil
	}
	s.cfg.Logger.Error("request failed", "method", ctx.Method(), "path", ctx.URL().Path, "err", ie.cause)
	return ie.StatusError, nil
}

// detail is the client's text of an error that wraps sentinel: the
// chain's words with the sentinel's own ("store: not found", which names a
// package, not a problem) left out, or replaced by plain when nothing
// follows it.
func detail(err, sentinel error, plain string) string {
	msg := err.Error()
	head, rest, found := strings.Cut(msg, sentinel.Error())
	if !found {
		return msg
	}
	head = strings.TrimSuffix(head, ": ")
	if rest = strings.TrimPrefix(rest, ": "); rest == "" {
		rest = plain
	}
	return head + ": " + rest
}
