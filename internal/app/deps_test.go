package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The import graph rules of STYLE.md, checked with `go list`. They live
// here because internal/app is the one package allowed to see them all.

const modulePath = "github.com/fieldflow/fieldflow"

// listedPackage is the part of `go list -json` output the tests read.
type listedPackage struct {
	ImportPath     string
	Name           string
	Dir            string
	Doc            string
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	Imports        []string
	Deps           []string
	DepOnly        bool
}

// listPackages runs `go list -deps -json` over the module once per test
// binary. It returns every package the module's packages build from, by
// import path, and the module's own packages in `go list` order.
var listPackages = sync.OnceValues(func() (*packageGraph, error) {
	cmd := exec.Command("go", "list", "-deps", "-json", modulePath+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.Join(err, errors.New(stderr.String()))
	}
	g := &packageGraph{byPath: map[string]*listedPackage{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listedPackage)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		g.byPath[p.ImportPath] = p
		if !p.DepOnly {
			g.ours = append(g.ours, p)
		}
	}
	return g, nil
})

type packageGraph struct {
	byPath map[string]*listedPackage
	ours   []*listedPackage
}

func loadPackages(t *testing.T) *packageGraph {
	t.Helper()
	g, err := listPackages()
	require.NoError(t, err, "go list")
	require.NotEmpty(t, g.ours, "go list found none of the module's packages")
	return g
}

// pkg returns one of the module's packages by its path under the module,
// failing if it is gone, so that a rename cannot turn a rule into a no-op.
func (g *packageGraph) pkg(t *testing.T, rel string) *listedPackage {
	t.Helper()
	p, ok := g.byPath[modulePath+"/"+rel]
	require.True(t, ok, "package %s not found: update this test if it moved", rel)
	return p
}

// importersOf returns the packages among from and its dependencies that
// import target directly, to name the culprit in a failure.
func (g *packageGraph) importersOf(from *listedPackage, target string) []string {
	var out []string
	for _, path := range append([]string{from.ImportPath}, from.Deps...) {
		if p, ok := g.byPath[path]; ok && slices.Contains(p.Imports, target) {
			out = append(out, path)
		}
	}
	return out
}

func TestFieldsAndEventsImportNothingOfOurs(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	for _, rel := range []string{"internal/fields", "internal/events"} {
		p := g.pkg(t, rel)
		for _, dep := range p.Deps {
			require.False(t, strings.HasPrefix(dep, modulePath+"/"),
				"%s depends on %s: fields and events are the domain core every other package builds on, "+
					"so importing any of ours would make the core depend on its users and invite import cycles", rel, dep)
		}
	}
}

func TestStoreDriversDoNotLinkEachOther(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	tests := []struct {
		rel, forbidden, reason string
	}{
		{"internal/store/sqlite", "github.com/jackc/pgx",
			"an embedded SQLite deployment must not link the PostgreSQL driver; a dialect difference stays inside its own driver"},
		{"internal/store/postgres", "modernc.org/sqlite",
			"the PostgreSQL driver must not link the SQLite engine; a dialect difference stays inside its own driver"},
	}
	for _, tt := range tests {
		p := g.pkg(t, tt.rel)
		for _, dep := range p.Deps {
			require.False(t, dep == tt.forbidden || strings.HasPrefix(dep, tt.forbidden+"/"),
				"%s depends on %s (imported by %v): %s", tt.rel, dep, g.importersOf(p, dep), tt.reason)
		}
	}
}

func TestNonTestCodeNeverImportsTesting(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	support := testSupport(t, g)
	for _, p := range g.ours {
		if slices.Contains(support, p.ImportPath) {
			continue // test support: imported only by _test.go files
		}
		require.False(t, slices.Contains(p.Deps, "testing"),
			"%s links package testing (imported by %v): non-test code must not, because it registers test flags "+
				"in the binary; test helpers belong in _test.go files or in a test support package, which only tests import",
			p.ImportPath, g.importersOf(p, "testing"))
		for _, s := range support {
			require.False(t, slices.Contains(p.Deps, s),
				"%s depends on the test support package %s (imported by %v): only _test.go files may",
				p.ImportPath, s, g.importersOf(p, s))
		}
	}
}

// testSupport lists the packages that hold helpers for tests and are
// imported only by _test.go files: the store conformance suite, and the
// whole app run in process for the tests of packages outside it, and the
// self-signed certificates of TLS tests.
func testSupport(t *testing.T, g *packageGraph) []string {
	t.Helper()
	return []string{g.pkg(t, "internal/store/storetest").ImportPath, g.pkg(t, "internal/apptest").ImportPath,
		g.pkg(t, "internal/testcert").ImportPath}
}

