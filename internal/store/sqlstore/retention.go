package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

func (q *queries) RetentionLock(ctx context.Context) (bool, error) {
	if q.d.RetentionLockSQL == "" {
		return true, nil
	}
	var ok bool
	if err := q.queryRow(ctx, q.d.RetentionLockSQL).Scan(&ok); err != nil {
		return false, fmt.Errorf("take the retention lock: %w", err)
	}
	return ok, nil
}

// Reclaim implements store.Store. It runs outside any transaction, on the
// writer, where SQLite's pragma must run.
func (s *Store) Reclaim(ctx context.Context) error {
	if s.d.Reclaim == nil || s.isClosed() {
		return nil
	}
	if err := s.d.Reclaim(ctx, s.writer); err != nil {
		return fmt.Errorf("reclaim free space: %w", err)
	}
	return nil
}

// prunable is, per kind, the sub-select of the keys of rows Prune may
// delete: $1 is the cutoff, $2 the limit and $3 the tenant (or, for
// endpoints, the zero time). Each reads an index on its time column,
// oldest first.
type prunable struct {
	table, key string
	// sel selects key from table as t, with %s where the tenant condition
	// goes.
	sel string
	// tenanted kinds take the tenant condition; the others ignore TenantID.
	tenanted bool
}

var prunables = map[store.PruneKind]prunable{
	store.PruneDeliveries: {table: "deliveries", key: "seq", tenanted: true,
		sel: `SELECT t.seq FROM deliveries t WHERE t.state <> 'pending' AND t.lease_owner = '' AND t.updated_at < $1 %s
			ORDER BY t.updated_at LIMIT $2`},
	store.PruneRuns: {table: "runs", key: "seq", tenanted: true,
		sel: `SELECT t.seq FROM runs t WHERE t.state <> 'pending' AND t.lease_owner = '' AND t.updated_at < $1 %s
			ORDER BY t.updated_at LIMIT $2`},
	// An event stays while a delivery or run of it is kept: a pending one
	// still needs its body, a settled one shows it.
	store.PruneEvents: {table: "events", key: "seq", tenanted: true,
		sel: `SELECT t.seq FROM events t WHERE t.occurred_at < $1 %s
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = t.id)
			AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = t.id)
			ORDER BY t.occurred_at LIMIT $2`},
	store.PruneIdempotency: {table: "idempotency_keys", key: "(scope, key)",
		sel: `SELECT t.scope, t.key FROM idempotency_keys t WHERE t.created_at < $1 ORDER BY t.created_at LIMIT $2`},
	store.PruneEndpoints: {table: "webhook_endpoints", key: "id",
		sel: `SELECT t.id FROM webhook_endpoints t WHERE t.deleted_at > $3 AND t.deleted_at < $1
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_id = t.id) LIMIT $2`},
}

func (q *queries) Prune(ctx context.Context, p *store.PruneParams) (int, error) {
	pr, ok := prunables[p.Kind]
	if !ok {
		return 0, fmt.Errorf("prune %q: unknown kind", p.Kind)
	}
	args := []any{q.t(p.Before), p.Limit}
	cond := ""
	switch {
	case p.Kind == store.PruneEndpoints:
		args = append(args, q.t(time.Time{}))
	case pr.tenanted && p.TenantID != nil:
		cond, args = `AND t.tenant_id = $3`, append(args, *p.TenantID)
	case pr.tenanted:
		cond = `AND NOT EXISTS (SELECT 1 FROM tenant_retention o WHERE o.tenant_id = t.tenant_id)`
	}
	sel := pr.sel
	if pr.tenanted {
		sel = fmt.Sprintf(sel, cond)
	}
	res, err := q.exec(ctx, `DELETE FROM `+pr.table+` WHERE `+pr.key+` IN (`+sel+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", p.Kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", p.Kind, err)
	}
	return int(n), nil
}

// ---- per-tenant retention

func (q *queries) TenantRetentionGet(ctx context.Context, tenantID string) (*store.TenantRetention, error) {
	r := &store.TenantRetention{TenantID: tenantID}
	err := q.queryRow(ctx, `SELECT days, updated_at FROM tenant_retention WHERE tenant_id = $1`, tenantID).Scan(&r.Days, scanTime{&r.UpdatedAt})
	if err != nil {
		return nil, fmt.Errorf("get tenant retention: %w", q.interpret(err))
	}
	return r, nil
}

