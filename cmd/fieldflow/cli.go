package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
)

const usage = `fieldflow — custom fields, events, webhooks and automations

Usage:
  fieldflow serve   [flags]              run the server (applies migrations first)
  fieldflow migrate [flags]              apply pending migrations and exit
  fieldflow keys create [--tenant ID]    create an API key and print it
  fieldflow bench   [flags]              measure throughput (see fieldflow bench -h)
  fieldflow openapi                      print the API's OpenAPI document (web/ builds its client from it)
  fieldflow version                      print the version

Flags (each also read from the environment variable shown):
  --addr                   FIELDFLOW_ADDR                   listen address (127.0.0.1:8080)
  --db                     FIELDFLOW_DB                     SQLite file or postgres:// URL (fieldflow.db)
  --master-key-file        FIELDFLOW_MASTER_KEY (base64)    key that encrypts secrets at rest
  --allow-private-targets  FIELDFLOW_ALLOW_PRIVATE_TARGETS  let outbound requests reach private addresses
  --role                   FIELDFLOW_ROLE                   all, api or worker (all)
                           FIELDFLOW_ADMIN_KEY              an admin key to accept (else one is generated)
                           FIELDFLOW_DELIVERY_LEASE         how long a crashed process's deliveries wait before another takes them (30s)
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
		if len(args) < 2 || args[1] != "create" {
			return errors.New("usage: fieldflow keys create [--tenant ID]")
		}
		var tenant string
		cfg, _, err := parseConfig("keys create", args[2:], func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "create a key scoped to this tenant (default: an admin key)")
		})
		if err != nil {
			return err
		}
		key, err := app.CreateKey(ctx, cfg, tenant)
		if err != nil {
			return err
		}
		if tenant != "" {
			fmt.Printf("API key for tenant %s: %s\n", tenant, key)
		} else {
			fmt.Printf("admin API key: %s\n", key)
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
	if os.Getenv("GOGC") != "" {
		cfg.GCPercent = -1 // the operator chose; leave the runtime alone
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (default 127.0.0.1:8080)")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "SQLite file or postgres:// URL (default fieldflow.db)")
	fs.StringVar(&cfg.MasterKeyFile, "master-key-file", "", "file holding the base64 master key")
	fs.BoolVar(&cfg.AllowPrivateTargets, "allow-private-targets", cfg.AllowPrivateTargets, "let outbound requests reach loopback and private addresses")
	fs.StringVar(&cfg.Role, "role", cfg.Role, "all, api or worker (default all)")
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
