package webhooks

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// disableAfter is how long an endpoint may fail everything before it is
// disabled.
const disableAfter = 5 * 24 * time.Hour

// deliveryTaskV1 is a delivery held in memory: handed over right after the
// commit that created it, or claimed from the database.
type deliveryTaskV1 struct {
	d       *store.Delivery
	payload []byte
}

// result is the outcome of one attempt, waiting to be written.
type result struct {
	task    *deliveryTaskV1
	attempt *store.Attempt // nil when nothing was sent
	state   *store.DeliverySetStateParams
	// disable, when set, disables the endpoint with this reason.
	disable string
	success bool
	// done, when set, is closed once the result is written.
	done chan error
}

// dispatcher sends deliveries. Each endpoint has its own queue and
// in-flight limit, and workers take from the endpoints round-robin, so a
// slow or dead endpoint occupies at most its own limit of workers and
// never delays another endpoint's deliveries.
type dispatcher struct {
	svc *Service

	mu       sync.Mutex
	cond     *sync.Cond
	queues   map[string][]*deliveryTaskV1 // guarded by mu
	inFlight map[string]int               // guarded by mu
	ring     []string                     // endpoints with queued work; guarded by mu
	rr       int                          // guarded by mu
	held     map[string]bool              // deliveries in memory; guarded by mu
	queued   int                          // guarded by mu
	stopping bool                         // guarded by mu
	wakes    wakeHeap                     // retry times coming due, soonest first; guarded by mu

	wake        chan struct{}
	results     chan *result
	attemptCtx  context.Context
	stopAttempt context.CancelFunc
	loops       sync.WaitGroup
	workers     sync.WaitGroup
	writerDone  chan struct{}
	stopLoops   context.CancelFunc
	started     bool
}

func newDispatcher(svc *Service) *dispatcher {
	d := &dispatcher{
		svc:      svc,
		queues:   map[string][]*deliveryTaskV1{},
		inFlight: map[string]int{},
		held:     map[string]bool{},
		wake:     make(chan struct{}, 1),
		results:  make(chan *result, 4096),
	}
	d.cond = sync.NewCond(&d.mu)
	return d
}

func (d *dispatcher) start(ctx context.Context) error {
	cfg := d.svc.cfg
	if cfg.ReleaseLeasesOnStart {
		if err := d.svc.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.DeliveryReleaseLeases(ctx, "")
		}); err != nil {
			return fmt.Errorf("release old leases: %w", err)
		}
	}
	d.attemptCtx, d.stopAttempt = context.WithCancel(context.WithoutCancel(ctx))
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.writerDone = make(chan struct{})
	// Several writers, because on PostgreSQL each result costs round trips
	// and one writer falls behind the attempts; unwritten results are what
	// a crash turns into duplicate deliveries.
	var writers sync.WaitGroup
	for range resultWriters {
		writers.Go(d.writeLoop)
	}
	go func() { writers.Wait(); close(d.writerDone) }()
	for range cfg.Workers {
		d.workers.Add(1)
		go func() { defer d.workers.Done(); d.workLoop() }()
	}
	d.loops.Add(2)
	go func() { defer d.loops.Done(); d.claimLoop(loopCtx) }()
	go func() { defer d.loops.Done(); d.heartbeatLoop(loopCtx) }()
	d.stopLoops = cancel
	d.started = true
	d.poke()
	return nil
}

// stop lets attempts in flight finish until ctx ends, writes their results,
// and releases the leases of deliveries still queued so another instance
// can take them at once.
func (d *dispatcher) stop(ctx context.Context) {
	if !d.started {
		return
	}
	d.started = false
	d.stopLoops()
	d.loops.Wait()
	d.mu.Lock()
	d.stopping = true
	d.cond.Broadcast()
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.stopAttempt()
		<-done
	}
	close(d.results)
	<-d.writerDone
	d.stopAttempt()
	_ = d.svc.store.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		return tx.DeliveryReleaseLeases(ctx, d.svc.cfg.Owner)
	})
}

