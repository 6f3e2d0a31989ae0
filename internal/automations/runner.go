package automations

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/cache"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/queue"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/templates"
)

// runner executes runs through the same lease-and-recover queue as webhook
// deliveries (internal/queue), keyed by automation so that one busy
// automation cannot hold up another's runs. It also fires due timers.
type runner struct {
	svc *Service
	q   *queue.Queue[*runJob, *runResult]

	timerWake chan struct{}
	mu        sync.Mutex
	nextTimer time.Time // guarded by mu; the soonest due time known
	// timersRunning and timersPolled are the timer loop's health, read
	// without a lock (see queue.Health).
	timersRunning atomic.Bool
	timersPolled  atomic.Int64 // unix nanoseconds of the last successful look
	stop          context.CancelFunc
	done          chan struct{}
}

func newRunner(s *Service) *runner {
	rn := &runner{svc: s, timerWake: make(chan struct{}, 1)}
	if !s.cfg.Dispatch {
		return rn
	}
	cfg := s.cfg
	rn.q = queue.New(queue.Config[*runJob, *runResult]{
		Workers:              cfg.Workers,
		QueuePerKey:          cfg.QueuePerAutomation,
		LeaseDuration:        cfg.LeaseDuration,
		PollInterval:         cfg.PollInterval,
		ReleaseLeasesOnStart: cfg.ReleaseLeasesOnStart,
		ID:                   func(j *runJob) string { return j.run.ID },
		Key:                  func(j *runJob) string { return j.run.AutomationID },
		Limit:                func(string) int { return cfg.InFlightPerAutomation },
		Claim:                rn.claim,
		Owner:                cfg.Owner,
		Leases:               store.RunLeases{Store: s.store},
		Do:                   s.execute,
		Write:                s.writeResults,
		Now:                  s.now,
		Logger:               cfg.Logger,
		OnDepth: func(n int) {
			s.metrics.queueDepth.Set(float64(n))
		},
	})
	return rn
}

// health reports the run queue's claim loop and the timer loop; ok is
// false when this process runs nothing (role api).
func (rn *runner) health() (runs, timers queue.Health, ok bool) {
	if rn.q == nil {
		return queue.Health{}, queue.Health{}, false
	}
	timers = queue.Health{Running: rn.timersRunning.Load(), LastPoll: time.Unix(0, rn.timersPolled.Load())}
	return rn.q.Health(), timers, true
}

func (rn *runner) accepting(automationID string) bool {
	return rn.q != nil && rn.q.Accepting(automationID)
}

func (rn *runner) enqueue(jobs []*runJob) {
	if rn.q != nil && len(jobs) > 0 {
		rn.q.Enqueue(jobs...)
	}
}

func (rn *runner) poke() {
	if rn.q != nil {
		rn.q.Poke()
	}
}

func (rn *runner) wake(w store.Wake) {
	if rn.q == nil {
		return
	}
	switch {
	case w.Kind == store.WakeTimers:
		rn.wakeTimers(cmp.Or(w.At, time.Now()))
	case w.Kind == store.WakeRuns && w.At.IsZero():
		rn.q.Poke()
	case w.Kind == store.WakeRuns:
		rn.q.WakeAt(w.At)
	}
}

// wakeTimers makes the timer loop look again by the soonest of ts.
func (rn *runner) wakeTimers(ts ...time.Time) {
	if len(ts) == 0 || rn.q == nil {
		return
	}
	soonest := slices.MinFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	rn.mu.Lock()
	sooner := rn.nextTimer.IsZero() || soonest.Before(rn.nextTimer)
	if sooner {
		rn.nextTimer = soonest
	}
	rn.mu.Unlock()
	if sooner {
		select {
		case rn.timerWake <- struct{}{}:
		default:
		}
	}
}

