// Package retention keeps fieldflow's history bounded and erases tenants.
// Its Service prunes, in small batches each in a transaction of its own,
// the events, deliveries, runs (with their attempts) and idempotency
// records that are older than their retention, per tenant where a tenant
// has its own; and it works through tenant erasures, durable jobs that a
// restart resumes until they are done. One instance at a time does this
// work: every batch takes the store's retention lock (a PostgreSQL advisory
// lock; SQLite has one process), and an instance that does not get it
// leaves the pass to the one that did.
//
// It sits one floor above store and below the features: it writes the
// tenant.erased event through the WriteEvents function it is given, so it
// never imports them.
package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Defaults of Config.
const (
	DefaultHistory     = 30 * 24 * time.Hour
	DefaultIdempotency = 24 * time.Hour
	DefaultInterval    = time.Minute
	DefaultBatchSize   = 500
)

// MaxTenantDays bounds a tenant's own retention: 100 years.
const MaxTenantDays = 36500

// ErrLocked means another instance holds the retention lock: it is pruning
// or erasing now, and this instance leaves the pass to it.
var ErrLocked = errors.New("retention: another instance holds the retention lock")

// Config configures the Service. Durations of history are measured from
// an event's occurrence, and from a delivery's or run's last change.
type Config struct {
	Store store.Store
	// Events is how long events are kept. An event is kept, whatever its
	// age, while a delivery or run of it is. Zero means 30 days; negative
	// keeps them for ever.
	Events time.Duration
	// Deliveries is how long settled deliveries (with their attempts) are
	// kept after their last change; pending ones are never pruned. Zero
	// means 30 days; negative keeps them for ever.
	Deliveries time.Duration
	// Runs is the same for automation runs and their step attempts. Zero
	// means 30 days; negative keeps them for ever.
	Runs time.Duration
	// Idempotency is how long idempotency records are kept. Zero means 24
	// hours; negative keeps them for ever.
	Idempotency time.Duration
	// Interval is the time between passes. Zero means 1 minute.
	Interval time.Duration
	// BatchSize is the most rows one transaction deletes, so that pruning
	// never holds writers up for long. Zero means 500.
	BatchSize int
	// WriteEvents stores events and hands them to the subscribers in the
	// transaction (records.WriteEvents with the app's subscribers). Nil
	// stores them only.
	WriteEvents func(ctx context.Context, tx store.Tx, evs []*events.Event) error
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registry receives the retention metrics; nil registers none.
	Registry prometheus.Registerer
}

func (c Config) withDefaults() Config {
	c.Events = cmp.Or(c.Events, DefaultHistory)
	c.Deliveries = cmp.Or(c.Deliveries, DefaultHistory)
	c.Runs = cmp.Or(c.Runs, DefaultHistory)
	c.Idempotency = cmp.Or(c.Idempotency, DefaultIdempotency)
	c.Interval = cmp.Or(c.Interval, DefaultInterval)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	if c.WriteEvents == nil {
		c.WriteEvents = func(ctx context.Context, tx store.Tx, evs []*events.Event) error { return tx.EventInsert(ctx, evs) }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Service prunes history and erases tenants.
type Service struct {
	cfg     Config
	metrics *metrics
	wake    chan struct{}

	mu      sync.Mutex
	cancel  context.CancelFunc // guarded by mu; nil while stopped
	stopped chan struct{}      // guarded by mu
}

// New returns a stopped Service.
func New(cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{cfg: cfg, metrics: newMetrics(cfg.Registry), wake: make(chan struct{}, 1)}
}

// Start runs a pass now and then every Interval (or on Wake) in the
// background, until Stop.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.stopped = cancel, make(chan struct{})
	go s.loop(ctx, s.stopped)
	return nil
}

// Stop ends the background passes, waiting for the batch in flight (every
// batch is its own transaction, so nothing is left half-done). It
// tolerates a second call.
func (s *Service) Stop() {
	s.mu.Lock()
	cancel, stopped := s.cancel, s.stopped
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-stopped
}

// Wake asks for a pass now, as after an erasure request.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) loop(ctx context.Context, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		if _, err := s.RunOnce(ctx); err != nil && !errors.Is(err, ErrLocked) && ctx.Err() == nil {
			s.cfg.Logger.Error("retention pass", "err", err)
		}
		t.Reset(s.cfg.Interval)
	}
}

// Report says what one pass did.
type Report struct {
	// Pruned counts the rows pruned, by kind.
	Pruned map[store.PruneKind]int
	// Erased lists the tenants whose erasure finished.
	Erased []string
}

