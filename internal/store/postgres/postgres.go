// Package postgres opens fieldflow's PostgreSQL store through pgx and applies
// its migrations under a session lock, so several instances may start at
// once. Instances sharing a schema wake each other with LISTEN/NOTIFY on a
// channel of that schema when one commits work the others may take.
//
// Known limits: transactions run at READ COMMITTED; concurrent saves of one
// entity serialize on a row lock (SELECT … FOR UPDATE).
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	neturl "net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/fieldflow/fieldflow/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a connection pool; the zero value is the default.
type Options struct {
	// MaxConns is the most connections the pool opens. Defaults to 32.
	MaxConns int
}

// Open connects to the database at url (a postgres:// URL; add
// search_path=… to use a schema) with the default Options and applies
// pending migrations.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with opts.
func OpenWith(ctx context.Context, url string, opts Options) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	maxConns := cmp.Or(opts.MaxConns, 32)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	schema, err := currentSchema(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := Dialect()
	// One channel per schema, as the migration lock is: instances sharing
	// a schema wake each other, separate schemas (one per test) do not. A
	// hash, because a channel name is an identifier of at most 63 bytes.
	h := fnv.New64a()
	h.Write([]byte(schema))
	channel := fmt.Sprintf("fieldflow_wake_%016x", h.Sum64())
	d.NotifySQL = `SELECT pg_notify('` + channel + `', $1)`
	d.Listen = listener(url, channel)
	return sqlstore.New(sqlstore.Config{
		Writer:  db,
		Reader:  db,
		Dialect: d,
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
		Epoch:             func(col string) string { return "CAST(floor(extract(epoch FROM " + col + ")) AS BIGINT)" },
		Casts:             true,
		LockSuffix:        "FOR UPDATE",
		ClaimSuffix:       "FOR UPDATE SKIP LOCKED",
		// One instance prunes and erases at a time: a transaction-level
		// advisory lock, per schema (instances sharing a schema take turns,
		// separate schemas do not), released when the batch commits, so no
		// session has to be held.
		RetentionLockSQL: `SELECT pg_try_advisory_xact_lock(1717, hashtext(current_schema()))`,
	}
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// OpenMigrator connects to the database at url for `fieldflow migrate`:
// its schema version is shown and moved, under the same lock as the
// migrations a start applies, and nothing is applied by opening it.
func OpenMigrator(ctx context.Context, url string) (*sqlstore.Migrator, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	p, err := provider(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return sqlstore.NewMigrator(db, p), nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

func provider(ctx context.Context, db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// The lock is per schema, so that instances sharing a schema take turns
	// while separate schemas (one per test) migrate at once.
	schema, err := currentSchema(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("fieldflow-migrations:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("migrations lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func currentSchema(ctx context.Context, db *sql.DB) (string, error) {
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("read current schema: %w", err)
	}
	return schema, nil
}

// listener is Dialect.Listen for the database at url: a connection of its
// own, outside the pool, that LISTENs on channel and hands each payload
// to fn until ctx ends or the connection fails.
func listener(url, channel string) func(ctx context.Context, fn func(payload string)) error {
	return func(ctx context.Context, fn func(payload string)) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen for wakes: connect: %w", err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = conn.Close(ctx)
		}()
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen for wakes: %w", err)
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("listen for wakes: %w", err)
			}
			fn(n.Payload)
		}
	}
}

// CreateSchema creates an empty schema named name in the database at url
// and returns url with the schema as its search path, and a function that
// drops the schema with everything in it. Tests and benchmarks use it to
// get a database of their own in a shared PostgreSQL.
func CreateSchema(ctx context.Context, url, name string) (string, func(context.Context) error, error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return "", nil, fmt.Errorf("create schema: parse database URL: %w", err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	defer db.Close()
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop := func(ctx context.Context) error {
		db, err := sql.Open("pgx", url)
		if err != nil {
			return fmt.Errorf("drop schema %s: %w", name, err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}
