package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

// Migrator shows and moves a database's schema version, for `fieldflow
// migrate status|up|down`. The drivers make one over their own migrations.
type Migrator struct {
	db *sql.DB
	p  *goose.Provider
}

// NewMigrator wraps a goose provider over db; Close closes both.
func NewMigrator(db *sql.DB, p *goose.Provider) *Migrator { return &Migrator{db: db, p: p} }

// Migration is one migration and whether the database has it.
type Migration struct {
	Version int64
	// Name is the file's name without its version and extension.
	Name    string
	Applied bool
	// AppliedAt is zero when the migration is pending.
	AppliedAt time.Time
}

// ErrNothingToRollBack is what Down returns on a database with no
// migration applied.
var ErrNothingToRollBack = errors.New("no migration is applied")

// Status lists every migration, oldest first.
func (m *Migrator) Status(ctx context.Context) ([]Migration, error) {
	st, err := m.p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, len(st))
	for i, s := range st {
		out[i] = Migration{Version: s.Source.Version, Name: migrationName(s.Source.Path),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt}
	}
	return out, nil
}

// Up applies every pending migration and returns their versions.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Source.Version
	}
	return out, nil
}

// Down rolls back the newest applied migration and returns its version.
func (m *Migrator) Down(ctx context.Context) (int64, error) {
	res, err := m.p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return 0, ErrNothingToRollBack
	}
	if err != nil {
		return 0, fmt.Errorf("roll back migration: %w", err)
	}
	return res.Source.Version, nil
}

// Close closes the provider and the database.
func (m *Migrator) Close() error {
	return errors.Join(m.p.Close(), m.db.Close())
}

// migrationName turns "00006_api_keys.sql" into "api_keys".
func migrationName(p string) string {
	base := strings.TrimSuffix(path.Base(p), path.Ext(p))
	if _, name, ok := strings.Cut(base, "_"); ok {
		return name
	}
	return base
}
