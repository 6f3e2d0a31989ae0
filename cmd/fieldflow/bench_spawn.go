package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
)

// spawnedServer is a `fieldflow serve` child process the bench measures
// from outside, as a host app or a peer's load generator would.
type spawnedServer struct {
	url, key   string
	metricsURL string
	pprofURL   string
	pid        int
	dbName     string
}

// spawnBenchServer starts bin serve on 127.0.0.1 with a fresh admin key,
// no rate limit, private targets allowed (the receiver is on loopback),
// and /metrics and the profiler on a listener of their own: on a
// temporary SQLite file when db is empty, else on a fresh schema of the
// PostgreSQL database db with a generated master key. It returns once
// /readyz answers; stop ends the process and removes what it made.
func spawnBenchServer(ctx context.Context, bin, db string) (*spawnedServer, func(), error) {
	keyBytes := make([]byte, 16)
	_, _ = rand.Read(keyBytes)
	key := "ffk_bench_" + base64.RawURLEncoding.EncodeToString(keyBytes)
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, nil, err
	}
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, nil, err
	}
	env := append(os.Environ(),
		"FIELDFLOW_ADDR="+addr,
		"FIELDFLOW_ADMIN_KEY="+key,
		"FIELDFLOW_RATE_LIMIT=off",
		"FIELDFLOW_ALLOW_PRIVATE_TARGETS=true",
		"FIELDFLOW_METRICS_ADDR="+metricsAddr,
		"FIELDFLOW_PPROF=true",
		"FIELDFLOW_LOG_LEVEL=warn",
	)
	var cleanup func()
	name := "PostgreSQL"
	if db == "" {
		dir, err := os.MkdirTemp("", "fieldflow-bench-")
		if err != nil {
			return nil, nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		file := filepath.Join(dir, "bench.db")
		env = append(env, "FIELDFLOW_DB="+file)
		name = "SQLite " + file
	} else {
		u, drop, err := app.ScratchSchema(ctx, db)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
		cleanup = func() { _ = drop(context.Background()) }
		mk := make([]byte, 32)
		_, _ = rand.Read(mk)
		env = append(env, "FIELDFLOW_DB="+u, "FIELDFLOW_MASTER_KEY="+base64.StdEncoding.EncodeToString(mk))
	}
	// Not CommandContext: stop ends the process gently, so that its
	// database is closed before its schema is dropped.
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: start %s serve: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		cleanup()
	}
	sp := &spawnedServer{url: "http://" + addr, key: key, metricsURL: "http://" + metricsAddr + "/metrics",
		pprofURL: "http://" + metricsAddr + "/debug/pprof/profile", pid: cmd.Process.Pid, dbName: name}
	if err := waitReady(ctx, sp.url+"/readyz", exited); err != nil {
		stop()
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	return sp, stop, nil
}

// waitReady polls url until it answers 200, the process exits or 60 s
// pass (a first start applies every migration).
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the server exited before it was ready (its log is above)")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after 60s", url)
		}
	}
}

// freeLoopbackAddr picks a port on 127.0.0.1 that is free now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: pick a port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// peakRSS is the server's high-water resident set size (Linux), read while
// it still runs.
func (s *spawnedServer) peakRSS() string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
