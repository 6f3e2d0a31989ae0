// Package sqlite opens fieldflow's embedded SQLite store (modernc.org/sqlite,
// pure Go) and applies its migrations.
//
// Known limits: one process per database file. All writes go through one
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
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	writer, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
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
		GroupCommit:       true,
	}
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

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
