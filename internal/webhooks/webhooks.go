// Package webhooks delivers events to registered endpoints: the endpoint
// registry, fan-out inside the transaction that writes an event, the
// dispatcher (deliveries run on internal/queue: in-memory hand-over after
// commit, per-endpoint limits, leases and claims as the recovery path),
// retries with backoff and the attempt log. Requests are signed and sent
// through internal/outbound.
package webhooks

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/queue"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/templates"
)

// Config configures the webhook service.
type Config struct {
	Store store.Store
	// Box seals endpoint secrets at rest.
	Box *secretbox.Box
	// Client sends every request; defaults to outbound.NewHTTPClient(false).
	Client *http.Client
	// Owner names this process in delivery leases. Defaults to a random id.
	Owner string
	// Version goes into the User-Agent.
	Version string
	// Workers is the number of concurrent attempts across all endpoints.
	// Defaults to 256.
	Workers int
	// QueuePerEndpoint caps deliveries held in memory per endpoint; the
	// rest wait in the database. Defaults to 2048.
	QueuePerEndpoint int
	// LeaseDuration is how long a claimed delivery stays with this process
	// without a heartbeat. Defaults to 30 seconds.
	LeaseDuration time.Duration
	// PollInterval is how often the database is checked for due deliveries
	// nobody holds. Defaults to 1 second.
	PollInterval time.Duration
	// ReleaseLeasesOnStart drops every lease at start: right for a
	// single-process database (SQLite), whose previous process is gone.
	ReleaseLeasesOnStart bool
	// Dispatch turns the dispatcher on (roles all and worker).
	Dispatch bool
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the delivery metrics.
	Registry prometheus.Registerer
	// Fanout is this service's subscriber, built by NewFanout from the same
	// Config before the services that write events. Nil makes one.
	Fanout *Fanout
	// Subscribers get the service's own events (webhook.disabled) in the
	// writing transaction: the app's one ordered list, which holds Fanout.
	// Nil means Fanout alone.
	Subscribers []records.Subscriber
}

// withDefaults returns the config with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	cfg.Owner = cmp.Or(cfg.Owner, events.NewID("w_"))
	cfg.Workers = cmp.Or(cfg.Workers, 256)
	cfg.QueuePerEndpoint = cmp.Or(cfg.QueuePerEndpoint, 2048)
	cfg.LeaseDuration = cmp.Or(cfg.LeaseDuration, queue.DefaultLeaseDuration)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	cfg.Version = cmp.Or(cfg.Version, "dev")
	if cfg.Client == nil {
		cfg.Client = outbound.NewHTTPClient(false)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	return cfg
}

// Service is the webhook engine.
type Service struct {
	cfg     Config
	store   store.Store
	box     *secretbox.Box
	client  *http.Client
	cache   *endpointCache
	disp    *dispatcher
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	// rowMetrics count endpoints and filters that cannot do their work.
	rowMetrics *rowMetrics
	// subs get the service's own events; see Config.Subscribers.
	subs []records.Subscriber
	// templates renders endpoints' body templates.
	templates *templates.Templates
}

// New returns a Service; Start runs its dispatcher. It connects
// cfg.Fanout to the dispatcher, so that deliveries written from then on
// are handed over in memory.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	if cfg.Fanout == nil {
		cfg.Fanout = NewFanout(cfg)
	}
	if cfg.Subscribers == nil {
		cfg.Subscribers = []records.Subscriber{cfg.Fanout}
	}
	fan := cfg.Fanout
	s := &Service{cfg: cfg, store: cfg.Store, box: cfg.Box, client: cfg.Client, log: cfg.Logger,
		metrics: newMetrics(cfg.Registry), rowMetrics: fan.rowMetrics, cache: fan.cache, subs: cfg.Subscribers,
		templates: templates.NewTemplates(0)}
	s.now = func() time.Time { return events.StoredTime(cfg.Now()) }
	s.disp = newDispatcher(s)
	if cfg.Dispatch {
		fan.handOver = s
	}
	return s
}

