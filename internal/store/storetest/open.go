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
	"strings"
	"sync"
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
	u, drop, err := postgres.CreateSchema(context.Background(), base, newSchemaName())
	if err != nil {
		t.Fatalf("create test schema in %s (is PostgreSQL running? set FIELDFLOW_TEST_POSTGRES_URL): %v", base, err)
	}
	t.Cleanup(func() { _ = drop(context.Background()) })
	return u
}

func newSchemaName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_" + hex.EncodeToString(b)
}

// schemaURL is the test database's URL with schema as its search path.
func schemaURL(t testing.TB, schema string) string {
	t.Helper()
	base := PostgresURL()
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

// PostgresSchemas hands out migrated PostgreSQL schemas, each emptied
// before it is handed out again: truncating a schema's tables costs a
// fraction of creating and migrating a new one. A store from it starts as
// empty as one from Open, identities included. The schemas are dropped when
// the test that made the pool ends, after all its subtests.
type PostgresSchemas struct {
	admin *sql.DB
	mu    sync.Mutex
	free  []string // guarded by mu
	all   []string // guarded by mu
}

// NewPostgresSchemas returns an empty pool of schemas in the test database.
func NewPostgresSchemas(t testing.TB) *PostgresSchemas {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatalf("open postgres %s: %v", PostgresURL(), err)
	}
	p := &PostgresSchemas{admin: admin}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, schema := range p.all {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		}
		_ = admin.Close()
	})
	return p
}

// Open opens a store on an empty schema of the pool, closed and its schema
// emptied and returned to the pool when the test ends.
func (p *PostgresSchemas) Open(t testing.TB) store.Store {
	t.Helper()
	p.mu.Lock()
	var schema string
	if n := len(p.free); n > 0 {
		schema, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if schema == "" {
		schema = newSchemaName()
		if _, err := p.admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatalf("create test schema (is PostgreSQL running? set FIELDFLOW_TEST_POSTGRES_URL): %v", err)
		}
		p.mu.Lock()
		p.all = append(p.all, schema)
		p.mu.Unlock()
	}
	s, err := postgres.Open(context.Background(), schemaURL(t, schema))
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		if err := p.truncate(schema); err != nil {
			t.Errorf("empty test schema %s: %v", schema, err)
			return
		}
		p.mu.Lock()
		p.free = append(p.free, schema)
		p.mu.Unlock()
	})
	return s
}

// truncate empties every table but goose's, restarting identities.
func (p *PostgresSchemas) truncate(schema string) error {
	rows, err := p.admin.Query(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname = $1 AND tablename <> 'goose_db_version'`, schema)
	if err != nil {
		return err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(tables) == 0 {
		return nil
	}
	_, err = p.admin.Exec("TRUNCATE " + strings.Join(tables, ", ") + " RESTART IDENTITY")
	return err
}
