package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serverSample is what one scrape of the server's /metrics said.
type serverSample struct {
	cpu     time.Duration // process_cpu_seconds_total
	backlog int           // fieldflow_backlog_pending of the scenario's queue
}

// scrape reads the server's CPU time and backlog from its /metrics: at
// Config.MetricsURL without a key when set, else at URL/metrics with the
// admin key. queue is the backlog's label (deliveries or runs).
func (c *client) scrape(ctx context.Context, metricsURL, queue string) (serverSample, error) {
	url := metricsURL
	if url == "" {
		url = strings.TrimSuffix(c.base, "/") + "/metrics"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return serverSample{}, err
	}
	if metricsURL == "" {
		req.Header.Set("X-API-Key", c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return serverSample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return serverSample{}, fmt.Errorf("scrape %s: status %d", url, resp.StatusCode)
	}
	var s serverSample
	var sawCPU bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	backlog := `fieldflow_backlog_pending{queue="` + queue + `"} `
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "process_cpu_seconds_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				s.cpu, sawCPU = time.Duration(f*float64(time.Second)), true
			}
		} else if v, ok := strings.CutPrefix(line, backlog); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				s.backlog = int(f)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return serverSample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	if !sawCPU {
		return serverSample{}, fmt.Errorf("scrape %s: no process_cpu_seconds_total", url)
	}
	return s, nil
}

// postgresCPU sums the CPU time of every process named postgres on this
// machine (Linux /proc): the database's share of the work, with whatever
// else that server was doing at the time.
func postgresCPU() (time.Duration, bool) {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	found := false
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		_, rest, ok := strings.Cut(string(b), " (")
		i := strings.LastIndexByte(rest, ')')
		if !ok || i < 0 || rest[:i] != "postgres" {
			continue
		}
		f := strings.Fields(rest[i+1:])
		if len(f) < 13 {
			continue
		}
		// Fields 14 and 15 of stat(5), utime and stime, in clock ticks
		// (USER_HZ, 100 on Linux).
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		s, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		ticks += u + s
		found = true
	}
	return time.Duration(ticks) * 10 * time.Millisecond, found
}

// serverMeter reads the server's /metrics (and the postgres processes'
// CPU) at the start of the measured phase, at its end and once the
// backlog drained.
type serverMeter struct {
	c          *client
	metricsURL string
	queue      string
	pg         bool

	start, end serverSample
	pgStart    time.Duration
	// err is the first scrape that failed; the figures are then left out.
	err error
}

func startMeter(ctx context.Context, c *client, cfg Config, queue string) *serverMeter {
	m := &serverMeter{c: c, metricsURL: cfg.MetricsURL, queue: queue, pg: cfg.PostgresCPU}
	m.start, m.err = c.scrape(ctx, m.metricsURL, queue)
	if m.pg {
		m.pgStart, m.pg = postgresCPU()
	}
	return m
}

func (m *serverMeter) phaseEnded(ctx context.Context) {
	if m.err == nil {
		m.end, m.err = m.c.scrape(ctx, m.metricsURL, m.queue)
	}
}

// figures reads the server once more, after the drain, and puts the
// figures together with what the receiver counted.
func (m *serverMeter) figures(ctx context.Context, s *eventsScenario, phase time.Duration) *ServerFigures {
	if m.err != nil {
		return nil
	}
	after, err := m.c.scrape(ctx, m.metricsURL, m.queue)
	if err != nil {
		m.err = err
		return nil
	}
	inPhase, since := s.counts()
	f := &ServerFigures{Delivered: inPhase, DeliveredPerSecond: float64(inPhase) / phase.Seconds(), BacklogEnd: m.end.backlog}
	if since > 0 {
		f.CPUPerEvent = (after.cpu - m.start.cpu) / time.Duration(since)
		if m.pg {
			if pg, ok := postgresCPU(); ok {
				f.DBCPUPerEvent = (pg - m.pgStart) / time.Duration(since)
			}
		}
	}
	return f
}

// fetchProfile saves the server's CPU profile over d into file.
func fetchProfile(ctx context.Context, url, file string, d time.Duration) error {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	// The profile takes as long as the phase; the bench's client times
	// out sooner.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}