// Start runs the dispatcher when configured to.
func (s *Service) Start(ctx context.Context) error {
	if !s.cfg.Dispatch {
		return nil
	}
	return s.disp.Start(ctx)
}

// Stop stops the dispatcher, letting attempts in flight finish until ctx
// ends. It tolerates a second call.
func (s *Service) Stop(ctx context.Context) {
	s.disp.Stop(ctx)
}

// Wake makes the dispatcher look for due deliveries nobody holds when w
// says another instance committed some; other kinds of work are not its.
// A process that does not dispatch ignores it.
func (s *Service) Wake(w store.Wake) {
	if !s.cfg.Dispatch || w.Kind != store.WakeDeliveries {
		return
	}
	if w.At.IsZero() {
		s.disp.Poke()
		return
	}
	s.disp.WakeAt(w.At)
}

// DispatcherHealth reports the dispatcher's claim loop, for /readyz; ok is
// false when this process does not dispatch (role api).
func (s *Service) DispatcherHealth() (h queue.Health, ok bool) {
	if !s.cfg.Dispatch {
		return queue.Health{}, false
	}
	return s.disp.Health(), true
}

// Fanout is webhooks' subscriber: in the transaction that writes events,
// one delivery per event and matching endpoint. It is built before the
// services that write events, so that all of them (records, automations
// and this package's Service) share one list of subscribers; New then
// connects it to its dispatcher.
type Fanout struct {
	cache      *endpointCache
	rowMetrics *rowMetrics
	log        *slog.Logger
	now        func() time.Time
	// handOver is the Service whose dispatcher takes deliveries straight
	// from memory; set by New before any write, nil when nothing in this
	// process dispatches (the deliveries then wait in the database).
	handOver *Service
}

// NewFanout returns the fan-out of the endpoints in cfg.Store. It uses
// cfg's Box, Now, Logger and Registry; hand it to New with the same cfg.
func NewFanout(cfg Config) *Fanout {
	cfg = cfg.withDefaults()
	f := &Fanout{rowMetrics: newRowMetrics(cfg.Registry), log: cfg.Logger,
		now: func() time.Time { return events.StoredTime(cfg.Now()) }}
	f.cache = &endpointCache{box: cfg.Box, refreshEvery: 2 * time.Second, log: cfg.Logger, brokenGauge: f.rowMetrics.brokenEndpoints}
	return f
}

var _ records.Subscriber = (*Fanout)(nil)