func (rn *runner) start(ctx context.Context) error {
	if rn.q == nil {
		return nil
	}
	if err := rn.q.Start(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rn.stop, rn.done = cancel, make(chan struct{})
	rn.timersPolled.Store(time.Now().UnixNano())
	rn.timersRunning.Store(true)
	go func() { defer close(rn.done); rn.timerLoop(loopCtx) }()
	return nil
}

func (rn *runner) shutdown(ctx context.Context) {
	if rn.q == nil || rn.stop == nil {
		return
	}
	rn.timersRunning.Store(false)
	rn.stop()
	<-rn.done
	rn.q.Stop(ctx)
	rn.stop = nil
}

// timerLoop fires due timers: at the soonest due time it knows of (from
// this process's own writes, or the database), and at least every poll
// interval for timers other instances set.
func (rn *runner) timerLoop(ctx context.Context) {
	s := rn.svc
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rn.timerWake:
		case <-timer.C:
		}
		fired := true
		for {
			n, err := s.fireTimers(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("fire automation timers", "err", err)
				}
				fired = false
				break
			}
			if n < 256 {
				break
			}
		}
		wait := s.cfg.PollInterval
		var next time.Time
		err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			next, err = tx.TimerNextDue(ctx)
			return err
		})
		if err == nil && fired {
			rn.timersPolled.Store(time.Now().UnixNano())
		}
		if err == nil && !next.IsZero() {
			wait = min(wait, time.Until(next))
		}
		rn.mu.Lock()
		if !rn.nextTimer.IsZero() {
			if d := time.Until(rn.nextTimer); d > 0 {
				wait = min(wait, d)
			} else {
				rn.nextTimer = time.Time{}
			}
		}
		rn.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 5*time.Millisecond))
	}
}

// claim leases due runs nobody holds and loads their events' payloads.
func (rn *runner) claim(ctx context.Context, p queue.ClaimParams) ([]*runJob, error) {
	s := rn.svc
	var rs []*store.Run
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		rs, err = tx.RunClaimDue(ctx, &store.RunClaimDueParams{Now: p.Now, Owner: s.cfg.Owner, LeaseUntil: p.LeaseUntil, Limit: p.Limit, ExcludeAutomations: p.FullKeys})
		return err
	})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	var ids []string
	for _, r := range rs {
		if len(r.Trigger) == 0 {
			ids = append(ids, r.EventID)
		}
	}
	payloads, err := s.store.EventPayloads(ctx, ids)
	if err != nil {
		return nil, err
	}
	jobs := make([]*runJob, len(rs))
	for i, r := range rs {
		p := r.Trigger
		if len(p) == 0 {
			p = payloads[r.EventID]
		}
		jobs[i] = &runJob{run: r, payload: p}
	}
	return jobs, nil
}

// writeResults records a batch of run results in one transaction, the runs
// locked in id order (as delivery results are), and returns the retry
// times to wake at.
func (s *Service) writeResults(ctx context.Context, batch []*runResult) []time.Time {
	ordered := slices.Clone(batch)
	slices.SortFunc(ordered, func(a, b *runResult) int { return cmp.Compare(a.job.run.ID, b.job.run.ID) })
	var retryAt []time.Time
	var finals []store.RunState
	var troubled []*runResult // failed, or retrying after a failed step
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		retryAt, finals, troubled = retryAt[:0], finals[:0], troubled[:0]
		var failed []*events.Event
		var steps []*store.RunStep
		states := make([]*store.RunSetStateParams, 0, len(ordered))
		for _, r := range ordered {
			if r.state != nil {
				states = append(states, r.state)
			}
		}
		if len(states) == 0 {
			return nil
		}
		applied, err := tx.RunSetStatesIfLeased(ctx, states)
		if err != nil {
			return err
		}
		for _, r := range ordered {
			if r.state == nil || !applied[r.state.ID] {
				continue // nothing to record, or the lease was lost: another process owns the run now
			}
			steps = append(steps, r.steps...)
			if r.state.State == store.RunFailed || (r.state.State == store.RunPending && r.state.Error != "") {
				troubled = append(troubled, r)
			}
			switch r.state.State {
			case store.RunPending:
				retryAt = append(retryAt, r.state.NextAttemptAt)
			default:
				finals = append(finals, r.state.State)
			}
			if r.state.State == store.RunFailed {
				ev, err := s.runFailedEvent(r)
				if err != nil {
					return err
				}
				failed = append(failed, ev)
			}
		}
		if len(failed) > 0 {
			if err := records.WriteEvents(ctx, tx, s.subs, failed); err != nil {
				return err
			}
		}
		if len(steps) == 0 {
			return nil
		}
		return tx.RunStepInsert(ctx, steps)
	})
	if err != nil {
		// The runs stay leased; when the leases end they are claimed and
		// run again from their step (at least once, never lost).
		s.log.Error("record run results", "err", err, "count", len(batch))
		return nil
	}
	for _, r := range troubled {
		s.logTrouble(r)
	}
	for _, st := range finals {
		s.metrics.runs.WithLabelValues(string(st)).Inc()
	}
	for _, r := range batch {
		for _, st := range r.steps {
			s.metrics.steps.WithLabelValues(st.Type, string(st.State)).Inc()
		}
	}
	return retryAt
}

