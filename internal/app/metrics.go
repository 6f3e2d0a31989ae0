package app

import (
	"cmp"
	"context"
	"database/sql"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// BuildInfo is the build's version and commit: Version and Commit when
// the linker set them, else what the Go toolchain recorded (the module
// version of `go install …@v1.2.3`, the VCS revision). modified says the
// working tree had changes.
func BuildInfo() (version, commit string, modified bool) {
	version, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = cmp.Or(commit, s.Value)
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	return version, commit, modified
}

// registerMetrics adds the process-wide series: build info, the database
// pools' statistics and the backlog read from the database at scrape
// time. It returns the subscriber that counts published events.
func registerMetrics(reg *prometheus.Registry, s store.Store, log *slog.Logger) *publishedCounter {
	version, commit, _ := BuildInfo()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fieldflow_build_info",
		Help: "Always 1; its labels name the running build."}, []string{"version", "commit", "goversion"})
	info.WithLabelValues(version, commit, runtime.Version()).Set(1)
	reg.MustRegister(info)
	if p, ok := s.(interface{ Pools() map[string]*sql.DB }); ok {
		for name, db := range p.Pools() {
			reg.MustRegister(collectors.NewDBStatsCollector(db, name))
		}
	}
	reg.MustRegister(&backlogCollector{store: s, log: log})
	c := &publishedCounter{events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fieldflow_events_published_total",
		Help: "Events written to the log, by class: the built-in prefix (field_value, entity, webhook…) or host."}, []string{"class"})}
	// Each class starts at zero, so that rate() sees the first event.
	for _, p := range events.ReservedPrefixes() {
		c.events.WithLabelValues(strings.TrimSuffix(p, "."))
	}
	c.events.WithLabelValues("host")
	reg.MustRegister(c.events)
	return c
}

// publishedCounter counts events once their transaction commits.
type publishedCounter struct {
	events *prometheus.CounterVec
}

// Handle implements records.Subscriber.
func (c *publishedCounter) Handle(_ context.Context, tx store.Tx, evs []*events.Event) error {
	classes := make([]string, len(evs))
	for i, ev := range evs {
		classes[i] = events.Class(ev.Type)
	}
	tx.AfterCommit(func() {
		for _, cl := range classes {
			c.events.WithLabelValues(cl).Inc()
		}
	})
	return nil
}

// backlogCollector reads the backlog on each scrape: two indexed queries,
// cheap enough for a scrape every few seconds, and true for the whole
// system (every process's work), not only this one's memory.
type backlogCollector struct {
	store store.Store
	log   *slog.Logger
}

var (
	backlogPendingDesc = prometheus.NewDesc("fieldflow_backlog_pending",
		"Pending deliveries or runs in the database (due now or retrying later), by queue (deliveries, runs).", []string{"queue"}, nil)
	backlogAgeDesc = prometheus.NewDesc("fieldflow_backlog_oldest_due_age_seconds",
		"How long the longest-waiting pending delivery or run has been due, by queue; 0 when none is overdue.", []string{"queue"}, nil)
)

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogPendingDesc
	ch <- backlogAgeDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := c.store.BacklogRead(ctx)
	if err != nil {
		// A scrape still answers with everything else; the gap in these
		// series and this line say why.
		c.log.Warn("metrics: read the backlog", "err", err)
		return
	}
	now := time.Now()
	for _, q := range []struct {
		name    string
		pending int
		due     time.Time
	}{{"deliveries", b.DeliveriesPending, b.DeliveriesFirstDue}, {"runs", b.RunsPending, b.RunsFirstDue}} {
		ch <- prometheus.MustNewConstMetric(backlogPendingDesc, prometheus.GaugeValue, float64(q.pending), q.name)
		age := 0.0
		if !q.due.IsZero() {
			age = max(now.Sub(q.due).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(backlogAgeDesc, prometheus.GaugeValue, age, q.name)
	}
}
