package examples

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/apptest"
)

// TestServedDocumentLintsCleanAndGeneratesAWorkingClient takes the OpenAPI
// document a running fieldflow serves, lints it with Redocly's recommended
// rules (no error, no warning), validates it with swagger-parser (every $ref
// resolved), generates a TypeScript client from it with
// openapi-typescript, compiles client-ts/client.ts against that client
// (strict) and runs it: its typed calls must do what they say against the
// same server.
func TestServedDocumentLintsCleanAndGeneratesAWorkingClient(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node tools over the served document; skipped with -short")
	}
	dir := "client-ts"
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@redocly", "cli")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("examples/client-ts/node_modules is missing: .ci/run runs npm ci there")
		}
		t.Skip("run npm ci in examples/client-ts first")
	}
	srv := apptest.Start(t)
	res, err := http.Get(srv.URL + "/api/openapi.json")
	require.NoError(t, err)
	doc, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, json.Valid(doc))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "openapi.json"), doc, 0o644))

	npx := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("npx", append([]string{"--no-install"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "FF_URL="+srv.URL, "FF_KEY="+apptest.AdminKey, "NO_COLOR=1", "REDOCLY_TELEMETRY=off",
			"REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npx %v:\n%s", args, out)
		return string(out)
	}
	lint := npx("redocly", "lint", "--format=summary", "openapi.json")
	require.Regexp(t, regexp.MustCompile(`Your API description is valid`), lint, "redocly found problems:\n%s", lint)
	require.NotRegexp(t, regexp.MustCompile(`(?m)^(error|warning)\s`), lint, "redocly found problems:\n%s", lint)
	node := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("node", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "FF_URL="+srv.URL, "FF_KEY="+apptest.AdminKey)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "node %v:\n%s", args, out)
		return string(out)
	}
	require.Contains(t, node("validate.mjs", "openapi.json"), `"valid":true`)

	npx("openapi-typescript", "openapi.json", "-o", "gen/schema.d.ts")
	npx("tsc", "-p", ".")
	require.Contains(t, node("dist/client.js"), `"ok":true`, "the generated client's calls")
}
