package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// runCLI runs the binary with args against the database and returns its
// stdout, stderr and whether it exited 0.
func runCLI(t *testing.T, bin, db string, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDFLOW_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "FIELDFLOW_DB="+db)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "run %v: %s", args, errOut.String())
	}
	return out.String(), errOut.String(), err == nil
}

var (
	printedKey = regexp.MustCompile(`API key[^:]*: (ffk_\S+)`)
	printedID  = regexp.MustCompile(`id (key_\S+),`)
)

// TestKeysCommandsCreateListAndRevoke drives `fieldflow keys` against a
// database a running server uses: a key revoked from the command line
// fails on the server's next request.
func TestKeysCommandsCreateListAndRevoke(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildBinary(t)
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db := storetest.DSN(t, dialect)
			mk := make([]byte, 32)
			_, _ = rand.Read(mk)
			opts := serverOptions{Bin: bin, DB: db, AdminKey: "ffk_cli_" + base64.RawURLEncoding.EncodeToString(mk[:16])}
			if dialect == "postgres" {
				opts.MasterKey = base64.StdEncoding.EncodeToString(mk)
			}
			srv := startServer(t, opts)

			out, errOut, ok := runCLI(t, bin, db, "keys", "create", "--tenant", "sunrise-dental", "--name", "front desk", "--expires", "720h")
			require.True(t, ok, "%s", errOut)
			m := printedKey.FindStringSubmatch(out)
			require.NotNil(t, m, "the key is printed: %s", out)
			tenantKey := m[1]
			require.Contains(t, out, "API key for tenant sunrise-dental")
			require.Contains(t, out, "expires ")
			id := printedID.FindStringSubmatch(out)
			require.NotNil(t, id, "the id is printed: %s", out)
			tenantKeyID := id[1]

			out, errOut, ok = runCLI(t, bin, db, "keys", "create", "--name", "ops")
			require.True(t, ok, "%s", errOut)
			require.Contains(t, out, "admin API key: ffk_")
			require.Contains(t, out, "never expires")

			c := newAPIClient(srv.URL, tenantKey, 1)
			status, err := c.do(context.Background(), http.MethodGet, "/api/tenants/sunrise-dental/variables", nil, nil)
			require.NotEqual(t, http.StatusUnauthorized, status, "the new key works on the server: %v", err)

			out, errOut, ok = runCLI(t, bin, db, "keys", "list")
			require.True(t, ok, "%s", errOut)
			require.NotContains(t, out, tenantKey, "the secret is never listed")
			require.Contains(t, out, tenantKeyID)
			require.Contains(t, out, tenantKey[len("ffk_"):len("ffk_")+8], "its prefix is")
			require.Contains(t, out, "front desk")
			require.Contains(t, out, "ops")
			require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 4, "a header and three keys (FIELDFLOW_ADMIN_KEY's too): %s", out)

			// The id may come before or after the flags.
			out, errOut, ok = runCLI(t, bin, db, "keys", "revoke", "--db", db, tenantKeyID)
			require.True(t, ok, "%s", errOut)
			require.Contains(t, out, "revoked "+tenantKeyID)
			status, _ = c.do(context.Background(), http.MethodGet, "/api/tenants/sunrise-dental/variables", nil, nil)
			require.Equal(t, http.StatusUnauthorized, status, "revoked from the command line: refused at once")
			out, _, _ = runCLI(t, bin, db, "keys", "list")
			require.Regexp(t, tenantKeyID+`.*revoked `, out)

			_, errOut, ok = runCLI(t, bin, db, "keys", "revoke", "key_unknown")
			require.False(t, ok)
			require.Contains(t, errOut, "not found")
		})
	}
}

// TestKeysCreateRefusesABadTenantIDAndTheLastAdminKeyStays checks the
// command line refuses what the API refuses.
func TestKeysCreateRefusesABadTenantIDAndTheLastAdminKeyStays(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildBinary(t)
	db := storetest.DSN(t, "sqlite")
	for _, args := range [][]string{
		{"keys", "create", "--tenant", "bad id with spaces"},
		{"keys", "create", "--tenant", "a/b"},
		{"keys", "create", "--expires", "-1h"},
		{"keys", "create", "--name", "line\nbreak"},
	} {
		_, errOut, ok := runCLI(t, bin, db, args...)
		require.False(t, ok, "%v is refused", args)
		require.NotEmpty(t, errOut)
	}
	_, errOut, _ := runCLI(t, bin, db, "keys", "create", "--tenant", "bad id with spaces")
	require.Contains(t, errOut, "tenantId must match")
	out, _, ok := runCLI(t, bin, db, "keys", "list")
	require.True(t, ok)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 1, "no key was stored: %s", out)

	out, errOut, ok = runCLI(t, bin, db, "keys", "create")
	require.True(t, ok, "%s", errOut)
	id := printedID.FindStringSubmatch(out)
	require.NotNil(t, id, "%s", out)
	_, errOut, ok = runCLI(t, bin, db, "keys", "revoke", id[1])
	require.False(t, ok)
	require.Contains(t, errOut, "last active admin key")
}
