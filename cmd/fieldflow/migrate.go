package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
)

// runMigrate runs `fieldflow migrate [up|status|down] [flags]`.
func runMigrate(ctx context.Context, args []string) error {
	action := "up"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	switch action {
	case "up", "status", "down":
	default:
		return fmt.Errorf("migrate: unknown action %q: want up, status or down", action)
	}
	cfg, err := parseConfig("migrate "+action, cmdMigrate, args, nil)
	if err != nil {
		return err
	}
	switch action {
	case "status":
		list, err := app.MigrationStatus(ctx, cfg)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tNAME\tSTATE\tAPPLIED AT")
		pending := 0
		for _, m := range list {
			state, at := "applied", m.AppliedAt.UTC().Format(time.RFC3339)
			if !m.Applied {
				state, at = "pending", "-"
				pending++
			}
			fmt.Fprintf(w, "%05d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Printf("%d of %d applied, %d pending\n", len(list)-pending, len(list), pending)
		return nil
	case "down":
		v, err := app.MigrateDown(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Printf("rolled back migration %05d; the next start or migrate up applies it again\n", v)
		return nil
	}
	applied, err := app.MigrateUp(ctx, cfg)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Println("migrations applied (none was pending)")
		return nil
	}
	fmt.Printf("migrations applied: %d (up to %05d)\n", len(applied), applied[len(applied)-1])
	return nil
}
