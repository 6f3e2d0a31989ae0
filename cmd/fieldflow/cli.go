package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
)

const usage = `fieldflow — custom fields, events, webhooks and automations

Usage:
  fieldflow serve   [flags]              run the server (applies migrations first)
  fieldflow migrate [flags]              apply pending migrations and exit
  fieldflow keys create [--tenant ID] [--name N] [--expires 720h]
                                         create an API key and print it (shown once)
  fieldflow keys list                    list API keys (never their secrets)
  fieldflow keys revoke ID               revoke an API key at once, on every instance
  fieldflow rotate-master-key [--new-key-file F]
                                         re-seal every secret under a new master key (servers stopped);
                                         the new key from F or FIELDFLOW_NEW_MASTER_KEY, else generated
  fieldflow bench   [flags]              measure throughput (see fieldflow bench -h)
  fieldflow openapi                      print the API's OpenAPI document (web/ builds its client from it)
  fieldflow version                      print the version

Flags (each also read from the environment variable shown):
  --addr                   FIELDFLOW_ADDR                   listen address (127.0.0.1:8080)
  --db                     FIELDFLOW_DB                     SQLite file or postgres:// URL (fieldflow.db)
  --master-key-file        FIELDFLOW_MASTER_KEY (base64)    key that encrypts secrets at rest
  --allow-private-targets  FIELDFLOW_ALLOW_PRIVATE_TARGETS  let outbound requests reach private addresses
  --role                   FIELDFLOW_ROLE                   all, api or worker (all)
  --metrics-addr           FIELDFLOW_METRICS_ADDR           serve /metrics there, without a key, instead of on --addr
                           FIELDFLOW_METRICS_TOKEN          a bearer token that may read /metrics on --addr (besides admin keys)
                           FIELDFLOW_ADMIN_KEY              an admin key to accept (else one is generated)
                           FIELDFLOW_DELIVERY_LEASE         how long a crashed process's deliveries wait before another takes them (30s)
                           FIELDFLOW_RATE_LIMIT             requests per second per API key (100; off for none)
                           FIELDFLOW_RATE_BURST             requests a key may make at once (200)
                           FIELDFLOW_CLIENT_ADDR_HEADER     header a trusted proxy sets to the client's address (none)
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, _, err := parseConfig("serve", args[1:], nil)
		if err != nil {
			return err
		}
		return app.Run(ctx, cfg)
	case "migrate":
		cfg, _, err := parseConfig("migrate", args[1:], nil)
		if err != nil {
			return err
		}
		if err := app.Migrate(ctx, cfg); err != nil {
			return err
		}
		fmt.Println("migrations applied")
		return nil
	case "keys":
		return runKeys(ctx, args[1:])
	case "rotate-master-key":
		var newKeyFile string
		cfg, _, err := parseConfig("rotate-master-key", args[1:], func(fs *flag.FlagSet) {
			fs.StringVar(&newKeyFile, "new-key-file", "", "file holding the new base64 master key (default: FIELDFLOW_NEW_MASTER_KEY, else a generated key)")
		})
		if err != nil {
			return err
		}
		p := app.RotateMasterKeyParams{NewKey: os.Getenv("FIELDFLOW_NEW_MASTER_KEY")}
		if newKeyFile != "" {
			b, err := os.ReadFile(newKeyFile)
			if err != nil {
				return fmt.Errorf("read new master key: %w", err)
			}
			p.NewKey = string(b)
		}
		res, err := app.RotateMasterKey(ctx, cfg, p)
		if err != nil {
			return err
		}
		fmt.Printf("re-sealed %d secrets under the new master key\n", res.Resealed)
		if res.KeyFile != "" {
			fmt.Printf("new key in %s; the old one is kept in %s until you remove it\n", res.KeyFile, res.OldKeyFile)
		} else {
			fmt.Println("set FIELDFLOW_MASTER_KEY to the new key before the next start")
		}
		return nil
	case "bench":
		return runBench(ctx, args[1:])
	case "openapi":
		doc, err := app.OpenAPI(ctx)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(append(doc, '\n'))
		return err
	case "version":
		fmt.Println("fieldflow", app.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// parseConfig reads flags over FIELDFLOW_* variables; a flag wins.
func parseConfig(name string, args []string, more func(*flag.FlagSet)) (app.Config, *flag.FlagSet, error) {
	cfg := app.Config{
		Addr:      os.Getenv("FIELDFLOW_ADDR"),
		DB:        os.Getenv("FIELDFLOW_DB"),
		AdminKey:  os.Getenv("FIELDFLOW_ADMIN_KEY"),
		MasterKey: os.Getenv("FIELDFLOW_MASTER_KEY"),
		Role:      os.Getenv("FIELDFLOW_ROLE"),
	}
	cfg.MetricsAddr = os.Getenv("FIELDFLOW_METRICS_ADDR")
	cfg.MetricsToken = os.Getenv("FIELDFLOW_METRICS_TOKEN")
	if v := os.Getenv("FIELDFLOW_ALLOW_PRIVATE_TARGETS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, nil, fmt.Errorf("FIELDFLOW_ALLOW_PRIVATE_TARGETS=%q: want true or false", v)
		}
		cfg.AllowPrivateTargets = b
	}
	if v := os.Getenv("FIELDFLOW_DELIVERY_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return cfg, nil, fmt.Errorf("FIELDFLOW_DELIVERY_LEASE=%q: want a duration of at least 1s, like 30s", v)
		}
		cfg.DeliveryLease = d
	}
	if v := os.Getenv("FIELDFLOW_RATE_LIMIT"); v != "" {
		if v == "off" {
			cfg.RateLimit = -1
		} else if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
			cfg.RateLimit = f
		} else {
			return cfg, nil, fmt.Errorf("FIELDFLOW_RATE_LIMIT=%q: want requests per second above 0, like 100, or off", v)
		}
	}
	if v := os.Getenv("FIELDFLOW_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, nil, fmt.Errorf("FIELDFLOW_RATE_BURST=%q: want a whole number of requests of at least 1, like 200", v)
		}
		cfg.RateBurst = n
	}
	cfg.ClientAddrHeader = os.Getenv("FIELDFLOW_CLIENT_ADDR_HEADER")
	if os.Getenv("GOGC") != "" {
		cfg.GCPercent = -1 // the operator chose; leave the runtime alone
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (default 127.0.0.1:8080)")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "SQLite file or postgres:// URL (default fieldflow.db)")
	fs.StringVar(&cfg.MasterKeyFile, "master-key-file", "", "file holding the base64 master key")
	fs.BoolVar(&cfg.AllowPrivateTargets, "allow-private-targets", cfg.AllowPrivateTargets, "let outbound requests reach loopback and private addresses")
	fs.StringVar(&cfg.Role, "role", cfg.Role, "all, api or worker (default all)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "serve /metrics on this address, without a key, instead of on --addr")
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if fs.NArg() > 0 {
		return cfg, nil, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return cfg, fs, nil
}
