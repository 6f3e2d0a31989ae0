package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// dbtx is what both *sql.DB and *sql.Tx offer.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries runs every statement; it is bound to the read pool or to a
// transaction.
type queries struct {
	db dbtx
	d  *Dialect
	// stmts holds prepared statements: the read pool's, or the
	// transaction's own (shared by every caller of a group commit).
	stmts *stmtCache
	// wake, set in a transaction on a database other processes share,
	// records the work a statement made due for them (see woke).
	wake func(store.Wake)
}

// stmtCache prepares each statement text once: parsing SQL costs SQLite
// about as much as running a small insert. A transaction's cache prepares
// on the transaction, never on the pool, because the single SQLite writer
// connection is the one the transaction holds.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	mu      sync.Mutex
	m       map[string]*sql.Stmt // guarded by mu
}

// maxCachedStmts bounds a cache; statement texts built for variable-length
// id lists could otherwise grow it without end.
const maxCachedStmts = 512

func newStmtCache(prepare func(ctx context.Context, query string) (*sql.Stmt, error)) *stmtCache {
	return &stmtCache{prepare: prepare, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxCachedStmts {
		return nil
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil // run it unprepared; a real error shows there
	}
	c.m[query] = st
	return st
}

func (q *queries) stmt(ctx context.Context, query string) *sql.Stmt {
	if q.stmts == nil {
		return nil
	}
	return q.stmts.get(ctx, query)
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

func (q *queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

// interpret maps driver errors to store sentinels, in one place. A
// unique violation keeps none of the driver's text: callers name what
// clashed, and the API shows their words to clients.
func (q *queries) interpret(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case q.d.IsUniqueViolation(err):
		return store.ErrConflict
	}
	return err
}

func (q *queries) t(t time.Time) any { return q.d.TimeArg(t) }

// typed is the n-th argument's placeholder, cast to sqlType where the
// dialect needs it (see Dialect.Casts).
func (q *queries) typed(n int, sqlType string) string {
	if q.d.Casts {
		return fmt.Sprintf("$%d::%s", n, sqlType)
	}
	return fmt.Sprintf("$%d", n)
}

// scanTime reads a time stored as SQLite text or as a PostgreSQL timestamptz.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*s.t = v.UTC()
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fmt.Errorf("parse stored time %q: %w", v, err)
		}
		*s.t = t.UTC()
	case []byte:
		return s.Scan(string(v))
	case nil:
		*s.t = time.Time{}
	default:
		return fmt.Errorf("scan time from %T", src)
	}
	return nil
}

func (q *queries) count(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := q.queryRow(ctx, query, args...).Scan(&n)
	return n, err
}

// ---- backlog

func (q *queries) BacklogRead(ctx context.Context) (*store.Backlog, error) {
	b := &store.Backlog{}
	err := q.queryRow(ctx, `SELECT count(*), min(next_attempt_at) FROM deliveries WHERE state = 'pending'`).
		Scan(&b.DeliveriesPending, scanTime{&b.DeliveriesFirstDue})
	if err != nil {
		return nil, fmt.Errorf("read delivery backlog: %w", err)
	}
	err = q.queryRow(ctx, `SELECT count(*), min(next_attempt_at) FROM runs WHERE state = 'pending'`).
		Scan(&b.RunsPending, scanTime{&b.RunsFirstDue})
	if err != nil {
		return nil, fmt.Errorf("read run backlog: %w", err)
	}
	return b, nil
}

// ---- field groups

const fieldGroupCols = `id, key, name, description, created_at, updated_at`

func scanFieldGroup(row interface{ Scan(...any) error }) (*store.FieldGroup, error) {
	g := &store.FieldGroup{}
	err := row.Scan(&g.ID, &g.Key, &g.Name, &g.Description, scanTime{&g.CreatedAt}, scanTime{&g.UpdatedAt})
	return g, err
}

