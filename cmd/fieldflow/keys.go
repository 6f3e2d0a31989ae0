package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldflow/fieldflow/internal/app"
)

const keysUsage = "usage: fieldflow keys create [--tenant ID] [--name N] [--expires 720h] | keys list | keys revoke ID"

// runKeys runs `fieldflow keys …`. It works on the database directly, so
// it also serves when no admin key is at hand.
func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fmt.Println(keysUsage)
		return nil
	}
	switch args[0] {
	case "create":
		var opts app.KeyOptions
		cfg, err := parseConfig("keys create", cmdKeys, args[1:], func(fs *flag.FlagSet) {
			fs.StringVar(&opts.TenantID, "tenant", "", "create a key scoped to this tenant (default: an admin key)")
			fs.StringVar(&opts.Name, "name", "", "a label to tell the key apart")
			fs.DurationVar(&opts.ExpiresIn, "expires", 0, "lifetime, such as 720h (default: never expires)")
		})
		if err != nil {
			return err
		}
		k, err := app.CreateKeyWithOptions(ctx, cfg, opts)
		if err != nil {
			return err
		}
		if opts.TenantID != "" {
			fmt.Printf("API key for tenant %s: %s\n", opts.TenantID, k.Secret)
		} else {
			fmt.Printf("admin API key: %s\n", k.Secret)
		}
		expires := "never expires"
		if k.ExpiresAt != nil {
			expires = "expires " + k.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Printf("id %s, %s (shown once: it is stored hashed)\n", k.ID, expires)
		return nil
	case "list":
		cfg, err := parseConfig("keys list", cmdKeys, args[1:], nil)
		if err != nil {
			return err
		}
		keys, err := app.ListKeys(ctx, cfg)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tROLE\tTENANT\tNAME\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tSTATE")
		for _, k := range keys {
			state := "active"
			switch {
			case k.RevokedAt != nil:
				state = "revoked " + k.RevokedAt.Format(time.RFC3339)
			case !k.Active:
				state = "expired"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, dash(k.TenantID), dash(k.Name), dash(k.Prefix),
				k.CreatedAt.Format(time.RFC3339), timeOrDash(k.ExpiresAt), timeOrDash(k.LastUsedAt), state)
		}
		return w.Flush()
	case "revoke":
		// The id comes first or last: keys revoke ID [flags] or
		// keys revoke [flags] ID.
		rest := args[1:]
		var id string
		switch {
		case slices.Contains(rest, "-h") || slices.Contains(rest, "--help") || slices.Contains(rest, "-help"):
			_, err := parseConfig("keys revoke ID", cmdKeys, rest, nil)
			return err
		case len(rest) > 0 && !strings.HasPrefix(rest[0], "-"):
			id, rest = rest[0], rest[1:]
		case len(rest) > 0 && !strings.HasPrefix(rest[len(rest)-1], "-"):
			id, rest = rest[len(rest)-1], rest[:len(rest)-1]
		default:
			return errors.New("usage: fieldflow keys revoke ID (the key's id, key_…, as keys list shows it)")
		}
		cfg, err := parseConfig("keys revoke", cmdKeys, rest, nil)
		if err != nil {
			return err
		}
		if err := app.RevokeKey(ctx, cfg, id); err != nil {
			return err
		}
		fmt.Printf("revoked %s\n", id)
		return nil
	}
	return errors.New(keysUsage)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