// logTrouble logs a run that failed (warn) or whose step failed and will
// be retried (info), with the ids an operator looks for. The error is the
// one the run log keeps, with secrets already redacted.
func (s *Service) logTrouble(r *runResult) {
	run, st := r.job.run, r.state
	attrs := []slog.Attr{slog.String("run", run.ID), slog.String("automation", run.AutomationID), slog.String("event", run.EventID),
		slog.String("type", run.EventType), slog.Int("step", st.Step), slog.Int("attempt", st.Attempts), slog.String("err", st.Error)}
	if st.State == store.RunPending {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "automation step failed; the run will be retried",
			append(attrs, slog.Time("next_attempt_at", st.NextAttemptAt))...)
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "automation run failed", attrs...)
}

// runFailedEvent is the operational event of a run that failed for good,
// for webhook endpoints (and automations) that watch automation.*. It
// carries the run in its cause chain, so automations reacting to failures
// cannot loop past the depth limit either.
func (s *Service) runFailedEvent(r *runResult) (*events.Event, error) {
	run := r.job.run
	var chain []events.Cause
	if len(run.Cause) > 0 {
		_ = json.Unmarshal(run.Cause, &chain)
	}
	chain = append(chain, events.Cause{AutomationID: run.AutomationID, RunID: run.ID, EventID: run.EventID})
	ev, err := events.New(events.AutomationRunFailed, run.TenantID, r.state.At,
		events.Member{Key: "automationId", Value: run.AutomationID},
		events.Member{Key: "run", Value: events.Object{{Key: "id", Value: run.ID}, {Key: "eventId", Value: run.EventID},
			{Key: "eventType", Value: run.EventType}, {Key: "step", Value: r.state.Step}, {Key: "error", Value: r.state.Error}}},
		events.CauseMember(chain))
	if err != nil {
		return nil, fmt.Errorf("build automation.run_failed event: %w", err)
	}
	ev.Cause = chain
	return ev, nil
}

// metrics are the runner's; the broken gauge is the Starter's.
type metrics struct {
	runs       *prometheus.CounterVec
	steps      *prometheus.CounterVec
	queueDepth prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_automation_runs_total",
			Help: "Automation runs that reached a final state, by state (succeeded, failed)."}, []string{"state"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_automation_step_attempts_total",
			Help: "Step attempts by action type and outcome (succeeded, failed, retrying, skipped)."}, []string{"type", "state"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "fieldflow_automation_queue_depth",
			Help: "Runs held in memory waiting for a worker."}),
	}
	// Bounded labels start at zero, so that rate() sees the first one.
	for _, st := range []store.RunState{store.RunSucceeded, store.RunFailed} {
		m.runs.WithLabelValues(string(st))
	}
	for _, typ := range []string{ActionWebhook, ActionHTTP, ActionSetField} {
		for _, st := range []store.StepState{store.StepSucceeded, store.StepFailed, store.StepRetrying, store.StepSkipped} {
			m.steps.WithLabelValues(typ, string(st))
		}
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.steps, m.queueDepth)
	}
	return m
}

// runScope is everything a run's templates and conditions read.
type runScope struct {
	templates.Scope
	tenantID string
}

func (sc *runScope) celVars() map[string]any {
	return map[string]any{"event": sc.Event, "entity": sc.Entity, "tenant": sc.Tenant, "steps": sc.Steps}
}

// scope builds a run's scope: the event, the entity's current values, the
// tenant, its variables and secrets, and what earlier steps captured.
func (s *Service) scope(ctx context.Context, ca *rule, j *runJob) (*runScope, error) {
	r := j.run
	sc := &runScope{tenantID: r.TenantID}
	// Numbers decode as json.Number: templates and payloads keep their
	// digits (conditions see doubles).
	ev, err := events.Decode(j.payload)
	if err != nil {
		return nil, fmt.Errorf("decode the event: %w", err)
	}
	if sc.Event, _ = ev.(map[string]any); sc.Event == nil {
		sc.Event = map[string]any{}
	}
	sc.Tenant = map[string]any{"id": r.TenantID}
	sc.Entity = map[string]any{"values": map[string]any{}}
	// The entity is read as it is now, not as the event left it: a run
	// may start long after (retries, timers).
	subj := j.subject
	if subj == nil {
		subj = events.DecodeSubject(j.payload)
	}
	groupID, entityID := subj.FieldGroupID, subj.EntityID
	if groupID == "" && entityID == "" {
		var err error
		if groupID, entityID, err = hostEventEntity(ctx, s.store, sc.Event); err != nil {
			return nil, err
		}
	}
	if groupID != "" && entityID != "" {
		e, err := loadEntity(ctx, s.store, store.EntityKey{TenantID: r.TenantID, FieldGroupID: groupID, EntityID: entityID})
		if err != nil {
			return nil, err
		}
		sc.Entity = e
	}
	vars, secrets, err := s.vars.get(ctx, ca.a.TenantID, r.TenantID)
	if err != nil {
		return nil, err
	}
	sc.Vars, sc.Secrets = vars, secrets
	sc.Steps = map[string]any{}
	if len(r.Steps) > 0 {
		steps, err := events.Decode(r.Steps)
		if err != nil {
			return nil, fmt.Errorf("decode the earlier steps: %w", err)
		}
		if m, ok := steps.(map[string]any); ok {
			sc.Steps = m
		}
	}
	return sc, nil
}

