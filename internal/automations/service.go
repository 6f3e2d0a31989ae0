package automations

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/queue"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Config configures the Service. Zero values mean the documented default.
type Config struct {
	Store store.Store
	// Box seals secrets at rest.
	Box *secretbox.Box
	// Records writes set_field values, with the API's validation.
	Records ValueSaver
	// Executor performs http and webhook steps; its client carries the
	// SSRF guard.
	Executor *Executor
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Dispatch turns the runner on (roles all and worker).
	Dispatch bool
	// Owner names this process in run leases. Defaults to a random id.
	Owner string
	// LeaseDuration is how long a claimed run stays with this process
	// without a heartbeat. Defaults to 30 seconds.
	LeaseDuration time.Duration
	// PollInterval is how often due runs and timers nobody holds are looked
	// for. Defaults to 1 second.
	PollInterval time.Duration
	// ReleaseLeasesOnStart drops every run lease at start: right for a
	// single-process database (SQLite), whose previous process is gone.
	ReleaseLeasesOnStart bool
	// Workers is the number of runs executed at once. Defaults to 128.
	Workers int
	// QueuePerAutomation caps runs held in memory per automation. Defaults
	// to 1024; more wait in the database.
	QueuePerAutomation int
	// InFlightPerAutomation caps one automation's runs executing at once,
	// so a slow target holds up only its own automation. Defaults to 64.
	InFlightPerAutomation int
	// RefreshEvery bounds how late another instance's automation changes
	// are seen. Defaults to 2 seconds.
	RefreshEvery time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics; nil registers none.
	Registry prometheus.Registerer
	// Starter is this service's subscriber, built by NewStarter from the
	// same Config before the services that write events. Nil makes one.
	Starter *Starter
	// Subscribers get the service's own events (automation.run_failed) in
	// the writing transaction: the app's one ordered list, which holds
	// Starter. None means the events are only stored.
	Subscribers []records.Subscriber
}

// withDefaults returns the config with the defaults NewStarter and New
// share set.
func (cfg Config) withDefaults() Config {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.RefreshEvery = cmp.Or(cfg.RefreshEvery, 2*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// ValueSaver writes entity values; *records.Service is one.
type ValueSaver interface {
	SaveValues(ctx context.Context, sc scope.Scope, p *records.SaveValuesParams) (*records.EntityValues, error)
}

// Service manages automations and their settings, starts runs from events
// and time rules, and executes them.
type Service struct {
	cfg     Config
	store   store.Store
	box     *secretbox.Box
	now     func() time.Time
	log     *slog.Logger
	records ValueSaver
	exec    *Executor
	cache   *automationCache
	subs    []records.Subscriber
	vars    *varCache
	runner  *runner
	metrics *metrics
}

// New returns a Service. It connects cfg.Starter to the runner, so that
// runs written from then on are handed over in memory.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	if cfg.Owner == "" {
		cfg.Owner = events.NewID("runner_")
	}
	cfg.LeaseDuration = cmp.Or(cfg.LeaseDuration, queue.DefaultLeaseDuration)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	cfg.Workers = cmp.Or(cfg.Workers, 128)
	cfg.QueuePerAutomation = cmp.Or(cfg.QueuePerAutomation, 1024)
	cfg.InFlightPerAutomation = cmp.Or(cfg.InFlightPerAutomation, 64)
	if cfg.Starter == nil {
		cfg.Starter = NewStarter(cfg)
	}
	s := &Service{cfg: cfg, store: cfg.Store, box: cfg.Box, now: cfg.Now, log: cfg.Logger, records: cfg.Records, exec: cfg.Executor,
		metrics: newMetrics(cfg.Registry), cache: cfg.Starter.cache, subs: cfg.Subscribers}
	s.vars = newVarCache(s, time.Second)
	s.runner = newRunner(s)
	cfg.Starter.runner = s.runner
	return s
}

// Start starts the runner and the timer loop (when Dispatch is set).
func (s *Service) Start(ctx context.Context) error { return s.runner.start(ctx) }

// Stop lets runs in flight finish until ctx ends and releases the rest.
func (s *Service) Stop(ctx context.Context) { s.runner.shutdown(ctx) }

// Wake makes the runner look for due runs nobody holds, or the timer loop
// for due timers, when w says another instance committed some; other kinds
// of work are not its. A process that runs nothing ignores it.
func (s *Service) Wake(w store.Wake) { s.runner.wake(w) }

// Health reports the runner's claim loop and the timer loop of time
// rules, for /readyz; ok is false when this process runs nothing (role
// api).
func (s *Service) Health() (runs, timers queue.Health, ok bool) { return s.runner.health() }