// RunOnce runs one pass: pending erasures first, then pruning. It returns
// ErrLocked, having done nothing more, when another instance holds the
// lock.
func (s *Service) RunOnce(ctx context.Context) (*Report, error) {
	r := &Report{Pruned: map[store.PruneKind]int{}}
	if err := s.eraseAll(ctx, r); err != nil {
		return r, err
	}
	err := s.prune(ctx, r)
	total := 0
	for _, n := range r.Pruned {
		total += n
	}
	if total > 0 {
		// Freed pages go back a bounded amount at a time; a pass that
		// pruned much hands back several rounds.
		for range min(1+total/s.cfg.BatchSize, maxReclaimRounds) {
			if rerr := s.cfg.Store.Reclaim(ctx); rerr != nil {
				err = errors.Join(err, rerr)
				break
			}
		}
		s.cfg.Logger.Info("retention pruned history", "events", r.Pruned[store.PruneEvents], "deliveries", r.Pruned[store.PruneDeliveries],
			"runs", r.Pruned[store.PruneRuns], "idempotency", r.Pruned[store.PruneIdempotency], "endpoints", r.Pruned[store.PruneEndpoints])
	}
	return r, err
}

// maxReclaimRounds bounds the Reclaim calls of one pass.
const maxReclaimRounds = 16

// batch runs fn in a transaction under the retention lock.
func (s *Service) batch(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	return s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ok, err := tx.RetentionLock(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return ErrLocked
		}
		return fn(ctx, tx)
	})
}

// pruneStep is one kind of pruning for one cutoff.
type pruneStep struct {
	kind   store.PruneKind
	keep   time.Duration
	tenant *string
}

func (s *Service) prune(ctx context.Context, r *Report) error {
	overrides, err := s.cfg.Store.TenantRetentionList(ctx)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	// Deliveries and runs before events: an event goes only once nothing
	// points at it.
	steps := []pruneStep{{store.PruneDeliveries, s.cfg.Deliveries, nil}, {store.PruneRuns, s.cfg.Runs, nil}}
	for _, o := range overrides {
		keep := time.Duration(o.Days) * 24 * time.Hour
		steps = append(steps, pruneStep{store.PruneDeliveries, keep, &o.TenantID}, pruneStep{store.PruneRuns, keep, &o.TenantID})
	}
	steps = append(steps, pruneStep{store.PruneEvents, s.cfg.Events, nil})
	for _, o := range overrides {
		steps = append(steps, pruneStep{store.PruneEvents, time.Duration(o.Days) * 24 * time.Hour, &o.TenantID})
	}
	// A tombstone goes once its deliveries have, at the earliest when they
	// would have.
	steps = append(steps, pruneStep{store.PruneEndpoints, s.cfg.Deliveries, nil}, pruneStep{store.PruneIdempotency, s.cfg.Idempotency, nil})
	now := s.cfg.Now()
	for _, st := range steps {
		if st.keep < 0 {
			continue
		}
		p := &store.PruneParams{Kind: st.kind, Before: now.Add(-st.keep), TenantID: st.tenant, Limit: s.cfg.BatchSize}
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var n int
			err := s.batch(ctx, func(ctx context.Context, tx store.Tx) (err error) {
				n, err = tx.Prune(ctx, p)
				return err
			})
			if err != nil {
				return fmt.Errorf("prune %s: %w", st.kind, err)
			}
			r.Pruned[st.kind] += n
			s.metrics.pruned.WithLabelValues(string(st.kind)).Add(float64(n))
			if n < p.Limit {
				break
			}
		}
	}
	return nil
}

// ---- tenant erasure

// RequestErasure starts erasing a tenant's data and returns the erasure,
// pending; the tenant's API keys are revoked at once. Asking again while
// one is pending returns that one. The work goes on in the background
// (Wake), in batches, and survives restarts: a pending erasure is resumed
// by the next pass of any instance. Admin scope only.
func (s *Service) RequestErasure(ctx context.Context, sc scope.Scope, tenantID string) (*store.TenantErasure, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, err
	}
	var e *store.TenantErasure
	err := s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
		e, err = tx.TenantErasureStart(ctx, &store.TenantErasure{TenantID: tenantID, RequestedAt: events.StoredTime(s.cfg.Now())})
		tx.AfterCommit(s.Wake)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("request tenant erasure: %w", err)
	}
	return e, nil
}

// Erasure returns the latest erasure of a tenant; store.ErrNotFound if
// none was asked for. Admin scope only.
func (s *Service) Erasure(ctx context.Context, sc scope.Scope, tenantID string) (*store.TenantErasure, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, err
	}
	e, err := s.cfg.Store.TenantErasureGet(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("get tenant erasure: %w", err)
	}
	return e, nil
}

// maxErasuresPerPass bounds the erasures one pass takes on; the rest wait
// for the next.
const maxErasuresPerPass = 10

