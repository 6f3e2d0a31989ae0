// Package sqlstore implements store.Store over database/sql with one set of
// SQL statements for both SQLite and PostgreSQL. The sqlite and postgres
// packages open the database, apply their own migrations and pass a Dialect
// that holds every difference between the two; nothing else here branches
// on the database.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// Dialect holds what differs between databases.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(err error) bool
	// TimeArg converts a time to the driver's argument: SQLite stores
	// fixed-width RFC 3339 text so it sorts; PostgreSQL takes time.Time.
	TimeArg func(t time.Time) any
	// Epoch is an SQL expression of the time in column col as whole Unix
	// seconds (an integer), to group rows into time buckets. Unlike
	// PostgreSQL, SQLite keeps times as text.
	Epoch func(col string) string
	// Casts types a statement argument ("$1::integer") where the database
	// cannot infer it, as in a VALUES list (PostgreSQL). Unlike
	// PostgreSQL, SQLite types values, not columns, and needs none.
	Casts bool
	// LockSuffix ends a SELECT that must lock its rows ("FOR UPDATE"). Unlike
	// Postgres, SQLite has one writer at a time, so it needs none.
	LockSuffix string
	// ClaimSuffix ends the sub-select that picks deliveries to claim
	// ("FOR UPDATE SKIP LOCKED"), so concurrent claimers never wait on or
	// take each other's rows. Unlike Postgres, SQLite needs none.
	ClaimSuffix string
	// GroupCommit makes InTx share one transaction among concurrent callers,
	// each in a savepoint. Worth it where a commit costs one fsync that
	// every caller would otherwise wait for in turn (SQLite).
	GroupCommit bool
	// MaxBatch caps the callers in one group commit. Defaults to 128.
	MaxBatch int
	// RetentionLockSQL takes the retention lock for the rest of a
	// transaction and answers whether it did (one boolean). Empty: every
	// caller gets it (SQLite: one process per database).
	RetentionLockSQL string
	// Reclaim hands freed space back to the file system, outside any
	// transaction; nil does nothing.
	Reclaim func(ctx context.Context, db *sql.DB) error
	// NotifySQL sends its one argument, a payload of wakes, to every
	// process listening on the database (PostgreSQL: pg_notify on a
	// channel of the schema). Empty: no other process shares the
	// database, and nothing is sent (SQLite).
	NotifySQL string
	// Listen receives, on a connection of its own, the payloads NotifySQL
	// sends, from every process, and calls fn with each until ctx ends
	// (nil) or the connection fails. Nil where NotifySQL is empty.
	Listen func(ctx context.Context, fn func(payload string)) error
}

// ErrClosed is returned by InTx once Close has been called.
var ErrClosed = errors.New("sqlstore: store is closed")

// Store implements store.Store.
type Store struct {
	queries
	writer *sql.DB
	d      *Dialect
	ping   func(ctx context.Context) error
	// notifier sends committed transactions' wakes; nil without
	// Dialect.NotifySQL.
	notifier *notifier

	// mu is held for reading while InTx hands a request to the committer
	// and for writing while Close closes reqs, so that no send can meet a
	// closed channel.
	mu     sync.RWMutex
	closed bool            // guarded by mu
	reqs   chan *txRequest // closed by Close; sent on only while holding mu
	done   chan struct{}   // closed when the committer has stopped
}

var _ store.Store = (*Store)(nil)

// Config opens a Store.
type Config struct {
	// Writer is used for transactions; Reader for reads outside them. They
	// may be the same pool.
	Writer, Reader *sql.DB
	Dialect        *Dialect
	// Ping checks readiness (reachable and migrated). Defaults to a plain
	// database ping.
	Ping func(ctx context.Context) error
}

// New returns a Store and, for group-committing dialects, starts its
// committer goroutine, which Close stops.
func New(cfg Config) *Store {
	d := cfg.Dialect
	if d.MaxBatch == 0 {
		d.MaxBatch = 128
	}
	s := &Store{
		queries: queries{db: cfg.Reader, d: d, stmts: newStmtCache(cfg.Reader.PrepareContext)},
		writer:  cfg.Writer,
		d:       d,
		ping:    cfg.Ping,
	}
	if s.ping == nil {
		s.ping = cfg.Reader.PingContext
	}
	if d.NotifySQL != "" {
		s.notifier = newNotifier(cfg.Writer, d.NotifySQL)
	}
	if d.GroupCommit {
		s.reqs = make(chan *txRequest, d.MaxBatch)
		s.done = make(chan struct{})
		go s.commitLoop()
	}
	return s
}

