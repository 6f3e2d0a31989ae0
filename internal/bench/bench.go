// Package bench measures fieldflow through its public HTTP API, the way a
// host app uses it: many concurrent clients, each waiting for its answer.
//
// A scenario prepares what it needs over the API (a field group, a field)
// and returns the one operation its clients repeat. The driver runs that
// operation either as fast as the server answers (closed loop) or at a
// fixed total rate (open loop). At a fixed rate each operation's latency is
// measured from the moment it was due, not from when a client got round to
// sending it, so a server that falls behind shows it in the percentiles
// instead of hiding it (no coordinated omission).
//
// bench speaks HTTP only; starting a server to measure is the command's
// job.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Scenarios are the scenario names Run accepts.
var Scenarios = []string{"saves", "events", "runs"}

// Config says what to measure.
type Config struct {
	// Scenario names what the clients do. Defaults to "saves": each
	// operation saves one changed value of an entity.
	Scenario string
	// URL is the server's base URL, such as http://127.0.0.1:8080.
	// Required.
	URL string
	// Key is an admin API key of that server. Required.
	Key string
	// Clients is the number of concurrent clients. Defaults to 32.
	Clients int
	// Rate is the total operations per second the clients aim at. Zero
	// means as fast as the server answers.
	Rate float64
	// Duration is how long the measured phase lasts. Defaults to 10 seconds.
	Duration time.Duration
	// Warmup runs the operation this long before measuring (connections
	// opened, entities created). Defaults to 1 second; negative means none.
	Warmup time.Duration
	// CPUProfile, when set, is a file that receives a CPU profile of this
	// process during the measured phase. It covers a server started in the
	// same process, and the clients too.
	CPUProfile string
	// HTTPClient defaults to a client with one idle connection per client
	// kept open.
	HTTPClient *http.Client
	// EventBytes is the size of each published event's request body in
	// the events and runs scenarios, padded with a string field. Defaults
	// to 500.
	EventBytes int
	// Loopback is how long the events and runs scenarios first measure
	// this machine's loopback limit (the clients posting the same bodies
	// to a receiver in this process). Defaults to 5 seconds; negative
	// means none.
	Loopback time.Duration
	// MetricsURL is the server's /metrics when it is served on a listener
	// of its own, read without a key. Empty: URL/metrics with Key.
	MetricsURL string
	// ServerProfileURL, when set, is the server's /debug/pprof/profile; a
	// CPU profile of the measured phase is fetched from it into
	// ServerProfile.
	ServerProfileURL, ServerProfile string
	// PostgresCPU adds the CPU time of this machine's postgres processes
	// to the figures (the server's database when it runs here).
	PostgresCPU bool
}

// WithDefaults returns the config with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Scenario = cmp.Or(c.Scenario, "saves")
	c.Clients = cmp.Or(c.Clients, 32)
	c.Duration = cmp.Or(c.Duration, 10*time.Second)
	c.Warmup = cmp.Or(c.Warmup, time.Second)
	c.EventBytes = cmp.Or(c.EventBytes, 500)
	c.Loopback = cmp.Or(c.Loopback, 5*time.Second)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConns: c.Clients, MaxIdleConnsPerHost: c.Clients, IdleConnTimeout: time.Minute},
		}
	}
	return c
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case !slices.Contains(Scenarios, c.Scenario):
		return fmt.Errorf("bench: Scenario %q: must be one of %v", c.Scenario, Scenarios)
	case c.URL == "":
		return errors.New("bench: URL: required")
	case c.Key == "":
		return errors.New("bench: Key: required")
	case c.Clients < 1:
		return fmt.Errorf("bench: Clients %d: must be at least 1", c.Clients)
	case c.Rate < 0:
		return fmt.Errorf("bench: Rate %g: must not be negative", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("bench: Duration %s: must not be negative", c.Duration)
	case c.EventBytes < 0 || c.EventBytes > 1<<20:
		return fmt.Errorf("bench: EventBytes %d: must be between 0 and 1 MiB", c.EventBytes)
	case (c.ServerProfileURL == "") != (c.ServerProfile == ""):
		return errors.New("bench: ServerProfileURL and ServerProfile: both or neither")
	}
	return nil
}