// hostEventEntity names the entity a host-published event is about: its
// data's (or, for a custom-fields product's shape, fields') entityId and
// fieldGroup (a group's key or id; fieldGroupKey and fieldGroupId are read
// too). It is empty when the event names none, or a group that does not
// exist.
func hostEventEntity(ctx context.Context, r store.Reader, payload map[string]any) (groupID, entityID string, err error) {
	for _, part := range []string{"data", "fields"} {
		m, ok := payload[part].(map[string]any)
		if !ok {
			continue
		}
		entityID, _ = m["entityId"].(string)
		var group string
		for _, k := range []string{"fieldGroup", "fieldGroupKey", "fieldGroupId"} {
			if g, ok := m[k].(string); ok && g != "" {
				group = g
				break
			}
		}
		if entityID == "" || group == "" {
			continue
		}
		g, err := r.FieldGroupGet(ctx, group)
		if errors.Is(err, store.ErrNotFound) {
			return "", "", nil
		}
		if err != nil {
			return "", "", fmt.Errorf("find the event's field group: %w", err)
		}
		return g.ID, entityID, nil
	}
	return "", "", nil
}

// varCache keeps, for a second and opened, the variables and secrets each
// kind of run sees: a run reads them all, and thousands of runs a second
// must not each list and decrypt them.
//
// What a run sees is the trust boundary between the vendor and its
// tenants. A tenant-scoped automation is written with a tenant's key, so
// it sees its own tenant's variables and secrets and, of the global ones,
// only the non-secret variables the vendor marked shared: anything more
// would let a tenant post the vendor's secrets to a URL of its choosing. A
// vendor-wide automation is the vendor's own and sees the global values,
// with the event's tenant's own values winning.
//
// A variable or secret edited through this process invalidates it when the
// edit commits, so the next run sees the edit at once; an edit made by
// another process is seen within ttl.
type varCache struct {
	svc     *Service
	entries cache.Map[varScope, *varEntry]

	mu sync.Mutex
	// gen counts invalidations, so that a load that began before an edit
	// committed does not store what it read; guarded by mu.
	gen uint64
}

func newVarCache(svc *Service, ttl time.Duration) *varCache {
	c := &varCache{svc: svc}
	c.entries.TTL = ttl
	return c
}

// invalidate drops every entry: one global variable reaches every scope.
func (c *varCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.entries.Clear()
	c.mu.Unlock()
}

// varScope names what a run sees: the automation's tenant ("" for a
// vendor-wide one) and the event's.
type varScope struct {
	automationTenant, eventTenant string
}

type varEntry struct {
	vars, secrets map[string]string
}

func (c *varCache) get(ctx context.Context, automationTenant, eventTenant string) (map[string]string, map[string]string, error) {
	key := varScope{automationTenant, eventTenant}
	if automationTenant != "" {
		key.eventTenant = automationTenant // a tenant's automation fires only on its own events
	}
	if e, ok := c.entries.Get(key); ok {
		return e.vars, e.secrets, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	e := &varEntry{vars: map[string]string{}, secrets: map[string]string{}}
	globals, err := c.svc.store.VariableList(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	if key.automationTenant != "" {
		shared := globals[:0:0]
		for _, v := range globals {
			if v.Shared && !v.Secret {
				shared = append(shared, v)
			}
		}
		globals = shared
	}
	layers := [][]*store.Variable{globals}
	if key.eventTenant != "" {
		own, err := c.svc.store.VariableList(ctx, key.eventTenant)
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, own) // the tenant's own win
	}
	for _, vs := range layers {
		for _, v := range vs {
			if !v.Secret {
				e.vars[v.Name] = v.Value
				delete(e.secrets, v.Name)
				continue
			}
			val, err := c.svc.box.Open(v.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("open secret %s: %w", v.Name, err)
			}
			e.secrets[v.Name] = val
			delete(e.vars, v.Name)
		}
	}
	c.mu.Lock()
	if c.gen == gen {
		c.entries.Set(key, e)
	}
	c.mu.Unlock()
	return e.vars, e.secrets, nil
}
