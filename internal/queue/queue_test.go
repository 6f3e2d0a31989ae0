package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/queue"
)

// These tests run the queue over fakeDB, an in-memory job table with
// leases. A fake is right here: what is under test is the queue's own
// logic, not a store; the webhook tests run the same queue over SQLite and
// PostgreSQL.

type job struct{ id, key string }

// res is the result of doing a job: finished, or to be retried at retryAt.
type res struct {
	id      string
	retryAt time.Time
}

type row struct {
	job         job
	due         time.Time
	leasedUntil time.Time
	finished    bool
}

// fakeDB keeps jobs in creation order; a claim takes the oldest due jobs
// that are not leased, as the real stores do.
type fakeDB struct {
	mu    sync.Mutex
	rows  map[string]*row
	order []string
	// failClaims makes the next claims fail; leaseOnFail makes a failing
	// claim lease its jobs first, as a claim whose payload load fails does.
	failClaims  int
	leaseOnFail bool
	claims      []queue.ClaimParams
	extends     [][]string
	releases    []bool
	written     map[string]int
}

func newDB() *fakeDB {
	return &fakeDB{rows: map[string]*row{}, written: map[string]int{}}
}

// add stores jobs due at due and leased until leasedUntil (zero: not
// leased).
func (db *fakeDB) add(due, leasedUntil time.Time, jobs ...job) {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, j := range jobs {
		db.rows[j.id] = &row{job: j, due: due, leasedUntil: leasedUntil}
		db.order = append(db.order, j.id)
	}
}

func (db *fakeDB) claim(_ context.Context, p queue.ClaimParams) ([]job, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.claims = append(db.claims, p)
	var out []job
	for _, id := range db.order {
		r := db.rows[id]
		if len(out) == p.Limit {
			break
		}
		if r.finished || r.due.After(p.Now) || r.leasedUntil.After(p.Now) || slices.Contains(p.FullKeys, r.job.key) {
			continue
		}
		r.leasedUntil = p.LeaseUntil
		out = append(out, r.job)
	}
	if db.failClaims > 0 {
		db.failClaims--
		if !db.leaseOnFail {
			for _, j := range out {
				db.rows[j.id].leasedUntil = time.Time{}
			}
		}
		return out, errors.New("claim failed")
	}
	return out, nil
}

func (db *fakeDB) ExtendLeases(_ context.Context, _ string, ids []string, until time.Time) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.extends = append(db.extends, slices.Clone(ids))
	for _, id := range ids {
		if r := db.rows[id]; r != nil && !r.finished {
			r.leasedUntil = until
		}
	}
	return nil
}

// ReleaseLeases drops every lease of an unfinished job: the tests have one
// process, so all and this process's are the same.
func (db *fakeDB) ReleaseLeases(_ context.Context, owner string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.releases = append(db.releases, owner == "")
	for _, r := range db.rows {
		if !r.finished {
			r.leasedUntil = time.Time{}
		}
	}
	return nil
}

func (db *fakeDB) write(_ context.Context, batch []res) []time.Time {
	db.mu.Lock()
	defer db.mu.Unlock()
	var retryAt []time.Time
	for _, x := range batch {
		r := db.rows[x.id]
		db.written[x.id]++
		r.leasedUntil = time.Time{}
		if x.retryAt.IsZero() {
			r.finished = true
			continue
		}
		r.due = x.retryAt
		retryAt = append(retryAt, x.retryAt)
	}
	return retryAt
}

// snapshot returns a copy of a job's row.
func (db *fakeDB) snapshot(id string) row {
	db.mu.Lock()
	defer db.mu.Unlock()
	return *db.rows[id]
}

func (db *fakeDB) writes(id string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.written[id]
}

func (db *fakeDB) allFinished() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, r := range db.rows {
		if !r.finished {
			return false
		}
	}
	return true
}

// recorder records what Do is asked to do.
type recorder struct {
	mu        sync.Mutex
	order     []string
	calls     map[string]int
	active    map[string]int // by key
	maxActive map[string]int // by key
}

func newRecorder() *recorder {
	return &recorder{calls: map[string]int{}, active: map[string]int{}, maxActive: map[string]int{}}
}