// accepting reports whether an endpoint's queue has room for a hand-over.
func (d *dispatcher) accepting(endpointID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.stopping && len(d.queues[endpointID]) < d.svc.cfg.QueuePerEndpoint
}

func (d *dispatcher) enqueue(tasks []*deliveryTaskV1) {
	if len(tasks) == 0 {
		return
	}
	d.mu.Lock()
	for _, t := range tasks {
		if d.held[t.d.ID] {
			continue
		}
		d.held[t.d.ID] = true
		q := d.queues[t.d.EndpointID]
		if len(q) == 0 {
			d.ring = append(d.ring, t.d.EndpointID)
		}
		d.queues[t.d.EndpointID] = append(q, t)
		d.queued++
	}
	d.svc.metrics.queueDepth.Set(float64(d.queued))
	d.cond.Broadcast()
	d.mu.Unlock()
}

// next blocks until some endpoint below its in-flight limit has queued
// work, and takes the oldest task of the next such endpoint in turn.
func (d *dispatcher) next() *deliveryTaskV1 {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.stopping {
		if t := d.pickLocked(); t != nil {
			return t
		}
		d.cond.Wait()
	}
	return nil
}

func (d *dispatcher) pickLocked() *deliveryTaskV1 {
	for i := 0; i < len(d.ring); i++ {
		idx := (d.rr + i) % len(d.ring)
		id := d.ring[idx]
		if d.inFlight[id] >= d.limit(id) {
			continue
		}
		q := d.queues[id]
		t := q[0]
		q[0] = nil
		q = q[1:]
		if len(q) == 0 {
			delete(d.queues, id)
			d.ring = append(d.ring[:idx], d.ring[idx+1:]...)
			d.rr = idx
		} else {
			d.queues[id] = q
			d.rr = idx + 1
		}
		if len(d.ring) > 0 {
			d.rr %= len(d.ring)
		} else {
			d.rr = 0
		}
		d.inFlight[id]++
		d.queued--
		d.svc.metrics.queueDepth.Set(float64(d.queued))
		d.svc.metrics.inFlight.WithLabelValues(id).Set(float64(d.inFlight[id]))
		return t
	}
	return nil
}

// limit is an endpoint's in-flight limit. It runs under d.mu, so it reads
// the cache as it is and never reloads it from the database.
func (d *dispatcher) limit(endpointID string) int {
	if conf, ok := d.svc.cache.peek(endpointID); ok && conf.ep.MaxInFlight > 0 {
		return conf.ep.MaxInFlight
	}
	return 1
}

func (d *dispatcher) finished(t *deliveryTaskV1) {
	d.mu.Lock()
	id := t.d.EndpointID
	d.inFlight[id]--
	d.svc.metrics.inFlight.WithLabelValues(id).Set(float64(d.inFlight[id]))
	if d.inFlight[id] <= 0 {
		delete(d.inFlight, id)
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

func (d *dispatcher) release(ids ...string) {
	d.mu.Lock()
	for _, id := range ids {
		delete(d.held, id)
	}
	d.mu.Unlock()
}

func (d *dispatcher) workLoop() {
	for {
		t := d.next()
		if t == nil {
			return
		}
		res := d.svc.attempt(d.attemptCtx, t)
		d.finished(t)
		if res == nil { // cut short by shutdown: the lease is released on stop
			d.release(t.d.ID)
			continue
		}
		d.results <- res
	}
}

// poke wakes the claimer.
func (d *dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// maxWakes bounds the retry times kept in memory. Beyond it only a time
// sooner than all kept ones is added; the others are found by the poll.
const maxWakes = 4096

// wakeHeap is a min-heap of times.
type wakeHeap []time.Time

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *wakeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// wakeAt makes the claimer look again at each of ts (retries coming due).
// Every time is kept until a claim that began at or after it: keeping only
// the soonest one lost the others, and a poke arriving while the claimer
// was busy used to clear the pending wake, leaving a retry to the poll.
func (d *dispatcher) wakeAt(ts ...time.Time) {
	d.mu.Lock()
	sooner := false
	for _, t := range ts {
		first := len(d.wakes) == 0 || t.Before(d.wakes[0])
		if len(d.wakes) >= maxWakes && !first {
			continue
		}
		sooner = sooner || first
		heap.Push(&d.wakes, t)
	}
	d.mu.Unlock()
	if sooner {
		d.poke()
	}
}

// claimLoop is the recovery path and the retry clock: it claims due
// deliveries that nobody holds, whether they were left by a stopped or
// crashed process or are retries coming due.
func (d *dispatcher) claimLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		// Retries due by now are all claimable by the claims below.
		claimStart := d.svc.now()
		for {
			n, err := d.claim(ctx)
			if err != nil {
				if ctx.Err() == nil {
					d.svc.log.Error("claim deliveries", "err", err)
				}
				break
			}
			if n < claimBatch {
				break
			}
		}
		now := d.svc.now()
		wait := d.svc.cfg.PollInterval
		d.mu.Lock()
		for len(d.wakes) > 0 && !d.wakes[0].After(claimStart) {
			heap.Pop(&d.wakes)
		}
		if len(d.wakes) > 0 {
			wait = min(wait, d.wakes[0].Sub(now))
		}
		d.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 5*time.Millisecond))
	}
}

