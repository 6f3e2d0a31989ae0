// Package sqlite opens fieldflow's embedded SQLite store (modernc.org/sqlite,
// pure Go) and applies its migrations.
//
// Known limits: one process per database file (so retention needs no lock
// between processes). All writes go through one
// connection and are group-committed: concurrent transactions share one
// SQLite transaction and one fsync, each inside its own savepoint, so a
// failing caller rolls back only its own work. synchronous=FULL makes every
// answered write durable.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fieldflow/fieldflow/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string) (*sqlstore.Store, error) {
	q := pragmas()
	dsn := "file:" + path + "?" + q.Encode()
	writer, err := openWriter(dsn, path)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	q.Add("_pragma", "query_only(1)")
	reader, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reader.SetMaxOpenConns(8)
	reader.SetMaxIdleConns(8)
	return sqlstore.New(sqlstore.Config{
		Writer:  writer,
		Reader:  reader,
		Dialect: Dialect(),
		Ping: func(ctx context.Context) error {
			var n int
			return reader.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version`).Scan(&n)
		},
	}), nil
}

// Dialect is SQLite's sqlstore dialect.
func Dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:              "sqlite",
		IsUniqueViolation: isUniqueViolation,
		TimeArg:           timeArg,
		Epoch:             func(col string) string { return "CAST(strftime('%s', " + col + ") AS INTEGER)" },
		GroupCommit:       true,
		Reclaim:           reclaim,
	}
}

// reclaimPages bounds one Reclaim: 2,000 pages are 8 MB at the default
// page size, a few milliseconds of the writer's time.
const reclaimPages = 2000

// reclaim returns up to reclaimPages free pages to the file system
// (migration 00011 made the database incrementally vacuumed). It takes the
// one writer connection between group commits, so writers wait for it no
// longer than for one commit.
func reclaim(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", reclaimPages))
	return err
}

// timeArg stores times as fixed-width RFC 3339 text in UTC, so that text
// order is time order.
func timeArg(t time.Time) any {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// pragmas are the connection settings of every connection.
func pragmas() url.Values {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return q
}

// openWriter opens the one writing connection.
func openWriter(dsn, path string) (*sql.DB, error) {
	writer, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	return writer, nil
}

// OpenMigrator opens the database file at path for `fieldflow migrate`:
// its schema version is shown and moved, and nothing is applied by
// opening it.
func OpenMigrator(path string) (*sqlstore.Migrator, error) {
	db, err := openWriter("file:"+path+"?"+pragmas().Encode(), path)
	if err != nil {
		return nil, err
	}
	p, err := provider(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.NewMigrator(db, p), nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