// Result is what one run measured.
type Result struct {
	Scenario string
	Clients  int
	// Rate is the target rate; zero for as fast as possible.
	Rate float64
	// Ops counts operations answered with 2xx during the measured phase;
	// Errors those that failed (transport error or another status).
	Ops, Errors int
	// FirstError describes the first failure, if any.
	FirstError string
	Elapsed    time.Duration
	// Latency percentiles of the successful operations.
	P50, P95, P99, Max time.Duration
	// Lost and Duplicates count accepted events never delivered and
	// deliveries beyond the first (events scenario).
	Lost, Duplicates int
	// Extra holds a scenario's own figures, one line each.
	Extra []string
	// Loopback is this machine's limit measured in the same run (events
	// and runs scenarios); nil when not measured.
	Loopback *Loopback
	// Server holds what the server's /metrics said (events and runs
	// scenarios); nil when it could not be read.
	Server *ServerFigures
}

// ServerFigures are the events and runs scenarios' delivery figures, read
// by the receiver and from the server's /metrics.
type ServerFigures struct {
	// Delivered counts first receipts during the measured phase, from
	// any phase's events; DeliveredPerSecond divides it by the phase.
	Delivered          int
	DeliveredPerSecond float64
	// BacklogEnd is fieldflow_backlog_pending of the scenario's queue
	// when the measured phase ended: a server that keeps up leaves a
	// handful.
	BacklogEnd int
	// CPUPerEvent is the server's CPU time from the start of the measured
	// phase until the backlog drained, per event received in that time;
	// DBCPUPerEvent the same for the postgres processes (Config.PostgresCPU).
	CPUPerEvent, DBCPUPerEvent time.Duration
}