func (q *queries) FieldGroupCreate(ctx context.Context, g *store.FieldGroup) error {
	_, err := q.exec(ctx, `INSERT INTO field_groups (`+fieldGroupCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		g.ID, g.Key, g.Name, g.Description, q.t(g.CreatedAt), q.t(g.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create field group: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) FieldGroupGet(ctx context.Context, idOrKey string) (*store.FieldGroup, error) {
	g, err := scanFieldGroup(q.queryRow(ctx,
		`SELECT `+fieldGroupCols+` FROM field_groups WHERE id = $1 OR key = $1`, idOrKey))
	if err != nil {
		return nil, fmt.Errorf("get field group: %w", q.interpret(err))
	}
	return g, nil
}

func (q *queries) FieldGroupList(ctx context.Context, p store.Page) ([]*store.FieldGroup, int, error) {
	total, err := q.count(ctx, `SELECT count(*) FROM field_groups`)
	if err != nil {
		return nil, 0, fmt.Errorf("count field groups: %w", err)
	}
	rows, err := q.query(ctx, `SELECT `+fieldGroupCols+` FROM field_groups ORDER BY key LIMIT $1 OFFSET $2`,
		p.PageSize, p.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list field groups: %w", err)
	}
	out, err := collect(rows, scanFieldGroup)
	if err != nil {
		return nil, 0, fmt.Errorf("list field groups: %w", err)
	}
	return out, total, nil
}

func (q *queries) FieldGroupUpdate(ctx context.Context, g *store.FieldGroup) error {
	res, err := q.exec(ctx, `UPDATE field_groups SET key = $2, name = $3, description = $4, updated_at = $5 WHERE id = $1`,
		g.ID, g.Key, g.Name, g.Description, q.t(g.UpdatedAt))
	return q.checkAffected("update field group", res, err)
}

func (q *queries) FieldGroupDelete(ctx context.Context, id string) error {
	// Values are not tied to field_groups by a foreign key (they hang off
	// entities), so they go with their entities' cascade.
	res, err := q.exec(ctx, `DELETE FROM field_groups WHERE id = $1`, id)
	return q.checkAffected("delete field group", res, err)
}

func (q *queries) checkAffected(action string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", action, q.interpret(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", action, store.ErrNotFound)
	}
	return nil
}

func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ---- global fields

const globalFieldCols = `id, key, label, schema, created_at, updated_at`

func scanGlobalField(row interface{ Scan(...any) error }) (*store.GlobalField, error) {
	f := &store.GlobalField{}
	var schema string
	err := row.Scan(&f.ID, &f.Key, &f.Label, &schema, scanTime{&f.CreatedAt}, scanTime{&f.UpdatedAt})
	f.Schema = json.RawMessage(schema)
	return f, err
}