// Handle writes one delivery per event and matching endpoint, and hands
// them to the dispatcher once the transaction commits.
func (f *Fanout) Handle(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	eps, err := f.cache.snapshot(ctx, tx)
	if err != nil {
		return err
	}
	if len(eps) == 0 {
		return nil
	}
	now := f.now()
	var ds []*store.Delivery
	var tasks []*deliveryTaskV1
	for _, ev := range evs {
		// An endpoint never gets the news of its own disabling: the event
		// is written in the transaction that disables it, whose fan-out
		// still sees it active in the cache, and the delivery could only
		// fail ("endpoint is disabled") and clutter its log.
		disabledID := ""
		if ev.Type == events.WebhookDisabled {
			payload := decodePayload(ev.Payload)
			if wh, ok := payload["webhook"].(map[string]any); ok {
				disabledID, _ = wh["id"].(string)
			}
		}
		var input map[string]any // the payload as filters see it, decoded once
		for _, conf := range eps {
			ep := conf.ep
			// A broken endpoint (see endpointConf) is left out: one bad
			// row must not fail every write. The cache has logged it.
			if conf.broken != "" || !selects(ep, ev) || ep.ID == disabledID {
				continue
			}
			if conf.filter != nil {
				if input == nil {
					input = decodeFilterInput(ev.Payload)
				}
				ok, err := conf.filter.eval(input)
				if err != nil {
					// The event detail shows this too (FilteredOut).
					f.rowMetrics.filterErrors.Inc()
					f.log.Warn("webhook filter failed; the event is not delivered to the endpoint",
						"endpoint", ep.ID, "event", ev.ID, "type", ev.Type, "err", err)
				}
				if !ok {
					continue
				}
			}
			d := newDelivery(ev, ep.ID, now, f.handOver)
			ds = append(ds, d)
			if d.LeaseOwner != "" {
				tasks = append(tasks, &deliveryTaskV1{d: d, payload: ev.Payload})
			}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if err := tx.DeliveryInsert(ctx, ds); err != nil {
		return err
	}
	if len(tasks) > 0 {
		disp := f.handOver.disp
		tx.AfterCommit(func() { disp.Enqueue(tasks...) })
	}
	return nil
}

// selects reports whether an endpoint takes an event before its filter:
// active, the event's tenant, and one of its event type patterns.
func selects(ep *store.Endpoint, ev *events.Event) bool {
	return ep.Active && (ep.TenantID == "" || ep.TenantID == ev.TenantID) && events.MatchType(ep.Events, ev.Type)
}

// newDelivery builds a pending delivery, leased to this process when
// handOver's dispatcher will take it straight from memory (nil: never).
func newDelivery(ev *events.Event, endpointID string, now time.Time, handOver *Service) *store.Delivery {
	d := &store.Delivery{ID: events.NewID("dlv_"), EndpointID: endpointID, EventID: ev.ID, EventType: ev.Type, TenantID: ev.TenantID,
		State: store.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if s := handOver; s != nil && s.disp.Accepting(endpointID) {
		d.LeaseOwner = s.cfg.Owner
		d.LeasedUntil = now.Add(s.cfg.LeaseDuration)
	}
	return d
}

type metrics struct {
	deliveries      *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	attemptDuration prometheus.Histogram
	latency         prometheus.Histogram
	queueDepth      prometheus.Gauge
	inFlight        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_webhook_deliveries_total",
			Help: "Deliveries that reached a final state, by state (succeeded, failed)."}, []string{"state"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_webhook_attempts_total",
			Help: "Delivery attempts by outcome (success, http_error, network_error, timeout)."}, []string{"outcome"}),
		attemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fieldflow_webhook_attempt_duration_seconds",
			Help: "Time from sending a delivery to its complete response.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}),
		// From the event's publication (its deliveries are made in the
		// same transaction) to the response of the attempt that succeeded:
		// what a receiver waits, retries included, up to a day and more.
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fieldflow_webhook_delivery_latency_seconds",
			Help:    "Time from an event's publication to its successful delivery, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fieldflow_webhook_queue_depth",
			Help: "Deliveries held in memory waiting for a worker."}),
		// No label names an endpoint: metrics are read by operators, and an
		// endpoint id is a tenant's (a series per endpoint would also grow
		// without bound).
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fieldflow_webhook_in_flight",
			Help: "Attempts in flight, all endpoints together."}),
	}
	// Bounded labels start at zero, so that rate() sees the first one.
	for _, st := range []string{"succeeded", "failed"} {
		m.deliveries.WithLabelValues(st)
	}
	for _, o := range []string{"success", "http_error", "network_error", "timeout"} {
		m.attempts.WithLabelValues(o)
	}
	reg.MustRegister(m.deliveries, m.attempts, m.attemptDuration, m.latency, m.queueDepth, m.inFlight)
	return m
}

// rowMetrics tell the operator about endpoint rows that cannot do their
// work, which fan-out sets aside instead of failing the write. They carry
// no labels: endpoint ids belong to tenants, and the log names them.
type rowMetrics struct {
	brokenEndpoints prometheus.Gauge
	filterErrors    prometheus.Counter
}

func newRowMetrics(reg prometheus.Registerer) *rowMetrics {
	m := &rowMetrics{
		brokenEndpoints: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fieldflow_webhook_endpoints_broken",
			Help: "Endpoints left out of fan-out because their filter does not compile or their secret cannot be opened."}),
		filterErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "fieldflow_webhook_filter_errors_total",
			Help: "Endpoint filter evaluations that failed; the event was not delivered to that endpoint."}),
	}
	reg.MustRegister(m.brokenEndpoints, m.filterErrors)
	return m
}

// errorf wraps with the action's name.
func errorf(action string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", action, err)
}
