package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// ---- wakes
//
// A statement that makes work due which nobody holds (a delivery or run
// not handed to this process, a released lease, a retry asked for, a
// timer set) records a store.Wake in its transaction. Once the
// transaction commits, the notifier sends the wakes to every process
// listening on the database (Dialect.NotifySQL), so that an idle instance
// claims the work now instead of at its next poll.
//
// The send happens after the commit, not in the transaction: PostgreSQL
// serialises the commits of transactions that NOTIFY, and a burst of
// writes would queue behind one another. After the commit it also costs
// the writer nothing, and a burst of commits becomes one send.

// notifyGap is the least time between two sends: a burst of commits wakes
// each listener once per gap, not once per commit.
const notifyGap = 10 * time.Millisecond

// notifier sends the wakes of committed transactions. Its zero value is
// not usable; newNotifier builds one and close stops it.
type notifier struct {
	db   *sql.DB
	stmt string // Dialect.NotifySQL

	mu      sync.Mutex
	pending map[store.WakeKind]time.Time // soonest At per kind; guarded by mu
	closed  bool                         // guarded by mu

	signal chan struct{}
	done   chan struct{}
}

func newNotifier(db *sql.DB, stmt string) *notifier {
	n := &notifier{db: db, stmt: stmt, pending: map[store.WakeKind]time.Time{},
		signal: make(chan struct{}, 1), done: make(chan struct{})}
	go n.loop()
	return n
}

// add queues wakes for the next send.
func (n *notifier) add(ws []store.Wake) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	for _, w := range ws {
		at, ok := n.pending[w.Kind]
		n.pending[w.Kind] = soonerWake(at, ok, w.At)
	}
	// Under mu, so that close cannot close signal in between.
	select {
	case n.signal <- struct{}{}:
	default:
	}
	n.mu.Unlock()
}

// close sends what is pending and stops the loop; the database must stay
// open until it returns. A second close does nothing.
func (n *notifier) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	close(n.signal) // the loop sends what is pending, then ends
	n.mu.Unlock()
	<-n.done
}

func (n *notifier) loop() {
	defer close(n.done)
	for range n.signal {
		n.mu.Lock()
		payload := encodeWakes(n.pending)
		clear(n.pending)
		n.mu.Unlock()
		if payload == "" {
			continue
		}
		// A send that fails is not retried: the wake only hurries the
		// other processes' polls, which find the work anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = n.db.ExecContext(ctx, n.stmt, payload)
		cancel()
		time.Sleep(notifyGap)
	}
}

// soonerWake merges a wake at b into a pending one at a (present when
// ok); the zero time, "now", is the soonest.
func soonerWake(a time.Time, ok bool, b time.Time) time.Time {
	switch {
	case !ok:
		return b
	case a.IsZero() || b.IsZero():
		return time.Time{}
	case b.Before(a):
		return b
	}
	return a
}

// encodeWakes writes wakes as one notification payload: kinds separated
// by spaces, each with "@" and its due time in Unix nanoseconds when it
// has one ("deliveries timers@1767225600000000000").
func encodeWakes(ws map[store.WakeKind]time.Time) string {
	var b strings.Builder
	for _, kind := range []store.WakeKind{store.WakeDeliveries, store.WakeRuns, store.WakeTimers} {
		at, ok := ws[kind]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(kind))
		if !at.IsZero() {
			b.WriteByte('@')
			b.WriteString(strconv.FormatInt(at.UnixNano(), 10))
		}
	}
	return b.String()
}

// decodeWakes reads a payload encodeWakes wrote. What it does not know (a
// newer binary's kind) it skips.
func decodeWakes(payload string) []store.Wake {
	var out []store.Wake
	for _, f := range strings.Fields(payload) {
		kind, at, _ := strings.Cut(f, "@")
		w := store.Wake{Kind: store.WakeKind(kind)}
		switch w.Kind {
		case store.WakeDeliveries, store.WakeRuns, store.WakeTimers:
		default:
			continue
		}
		if at != "" {
			ns, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				continue
			}
			w.At = time.Unix(0, ns).UTC()
		}
		out = append(out, w)
	}
	return out
}

// Listen implements store.Store.
func (s *Store) Listen(ctx context.Context, fn func(store.Wake)) error {
	if s.d.Listen == nil {
		// Unlike Postgres, SQLite has one process per database: this one
		// hands itself its work in memory.
		<-ctx.Done()
		return nil
	}
	return s.d.Listen(ctx, func(payload string) {
		for _, w := range decodeWakes(payload) {
			fn(w)
		}
	})
}

// woke records that the statement just run made work of kind due at at
// (zero: now) that nobody holds; see the top of this section.
func (q *queries) woke(kind store.WakeKind, at time.Time) {
	if q.wake != nil {
		q.wake(store.Wake{Kind: kind, At: at})
	}
}

// addWake keeps w for the notifier, which gets the transaction's wakes
// once it commits; a transaction that rolls back sends none.
func (t *tx) addWake(w store.Wake) {
	if t.wakes == nil {
		t.wakes = map[store.WakeKind]time.Time{}
		t.AfterCommit(func() {
			ws := make([]store.Wake, 0, len(t.wakes))
			for kind, at := range t.wakes {
				ws = append(ws, store.Wake{Kind: kind, At: at})
			}
			t.notifier.add(ws)
		})
	}
	at, ok := t.wakes[w.Kind]
	t.wakes[w.Kind] = soonerWake(at, ok, w.At)
}
