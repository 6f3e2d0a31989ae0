package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/store"
)

// wakeListener hands the wakes other instances send over the database
// (PostgreSQL LISTEN/NOTIFY, see store.Store.Listen) to this process's
// dispatcher, runner and timer loop, so that work another instance commits
// without holding it (an api instance's writes, a full queue's overflow,
// the leases a stopping instance releases) is claimed now, not at the next
// poll. On SQLite it waits for Stop: one process has the database.
type wakeListener struct {
	store store.Store
	wake  func(store.Wake)
	log   *slog.Logger
	heard *prometheus.CounterVec

	cancel context.CancelFunc
	done   chan struct{}
}

func newWakeListener(s store.Store, wake func(store.Wake), log *slog.Logger, reg prometheus.Registerer) *wakeListener {
	heard := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_wakes_heard_total",
		Help: "Wakes heard from the instances sharing the database (this one's own included), by kind of work."}, []string{"kind"})
	for _, k := range allWakes() {
		heard.WithLabelValues(string(k.Kind))
	}
	reg.MustRegister(heard)
	return &wakeListener{store: s, wake: wake, log: log, heard: heard}
}

// allWakes is a wake of every kind, due now.
func allWakes() []store.Wake {
	return []store.Wake{{Kind: store.WakeDeliveries}, {Kind: store.WakeRuns}, {Kind: store.WakeTimers}}
}

// Start listens in the background until Stop.
func (l *wakeListener) Start(ctx context.Context) error {
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		l.loop(ctx)
	}()
	return nil
}

// Stop ends the listening and waits for it. It tolerates a second call
// and a listener never started.
func (l *wakeListener) Stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	<-l.done
}

// loop listens again after each failure, waiting longer each time, and
// after each failure wakes everything once: what was sent meanwhile is
// lost, and the polls alone would find it only later.
func (l *wakeListener) loop(ctx context.Context) {
	const minBackoff, maxBackoff = time.Second, 30 * time.Second
	backoff := minBackoff
	hear := func(w store.Wake) {
		l.heard.WithLabelValues(string(w.Kind)).Inc()
		l.wake(w)
	}
	for {
		began := time.Now()
		err := l.store.Listen(ctx, hear)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > maxBackoff {
			backoff = minBackoff
		}
		l.log.Warn("not hearing other instances' wakes; their work is found at each poll until this listens again",
			"err", err, "retry_in", backoff.String())
		for _, w := range allWakes() {
			l.wake(w)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