func (q *queries) GlobalFieldCreate(ctx context.Context, f *store.GlobalField) error {
	_, err := q.exec(ctx, `INSERT INTO global_fields (`+globalFieldCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		f.ID, f.Key, f.Label, string(f.Schema), q.t(f.CreatedAt), q.t(f.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create global field: %w", q.interpret(err))
	}
	if err := q.linkGroups(ctx, f); err != nil {
		return fmt.Errorf("create global field: %w", err)
	}
	return nil
}

func (q *queries) linkGroups(ctx context.Context, f *store.GlobalField) error {
	if _, err := q.exec(ctx, `DELETE FROM global_field_groups WHERE global_field_id = $1`, f.ID); err != nil {
		return q.interpret(err)
	}
	for i, gid := range f.FieldGroupIDs {
		if _, err := q.exec(ctx,
			`INSERT INTO global_field_groups (global_field_id, field_group_id, key, position) VALUES ($1, $2, $3, $4)`,
			f.ID, gid, f.Key, i); err != nil {
			return q.interpret(err)
		}
	}
	return nil
}

func (q *queries) groupIDs(ctx context.Context, fieldID string) ([]string, error) {
	rows, err := q.query(ctx, `SELECT field_group_id FROM global_field_groups WHERE global_field_id = $1 ORDER BY position`, fieldID)
	if err != nil {
		return nil, err
	}
	ids, err := collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
	if ids == nil {
		ids = []string{}
	}
	return ids, err
}

func (q *queries) GlobalFieldGet(ctx context.Context, id string) (*store.GlobalField, error) {
	f, err := scanGlobalField(q.queryRow(ctx, `SELECT `+globalFieldCols+` FROM global_fields WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get global field: %w", q.interpret(err))
	}
	if f.FieldGroupIDs, err = q.groupIDs(ctx, f.ID); err != nil {
		return nil, fmt.Errorf("get global field groups: %w", err)
	}
	return f, nil
}

func (q *queries) GlobalFieldList(ctx context.Context, p *store.GlobalFieldListParams) ([]*store.GlobalField, int, error) {
	where, args := "", []any{}
	if p.FieldGroupID != "" {
		where = ` WHERE id IN (SELECT global_field_id FROM global_field_groups WHERE field_group_id = $1)`
		args = append(args, p.FieldGroupID)
	}
	total, err := q.count(ctx, `SELECT count(*) FROM global_fields`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count global fields: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+globalFieldCols+` FROM global_fields`+where+
		` ORDER BY key, id LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list global fields: %w", err)
	}
	out, err := collect(rows, scanGlobalField)
	if err != nil {
		return nil, 0, fmt.Errorf("list global fields: %w", err)
	}
	for _, f := range out {
		if f.FieldGroupIDs, err = q.groupIDs(ctx, f.ID); err != nil {
			return nil, 0, fmt.Errorf("list global field groups: %w", err)
		}
	}
	return out, total, nil
}

func (q *queries) GlobalFieldsInGroup(ctx context.Context, groupID string) ([]*store.GlobalField, error) {
	rows, err := q.query(ctx, `SELECT `+globalFieldCols+` FROM global_fields
		WHERE id IN (SELECT global_field_id FROM global_field_groups WHERE field_group_id = $1) ORDER BY created_at, id`, groupID)
	if err != nil {
		return nil, fmt.Errorf("list global fields of group: %w", err)
	}
	out, err := collect(rows, scanGlobalField)
	if err != nil {
		return nil, fmt.Errorf("list global fields of group: %w", err)
	}
	return out, nil
}

func (q *queries) GlobalFieldUpdate(ctx context.Context, f *store.GlobalField) error {
	res, err := q.exec(ctx, `UPDATE global_fields SET label = $2, schema = $3, updated_at = $4 WHERE id = $1`,
		f.ID, f.Label, string(f.Schema), q.t(f.UpdatedAt))
	if err := q.checkAffected("update global field", res, err); err != nil {
		return err
	}
	if err := q.linkGroups(ctx, f); err != nil {
		return fmt.Errorf("update global field groups: %w", err)
	}
	return nil
}

func (q *queries) GlobalFieldDelete(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM global_fields WHERE id = $1`, id)
	return q.checkAffected("delete global field", res, err)
}

// ---- tenant fields

const tenantFieldCols = `id, tenant_id, field_group_id, key, label, schema, created_at, updated_at`

func scanTenantField(row interface{ Scan(...any) error }) (*store.TenantField, error) {
	f := &store.TenantField{}
	var schema string
	err := row.Scan(&f.ID, &f.TenantID, &f.FieldGroupID, &f.Key, &f.Label, &schema, scanTime{&f.CreatedAt}, scanTime{&f.UpdatedAt})
	f.Schema = json.RawMessage(schema)
	return f, err
}

func (q *queries) TenantFieldCreate(ctx context.Context, f *store.TenantField) error {
	_, err := q.exec(ctx, `INSERT INTO tenant_fields (`+tenantFieldCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		f.ID, f.TenantID, f.FieldGroupID, f.Key, f.Label, string(f.Schema), q.t(f.CreatedAt), q.t(f.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create tenant field: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) TenantFieldGet(ctx context.Context, id string) (*store.TenantField, error) {
	f, err := scanTenantField(q.queryRow(ctx, `SELECT `+tenantFieldCols+` FROM tenant_fields WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get tenant field: %w", q.interpret(err))
	}
	return f, nil
}

func (q *queries) TenantFieldList(ctx context.Context, p *store.TenantFieldListParams) ([]*store.TenantField, int, error) {
	const where = ` FROM tenant_fields WHERE tenant_id = $1 AND field_group_id = $2`
	total, err := q.count(ctx, `SELECT count(*)`+where, p.TenantID, p.FieldGroupID)
	if err != nil {
		return nil, 0, fmt.Errorf("count tenant fields: %w", err)
	}
	rows, err := q.query(ctx, `SELECT `+tenantFieldCols+where+` ORDER BY key LIMIT $3 OFFSET $4`,
		p.TenantID, p.FieldGroupID, p.PageSize, p.Offset())
	if err != nil {
		return nil, 0, fmt.Errorf("list tenant fields: %w", err)
	}
	out, err := collect(rows, scanTenantField)
	if err != nil {
		return nil, 0, fmt.Errorf("list tenant fields: %w", err)
	}
	return out, total, nil
}

func (q *queries) TenantFieldKeyTaken(ctx context.Context, groupIDs []string, key string) (bool, error) {
	if len(groupIDs) == 0 {
		return false, nil
	}
	args := []any{key}
	marks := make([]string, len(groupIDs))
	for i, id := range groupIDs {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	n, err := q.count(ctx, `SELECT count(*) FROM tenant_fields WHERE key = $1 AND field_group_id IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return false, fmt.Errorf("check tenant field keys: %w", err)
	}
	return n > 0, nil
}

func (q *queries) TenantFieldUpdate(ctx context.Context, f *store.TenantField) error {
	res, err := q.exec(ctx, `UPDATE tenant_fields SET label = $2, schema = $3, updated_at = $4 WHERE id = $1`,
		f.ID, f.Label, string(f.Schema), q.t(f.UpdatedAt))
	return q.checkAffected("update tenant field", res, err)
}

func (q *queries) TenantFieldDelete(ctx context.Context, id string) error {
	res, err := q.exec(ctx, `DELETE FROM tenant_fields WHERE id = $1`, id)
	return q.checkAffected("delete tenant field", res, err)
}

// ---- entities and values

func (q *queries) EntityGet(ctx context.Context, k store.EntityKey) (*store.Entity, error) {
	e := &store.Entity{EntityKey: k, Values: map[string]json.RawMessage{}}
	err := q.queryRow(ctx, `SELECT version, created_at, updated_at FROM entities WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3`,
		k.TenantID, k.FieldGroupID, k.EntityID).Scan(&e.Version, scanTime{&e.CreatedAt}, scanTime{&e.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get entity: %w", err)
	}
	rows, err := q.query(ctx, `SELECT field_key, value FROM field_values WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3`,
		k.TenantID, k.FieldGroupID, k.EntityID)
	if err != nil {
		return nil, fmt.Errorf("get entity values: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, val string
		if err := rows.Scan(&key, &val); err != nil {
			return nil, fmt.Errorf("get entity values: %w", err)
		}
		e.Values[key] = json.RawMessage(val)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get entity values: %w", err)
	}
	return e, nil
}

func (q *queries) EntityLock(ctx context.Context, k store.EntityKey) (int64, error) {
	if _, err := q.exec(ctx, `INSERT INTO entities (tenant_id, field_group_id, entity_id, version, created_at, updated_at)
		VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT DO NOTHING`, k.TenantID, k.FieldGroupID, k.EntityID, q.t(time.Time{})); err != nil {
		return 0, fmt.Errorf("lock entity: %w", q.interpret(err))
	}
	var v int64
	err := q.queryRow(ctx, `SELECT version FROM entities WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3 `+q.d.LockSuffix,
		k.TenantID, k.FieldGroupID, k.EntityID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("lock entity: %w", q.interpret(err))
	}
	return v, nil
}

func (q *queries) EntitySave(ctx context.Context, p *store.EntitySaveParams) error {
	at := q.t(p.At)
	if _, err := q.exec(ctx, `UPDATE entities SET version = $4, updated_at = $5,
		created_at = CASE WHEN version = 0 THEN $5 ELSE created_at END WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3`,
		p.TenantID, p.FieldGroupID, p.EntityID, p.Version, at); err != nil {
		return fmt.Errorf("save entity: %w", q.interpret(err))
	}
	for key, val := range p.Set {
		if _, err := q.exec(ctx, `INSERT INTO field_values (tenant_id, field_group_id, entity_id, field_key, value, value_text, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, field_group_id, entity_id, field_key) DO UPDATE SET value = excluded.value, value_text = excluded.value_text, updated_at = excluded.updated_at`,
			p.TenantID, p.FieldGroupID, p.EntityID, key, string(val), p.ValueText[key], at); err != nil {
			return fmt.Errorf("save value %s: %w", key, q.interpret(err))
		}
	}
	for _, key := range p.Delete {
		if _, err := q.exec(ctx, `DELETE FROM field_values WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3 AND field_key = $4`,
			p.TenantID, p.FieldGroupID, p.EntityID, key); err != nil {
			return fmt.Errorf("delete value %s: %w", key, q.interpret(err))
		}
	}
	return nil
}

func (q *queries) EntityDelete(ctx context.Context, k store.EntityKey) error {
	if _, err := q.exec(ctx, `DELETE FROM entities WHERE tenant_id = $1 AND field_group_id = $2 AND entity_id = $3`,
		k.TenantID, k.FieldGroupID, k.EntityID); err != nil {
		return fmt.Errorf("delete entity: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) FieldValueSearch(ctx context.Context, p *store.FieldValueSearchParams) ([]*store.FieldValueRow, int, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if p.TenantID != "" {
		add("v.tenant_id = $%d", p.TenantID)
	}
	if p.FieldGroupID != "" {
		add("v.field_group_id = $%d", p.FieldGroupID)
	}
	if p.EntityID != "" {
		add("v.entity_id = $%d", p.EntityID)
	}
	if p.FieldKey != "" {
		add("v.field_key = $%d", p.FieldKey)
	}
	if p.Value != nil {
		add("v.value_text = $%d", *p.Value)
	}
	from := ` FROM field_values v JOIN field_groups g ON g.id = v.field_group_id`
	if len(conds) > 0 {
		from += " WHERE " + strings.Join(conds, " AND ")
	}
	total, err := q.count(ctx, `SELECT count(*)`+from, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count field values: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT v.tenant_id, v.field_group_id, g.key, g.name, v.entity_id, v.field_key, v.value, v.updated_at`+
		from+` ORDER BY v.tenant_id, g.key, v.entity_id, v.field_key LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("search field values: %w", err)
	}
	out, err := collect(rows, func(r interface{ Scan(...any) error }) (*store.FieldValueRow, error) {
		v := &store.FieldValueRow{}
		var val string
		err := r.Scan(&v.TenantID, &v.FieldGroupID, &v.FieldGroupKey, &v.FieldGroupName, &v.EntityID, &v.FieldKey, &val, scanTime{&v.UpdatedAt})
		v.Value = json.RawMessage(val)
		return v, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("search field values: %w", err)
	}
	return out, total, nil
}

func (q *queries) FieldValueTaken(ctx context.Context, p *store.FieldValueTakenParams) (bool, error) {
	n, err := q.count(ctx, `SELECT count(*) FROM field_values WHERE tenant_id = $1 AND field_group_id = $2 AND field_key = $3 AND value_text = $4 AND entity_id <> $5`,
		p.TenantID, p.FieldGroupID, p.FieldKey, p.ValueText, p.EntityID)
	if err != nil {
		return false, fmt.Errorf("check unique value: %w", err)
	}
	return n > 0, nil
}

// ---- events

const eventCols = `seq, id, type, tenant_id, occurred_at, payload, dedup_key`

func scanEvent(row interface{ Scan(...any) error }) (*events.Event, error) {
	e := &events.Event{}
	var payload string
	var dedup sql.NullString
	err := row.Scan(&e.Seq, &e.ID, &e.Type, &e.TenantID, scanTime{&e.OccurredAt}, &payload, &dedup)
	e.Payload = []byte(payload)
	e.DedupKey = dedup.String
	return e, err
}

func (q *queries) EventInsert(ctx context.Context, evs []*events.Event) error {
	for _, e := range evs {
		var dedup any
		if e.DedupKey != "" {
			dedup = e.DedupKey
		}
		err := q.queryRow(ctx, `INSERT INTO events (id, type, tenant_id, occurred_at, payload, dedup_key) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
			e.ID, e.Type, e.TenantID, q.t(e.OccurredAt), string(e.Payload), dedup).Scan(&e.Seq)
		if err != nil {
			return fmt.Errorf("insert event: %w", q.interpret(err))
		}
	}
	return nil
}

func (q *queries) EventGet(ctx context.Context, id string) (*events.Event, error) {
	e, err := scanEvent(q.queryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get event: %w", q.interpret(err))
	}
	return e, nil
}

func (q *queries) EventGetByDedupKey(ctx context.Context, tenantID, dedupKey string) (*events.Event, error) {
	e, err := scanEvent(q.queryRow(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = $1 AND dedup_key = $2`, tenantID, dedupKey))
	if err != nil {
		return nil, fmt.Errorf("get event by dedup key: %w", q.interpret(err))
	}
	return e, nil
}

func (q *queries) EventList(ctx context.Context, p *store.EventListParams) ([]*events.Event, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if p.Type != "" {
		add("type = $%d", p.Type)
	}
	if p.TenantID != nil {
		add("tenant_id = $%d", *p.TenantID)
	}
	if !p.Since.IsZero() {
		add("occurred_at >= $%d", q.t(p.Since))
	}
	if p.BeforeSeq > 0 {
		add("seq < $%d", p.BeforeSeq)
	}
	order := "DESC"
	if p.AfterSeq != 0 {
		add("seq > $%d", p.AfterSeq)
		order = "ASC"
	}
	query := `SELECT ` + eventCols + ` FROM events`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, p.Limit)
	rows, err := q.query(ctx, query+fmt.Sprintf(" ORDER BY seq %s LIMIT $%d", order, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

func (q *queries) EventTypes(ctx context.Context, p *store.EventTypesParams) ([]string, error) {
	var rows *sql.Rows
	var err error
	if p.TenantID != nil {
		recent := p.Recent
		if recent <= 0 {
			recent = 10000
		}
		rows, err = q.query(ctx, `SELECT DISTINCT type FROM (SELECT type FROM events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2) recent`,
			*p.TenantID, recent)
	} else {
		// A loose index scan over events_type: each step jumps to the
		// next type, so the cost is the number of types, not of events.
		rows, err = q.query(ctx, `WITH RECURSIVE t(type) AS (
			SELECT min(type) FROM events
			UNION ALL
			SELECT (SELECT min(type) FROM events WHERE events.type > t.type) FROM t WHERE t.type IS NOT NULL
		) SELECT type FROM t WHERE type IS NOT NULL`)
	}
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	out, err := collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
		var typ string
		return typ, r.Scan(&typ)
	})
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	slices.Sort(out) // in byte order whatever the database's collation
	return out, nil
}

// ---- API keys and idempotency

const apiKeyCols = `id, hash, role, tenant_id, name, prefix, created_at, expires_at, last_used_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*store.APIKey, error) {
	k := &store.APIKey{}
	err := row.Scan(&k.ID, &k.Hash, &k.Role, &k.TenantID, &k.Name, &k.Prefix, scanTime{&k.CreatedAt},
		scanTime{&k.ExpiresAt}, scanTime{&k.LastUsedAt}, scanTime{&k.RevokedAt})
	return k, err
}

func (q *queries) APIKeyCreate(ctx context.Context, k *store.APIKey) error {
	_, err := q.exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.Hash, k.Role, k.TenantID, k.Name, k.Prefix, q.t(k.CreatedAt), q.t(k.ExpiresAt), q.t(k.LastUsedAt), q.t(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create API key: %w", q.interpret(err))
	}
	return nil
}

// APIKeyGetByHash runs on every authenticated request: one read through
// the unique index on hash.
func (q *queries) APIKeyGetByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return nil, fmt.Errorf("get API key: %w", q.interpret(err))
	}
	return k, nil
}

func (q *queries) APIKeyGet(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get API key %s: %w", id, q.interpret(err))
	}
	return k, nil
}

func (q *queries) APIKeyList(ctx context.Context, p *store.APIKeyListParams) ([]*store.APIKey, int, error) {
	var conds []string
	var args []any
	add := func(cond string, vs ...any) {
		n := make([]any, len(vs))
		for i, v := range vs {
			args = append(args, v)
			n[i] = len(args)
		}
		conds = append(conds, fmt.Sprintf(cond, n...))
	}
	if p.TenantID != nil {
		add("tenant_id = $%d", *p.TenantID)
	}
	if !p.Active.IsZero() {
		add("revoked_at = $%d AND (expires_at = $%d OR expires_at > $%d)", q.t(time.Time{}), q.t(time.Time{}), q.t(p.Active))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	total, err := q.count(ctx, `SELECT count(*) FROM api_keys`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count API keys: %w", err)
	}
	args = append(args, p.Page.PageSize, p.Page.Offset())
	rows, err := q.query(ctx, `SELECT `+apiKeyCols+` FROM api_keys`+where+
		fmt.Sprintf(` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list API keys: %w", err)
	}
	out, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, 0, fmt.Errorf("list API keys: %w", err)
	}
	return out, total, nil
}

func (q *queries) APIKeyCountAdmins(ctx context.Context, at time.Time) (int, error) {
	n, err := q.count(ctx, `SELECT count(*) FROM api_keys WHERE role = $1 AND revoked_at = $2 AND (expires_at = $2 OR expires_at > $3)`,
		store.RoleAdmin, q.t(time.Time{}), q.t(at))
	if err != nil {
		return 0, fmt.Errorf("count admin keys: %w", err)
	}
	return n, nil
}

func (q *queries) APIKeyRevoke(ctx context.Context, p *store.APIKeyRevokeParams) error {
	// The key is read without a lock first: an admin key's revocation then
	// locks every active admin key in id order (the target among them), so
	// that two revocations take their locks in one order and never deadlock.
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`, p.ID))
	if err != nil {
		return fmt.Errorf("revoke API key %s: %w", p.ID, q.interpret(err))
	}
	if !k.RevokedAt.IsZero() {
		return nil
	}
	if k.Role == store.RoleAdmin && k.Active(p.At) {
		// Lock every active admin key, then count: two revocations of the
		// last two admin keys serialize here, and the second sees the first
		// one's revocation (PostgreSQL re-reads a locked row once its lock is
		// released). Unlike Postgres, SQLite has one writer, so the count
		// alone is safe.
		rows, err := q.query(ctx, `SELECT id FROM api_keys WHERE role = $1 AND revoked_at = $2 AND (expires_at = $2 OR expires_at > $3) ORDER BY id `+q.d.LockSuffix,
			store.RoleAdmin, q.t(time.Time{}), q.t(p.At))
		if err != nil {
			return fmt.Errorf("revoke API key %s: count admin keys: %w", p.ID, err)
		}
		ids, err := collect(rows, func(r interface{ Scan(...any) error }) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil {
			return fmt.Errorf("revoke API key %s: count admin keys: %w", p.ID, err)
		}
		// The locked set is read after any concurrent revocation committed:
		// if the target left it meanwhile, it is revoked already.
		if !slices.Contains(ids, p.ID) {
			return nil
		}
		if len(ids) <= 1 {
			return fmt.Errorf("revoke API key %s: %w", p.ID, store.ErrLastAdminKey)
		}
	}
	if _, err := q.exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at = $3`, p.ID, q.t(p.At), q.t(time.Time{})); err != nil {
		return fmt.Errorf("revoke API key %s: %w", p.ID, err)
	}
	return nil
}

func (q *queries) APIKeyTouch(ctx context.Context, p *store.APIKeyTouchParams) error {
	_, err := q.exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND last_used_at < $3`, p.ID, q.t(p.At), q.t(p.Before))
	if err != nil {
		return fmt.Errorf("record use of API key %s: %w", p.ID, err)
	}
	return nil
}

const idempotencyCols = `request_hash, status, content_type, body, created_at, claim_token, claimed_until`

func (q *queries) IdempotencyGet(ctx context.Context, scope, key string) (*store.IdempotencyRecord, error) {
	r := &store.IdempotencyRecord{Scope: scope, Key: key}
	err := q.queryRow(ctx, `SELECT `+idempotencyCols+` FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key).
		Scan(&r.RequestHash, &r.Status, &r.ContentType, &r.Body, scanTime{&r.CreatedAt}, &r.Token, scanTime{&r.ClaimedUntil})
	if err != nil {
		return nil, fmt.Errorf("get idempotency key: %w", q.interpret(err))
	}
	return r, nil
}

func (q *queries) IdempotencyPut(ctx context.Context, r *store.IdempotencyRecord) error {
	// A response without a body (204) has a nil Body, which both drivers
	// would send as NULL into a NOT NULL column.
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	_, err := q.exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyCols+`, scope, key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, content_type = excluded.content_type,
		body = excluded.body, created_at = excluded.created_at, claim_token = excluded.claim_token, claimed_until = excluded.claimed_until`,
		r.RequestHash, r.Status, r.ContentType, body, q.t(r.CreatedAt), r.Token, q.t(time.Time{}), r.Scope, r.Key)
	if err != nil {
		return fmt.Errorf("put idempotency key: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) IdempotencyClaim(ctx context.Context, p *store.IdempotencyClaimParams) (*store.IdempotencyRecord, bool, error) {
	// The insert takes a free key in one statement, whoever races for it:
	// on PostgreSQL a concurrent claim of the same key waits on the row
	// and then sees it taken. Twice, because the record that held the key
	// may be gone (released, pruned) between the insert and the read.
	for range 2 {
		res, err := q.exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyCols+`, scope, key) VALUES ($1, 0, '', $2, $3, $4, $5, $6, $7)
			ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, content_type = '', body = excluded.body,
			created_at = excluded.created_at, claim_token = excluded.claim_token, claimed_until = excluded.claimed_until
			WHERE (idempotency_keys.status = 0 AND idempotency_keys.claimed_until < $3)
			OR (idempotency_keys.status <> 0 AND idempotency_keys.created_at < $8)`,
			p.RequestHash, []byte{}, q.t(p.At), p.Token, q.t(p.Until), p.Scope, p.Key, q.t(p.ExpiredBefore))
		if err != nil {
			return nil, false, fmt.Errorf("claim idempotency key: %w", q.interpret(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, false, fmt.Errorf("claim idempotency key: %w", err)
		} else if n == 1 {
			return nil, true, nil
		}
		held, err := q.IdempotencyGet(ctx, p.Scope, p.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		return held, false, nil
	}
	return nil, false, fmt.Errorf("claim idempotency key: it was taken and dropped twice meanwhile: %w", store.ErrConflict)
}

func (q *queries) IdempotencyComplete(ctx context.Context, r *store.IdempotencyRecord) (bool, error) {
	body := r.Body
	if body == nil {
		body = []byte{} // see IdempotencyPut
	}
	res, err := q.exec(ctx, `UPDATE idempotency_keys SET request_hash = $1, status = $2, content_type = $3, body = $4, created_at = $5,
		claimed_until = $6 WHERE scope = $7 AND key = $8 AND claim_token = $9 AND status = 0`,
		r.RequestHash, r.Status, r.ContentType, body, q.t(r.CreatedAt), q.t(time.Time{}), r.Scope, r.Key, r.Token)
	return affectedOne("complete idempotency key", res, err)
}

func (q *queries) IdempotencyExtendClaim(ctx context.Context, c store.IdempotencyClaimRef, until time.Time) (bool, error) {
	res, err := q.exec(ctx, `UPDATE idempotency_keys SET claimed_until = $1 WHERE scope = $2 AND key = $3 AND claim_token = $4 AND status = 0`,
		q.t(until), c.Scope, c.Key, c.Token)
	return affectedOne("extend idempotency claim", res, err)
}

func (q *queries) IdempotencyRelease(ctx context.Context, c store.IdempotencyClaimRef) error {
	_, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND claim_token = $3 AND status = 0`, c.Scope, c.Key, c.Token)
	if err != nil {
		return fmt.Errorf("release idempotency claim: %w", err)
	}
	return nil
}

// affectedOne reports whether an update guarded by its WHERE changed its
// row.
func affectedOne(action string, res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("%s: %w", action, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", action, err)
	}
	return n == 1, nil
}

func (q *queries) IdempotencyDeleteBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := q.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, q.t(before))
	if err != nil {
		return 0, fmt.Errorf("delete old idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
