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

Measures fieldflow through its HTTP API. With --spawn it starts
` + "`fieldflow serve`" + ` as a child process and measures it from outside, the way
to quote figures: the events and runs scenarios also print this machine's
loopback limit measured in the same run, the server's CPU per delivered
event and its backlog. Without --spawn or --url it starts a server in this
process. Either runs on a temporary SQLite database, or in a schema of its
own, dropped at the end, of the database at --db postgres://….
A --url server applies its own rate limit, so start it with
FIELDFLOW_RATE_LIMIT=off to measure beyond 100 requests/s.

Flags:
`

func runBench(ctx context.Context, args []string) error {
	return runBenchWith(ctx, os.Stdout, args, os.Executable)
}

// runBenchWith runs the bench command, printing to out; serverBinary
// names the fieldflow binary --spawn starts (this one, outside tests).
func runBenchWith(ctx context.Context, out io.Writer, args []string, serverBinary func() (string, error)) error {
	var cfg bench.Config
	var db string
	var spawn bool
	var serverBin string
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
	fs.BoolVar(&spawn, "spawn", false, "start `fieldflow serve` as a child process on --db (default a temporary SQLite file) and measure it from outside")
	fs.StringVar(&serverBin, "server-bin", "", "with --spawn, the fieldflow `binary` to start, such as a build of another commit to compare (default this one)")
	fs.StringVar(&cfg.ServerProfile, "server-cpuprofile", "", "with --spawn, write a CPU profile of the server during the measured phase")
	fs.IntVar(&cfg.EventBytes, "event-bytes", 500, "size of each published event's body (events and runs scenarios)")
	fs.DurationVar(&cfg.Loopback, "loopback", 5*time.Second, "how long to measure the loopback limit first (events and runs scenarios; 0: not at all)")
	fs.BoolVar(&cfg.PostgresCPU, "postgres-cpu", false, "also report the CPU of this machine's postgres processes per event (default: on with --db postgres://…)")
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
	if cfg.Loopback == 0 {
		cfg.Loopback = -1
	}
	if cfg.URL != "" && db != "" {
		return errors.New("bench: --db and --url exclude each other")
	}
	if cfg.URL != "" && spawn {
		return errors.New("bench: --spawn and --url exclude each other")
	}
	if (cfg.ServerProfile != "" || serverBin != "") && !spawn {
		return errors.New("bench: --server-cpuprofile and --server-bin need --spawn")
	}
	pgCPUSet := false
	fs.Visit(func(f *flag.Flag) { pgCPUSet = pgCPUSet || f.Name == "postgres-cpu" })
	if strings.HasPrefix(db, "postgres") && !pgCPUSet {
		cfg.PostgresCPU = true
	}

	target := cfg.URL
	var sp *spawnedServer
	switch {
	case spawn:
		bin, err := serverBinary()
		if serverBin != "" {
			bin, err = serverBin, nil
		}
		if err != nil {
			return fmt.Errorf("bench: find the fieldflow binary: %w", err)
		}
		var stop func()
		sp, stop, err = spawnBenchServer(ctx, bin, db)
		if err != nil {
			return err
		}
		defer stop()
		cfg.URL, cfg.Key, cfg.MetricsURL = sp.url, sp.key, sp.metricsURL
		if cfg.ServerProfile != "" {
			cfg.ServerProfileURL = sp.pprofURL
		}
		target = fmt.Sprintf("fieldflow serve (pid %d) on %s, measured from this process", sp.pid, sp.dbName)
	case cfg.URL == "":
		a, stop, err := startBenchServer(ctx, db)
		if err != nil {
			return err
		}
		defer stop()
		cfg.URL, cfg.Key = "http://"+a.Addr(), a.key
		target = "in-process server on " + a.dbName
	}
	fmt.Fprintf(out, "fieldflow bench: %s\n", target)
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.Print(out)
	if sp != nil {
		if rss := sp.peakRSS(); rss != "" {
			fmt.Fprintf(out, "  peak RSS of the server: %s\n", rss)
		}
	}
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
// a fresh schema of the PostgreSQL database db, with a generated master
// key.
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
	var cleanup func()
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
		// A schema of its own, dropped at the end: each run starts from an
		// empty database, and its generated master key seals nothing that
		// outlives it.
		u, drop, err := app.ScratchSchema(ctx, db)
		if err != nil {
			return nil, nil, fmt.Errorf("bench: %w", err)
		}
		cfg.DB = u
		cleanup = func() { _ = drop(context.Background()) }
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