func (q *queries) TenantRetentionList(ctx context.Context) ([]*store.TenantRetention, error) {
	rows, err := q.query(ctx, `SELECT tenant_id, days, updated_at FROM tenant_retention ORDER BY tenant_id`)
	if err != nil {
		return nil, fmt.Errorf("list tenant retention: %w", err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (*store.TenantRetention, error) {
		r := &store.TenantRetention{}
		return r, row.Scan(&r.TenantID, &r.Days, scanTime{&r.UpdatedAt})
	})
	if err != nil {
		return nil, fmt.Errorf("list tenant retention: %w", err)
	}
	return out, nil
}

func (q *queries) TenantRetentionPut(ctx context.Context, r *store.TenantRetention) error {
	_, err := q.exec(ctx, `INSERT INTO tenant_retention (tenant_id, days, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id) DO UPDATE SET days = excluded.days, updated_at = excluded.updated_at`, r.TenantID, r.Days, q.t(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put tenant retention: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) TenantRetentionDelete(ctx context.Context, tenantID string) error {
	if _, err := q.exec(ctx, `DELETE FROM tenant_retention WHERE tenant_id = $1`, tenantID); err != nil {
		return fmt.Errorf("delete tenant retention: %w", err)
	}
	return nil
}

// ---- tenant erasures

const erasureCols = `tenant_id, state, requested_at, finished_at, removed, event_id`

func scanErasure(row interface{ Scan(...any) error }) (*store.TenantErasure, error) {
	e := &store.TenantErasure{}
	err := row.Scan(&e.TenantID, &e.State, scanTime{&e.RequestedAt}, scanTime{&e.FinishedAt}, &e.Removed, &e.EventID)
	return e, err
}

func (q *queries) TenantErasureGet(ctx context.Context, tenantID string) (*store.TenantErasure, error) {
	e, err := scanErasure(q.queryRow(ctx, `SELECT `+erasureCols+` FROM tenant_erasures WHERE tenant_id = $1`, tenantID))
	if err != nil {
		return nil, fmt.Errorf("get tenant erasure: %w", q.interpret(err))
	}
	return e, nil
}

func (q *queries) TenantErasureListPending(ctx context.Context, limit int) ([]*store.TenantErasure, error) {
	rows, err := q.query(ctx, `SELECT `+erasureCols+` FROM tenant_erasures WHERE state = 'pending' ORDER BY requested_at, tenant_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list pending tenant erasures: %w", err)
	}
	out, err := collect(rows, scanErasure)
	if err != nil {
		return nil, fmt.Errorf("list pending tenant erasures: %w", err)
	}
	return out, nil
}

func (q *queries) TenantErasureStart(ctx context.Context, e *store.TenantErasure) (*store.TenantErasure, error) {
	zero := q.t(time.Time{})
	_, err := q.exec(ctx, `INSERT INTO tenant_erasures (`+erasureCols+`) VALUES ($1, 'pending', $2, $3, 0, '')
		ON CONFLICT (tenant_id) DO UPDATE SET state = 'pending', requested_at = excluded.requested_at, finished_at = excluded.finished_at,
		removed = 0, event_id = '' WHERE tenant_erasures.state <> 'pending'`, e.TenantID, q.t(e.RequestedAt), zero)
	if err != nil {
		return nil, fmt.Errorf("start tenant erasure: %w", q.interpret(err))
	}
	_, err = q.exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE tenant_id = $1 AND role = $3 AND revoked_at = $4`,
		e.TenantID, q.t(e.RequestedAt), store.RoleTenant, zero)
	if err != nil {
		return nil, fmt.Errorf("start tenant erasure: revoke the tenant's keys: %w", err)
	}
	return q.TenantErasureGet(ctx, e.TenantID)
}

func (q *queries) TenantErasureProgress(ctx context.Context, tenantID string, removed int) error {
	res, err := q.exec(ctx, `UPDATE tenant_erasures SET removed = removed + $2 WHERE tenant_id = $1 AND state = 'pending'`, tenantID, removed)
	return q.checkAffected("record tenant erasure progress", res, err)
}

func (q *queries) TenantErasureFinish(ctx context.Context, p *store.TenantErasureFinishParams) error {
	res, err := q.exec(ctx, `UPDATE tenant_erasures SET state = 'done', finished_at = $2, removed = removed + $3, event_id = $4
		WHERE tenant_id = $1 AND state = 'pending'`, p.TenantID, q.t(p.At), p.Removed, p.EventID)
	return q.checkAffected("finish tenant erasure", res, err)
}

// eraseSteps delete a tenant's rows one kind at a time; $1 is the tenant
// and $2 the limit. Each deletes whole rows through their primary key, so
// that a batch is bounded; what hangs off a row by a foreign key (values
// off entities, attempts off deliveries, runs and timers off automations)
// goes with it.
var eraseSteps = []struct{ name, sql string }{
	{"timers", `DELETE FROM automation_timers WHERE (automation_id, tenant_id, field_group_id, entity_id, field_key) IN
		(SELECT automation_id, tenant_id, field_group_id, entity_id, field_key FROM automation_timers WHERE tenant_id = $1 LIMIT $2)`},
	{"entities", `DELETE FROM entities WHERE (tenant_id, field_group_id, entity_id) IN
		(SELECT tenant_id, field_group_id, entity_id FROM entities WHERE tenant_id = $1 LIMIT $2)`},
	{"tenant fields", `DELETE FROM tenant_fields WHERE id IN (SELECT id FROM tenant_fields WHERE tenant_id = $1 LIMIT $2)`},
	{"endpoints", `DELETE FROM webhook_endpoints WHERE id IN (SELECT id FROM webhook_endpoints WHERE tenant_id = $1 LIMIT $2)`},
	{"automations", `DELETE FROM automations WHERE id IN (SELECT id FROM automations WHERE tenant_id = $1 LIMIT $2)`},
	{"variables", `DELETE FROM variables WHERE (tenant_id, name) IN (SELECT tenant_id, name FROM variables WHERE tenant_id = $1 LIMIT $2)`},
	{"OAuth2 connections", `DELETE FROM oauth2_connections WHERE id IN (SELECT id FROM oauth2_connections WHERE tenant_id = $1 LIMIT $2)`},
	{"idempotency records", `DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT i.scope, i.key FROM idempotency_keys i
		JOIN api_keys k ON k.id = i.scope WHERE k.tenant_id = $1 LIMIT $2)`},
	{"sessions", `DELETE FROM sessions WHERE hash IN (SELECT s.hash FROM sessions s JOIN api_keys k ON k.id = s.key_id WHERE k.tenant_id = $1 LIMIT $2)`},
	{"retention", `DELETE FROM tenant_retention WHERE tenant_id IN (SELECT tenant_id FROM tenant_retention WHERE tenant_id = $1 LIMIT $2)`},
}

func (q *queries) TenantEraseBatch(ctx context.Context, tenantID string, limit int) (int, error) {
	if n, err := q.eraseEvents(ctx, tenantID, limit); n > 0 || err != nil {
		return n, err
	}
	for _, st := range eraseSteps {
		res, err := q.exec(ctx, st.sql, tenantID, limit)
		if err != nil {
			return 0, fmt.Errorf("erase tenant %s: %s: %w", tenantID, st.name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("erase tenant %s: %s: %w", tenantID, st.name, err)
		}
		if n > 0 {
			return int(n), nil
		}
	}
	return 0, nil
}

// eraseEvents deletes a batch of the tenant's events with their deliveries
// (on any endpoint, vendor-wide ones too: they carry the tenant's data) and
// runs. Deliveries and runs always point at a stored event (retention keeps
// an event while they do), so this reaches all of them.
func (q *queries) eraseEvents(ctx context.Context, tenantID string, limit int) (int, error) {
	rows, err := q.query(ctx, `SELECT id FROM events WHERE tenant_id = $1 ORDER BY seq LIMIT $2`, tenantID, limit)
	if err != nil {
		return 0, fmt.Errorf("erase tenant %s: events: %w", tenantID, err)
	}
	ids, err := collect(rows, func(row interface{ Scan(...any) error }) (any, error) {
		var id string
		return id, row.Scan(&id)
	})
	if err != nil || len(ids) == 0 {
		if err != nil {
			return 0, fmt.Errorf("erase tenant %s: events: %w", tenantID, err)
		}
		return 0, nil
	}
	in := placeholders(1, len(ids))
	total := 0
	for _, st := range []struct{ name, sql string }{
		{"deliveries", `DELETE FROM deliveries WHERE event_id IN (` + in + `)`},
		{"runs", `DELETE FROM runs WHERE event_id IN (` + in + `)`},
		{"events", `DELETE FROM events WHERE id IN (` + in + `)`},
	} {
		res, err := q.db.ExecContext(ctx, st.sql, ids...)
		if err == nil {
			var n int64
			n, err = res.RowsAffected()
			total += int(n)
		}
		if err != nil {
			return 0, fmt.Errorf("erase tenant %s: %s: %w", tenantID, st.name, err)
		}
	}
	if total == 0 {
		return 0, errors.New("erase tenant " + tenantID + ": events were listed but none was deleted")
	}
	return total, nil
}