func (rc *recorder) begin(j job) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.order = append(rc.order, j.id)
	rc.calls[j.id]++
	rc.active[j.key]++
	rc.maxActive[j.key] = max(rc.maxActive[j.key], rc.active[j.key])
}

func (rc *recorder) end(j job) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.active[j.key]--
}

func (rc *recorder) get(f func(rc *recorder) int) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return f(rc)
}

// finish is a Do that finishes every job at once.
func finish(rc *recorder) func(context.Context, job) (res, bool) {
	return func(_ context.Context, j job) (res, bool) {
		rc.begin(j)
		rc.end(j)
		return res{id: j.id}, true
	}
}

// gated is a Do that holds jobs of the keys in hold until gate closes, or
// gives up (false) when ctx ends first.
func gated(rc *recorder, gate <-chan struct{}, hold ...string) func(context.Context, job) (res, bool) {
	return func(ctx context.Context, j job) (res, bool) {
		rc.begin(j)
		defer rc.end(j)
		if slices.Contains(hold, j.key) {
			select {
			case <-gate:
			case <-ctx.Done():
				return res{}, false
			}
		}
		return res{id: j.id}, true
	}
}

// start runs a queue over db with Do do. The poll interval is an hour, so
// nothing the tests wait for comes from the poll unless they set it.
func start(t *testing.T, db *fakeDB, do func(context.Context, job) (res, bool), tweak func(*queue.Config[job, res])) *queue.Queue[job, res] {
	t.Helper()
	cfg := queue.Config[job, res]{
		Workers:       4,
		LeaseDuration: time.Minute,
		PollInterval:  time.Hour,
		ID:            func(j job) string { return j.id },
		Key:           func(j job) string { return j.key },
		Claim:         db.claim,
		Owner:         "test",
		Leases:        db,
		Do:            do,
		Write:         db.write,
		Logger:        slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	q := queue.New(cfg)
	require.NoError(t, q.Start(context.Background()))
	t.Cleanup(func() {
		// A deadline, so a test that fails with an attempt held open
		// fails rather than hangs.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return q
}

// waitFor polls cond until it holds, failing after a deadline generous
// enough for a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func jobs(key string, n int) []job {
	out := make([]job, n)
	for i := range out {
		out[i] = job{id: key + string(rune('a'+i)), key: key}
	}
	return out
}

func TestStartClaimsDueUnleasedJobs(t *testing.T) {
	db := newDB()
	now := time.Now()
	db.add(now.Add(-time.Second), time.Time{}, jobs("due", 3)...)
	db.add(now.Add(time.Hour), time.Time{}, job{id: "later", key: "x"})
	db.add(now.Add(-time.Second), now.Add(time.Hour), job{id: "leased", key: "x"})
	rc := newRecorder()
	start(t, db, finish(rc), nil)

	waitFor(t, "the due jobs", func() bool { return db.writes("duea")+db.writes("dueb")+db.writes("duec") == 3 })
	require.Zero(t, db.writes("later"), "not due yet")
	require.Zero(t, db.writes("leased"), "someone else holds it")
}

func TestReleaseLeasesOnStartFreesEveryLease(t *testing.T) {
	db := newDB()
	now := time.Now()
	db.add(now, now.Add(time.Hour), job{id: "left", key: "x"}) // by a process that is gone
	rc := newRecorder()
	start(t, db, finish(rc), func(c *queue.Config[job, res]) { c.ReleaseLeasesOnStart = true })

	waitFor(t, "the job left leased", func() bool { return db.writes("left") == 1 })
	db.mu.Lock()
	defer db.mu.Unlock()
	require.Equal(t, []bool{true}, db.releases)
}

func TestKeysTakeTurns(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, jobs("a", 5)...)
	db.add(time.Now(), time.Time{}, jobs("b", 3)...)
	db.add(time.Now(), time.Time{}, jobs("c", 2)...)
	rc := newRecorder()
	// One worker, and one claim puts all ten in memory at once, so the
	// order of the attempts is the queue's choice alone.
	start(t, db, finish(rc), func(c *queue.Config[job, res]) { c.Workers = 1 })

	waitFor(t, "every job", db.allFinished)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Equal(t, []string{"aa", "ba", "ca", "ab", "bb", "cb", "ac", "bc", "ad", "ae"}, rc.order)
}

func TestSlowKeyKeepsToItsInFlightLimit(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, jobs("slow", 6)...)
	db.add(time.Now(), time.Time{}, jobs("fast", 20)...)
	rc := newRecorder()
	gate := make(chan struct{})
	var mu sync.Mutex
	reported := map[string]int{} // the most OnInFlight reported, by key
	depth := -1
	limits := map[string]int{"slow": 2, "fast": 3}
	start(t, db, gated(rc, gate, "slow"), func(c *queue.Config[job, res]) {
		c.Workers = 8
		c.Limit = func(key string) int { return limits[key] }
		c.OnInFlight = func(key string, n int) {
			mu.Lock()
			defer mu.Unlock()
			reported[key] = max(reported[key], n)
		}
		c.OnDepth = func(n int) {
			mu.Lock()
			defer mu.Unlock()
			depth = n
		}
	})

	waitFor(t, "two slow jobs in flight", func() bool { return rc.get(func(rc *recorder) int { return rc.active["slow"] }) == 2 })
	waitFor(t, "every fast job, while the slow ones hang", func() bool {
		n := 0
		for _, j := range jobs("fast", 20) {
			n += db.writes(j.id)
		}
		return n == 20
	})
	require.Equal(t, 2, rc.get(func(rc *recorder) int { return len(rc.order) - 20 }), "no third slow job started")
	close(gate)
	waitFor(t, "every job", db.allFinished)

	require.Equal(t, 2, rc.get(func(rc *recorder) int { return rc.maxActive["slow"] }))
	require.LessOrEqual(t, rc.get(func(rc *recorder) int { return rc.maxActive["fast"] }), 3)
	waitFor(t, "the depth back to 0", func() bool { mu.Lock(); defer mu.Unlock(); return depth == 0 })
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 2, reported["slow"])
	require.LessOrEqual(t, reported["fast"], 3)
}

