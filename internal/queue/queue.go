// Package queue runs leased jobs: jobs kept in a database, each leased to
// one process at a time and worked on by that process from memory.
//
// A job reaches a queue in one of two ways. The fast path is a hand-over:
// the transaction that creates a job leases it to this process when
// Accepting says there is room, and Enqueue gives it to the queue right
// after that transaction commits. The recovery path is the claimer, which
// claims due jobs that nobody holds: jobs left by a stopped or crashed
// process, jobs created without a hand-over, and retries coming due. The
// claimer runs when poked, at the retry times it is told of, and at least
// every poll interval.
//
// Jobs are grouped by key (a webhook endpoint, say). Each key has its own
// in-memory queue and in-flight limit, and workers take from the keys
// round-robin, so a slow key occupies at most its own limit of workers and
// never delays another key's jobs. While a job is held in memory a
// heartbeat keeps its lease; a job's results are written in batches by a
// few writers, after which the job leaves memory.
//
// The queue knows nothing of what a job is: the caller supplies how jobs
// are claimed, how their leases are extended and released, what doing one
// means, and how results are recorded.
package queue

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClaimParams says which jobs a Claim should lease.
type ClaimParams struct {
	// Now is the time the jobs must be due by.
	Now time.Time
	// LeaseUntil is when the leases taken run out unless extended.
	LeaseUntil time.Time
	// Limit is the most jobs to claim.
	Limit int
	// FullKeys are keys whose queue in memory is full: claim none of
	// theirs, they would only wait here under a lease.
	FullKeys []string
}

// DefaultLeaseDuration is the lease of a Config whose LeaseDuration is zero,
// and the default of every lease built on the queue: long enough that a
// process under load keeps its heartbeats (every third of it) in time, short
// enough that a crashed process's jobs are taken over within a minute.
const DefaultLeaseDuration = 30 * time.Second

// Config configures a Queue. J is a job, R the result of doing one.
type Config[J, R any] struct {
	// Workers is the number of jobs done at once across all keys.
	// Defaults to 256.
	Workers int
	// QueuePerKey caps the jobs held in memory per key; the rest wait in
	// the database. Defaults to 2048.
	QueuePerKey int
	// Writers is the number of goroutines writing results. Defaults to 4:
	// on PostgreSQL each batch costs round trips and one writer falls
	// behind the workers, and unwritten results are what a crash turns
	// into jobs done twice.
	Writers int
	// ClaimBatch is the most jobs one Claim takes; the claimer claims
	// again at once after a full batch. Defaults to 256.
	ClaimBatch int
	// LeaseDuration is how long a claimed job stays with this process
	// without a heartbeat; the heartbeat runs every third of it. Defaults
	// to DefaultLeaseDuration.
	LeaseDuration time.Duration
	// PollInterval is how often the database is checked for due jobs
	// nobody holds when nothing pokes the claimer. Defaults to 1 second.
	PollInterval time.Duration
	// ReleaseLeasesOnStart makes Start release every lease first (Leases'
	// ReleaseLeases with no owner):
	// right for a single-process database (SQLite), whose previous
	// process is gone.
	ReleaseLeasesOnStart bool

	// ID is a job's id, unique among jobs.
	ID func(J) string
	// Key is a job's key, the unit of fairness and in-flight limits.
	Key func(J) string
	// Limit is a key's in-flight limit; below 1 counts as 1. It is called
	// under the queue's lock, so it must be quick and must not block (no
	// database). Nil means no limit per key.
	Limit func(key string) int
	// Claim leases due jobs nobody holds (see ClaimParams), in its own
	// transaction, and returns them in the order they should be done. On
	// error the jobs it returns are ignored; any it had leased come back
	// when their leases run out.
	Claim func(ctx context.Context, p ClaimParams) ([]J, error)
	// Owner names this process in the leases it holds.
	Owner string
	// Leases extends and releases the leases Owner holds.
	Leases Leases
	// Do does one job. It returns false when ctx ended it early
	// (shutdown): such a job gets no result, and its lease is released by
	// Stop.
	Do func(ctx context.Context, j J) (R, bool)
	// Write records a batch of results, in one transaction if it can. It
	// returns the times at which jobs it rescheduled come due, so the
	// claimer wakes for them. The batch's jobs leave memory after it
	// returns, whether or not it succeeded: a job whose result was not
	// recorded stays leased until its lease runs out and is claimed again.
	Write func(ctx context.Context, batch []R) []time.Time
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnDepth, when set, is told the number of jobs queued in memory
	// whenever it changes. It is called under the queue's lock.
	OnDepth func(n int)
	// OnInFlight, when set, is told a key's number of jobs being done
	// whenever it changes. It is called under the queue's lock.
	OnInFlight func(key string, n int)
	// OnBusy, when set, is told the number of jobs being done across all
	// keys whenever it changes: a total that names no key, for metrics
	// that must not carry a label per key. It is called under the queue's
	// lock.
	OnBusy func(n int)
}

