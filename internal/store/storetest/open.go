// Package storetest holds the conformance suite every store driver must
// pass, and helpers that open a fresh, isolated store for a test: a file in
// t.TempDir() for SQLite, a schema of its own for PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for schema setup

	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/postgres"
	"github.com/fieldflow/fieldflow/internal/store/sqlite"
)

// DefaultPostgresURL is the database tests use unless
// FIELDFLOW_TEST_POSTGRES_URL names another. There is no way to skip
// PostgreSQL: a suite that silently skips it proves nothing about it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the base URL of the test database.
func PostgresURL() string {
	if u := os.Getenv("FIELDFLOW_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Dialects names the databases every suite runs against.
var Dialects = []string{"sqlite", "postgres"}

// NewSQLitePath returns a database file path in a fresh temp dir.
func NewSQLitePath(t testing.TB) string {
	return t.TempDir() + "/fieldflow.db"
}

// NewPostgresURL creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it.
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres %s: %v", base, err)
	}
	defer db.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create test schema in %s (is PostgreSQL running? set FIELDFLOW_TEST_POSTGRES_URL): %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DSN returns a fresh database for the dialect: a SQLite path or a
// postgres:// URL with its own schema.
func DSN(t testing.TB, dialect string) string {
	switch dialect {
	case "sqlite":
		return NewSQLitePath(t)
	case "postgres":
		return NewPostgresURL(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

// Open opens a fresh store of the dialect, closed when the test ends.
func Open(t testing.TB, dialect string) store.Store {
	t.Helper()
	ctx := context.Background()
	var s store.Store
	var err error
	switch dialect {
	case "sqlite":
		s, err = sqlite.Open(ctx, NewSQLitePath(t))
	case "postgres":
		s, err = postgres.Open(ctx, NewPostgresURL(t))
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