const claimBatch = 256

func (d *dispatcher) claim(ctx context.Context) (int, error) {
	d.mu.Lock()
	var full []string
	for id, q := range d.queues {
		if len(q) >= d.svc.cfg.QueuePerEndpoint {
			full = append(full, id)
		}
	}
	d.mu.Unlock()
	now := d.svc.now()
	var ds []*store.Delivery
	err := d.svc.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		ds, err = tx.DeliveryClaimDue(ctx, &store.DeliveryClaimDueParams{Now: now, Owner: d.svc.cfg.Owner,
			LeaseUntil: now.Add(d.svc.cfg.LeaseDuration), Limit: claimBatch, ExcludeEndpoints: full})
		return err
	})
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	ids := make([]string, len(ds))
	for i, dl := range ds {
		ids[i] = dl.EventID
	}
	payloads, err := d.svc.store.EventPayloads(ctx, ids)
	if err != nil {
		return 0, err
	}
	tasks := make([]*deliveryTaskV1, 0, len(ds))
	for _, dl := range ds {
		tasks = append(tasks, &deliveryTaskV1{d: dl, payload: payloads[dl.EventID]})
	}
	d.enqueue(tasks)
	return len(ds), nil
}

// heartbeatLoop extends the leases of deliveries held in memory, so a
// long queue behind a slow endpoint is not taken over by another claimer.
func (d *dispatcher) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(d.svc.cfg.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		ids := make([]string, 0, len(d.held))
		for id := range d.held {
			ids = append(ids, id)
		}
		d.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		until := d.svc.now().Add(d.svc.cfg.LeaseDuration)
		if err := d.svc.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.DeliveryExtendLeases(ctx, d.svc.cfg.Owner, ids, until)
		}); err != nil && ctx.Err() == nil {
			d.svc.log.Error("extend delivery leases", "err", err)
		}
	}
}

// resultWriters is the number of goroutines writing attempt results.
const resultWriters = 4

// writeLoop writes attempt results in batches: one transaction for
// whatever has arrived while the previous one committed.
func (d *dispatcher) writeLoop() {
	batch := make([]*result, 0, 256)
	for r := range d.results {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-d.results:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		d.svc.writeResults(context.Background(), batch)
	}
}

