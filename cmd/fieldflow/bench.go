package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/bench"
)

const benchUsage = `Usage: fieldflow bench [flags]

Measures fieldflow through its HTTP API. Without --url it starts a server in
this process on a temporary SQLite database, or on --db postgres://… (with a
generated master key; the bench leaves its field group and values there).
The in-process server has no rate limit; a --url server applies its own, so
start it with FIELDFLOW_RATE_LIMIT=off to measure beyond 100 requests/s.

Flags:
`

func runBench(ctx context.Context, args []string) error {
	var cfg bench.Config
	var db string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Scenario, "scenario", "saves", "what to measure: "+strings.Join(bench.Scenarios, ", "))
	fs.StringVar(&cfg.URL, "url", "", "measure the server at this base URL instead of starting one")
	fs.StringVar(&cfg.Key, "key", os.Getenv("FIELDFLOW_ADMIN_KEY"), "admin API key of the --url server (default $FIELDFLOW_ADMIN_KEY)")
	fs.StringVar(&db, "db", "", "database of the server started here: a postgres:// URL (default a temporary SQLite file)")
	fs.IntVar(&cfg.Clients, "clients", 32, "concurrent clients")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total operations per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of the measured phase")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured run before it (0: none)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (the in-process server and the clients) during the measured phase")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = -1 // the flag's 0 means none; Config's zero means the default
	}
	if cfg.URL != "" && db != "" {
		return errors.New("bench: --db and --url exclude each other")
	}

	target := cfg.URL
	if cfg.URL == "" {
		a, stop, err := startBenchServer(ctx, db)
		if err != nil {
			return err
		}
		defer stop()
		cfg.URL, cfg.Key = "http://"+a.Addr(), a.key
		target = "in-process server on " + a.dbName
	}
	fmt.Printf("fieldflow bench: %s\n", target)
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	if res.Ops == 0 {
		return fmt.Errorf("bench: no operation succeeded (%d failed)", res.Errors)
	}
	return nil
}

type benchServer struct {
	*app.App
	key    string
	dbName string
}

// startBenchServer starts fieldflow in this process on 127.0.0.1 with a
// fresh admin key: on a temporary SQLite file when db is empty, else on
// the PostgreSQL database db with a generated master key.
func startBenchServer(ctx context.Context, db string) (*benchServer, func(), error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg := app.Config{
		Addr:     "127.0.0.1:0",
		DB:       db,
		AdminKey: "ffk_bench_" + base64.RawURLEncoding.EncodeToString(key[:16]),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Stdout:   io.Discard,
		// The events scenario's receiver listens on 127.0.0.1.
		AllowPrivateTargets: true,
		// The bench measures the server, not its rate limit: one key sends
		// thousands of requests a second.
		RateLimit: -1,
	}
	cleanup := func() {}
	name := "PostgreSQL"
	if db == "" {
		dir, err := os.MkdirTemp("", "fieldflow-bench-")
		if err != nil {
			return nil, nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		cfg.DB = filepath.Join(dir, "bench.db")
		name = "SQLite " + cfg.DB
	} else {
		mk := make([]byte, 32)
		_, _ = rand.Read(mk)
		cfg.MasterKey = base64.StdEncoding.EncodeToString(mk)
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("bench: start server: %w", err)
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(context.Background())
		cleanup()
		return nil, nil, fmt.Errorf("bench: start server: %w", err)
	}
	stop := func() {
		_ = a.Stop(context.Background())
		cleanup()
	}
	return &benchServer{App: a, key: cfg.AdminKey, dbName: name}, stop, nil
}
