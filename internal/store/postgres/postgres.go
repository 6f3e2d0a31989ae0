// Package postgres opens fieldflow's PostgreSQL store through pgx and applies
// its migrations under a session lock, so several instances may start at
// once.
//
// Known limits: transactions run at READ COMMITTED; concurrent saves of one
// entity serialize on a row lock (SELECT … FOR UPDATE).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/fieldflow/fieldflow/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at url (a postgres:// URL; add
// search_path=… to use a schema) and applies pending migrations.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.New(sqlstore.Config{
		Writer:  db,
		Reader:  db,
		Dialect: Dialect(),
		Ping: func(ctx context.Context) error {
			var n int
			return db.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version`).Scan(&n)
		},
	}), nil
}

// Dialect is PostgreSQL's sqlstore dialect.
func Dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:              "postgres",
		IsUniqueViolation: isUniqueViolation,
		TimeArg:           func(t time.Time) any { return t.UTC() },
		LockSuffix:        "FOR UPDATE",
		ClaimSuffix:       "FOR UPDATE SKIP LOCKED",
	}
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// The lock is per schema, so that instances sharing a schema take turns
	// while separate schemas (one per test) migrate at once.
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("migrations: read current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("fieldflow-migrations:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrations lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