// Queue holds leased jobs in memory and does them. Build it with New.
type Queue[J, R any] struct {
	cfg Config[J, R]
	log *slog.Logger

	mu       sync.Mutex
	cond     *sync.Cond
	queues   map[string][]entry[J] // by key; guarded by mu
	inFlight map[string]int        // by key; guarded by mu
	busy     int                   // jobs being done, all keys; guarded by mu
	ring     []string              // keys with queued jobs; guarded by mu
	rr       int                   // next index into ring; guarded by mu
	held     map[string]bool       // ids of jobs in memory; guarded by mu
	queued   int                   // guarded by mu
	stopping bool                  // guarded by mu
	wakes    wakeHeap              // retry times coming due, soonest first; guarded by mu

	wake    chan struct{}
	results chan done[R]

	// running and lastPoll are read by Health without a lock, so that a
	// readiness check never waits behind Stop.
	running  atomic.Bool
	lastPoll atomic.Int64 // unix nanoseconds of the last successful claim

	// life serialises Start and Stop.
	life        sync.Mutex
	state       int // guarded by life: 0 new, 1 running, 2 stopped
	doCtx       context.Context
	stopDo      context.CancelFunc
	stopLoops   context.CancelFunc
	loops       sync.WaitGroup
	workers     sync.WaitGroup
	writersDone chan struct{}
}

// entry is a job in memory, with its id and key worked out once.
type entry[J any] struct {
	job     J
	id, key string
}

// done is a result waiting to be written.
type done[R any] struct {
	id     string
	result R
}

// resultBuffer is how many results may wait for the writers before
// workers block.
const resultBuffer = 4096

// writeBatch is the most results one Write gets.
const writeBatch = 256

// Leases is the part of a job store that keeps leases alive and gives
// them back. The store package has one for each kind of job.
type Leases interface {
	// ExtendLeases pushes the leases owner holds on ids to until. The ids
	// come sorted, so an implementation locks rows in the same order as
	// one that writes results in id order.
	ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	// ReleaseLeases drops owner's leases of jobs not finished; an empty
	// owner drops every lease (start on a single-process database).
	ReleaseLeases(ctx context.Context, owner string) error
}