// OnBusy gives metrics a total in flight that names no key: an endpoint id
// as a label would tell anyone who reads the metrics every tenant's
// endpoints.
func TestOnBusyReportsTheTotalInFlightAcrossKeys(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, jobs("a", 2)...)
	db.add(time.Now(), time.Time{}, jobs("b", 1)...)
	rc := newRecorder()
	gate := make(chan struct{})
	var mu sync.Mutex
	busy, most := -1, 0
	start(t, db, gated(rc, gate, "a", "b"), func(c *queue.Config[job, res]) {
		c.Workers = 8
		c.Limit = func(string) int { return 5 }
		c.OnBusy = func(n int) {
			mu.Lock()
			defer mu.Unlock()
			busy, most = n, max(most, n)
		}
	})

	waitFor(t, "three jobs of two keys in flight", func() bool { mu.Lock(); defer mu.Unlock(); return busy == 3 })
	close(gate)
	waitFor(t, "every job", db.allFinished)
	waitFor(t, "nothing in flight", func() bool { mu.Lock(); defer mu.Unlock(); return busy == 0 })
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 3, most, "the total counts every key's jobs, and no more")
}

func TestAJobHeldIsNotQueuedTwice(t *testing.T) {
	db := newDB()
	rc := newRecorder()
	gate := make(chan struct{})
	q := start(t, db, gated(rc, gate, "x"), nil)
	j := job{id: "j", key: "x"}
	db.add(time.Now(), time.Now().Add(time.Minute), j) // leased by the hand-over
	require.True(t, q.Accepting("x"))

	q.Enqueue(j, j) // handed over twice in one call
	waitFor(t, "the attempt", func() bool { return rc.get(func(rc *recorder) int { return rc.calls["j"] }) == 1 })
	q.Enqueue(j) // and again, as if claimed, while in flight
	close(gate)
	waitFor(t, "the result", func() bool { return db.writes("j") == 1 })
	require.Equal(t, 1, rc.get(func(rc *recorder) int { return rc.calls["j"] }))
	// That a job leaves memory once its result is written, and can be
	// queued again, is what the retry test below relies on.
}