func TestOnlyTheCommandImportsApp(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	app := g.pkg(t, "internal/app").ImportPath
	command := g.pkg(t, "cmd/fieldflow").ImportPath
	require.Contains(t, g.byPath[command].Imports, app, "the command hands off to internal/app")
	apptest := g.pkg(t, "internal/apptest").ImportPath
	for _, p := range g.ours {
		if p.ImportPath == app || p.ImportPath == command || p.ImportPath == apptest {
			continue // apptest runs the app for tests, which no package imports
		}
		require.False(t, slices.Contains(p.Deps, app),
			"%s depends on internal/app (imported by %v): app imports every package, so anything importing it "+
				"depends on the world and closes an import cycle as soon as app uses it; only cmd/fieldflow may",
			p.ImportPath, g.importersOf(p, app))
	}
}

// depRule forbids some of the module's packages from depending on others,
// each forbidden dependency with its reason, in the spirit of tailscale's
// tstest/deptest (BadDeps). Paths are relative to the module; a forbidden
// path also forbids the packages below it. Dependencies are transitive, so
// a detour through a third package breaks the rule too.
type depRule struct {
	pkgs    []string
	badDeps map[string]string
}

// check fails t if any of r.pkgs depends on one of r.badDeps.
func (r depRule) check(t *testing.T, g *packageGraph) {
	t.Helper()
	for _, rel := range r.pkgs {
		p := g.pkg(t, rel)
		for _, dep := range p.Deps {
			for bad, why := range r.badDeps {
				bad = modulePath + "/" + bad
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s depends on %s (imported by %v): %s", rel, dep, g.importersOf(p, dep), why)
				}
			}
		}
	}
}

func TestFeaturesDoNotImportEachOther(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	for _, r := range []depRule{
		{pkgs: []string{"internal/automations"}, badDeps: map[string]string{
			"internal/webhooks": "automations and webhooks are peers on one floor: what both need (the guarded client, " +
				"signing, retry timing) lives in internal/outbound, and type patterns in internal/events",
		}},
		{pkgs: []string{"internal/webhooks"}, badDeps: map[string]string{
			"internal/automations": "automations and webhooks are peers on one floor: app hands each the other's " +
				"entry points (emit, fan-out) as functions, so neither imports the other",
		}},
		{pkgs: []string{"internal/outbound"}, badDeps: map[string]string{
			"internal/webhooks":    "outbound is the floor below the features that send requests; it cannot know its users",
			"internal/automations": "outbound is the floor below the features that send requests; it cannot know its users",
			"internal/records":     "outbound sends HTTP requests; records, fields and values are none of its business",
			"internal/api":         "outbound is below every feature, and api is above them all",
		}},
		{pkgs: []string{"internal/retention"}, badDeps: map[string]string{
			"internal/webhooks":    "retention is one floor above store, below the features: app hands it WriteEvents as a function",
			"internal/automations": "retention is one floor above store, below the features: app hands it WriteEvents as a function",
			"internal/records":     "retention is one floor above store, below the features: app hands it WriteEvents as a function",
			"internal/api":         "retention is below every feature, and api is above them all",
		}},
	} {
		r.check(t, g)
	}
}

func TestDomainPackagesDoNotImportAPIOrApp(t *testing.T) {
	t.Parallel()

	g := loadPackages(t)
	bad := map[string]string{
		"internal/api": "api is the HTTP layer over the domain packages; a domain package importing it would " +
			"depend on its own callers (the services api takes are handed to it by app)",
		"internal/app": "app wires every package together and so depends on the world",
	}
	support := testSupport(t, g)
	var domain []string
	for _, p := range g.ours {
		if slices.Contains(support, p.ImportPath) {
			continue // test support: apptest runs the whole app for tests
		}
		rel := strings.TrimPrefix(p.ImportPath, modulePath+"/")
		switch {
		case rel == "cmd/fieldflow", rel == "internal/app", rel == "internal/api",
			strings.HasPrefix(rel, "internal/app/"), strings.HasPrefix(rel, "internal/api/"):
			continue
		}
		domain = append(domain, rel)
	}
	// The rule must keep covering the packages it was written for.
	for _, rel := range []string{"internal/records", "internal/fields", "internal/events", "internal/webhooks",
		"internal/automations", "internal/outbound", "internal/queue", "internal/store", "internal/store/sqlstore"} {
		require.Contains(t, domain, rel)
	}
	depRule{pkgs: domain, badDeps: bad}.check(t, g)
}
