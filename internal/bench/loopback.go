package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Loopback is this machine's limit for the load itself, measured in the
// same run as the server: the same clients posting bodies of the same size
// to a receiver in this process that answers 200 at once. A figure of the
// server means little on a shared, noisy machine; its ratio to this one
// travels.
type Loopback struct {
	Clients, BodyBytes int
	Ops                int
	Elapsed            time.Duration
	// CPUPerOp is this process's CPU time per request, client and
	// receiver together; zero where it cannot be read.
	CPUPerOp time.Duration
}

// PerSecond is the loopback's requests per second.
func (l *Loopback) PerSecond() float64 {
	if l.Elapsed <= 0 {
		return 0
	}
	return float64(l.Ops) / l.Elapsed.Seconds()
}

// measureLoopback runs the loopback for dur with cfg's clients, posting
// body each time.
func measureLoopback(ctx context.Context, cfg Config, body []byte, dur time.Duration) (*Loopback, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loopback receiver: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body as a receiver must, answer at once.
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()
	c := &client{http: hc, base: "http://" + ln.Addr().String()}
	do := func(ctx context.Context, _, _ int) error { return c.do(ctx, http.MethodPost, "/hook", body, nil) }
	lcfg := cfg
	lcfg.Rate = 0
	d := &driver{cfg: lcfg, do: do, seq: make([]int, cfg.Clients)}
	d.run(ctx, min(dur/4, time.Second)) // connections opened
	cpu0, okCPU := selfCPU()
	res := d.run(ctx, dur)
	cpu1, _ := selfCPU()
	if res.Ops == 0 {
		return nil, fmt.Errorf("loopback: no request succeeded: %s", res.FirstError)
	}
	l := &Loopback{Clients: cfg.Clients, BodyBytes: len(body), Ops: res.Ops, Elapsed: res.Elapsed}
	if okCPU {
		l.CPUPerOp = (cpu1 - cpu0) / time.Duration(res.Ops)
	}
	return l, nil
}