func TestRetriesWakeTheClaimerBeforeThePoll(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, job{id: "soon", key: "x"}, job{id: "later", key: "y"})
	rc := newRecorder()
	// Each job fails once and is retried: one 50ms, one 300ms after its
	// first attempt. The poll is an hour away; both retries must come from
	// the retry times the writer returned, and each retry is claimed and
	// queued again only because the job left memory after its write.
	start(t, db, func(_ context.Context, j job) (res, bool) {
		rc.begin(j)
		defer rc.end(j)
		if rc.get(func(rc *recorder) int { return rc.calls[j.id] }) > 1 {
			return res{id: j.id}, true
		}
		wait := 50 * time.Millisecond
		if j.id == "later" {
			wait = 300 * time.Millisecond
		}
		return res{id: j.id, retryAt: time.Now().Add(wait)}, true
	}, nil)

	waitFor(t, "both retries", db.allFinished)
	require.Equal(t, 2, db.writes("soon"))
	require.Equal(t, 2, db.writes("later"))
}

func TestPokeClaimsAtOnce(t *testing.T) {
	db := newDB()
	rc := newRecorder()
	q := start(t, db, finish(rc), nil)
	waitFor(t, "the first claim", func() bool { db.mu.Lock(); defer db.mu.Unlock(); return len(db.claims) > 0 })

	db.add(time.Now(), time.Time{}, job{id: "j", key: "x"})
	q.Poke()
	waitFor(t, "the job", func() bool { return db.writes("j") == 1 })
}

func TestHeartbeatExtendsLeasesOfJobsHeld(t *testing.T) {
	db := newDB()
	now := time.Now()
	db.add(now, time.Time{}, job{id: "j", key: "x"})
	rc := newRecorder()
	gate := make(chan struct{})
	start(t, db, gated(rc, gate, "x"), func(c *queue.Config[job, res]) { c.LeaseDuration = 300 * time.Millisecond })

	waitFor(t, "the attempt", func() bool { return rc.get(func(rc *recorder) int { return rc.calls["j"] }) == 1 })
	first := db.snapshot("j").leasedUntil
	waitFor(t, "a heartbeat", func() bool {
		db.mu.Lock()
		defer db.mu.Unlock()
		return len(db.extends) > 0 && slices.Equal(db.extends[len(db.extends)-1], []string{"j"}) &&
			db.rows["j"].leasedUntil.After(first)
	})
	close(gate)
	waitFor(t, "the result", func() bool { return db.writes("j") == 1 })
	require.Equal(t, 1, rc.get(func(rc *recorder) int { return rc.calls["j"] }))
}

func TestClaimErrorLosesNoJob(t *testing.T) {
	for _, leased := range []bool{false, true} {
		name := "failing before leasing"
		if leased {
			name = "failing after leasing"
		}
		t.Run(name, func(t *testing.T) {
			db := newDB()
			db.add(time.Now(), time.Time{}, jobs("x", 3)...)
			db.failClaims, db.leaseOnFail = 2, leased
			rc := newRecorder()
			start(t, db, finish(rc), func(c *queue.Config[job, res]) {
				c.PollInterval = 20 * time.Millisecond
				c.LeaseDuration = 200 * time.Millisecond // jobs a failed claim leased come back soon
			})

			waitFor(t, "every job", db.allFinished)
			for _, j := range jobs("x", 3) {
				require.Equal(t, 1, rc.get(func(rc *recorder) int { return rc.calls[j.id] }), j.id)
			}
		})
	}
}

func TestAFullKeyIsLeftInTheDatabase(t *testing.T) {
	db := newDB()
	// The one worker takes "busy" first (keys take turns in the order they
	// were queued) and hangs on it, so a's queue only grows.
	db.add(time.Now(), time.Time{}, job{id: "busy", key: "z"})
	db.add(time.Now(), time.Time{}, jobs("a", 10)...)
	db.add(time.Now(), time.Time{}, job{id: "b", key: "b"})
	rc := newRecorder()
	gate := make(chan struct{})
	q := start(t, db, gated(rc, gate, "z", "a"), func(c *queue.Config[job, res]) {
		c.Workers = 1
		c.QueuePerKey = 2
		c.ClaimBatch = 2
	})

	// The claimer claims again after each full batch: busy and aa, then
	// ab and ac; a's queue is then full, so the third claim skips a and
	// takes b.
	waitFor(t, "a claim that skips the full key", func() bool {
		db.mu.Lock()
		defer db.mu.Unlock()
		return slices.ContainsFunc(db.claims, func(p queue.ClaimParams) bool { return slices.Equal(p.FullKeys, []string{"a"}) }) &&
			db.rows["b"].leasedUntil.After(time.Now())
	})
	require.False(t, q.Accepting("a"))
	require.True(t, q.Accepting("b"))
	db.mu.Lock()
	unclaimed := 0
	for _, j := range jobs("a", 10) {
		if db.rows[j.id].leasedUntil.IsZero() {
			unclaimed++
		}
	}
	db.mu.Unlock()
	require.Equal(t, 7, unclaimed, "a's jobs beyond its queue wait in the database")

	close(gate)
	waitFor(t, "every job", func() bool {
		q.Poke() // the claimer runs again once a's queue has room
		return db.allFinished()
	})
}