// attempt sends one delivery and judges the outcome. It returns nil when
// the attempt was cut short by shutdown.
func (s *Service) attempt(ctx context.Context, t *deliveryTaskV1) *result {
	now := s.now()
	conf, ok := s.cache.get(ctx, s.store, t.d.EndpointID)
	if !ok {
		// The endpoint was deleted; its deliveries went with it.
		return &result{task: t}
	}
	attempts := t.d.Attempts + 1
	if !conf.ep.Active {
		return &result{task: t, state: store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, t.d.Attempts, 0, "endpoint is disabled", now)}
	}
	req, headers, err := s.buildRequest(conf, t, now)
	if err != nil {
		return &result{task: t, state: store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, t.d.Attempts, 0, err.Error(), now)}
	}
	start := time.Now()
	resp, sendErr := Send(ctx, s.client, req, conf.timeout)
	elapsed := time.Since(start)
	if sendErr != nil && ctx.Err() != nil {
		return nil
	}
	a := &store.Attempt{DeliveryID: t.d.ID, Attempt: attempts, StartedAt: now, DurationMS: elapsed.Milliseconds(), RequestHeaders: headers}
	status := 0
	var retryAfter time.Duration
	if resp != nil {
		status, a.ResponseStatus, a.ResponseHeaders, a.ResponseBody = resp.Status, resp.Status, resp.Headers, resp.Body
		if resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable {
			retryAfter = resp.RetryAfter
		}
	}
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	outcome := "success"
	switch {
	case sendErr != nil && errors.Is(sendErr, errTimeout):
		outcome = "timeout"
	case sendErr != nil:
		outcome = "network_error"
	case status < 200 || status > 299:
		outcome = "http_error"
		a.Error = "HTTP " + strconv.Itoa(status)
	}
	s.metrics.attempts.WithLabelValues(outcome).Inc()
	s.metrics.attemptDuration.Observe(elapsed.Seconds())
	s.log.Debug("attempt", "delivery", t.d.ID, "endpoint", conf.ep.ID, "attempt", attempts, "status", status, "outcome", outcome, "ms", elapsed.Milliseconds())

	r := &result{task: t, attempt: a}
	switch {
	case outcome == "success":
		r.success = true
		r.state = store.DeliverySucceededAt(t.d.ID, s.cfg.Owner, attempts, status, now)
	case status == http.StatusGone:
		r.disable = "the endpoint answered 410 Gone"
		r.state = store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, attempts, status, "410 Gone: endpoint disabled", now)
	default:
		// The wait runs from the end of this attempt, as Retry-After
		// does: from its start, a timeout as long as the wait would
		// leave no pause at all before the retry.
		if next, ok := NextAttemptAt(s.now(), conf.schedule, attempts, retryAfter, rand.Float64()); ok {
			r.state = store.DeliveryRetryAt(t.d.ID, s.cfg.Owner, attempts, status, a.Error, next, now)
		} else {
			r.state = store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, attempts, status, a.Error, now)
		}
	}
	return r
}

var errTimeout = errors.New("timeout: no complete response within the endpoint's timeout")

func (s *Service) buildRequest(conf *endpointConf, t *deliveryTaskV1, now time.Time) (*http.Request, map[string]string, error) {
	req, err := http.NewRequest(http.MethodPost, conf.ep.URL, bytes.NewReader(t.payload))
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	sigs, err := Sign(conf.signingSecrets(now), t.d.EventID, now.Unix(), t.payload)
	if err != nil {
		return nil, nil, err
	}
	headers := make(map[string]string, 10+len(conf.ep.Headers))
	for k, v := range conf.ep.Headers {
		headers[k] = v
	}
	headers["Content-Type"] = "application/json"
	headers["User-Agent"] = "fieldflow/" + s.cfg.Version
	headers["X-Fieldflow-Event"] = t.d.EventType
	headers["X-Fieldflow-Delivery"] = t.d.ID
	headers[conf.ep.SignatureHeader] = sigs.Hex
	headers["webhook-id"] = t.d.EventID
	headers["webhook-timestamp"] = strconv.FormatInt(now.Unix(), 10)
	headers["webhook-signature"] = sigs.Standard
	for k, v := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	// Standard Webhooks names its headers in lower case; keep them so.
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		delete(req.Header, http.CanonicalHeaderKey(k))
		req.Header[k] = []string{headers[k]}
	}
	// The attempt log keeps the headers sent, without the signatures.
	logged := make(map[string]string, len(headers))
	for k, v := range headers {
		logged[k] = v
	}
	logged[conf.ep.SignatureHeader] = "(redacted)"
	logged["webhook-signature"] = "(redacted)"
	return req, logged, nil
}

