package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/fieldflow/fieldflow/internal/app"
)

const usage = `fieldflow — custom fields, events, webhooks and automations

Usage:
  fieldflow serve   [flags]              run the server (applies migrations first)
  fieldflow migrate [up|status|down]     apply pending migrations (up, the default), list them with
                                         their state, or roll back the newest one; then exit
  fieldflow keys create [--tenant ID] [--name N] [--expires 720h]
                                         create an API key and print it (shown once)
  fieldflow keys list                    list API keys (never their secrets)
  fieldflow keys revoke ID               revoke an API key at once, on every instance
  fieldflow rotate-master-key [--new-key-file F]
                                         re-seal every secret under a new master key (servers stopped);
                                         the new key from F or FIELDFLOW_NEW_MASTER_KEY, else generated
  fieldflow bench   [flags]              measure throughput (see fieldflow bench -h)
  fieldflow openapi                      print the API's OpenAPI document (web/ builds its client from it)
  fieldflow version                      print the version, commit and Go version

Run fieldflow COMMAND --help for a command's flags and the FIELDFLOW_* variables it reads
(a flag wins over its variable). fieldflow --version prints the version and commit.
`

// run runs one command. A --help anywhere prints that command's usage and
// succeeds.
func run(ctx context.Context, args []string) error {
	err := dispatch(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		cfg, err := parseConfig("serve", cmdServe, args[1:], nil)
		if err != nil {
			return err
		}
		routeStandardLog(cfg.Logger)
		return app.Run(ctx, cfg)
	case "migrate":
		return runMigrate(ctx, args[1:])
	case "keys":
		return runKeys(ctx, args[1:])
	case "rotate-master-key":
		var newKeyFile string
		cfg, err := parseConfig("rotate-master-key", cmdRotate, args[1:], func(fs *flag.FlagSet) {
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
	case "version", "--version", "-version":
		fmt.Println(versionLine())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// versionLine is what `fieldflow version` prints: the version stamped at
// build time (-ldflags "-X …/internal/app.Version=v1.2.3"), else the
// module version `go install …@v1.2.3` records, and the commit the binary
// was built from, when the build recorded it.
func versionLine() string {
	version, commit, modified := app.BuildInfo()
	line := "fieldflow " + version
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if modified {
			commit += "+modified"
		}
		line += " (commit " + commit + ")"
	}
	return line + " " + runtime.Version()
}