// New returns a queue; Start runs it. ID, Key, Claim, Leases, Do and
// Write are required.
func New[J, R any](cfg Config[J, R]) *Queue[J, R] {
	cfg.Workers = cmp.Or(cfg.Workers, 256)
	cfg.QueuePerKey = cmp.Or(cfg.QueuePerKey, 2048)
	cfg.Writers = cmp.Or(cfg.Writers, 4)
	cfg.ClaimBatch = cmp.Or(cfg.ClaimBatch, 256)
	cfg.LeaseDuration = cmp.Or(cfg.LeaseDuration, DefaultLeaseDuration)
	cfg.PollInterval = cmp.Or(cfg.PollInterval, time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	q := &Queue[J, R]{
		cfg:      cfg,
		log:      cfg.Logger,
		queues:   map[string][]entry[J]{},
		inFlight: map[string]int{},
		held:     map[string]bool{},
		wake:     make(chan struct{}, 1),
		results:  make(chan done[R], resultBuffer),
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Start releases old leases if configured to, then runs the workers, the
// writers, the claimer and the heartbeat until Stop. The context only
// carries values: cancelling it stops nothing. A queue runs once.
func (q *Queue[J, R]) Start(ctx context.Context) error {
	q.life.Lock()
	defer q.life.Unlock()
	if q.state != 0 {
		return errors.New("queue: started twice")
	}
	if q.cfg.ReleaseLeasesOnStart {
		if err := q.cfg.Leases.ReleaseLeases(ctx, ""); err != nil {
			return fmt.Errorf("release old leases: %w", err)
		}
	}
	q.state = 1
	q.lastPoll.Store(q.cfg.Now().UnixNano())
	q.running.Store(true)
	q.doCtx, q.stopDo = context.WithCancel(context.WithoutCancel(ctx))
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopLoops = cancel
	q.writersDone = make(chan struct{})
	var writers sync.WaitGroup
	for range q.cfg.Writers {
		writers.Go(q.writeLoop)
	}
	go func() { writers.Wait(); close(q.writersDone) }()
	for range q.cfg.Workers {
		q.workers.Go(q.workLoop)
	}
	q.loops.Go(func() { q.claimLoop(loopCtx) })
	q.loops.Go(func() { q.heartbeatLoop(loopCtx) })
	q.Poke()
	return nil
}

// Stop stops claiming, lets jobs being done finish until ctx ends and then
// cancels them, writes the results there are, and releases this process's
// leases so another process can take the jobs still queued at once. It
// does nothing on a queue not running.
func (q *Queue[J, R]) Stop(ctx context.Context) {
	q.life.Lock()
	defer q.life.Unlock()
	if q.state != 1 {
		return
	}
	q.state = 2
	q.running.Store(false)
	q.stopLoops()
	q.loops.Wait()
	q.mu.Lock()
	q.stopping = true
	q.cond.Broadcast()
	q.mu.Unlock()
	workersDone := make(chan struct{})
	go func() { q.workers.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-ctx.Done():
		q.stopDo()
		<-workersDone
	}
	close(q.results)
	<-q.writersDone
	q.stopDo()
	if err := q.cfg.Leases.ReleaseLeases(context.WithoutCancel(ctx), q.cfg.Owner); err != nil {
		q.log.Error("release leases", "err", err)
	}
}

// Health is what a polling loop tells a readiness check.
type Health struct {
	// Running is true from Start until Stop begins.
	Running bool
	// LastPoll is when the loop last looked at the database successfully
	// (for a queue, its last claim); Start counts as one.
	LastPoll time.Time
}

// Health reports whether the queue runs and when it last claimed. A
// claimer that keeps failing (the database unreachable, say) shows as a
// LastPoll that grows old while Running stays true.
func (q *Queue[J, R]) Health() Health {
	return Health{Running: q.running.Load(), LastPoll: time.Unix(0, q.lastPoll.Load())}
}

// Accepting reports whether key's queue has room for a hand-over. A job
// handed over must be leased to this process by the transaction that
// creates it.
func (q *Queue[J, R]) Accepting(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.stopping && len(q.queues[key]) < q.cfg.QueuePerKey
}

// Enqueue queues jobs leased to this process, in order. A job already
// held in memory is skipped: it may be both handed over and claimed.
func (q *Queue[J, R]) Enqueue(jobs ...J) {
	if len(jobs) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range jobs {
		e := entry[J]{job: j, id: q.cfg.ID(j), key: q.cfg.Key(j)}
		if q.held[e.id] {
			continue
		}
		q.held[e.id] = true
		list := q.queues[e.key]
		if len(list) == 0 {
			q.ring = append(q.ring, e.key)
		}
		q.queues[e.key] = append(list, e)
		q.queued++
	}
	q.depthLocked()
	// One waiter is enough: whoever picks a job wakes the next while jobs
	// remain (see next). Waking all of them made every enqueue a stampede
	// of workers on q.mu, most of which found nothing.
	q.cond.Signal()
}

// Poke makes the claimer look for due jobs now, say after jobs were made
// due without a hand-over.
func (q *Queue[J, R]) Poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// maxWakes bounds the retry times kept in memory. Beyond it only a time
// sooner than all kept ones is added; the others are found by the poll.
const maxWakes = 4096

// WakeAt makes the claimer look again at each of ts (retries coming due).
// Every time is kept until a claim that began at or after it: keeping only
// the soonest one lost the others, and a poke arriving while the claimer
// was busy used to clear the pending wake, leaving a retry to the poll.
func (q *Queue[J, R]) WakeAt(ts ...time.Time) {
	q.mu.Lock()
	sooner := false
	for _, t := range ts {
		first := len(q.wakes) == 0 || t.Before(q.wakes[0])
		if len(q.wakes) >= maxWakes && !first {
			continue
		}
		sooner = sooner || first
		heap.Push(&q.wakes, t)
	}
	q.mu.Unlock()
	if sooner {
		q.Poke()
	}
}

// next blocks until some key below its in-flight limit has queued jobs,
// and takes the oldest job of the next such key in turn. It returns false
// once the queue is stopping.
func (q *Queue[J, R]) next() (entry[J], bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.stopping {
		if e, ok := q.pickLocked(); ok {
			if q.queued > 0 {
				q.cond.Signal() // pass the wake on: there may be more to pick
			}
			return e, true
		}
		q.cond.Wait()
	}
	return entry[J]{}, false
}

func (q *Queue[J, R]) pickLocked() (entry[J], bool) {
	for i := range len(q.ring) {
		idx := (q.rr + i) % len(q.ring)
		key := q.ring[idx]
		if q.inFlight[key] >= q.limitLocked(key) {
			continue
		}
		jobs := q.queues[key]
		e := jobs[0]
		jobs[0] = entry[J]{} // let the job be collected once done
		jobs = jobs[1:]
		if len(jobs) == 0 {
			delete(q.queues, key)
			q.ring = slices.Delete(q.ring, idx, idx+1)
			q.rr = idx
		} else {
			q.queues[key] = jobs
			q.rr = idx + 1
		}
		if len(q.ring) > 0 {
			q.rr %= len(q.ring)
		} else {
			q.rr = 0
		}
		q.inFlight[key]++
		q.busy++
		q.queued--
		q.depthLocked()
		q.inFlightLocked(key)
		return e, true
	}
	return entry[J]{}, false
}

func (q *Queue[J, R]) limitLocked(key string) int {
	if q.cfg.Limit == nil {
		return math.MaxInt
	}
	return max(q.cfg.Limit(key), 1)
}

func (q *Queue[J, R]) depthLocked() {
	if q.cfg.OnDepth != nil {
		q.cfg.OnDepth(q.queued)
	}
}

func (q *Queue[J, R]) inFlightLocked(key string) {
	if q.cfg.OnBusy != nil {
		q.cfg.OnBusy(q.busy)
	}
	if q.cfg.OnInFlight != nil {
		q.cfg.OnInFlight(key, q.inFlight[key])
	}
}

// finished counts a job of key as no longer in flight.
func (q *Queue[J, R]) finished(key string) {
	q.mu.Lock()
	q.inFlight[key]--
	q.busy--
	q.inFlightLocked(key)
	if q.inFlight[key] <= 0 {
		delete(q.inFlight, key)
	}
	q.cond.Signal() // one slot of key is free: one worker may take it
	q.mu.Unlock()
}

// forget lets jobs leave memory, so they can be queued again.
func (q *Queue[J, R]) forget(ids ...string) {
	q.mu.Lock()
	for _, id := range ids {
		delete(q.held, id)
	}
	q.mu.Unlock()
}

func (q *Queue[J, R]) workLoop() {
	for {
		e, ok := q.next()
		if !ok {
			return
		}
		r, ok := q.cfg.Do(q.doCtx, e.job)
		q.finished(e.key)
		if !ok { // cut short by shutdown: the lease is released on stop
			q.forget(e.id)
			continue
		}
		q.results <- done[R]{id: e.id, result: r}
	}
}

// writeLoop writes results in batches: one Write for whatever has arrived
// while the previous one ran.
func (q *Queue[J, R]) writeLoop() {
	batch := make([]R, 0, writeBatch)
	ids := make([]string, 0, writeBatch)
	for d := range q.results {
		batch, ids = append(batch[:0], d.result), append(ids[:0], d.id)
	fill:
		for len(batch) < writeBatch {
			select {
			case d, ok := <-q.results:
				if !ok {
					break fill
				}
				batch, ids = append(batch, d.result), append(ids, d.id)
			default:
				break fill
			}
		}
		retryAt := q.cfg.Write(context.Background(), batch)
		clear(batch) // let the results be collected
		q.forget(ids...)
		if len(retryAt) > 0 {
			q.WakeAt(retryAt...)
		}
	}
}

// claimLoop is the recovery path and the retry clock: it claims due jobs
// that nobody holds, whether they were left by a stopped or crashed
// process or are retries coming due.
func (q *Queue[J, R]) claimLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
		// Retries due by now are all claimable by the claims below.
		claimStart := q.cfg.Now()
		for {
			n, err := q.claim(ctx)
			if err != nil {
				if ctx.Err() == nil {
					q.log.Error("claim jobs", "err", err)
				}
				break
			}
			if n < q.cfg.ClaimBatch {
				break
			}
		}
		now := q.cfg.Now()
		wait := q.cfg.PollInterval
		q.mu.Lock()
		for len(q.wakes) > 0 && !q.wakes[0].After(claimStart) {
			heap.Pop(&q.wakes)
		}
		if len(q.wakes) > 0 {
			wait = min(wait, q.wakes[0].Sub(now))
		}
		q.mu.Unlock()
		timer.Reset(max(wait, 5*time.Millisecond))
	}
}

// claim claims one batch and queues it, and returns how many it claimed.
func (q *Queue[J, R]) claim(ctx context.Context) (int, error) {
	q.mu.Lock()
	var full []string
	for key, jobs := range q.queues {
		if len(jobs) >= q.cfg.QueuePerKey {
			full = append(full, key)
		}
	}
	q.mu.Unlock()
	now := q.cfg.Now()
	jobs, err := q.cfg.Claim(ctx, ClaimParams{Now: now, LeaseUntil: now.Add(q.cfg.LeaseDuration),
		Limit: q.cfg.ClaimBatch, FullKeys: full})
	if err != nil {
		return 0, err
	}
	q.lastPoll.Store(q.cfg.Now().UnixNano())
	q.Enqueue(jobs...)
	return len(jobs), nil
}

// heartbeatLoop extends the leases of jobs held in memory, so a long
// queue behind a slow key is not taken over by another claimer.
func (q *Queue[J, R]) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(q.cfg.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q.mu.Lock()
		ids := make([]string, 0, len(q.held))
		for id := range q.held {
			ids = append(ids, id)
		}
		q.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		until := q.cfg.Now().Add(q.cfg.LeaseDuration)
		if err := q.cfg.Leases.ExtendLeases(ctx, q.cfg.Owner, ids, until); err != nil && ctx.Err() == nil {
			q.log.Error("extend leases", "err", err)
		}
	}
}

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