func TestStopCancelsAttemptsAtItsDeadlineAndReleasesLeases(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, job{id: "quick", key: "q"})
	db.add(time.Now(), time.Time{}, jobs("x", 3)...)
	rc := newRecorder()
	never := make(chan struct{})
	q := start(t, db, gated(rc, never, "x"), func(c *queue.Config[job, res]) { c.Workers = 1 })

	waitFor(t, "the quick job's result and an attempt that hangs", func() bool {
		return db.writes("quick") == 1 && rc.get(func(rc *recorder) int { return rc.active["x"] }) == 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.Stop(ctx)

	require.False(t, q.Accepting("x"), "a stopped queue takes no hand-over")
	db.mu.Lock()
	defer db.mu.Unlock()
	require.Equal(t, []bool{false}, db.releases, "its own leases only")
	for _, j := range jobs("x", 3) {
		r := db.rows[j.id]
		require.False(t, r.finished, j.id)
		require.True(t, r.leasedUntil.IsZero(), "%s released", j.id)
		require.Zero(t, db.written[j.id], "%s: no result for an attempt cut short", j.id)
	}
}

func TestStopLetsAttemptsInFlightFinish(t *testing.T) {
	db := newDB()
	db.add(time.Now(), time.Time{}, job{id: "j", key: "x"})
	rc := newRecorder()
	gate := make(chan struct{})
	q := start(t, db, gated(rc, gate, "x"), nil)
	waitFor(t, "the attempt", func() bool { return rc.get(func(rc *recorder) int { return rc.active["x"] }) == 1 })

	stopped := make(chan struct{})
	go func() { q.Stop(context.Background()); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned with an attempt in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return once the attempt finished")
	}
	require.Equal(t, 1, db.writes("j"), "the result is written before Stop returns")
	require.True(t, db.snapshot("j").finished)
}

func TestStartTwiceIsAnError(t *testing.T) {
	db := newDB()
	q := start(t, db, finish(newRecorder()), nil)
	require.Error(t, q.Start(context.Background()))
	q.Stop(context.Background())
	q.Stop(context.Background()) // tolerated
}

// Health is what /readyz reads of a queue: running from Start until Stop,
// and the time of its last successful claim, which stands still while
// claims fail.
func TestHealthTellsRunningAndTheLastSuccessfulClaim(t *testing.T) {
	db := newDB()
	rc := newRecorder()
	q := queue.New(queue.Config[job, res]{ID: func(j job) string { return j.id }, Key: func(j job) string { return j.key },
		Claim: db.claim, Owner: "test", Leases: db, Do: gated(rc, nil), Write: db.write,
		PollInterval: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.False(t, q.Health().Running, "not before Start")

	require.NoError(t, q.Start(context.Background()))
	first := q.Health()
	require.True(t, first.Running)
	waitFor(t, "a later successful claim", func() bool { return q.Health().LastPoll.After(first.LastPoll) })

	db.mu.Lock()
	db.failClaims = 1 << 30
	db.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // a claim under way may still succeed
	failing := q.Health().LastPoll
	time.Sleep(50 * time.Millisecond) // ten polls, all failing
	require.Equal(t, failing, q.Health().LastPoll, "a failed claim is no poll")
	require.True(t, q.Health().Running)

	q.Stop(context.Background())
	require.False(t, q.Health().Running, "not after Stop")
}
