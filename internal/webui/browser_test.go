package webui_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// TestDashboardInARealBrowser runs web/browser/run.mjs: headless Chromium
// against a freshly built `fieldflow serve`, logging in, creating a group
// and a field, saving a value, watching its webhook delivery appear in the
// log, setting variables, a secret and an API key, and building, running
// and inspecting an automation by clicking and typing. With FIELDFLOW_UPDATE_SCREENSHOTS=1 it rewrites docs/screenshots. It skips under
// -short, and where chromium or web/node_modules is missing, except in CI
// (CI=true), where a missing tool is a failure: a browser test that
// silently skips proves nothing.
func TestDashboardInARealBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	missing := func(what string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test: %s is missing (.ci/run installs it)", what)
		}
		t.Skipf("browser test: %s is missing", what)
	}
	if _, err := os.Stat(chromium); err != nil {
		missing(chromium)
	}
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "playwright-core")); err != nil {
		missing("web/node_modules (run npm ci in web/)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}

	bin := filepath.Join(t.TempDir(), "fieldflow")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/fieldflow")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	// The same walk on each database: SQLite, the default, and once on
	// PostgreSQL in a schema of its own.
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			// The committed screenshots change only when asked for (and are
			// taken on SQLite), so that a test run leaves the work tree clean.
			shots := t.TempDir()
			if os.Getenv("FIELDFLOW_UPDATE_SCREENSHOTS") != "" && dialect == "sqlite" {
				shots = filepath.Join(root, "docs", "screenshots")
			}
			env := append(os.Environ(), "FIELDFLOW_BIN="+bin, "CHROMIUM="+chromium, "SCREENSHOTS="+shots)
			if dialect == "postgres" {
				mk := make([]byte, 32)
				_, _ = rand.Read(mk)
				env = append(env, "FIELDFLOW_BROWSER_DB="+storetest.NewPostgresURL(t), "FIELDFLOW_MASTER_KEY="+base64.StdEncoding.EncodeToString(mk))
			}
			run := exec.CommandContext(t.Context(), node, "browser/run.mjs")
			run.Dir = filepath.Join(root, "web")
			run.Env = env
			out, err := run.CombinedOutput()
			t.Logf("%s", out)
			require.NoError(t, err, "the browser tests failed (failure.png in %s shows the page)", shots)
			require.Contains(t, string(out), " passed, 0 failed")
		})
	}
}