// Pools returns the store's connection pools by role ("writer" and
// "reader", or "main" when one pool serves both), for their statistics.
func (s *Store) Pools() map[string]*sql.DB {
	r := s.queries.db.(*sql.DB)
	if r == s.writer {
		return map[string]*sql.DB{"main": r}
	}
	return map[string]*sql.DB{"writer": s.writer, "reader": r}
}

// Dialect implements store.Store.
func (s *Store) Dialect() string { return s.d.Name }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return s.ping(ctx) }

// Close stops the committer (after the transactions already queued) and
// closes the databases. InTx called after Close returns ErrClosed. A second
// Close does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.reqs != nil {
		close(s.reqs)
	}
	s.mu.Unlock()
	if s.done != nil {
		<-s.done
	}
	if s.notifier != nil {
		s.notifier.close() // wakes of the last commits (leases released by a stop) still go out
	}
	err := s.writer.Close()
	if s.queries.db != s.writer {
		err = errors.Join(err, s.queries.db.(*sql.DB).Close())
	}
	return err
}

type tx struct {
	queries
	after    []func()
	notifier *notifier
	wakes    map[store.WakeKind]time.Time // see addWake
}

// newTx binds a transaction's statements to db, sharing stmts when set.
func (s *Store) newTx(db dbtx, stmts *stmtCache) *tx {
	t := &tx{queries: queries{db: db, d: s.d, stmts: stmts}, notifier: s.notifier}
	if s.notifier != nil {
		t.wake = t.addWake
	}
	return t
}

func (t *tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// InTx implements store.Store.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if !s.d.GroupCommit {
		if s.isClosed() {
			return fmt.Errorf("begin transaction: %w", ErrClosed)
		}
		return s.runTx(ctx, fn)
	}
	req := &txRequest{ctx: ctx, fn: fn, done: make(chan struct{})}
	if err := s.enqueue(ctx, req); err != nil {
		return err
	}
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// not report failure for writes that may still commit.
	<-req.done
	if req.err == nil {
		for _, f := range req.after {
			f()
		}
	}
	return req.err
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// enqueue hands req to the committer, or fails once the store is closed.
// It holds mu for reading while it waits, so Close cannot close reqs under
// it; the committer keeps taking requests until then, so the wait ends.
func (s *Store) enqueue(ctx context.Context, req *txRequest) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("begin transaction: %w", ErrClosed)
	}
	select {
	case s.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) runTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	t := s.newTx(sqlTx, nil)
	if err := runGuarded(ctx, t, fn); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", s.interpret(err))
	}
	for _, f := range t.after {
		f()
	}
	return nil
}

type txRequest struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx store.Tx) error
	done  chan struct{}
	err   error
	after []func()
}

// commitLoop is the single writer of a group-committing store. It takes
// whatever requests are waiting (at least one), runs each in a savepoint of
// one transaction and commits once, so N concurrent callers share one fsync.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*txRequest, 0, s.d.MaxBatch)
	for req := range s.reqs {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < s.d.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*txRequest) {
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil && err != nil {
				r.err = err
				r.after = nil
			}
			close(r.done)
		}
	}
	// The batch's work must not be cut short by one caller going away: an
	// interrupted statement can roll back the shared transaction.
	ctx := context.Background()
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("begin transaction: %w", err))
		return
	}
	ok := 0
	stmts := newStmtCache(sqlTx.PrepareContext)
	q := &queries{db: sqlTx, d: s.d, stmts: stmts}
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.err = r.ctx.Err()
			continue
		}
		if _, err := q.exec(ctx, "SAVEPOINT req"); err != nil {
			_ = sqlTx.Rollback()
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		t := s.newTx(sqlTx, stmts)
		r.err = runGuarded(context.WithoutCancel(r.ctx), t, r.fn)
		if r.err != nil {
			if _, err := q.exec(ctx, "ROLLBACK TO SAVEPOINT req"); err != nil {
				_ = sqlTx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			r.after = t.after
			ok++
		}
		if _, err := q.exec(ctx, "RELEASE SAVEPOINT req"); err != nil {
			_ = sqlTx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		_ = sqlTx.Rollback()
		finish(nil)
		return
	}
	if err := sqlTx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", s.interpret(err)))
		return
	}
	finish(nil)
}

func runGuarded(ctx context.Context, t *tx, fn func(ctx context.Context, tx store.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("transaction function panicked: %v", p)
		}
	}()
	return fn(ctx, t)
}