func (s *Service) eraseAll(ctx context.Context, r *Report) error {
	pending, err := s.cfg.Store.TenantErasureListPending(ctx, maxErasuresPerPass)
	if err != nil {
		return fmt.Errorf("erase tenants: %w", err)
	}
	for _, e := range pending {
		if err := s.erase(ctx, e); err != nil {
			return fmt.Errorf("erase tenant %s: %w", e.TenantID, err)
		}
		r.Erased = append(r.Erased, e.TenantID)
	}
	return nil
}

// erase deletes one tenant's data a batch at a time, each batch committed
// with the count of what it removed, so a crash loses at most one batch's
// work and the next pass carries on. The batch that finds nothing left
// marks the erasure done and writes tenant.erased, in one transaction.
func (s *Service) erase(ctx context.Context, e *store.TenantErasure) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		var n int
		err := s.batch(ctx, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.TenantEraseBatch(ctx, e.TenantID, s.cfg.BatchSize)
			if err != nil {
				return err
			}
			if n > 0 {
				return tx.TenantErasureProgress(ctx, e.TenantID, n)
			}
			now := events.StoredTime(s.cfg.Now())
			cur, err := tx.TenantErasureGet(ctx, e.TenantID)
			if err != nil {
				return err
			}
			ev, err := events.New(events.TenantErased, "", now,
				events.Member{Key: "erasedTenantId", Value: e.TenantID},
				events.Member{Key: "requestedAt", Value: events.FormatTime(cur.RequestedAt)},
				events.Member{Key: "rowsRemoved", Value: cur.Removed})
			if err != nil {
				return err
			}
			if err := s.cfg.WriteEvents(ctx, tx, []*events.Event{ev}); err != nil {
				return err
			}
			done = true
			return tx.TenantErasureFinish(ctx, &store.TenantErasureFinishParams{TenantID: e.TenantID, EventID: ev.ID, At: now})
		})
		if err != nil {
			return err
		}
		s.metrics.erased.Add(float64(n))
		if done {
			s.metrics.erasures.Inc()
			s.cfg.Logger.Info("tenant erased", "tenant", e.TenantID)
			return nil
		}
	}
}

// ---- per-tenant retention

// TenantRetention returns a tenant's own history retention;
// store.ErrNotFound when the defaults apply. Admin scope only.
func (s *Service) TenantRetention(ctx context.Context, sc scope.Scope, tenantID string) (*store.TenantRetention, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, err
	}
	r, err := s.cfg.Store.TenantRetentionGet(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("get tenant retention: %w", err)
	}
	return r, nil
}

// SetTenantRetention keeps a tenant's events, deliveries and runs for days
// (1 to MaxTenantDays) instead of the defaults. Admin scope only.
func (s *Service) SetTenantRetention(ctx context.Context, sc scope.Scope, tenantID string, days int) (*store.TenantRetention, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, err
	}
	if days < 1 || days > MaxTenantDays {
		return nil, fmt.Errorf("set tenant retention: days %d: must be 1 to %d", days, MaxTenantDays)
	}
	r := &store.TenantRetention{TenantID: tenantID, Days: days, UpdatedAt: events.StoredTime(s.cfg.Now())}
	if err := s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TenantRetentionPut(ctx, r) }); err != nil {
		return nil, fmt.Errorf("set tenant retention: %w", err)
	}
	return r, nil
}

// ResetTenantRetention makes the defaults apply to a tenant again. Admin
// scope only.
func (s *Service) ResetTenantRetention(ctx context.Context, sc scope.Scope, tenantID string) error {
	if err := sc.CheckAdmin(); err != nil {
		return err
	}
	if err := s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TenantRetentionDelete(ctx, tenantID) }); err != nil {
		return fmt.Errorf("reset tenant retention: %w", err)
	}
	return nil
}

// Defaults are the configured retentions, negative meaning for ever.
type Defaults struct {
	Events, Deliveries, Runs, Idempotency time.Duration
}

// Defaults returns the retentions in force where a tenant has none of its
// own.
func (s *Service) Defaults() Defaults {
	return Defaults{Events: s.cfg.Events, Deliveries: s.cfg.Deliveries, Runs: s.cfg.Runs, Idempotency: s.cfg.Idempotency}
}

// ---- metrics

type metrics struct {
	pruned   *prometheus.CounterVec
	erased   prometheus.Counter
	erasures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_retention_pruned_rows_total",
			Help: "Rows retention deleted, by kind (deliveries, runs, events, idempotency, endpoints); attempts and step attempts go with theirs."}, []string{"kind"}),
		erased: prometheus.NewCounter(prometheus.CounterOpts{Name: "fieldflow_tenant_erased_rows_total",
			Help: "Rows deleted by tenant erasures."}),
		erasures: prometheus.NewCounter(prometheus.CounterOpts{Name: "fieldflow_tenant_erasures_total",
			Help: "Tenant erasures finished."}),
	}
	if reg != nil {
		reg.MustRegister(m.pruned, m.erased, m.erasures)
	}
	return m
}