// PerSecond is the throughput of successful operations.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Print writes the result for people.
func (r *Result) Print(w io.Writer) {
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("target %g/s", r.Rate)
	}
	fmt.Fprintf(w, "scenario %s: %d clients, %s, %s measured\n", r.Scenario, r.Clients, rate, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  %s/s:   %.0f (%d ok)\n", r.Scenario, r.PerSecond(), r.Ops)
	fmt.Fprintf(w, "  latency:  p50 %s  p95 %s  p99 %s  max %s\n", roundDur(r.P50), roundDur(r.P95), roundDur(r.P99), roundDur(r.Max))
	if r.Rate > 0 && r.PerSecond() < 0.95*r.Rate {
		fmt.Fprintf(w, "  the server fell behind the target rate: the phase took %s\n", r.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  errors:   %d\n", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.FirstError)
	}
	for _, line := range r.Extra {
		fmt.Fprintf(w, "  %s\n", line)
	}
	if l := r.Loopback; l != nil {
		fmt.Fprintf(w, "  loopback limit: %.0f requests/s (%d clients, %d-byte bodies, to a receiver in this process that answers at once), %s CPU per request (client and receiver)\n",
			l.PerSecond(), l.Clients, l.BodyBytes, roundDur(l.CPUPerOp))
	}
	if f := r.Server; f != nil {
		fmt.Fprintf(w, "  accepted/s: %.0f  delivered/s: %.0f (first receipts during the measured phase)  backlog at its end: %d\n",
			r.PerSecond(), f.DeliveredPerSecond, f.BacklogEnd)
		if l := r.Loopback; l != nil && l.PerSecond() > 0 {
			fmt.Fprintf(w, "  delivered/s is %.1f %% of the loopback limit\n", 100*f.DeliveredPerSecond/l.PerSecond())
		}
		line := fmt.Sprintf("  server CPU per delivered event: %s", roundDur(f.CPUPerEvent))
		if f.DBCPUPerEvent > 0 {
			line += fmt.Sprintf(", plus %s in this machine's postgres processes", roundDur(f.DBCPUPerEvent))
		}
		fmt.Fprintln(w, line)
	}
}

func roundDur(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// op is one operation of a scenario, run by client number client as its
// seq-th operation (seq counts from 0 per client).
type op func(ctx context.Context, client, seq int) error

// Run prepares the scenario, runs the warmup and the measured phase, and
// returns what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	ownClient := cfg.HTTPClient == nil
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ownClient {
		defer cfg.HTTPClient.CloseIdleConnections()
	}
	c := &client{http: cfg.HTTPClient, base: cfg.URL, key: cfg.Key}
	var do op
	var events *eventsScenario
	var err error
	switch cfg.Scenario {
	case "saves":
		do, err = setupSaves(ctx, c)
	case "events":
		do, events, err = setupEvents(ctx, c, false, cfg.EventBytes)
	case "runs":
		do, events, err = setupEvents(ctx, c, true, cfg.EventBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: set up scenario %s: %w", cfg.Scenario, err)
	}

	var loop *Loopback
	if events != nil && cfg.Loopback > 0 {
		// Before the warmup, while the server is idle: the loopback
		// measures this machine, not what the server leaves of it.
		loop, err = measureLoopback(ctx, cfg, events.body(0, 0), cfg.Loopback)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	d := &driver{cfg: cfg, do: do, seq: make([]int, cfg.Clients)}
	if cfg.Warmup > 0 {
		d.run(ctx, cfg.Warmup)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("bench: create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("bench: start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var profiled chan error
	if cfg.ServerProfileURL != "" {
		profiled = make(chan error, 1)
		go func() { profiled <- fetchProfile(ctx, cfg.ServerProfileURL, cfg.ServerProfile, cfg.Duration) }()
	}
	var meter *serverMeter
	if events != nil {
		meter = startMeter(ctx, c, cfg, events.queue())
	}
	start := time.Now()
	if events != nil {
		events.startPhase(start, start.Add(cfg.Duration))
	}
	res := d.run(ctx, cfg.Duration)
	res.Loopback = loop
	if events != nil {
		meter.phaseEnded(ctx)
		events.finish(ctx, res, start, 30*time.Second)
		res.Server = meter.figures(ctx, events, cfg.Duration)
		if meter.err != nil {
			res.Extra = append(res.Extra, "server figures: "+meter.err.Error())
		}
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			res.Extra = append(res.Extra, "server CPU profile: "+err.Error())
		} else {
			res.Extra = append(res.Extra, "server CPU profile of the measured phase: "+cfg.ServerProfile)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// driver runs a scenario's operation from many clients.
type driver struct {
	cfg Config
	do  op
	// seq is each client's next operation number; phases continue it so
	// the measured phase never repeats a warmup operation.
	seq []int
}

// sample is what one client saw.
type sample struct {
	latencies []time.Duration
	errors    int
	firstErr  error
}

// run drives the clients for d and summarises what they saw.
func (d *driver) run(ctx context.Context, dur time.Duration) *Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	end := start.Add(dur)
	samples := make([]sample, d.cfg.Clients)
	var next atomic.Int64 // open loop: the next operation due, across clients
	var wg sync.WaitGroup
	for i := range d.cfg.Clients {
		wg.Go(func() {
			s := &samples[i]
			for {
				due := time.Now()
				if d.cfg.Rate > 0 {
					k := next.Add(1) - 1
					due = start.Add(time.Duration(float64(k) / d.cfg.Rate * float64(time.Second)))
					if !due.Before(end) {
						return
					}
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							return
						}
					}
				} else if !due.Before(end) || ctx.Err() != nil {
					return
				}
				err := d.do(ctx, i, d.seq[i])
				d.seq[i]++
				took := time.Since(due)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					s.errors++
					if s.firstErr == nil {
						s.firstErr = err
					}
					continue
				}
				s.latencies = append(s.latencies, took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if d.cfg.Rate > 0 && ctx.Err() == nil {
		// At a fixed rate the phase lasts at least the schedule, even when
		// its last operation was due a little before the end; a server
		// that fell behind stretches it, and the rate shows that.
		elapsed = max(elapsed, dur)
	}
	return summarise(d.cfg, samples, elapsed)
}

func summarise(cfg Config, samples []sample, elapsed time.Duration) *Result {
	res := &Result{Scenario: cfg.Scenario, Clients: cfg.Clients, Rate: cfg.Rate, Elapsed: elapsed}
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s.latencies...)
		res.Errors += s.errors
		if s.firstErr != nil && res.FirstError == "" {
			res.FirstError = s.firstErr.Error()
		}
	}
	res.Ops = len(all)
	if len(all) == 0 {
		return res
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		i := int(float64(len(all))*p+0.5) - 1
		return all[min(max(i, 0), len(all)-1)]
	}
	res.P50, res.P95, res.P99, res.Max = pct(0.50), pct(0.95), pct(0.99), all[len(all)-1]
	return res
}