// writeResults records a batch of attempt results in one transaction:
// the attempt rows, the guarded state changes, and endpoint health
// (failing since, disabled) with its webhook.disabled events.
func (s *Service) writeResults(ctx context.Context, batch []*result) {
	now := s.now()
	var retryAt []time.Time
	disabled := false
	// Rows are locked in id order, deliveries then endpoints, by every
	// writer and by the lease heartbeat: several writers locking the same
	// rows in different orders deadlock on PostgreSQL, and a rolled-back
	// batch is sent again.
	ordered := slices.Clone(batch)
	slices.SortFunc(ordered, func(a, b *result) int {
		if a.state == nil || b.state == nil {
			return cmp.Compare(boolInt(a.state != nil), boolInt(b.state != nil))
		}
		return strings.Compare(a.state.ID, b.state.ID)
	})
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		retryAt = retryAt[:0]
		health := map[string]*result{} // last result per endpoint
		for _, r := range ordered {
			if r.state == nil {
				continue
			}
			applied, err := tx.DeliverySetStateIfLeased(ctx, r.state)
			if err != nil {
				return err
			}
			if !applied {
				continue // the lease was lost: someone else owns it now
			}
			if r.attempt != nil {
				if err := tx.AttemptInsert(ctx, r.attempt); err != nil {
					return err
				}
				health[r.task.d.EndpointID] = r
			}
			if r.state.State == store.DeliveryPending {
				retryAt = append(retryAt, r.state.NextAttemptAt)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(health)) {
			changed, err := s.updateHealth(ctx, tx, id, health[id], now)
			if err != nil {
				return err
			}
			disabled = disabled || changed
		}
		return nil
	})
	for _, r := range batch {
		if r.task != nil {
			s.disp.release(r.task.d.ID)
		}
		if err == nil && r.state != nil {
			switch r.state.State {
			case store.DeliverySucceeded, store.DeliveryFailed:
				s.metrics.deliveries.WithLabelValues(r.state.State).Inc()
			}
		}
		if r.done != nil {
			r.done <- err
		}
	}
	if err != nil {
		// The deliveries stay leased; when the lease ends they are claimed
		// and sent again (at least once, never lost).
		s.log.Error("record attempt results", "err", err, "count", len(batch))
		return
	}
	if disabled {
		s.cache.invalidate()
	}
	if len(retryAt) > 0 {
		s.disp.wakeAt(retryAt...)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// updateHealth tracks how long an endpoint has failed and disables it on
// 410 Gone or after five days of failing everything.
func (s *Service) updateHealth(ctx context.Context, tx store.Tx, endpointID string, r *result, now time.Time) (bool, error) {
	conf, ok := s.cache.get(ctx, tx, endpointID)
	if !ok {
		return false, nil
	}
	cached := conf.ep
	needs := r.disable != "" ||
		(r.success && !cached.FailingSince.IsZero()) ||
		(!r.success && (cached.FailingSince.IsZero() || now.Sub(cached.FailingSince) >= disableAfter))
	if !needs {
		return false, nil
	}
	ep, err := tx.EndpointGet(ctx, endpointID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	reason := r.disable
	switch {
	case r.success:
		ep.FailingSince = time.Time{}
	case ep.FailingSince.IsZero():
		ep.FailingSince = now
	case now.Sub(ep.FailingSince) >= disableAfter && reason == "":
		reason = "every delivery failed for 5 days"
	}
	if reason != "" && ep.Active {
		ep.Active = false
		ep.DisabledReason = reason
		ev, err := events.New(events.WebhookDisabled, ep.TenantID, now,
			events.Member{Key: "webhook", Value: events.Object{{Key: "id", Value: ep.ID}, {Key: "url", Value: ep.URL}}},
			events.Member{Key: "reason", Value: reason})
		if err != nil {
			return false, err
		}
		if err := s.emit(ctx, tx, []*events.Event{ev}); err != nil {
			return false, err
		}
		s.log.Warn("webhook endpoint disabled", "endpoint", ep.ID, "reason", reason)
	}
	ep.UpdatedAt = now
	if err := tx.EndpointUpdate(ctx, ep); err != nil {
		return false, err
	}
	tx.AfterCommit(s.cache.invalidate)
	return true, nil
}
