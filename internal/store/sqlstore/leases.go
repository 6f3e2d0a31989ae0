package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// ---- leases
//
// Webhook deliveries and automation runs are leased jobs, held the same
// way: a claim sets lease_owner and leased_until on pending rows that are
// due (next_attempt_at) and whose lease has run out; the owner extends its
// leases while it works and releases them when it stops; every result is
// written by a set-state guarded by the owner and the pending state, which
// drops the lease. The statements below serve both tables.

// leasedTable describes a table of leased jobs. Both tables also carry
// event_id and seq, by which listJobs lists them.
type leasedTable struct {
	table     string // "deliveries"
	keyColumn string // what a claim may exclude, e.g. a full local queue: "endpoint_id"
	columns   string // the columns a claim returns, in the order scan reads them
	noun      string // for error messages: "delivery"
	nouns     string // for error messages: "deliveries"
	wake      store.WakeKind
}

var (
	deliveryLeases = &leasedTable{table: "deliveries", keyColumn: "endpoint_id", columns: deliveryCols, noun: "delivery", nouns: "deliveries", wake: store.WakeDeliveries}
	runLeases      = &leasedTable{table: "runs", keyColumn: "automation_id", columns: runCols, noun: "run", nouns: "runs", wake: store.WakeRuns}
)

// jobFilter is what listJobs takes from DeliveryListParams or
// RunListParams; an empty field does not filter.
type jobFilter struct {
	key, eventID, state string // key is a keyColumn value
	beforeSeq           int64
	limit               int
}

// listJobs lists the rows that match f, newest first.
func listJobs[T any](ctx context.Context, q *queries, lt *leasedTable, f jobFilter, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.key != "" {
		add(lt.keyColumn+" = $%d", f.key)
	}
	if f.eventID != "" {
		add("event_id = $%d", f.eventID)
	}
	if f.state != "" {
		add("state = $%d", f.state)
	}
	if f.beforeSeq > 0 {
		add("seq < $%d", f.beforeSeq)
	}
	query := `SELECT ` + lt.columns + ` FROM ` + lt.table
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, f.limit)
	rows, err := q.query(ctx, query+fmt.Sprintf(" ORDER BY seq DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", lt.nouns, err)
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", lt.nouns, err)
	}
	return out, nil
}

// leaseClaim is what claimDue takes from DeliveryClaimDueParams or
// RunClaimDueParams.
type leaseClaim struct {
	now, leaseUntil time.Time
	owner           string
	limit           int
	exclude         []string // keyColumn values to leave unclaimed
}

// claimDue leases up to limit due pending rows to owner and returns them as
// scan reads them, in no particular order (RETURNING has none on either
// database): the caller sorts them. The state is a literal rather than an
// argument so that PostgreSQL can use the partial indexes deliveries_due
// and runs_due even under a generic plan of the prepared statement.
func claimDue[T any](ctx context.Context, q *queries, lt *leasedTable, c leaseClaim, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	args := []any{q.t(c.now)}
	sub := `SELECT id FROM ` + lt.table + ` WHERE state = 'pending' AND next_attempt_at <= $1 AND leased_until < $1`
	if len(c.exclude) > 0 {
		sub += ` AND ` + lt.keyColumn + ` NOT IN (` + placeholders(2, len(c.exclude)) + `)`
		for _, id := range c.exclude {
			args = append(args, id)
		}
	}
	args = append(args, c.limit, q.t(c.leaseUntil), c.owner)
	n := len(args)
	sub += fmt.Sprintf(` ORDER BY next_attempt_at LIMIT $%d %s`, n-2, q.d.ClaimSuffix)
	rows, err := q.query(ctx, fmt.Sprintf(`UPDATE `+lt.table+` SET leased_until = $%d, lease_owner = $%d WHERE id IN (%s) RETURNING `+lt.columns, n-1, n, sub), args...)
	if err != nil {
		return nil, fmt.Errorf("claim due %s: %w", lt.nouns, q.interpret(err))
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("claim due %s: %w", lt.nouns, err)
	}
	return out, nil
}

// extendLeases moves the leases owner holds on the pending rows ids to
// until, in chunks of 500 ids a statement. Rows are locked in id order, so
// that two writers locking several of them never deadlock (PostgreSQL).
func (q *queries) extendLeases(ctx context.Context, lt *leasedTable, owner string, ids []string, until time.Time) error {
	ids = slices.Sorted(slices.Values(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := []any{q.t(until), owner}
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := q.exec(ctx, `UPDATE `+lt.table+` SET leased_until = $1 WHERE id IN (SELECT id FROM `+lt.table+`
			WHERE lease_owner = $2 AND state = 'pending' AND id IN (`+placeholders(3, len(chunk))+`) ORDER BY id `+q.d.LockSuffix+`)`, args...); err != nil {
			return fmt.Errorf("extend %s leases: %w", lt.noun, err)
		}
	}
	return nil
}

// releaseLeases drops the leases owner holds on pending rows, or every
// lease on pending rows when owner is empty.
func (q *queries) releaseLeases(ctx context.Context, lt *leasedTable, owner string) error {
	query, args := `UPDATE `+lt.table+` SET leased_until = $1, lease_owner = '' WHERE state = 'pending' AND lease_owner <> ''`, []any{q.t(time.Time{})}
	if owner != "" {
		query, args = query+` AND lease_owner = $2`, append(args, owner)
	}
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("release %s leases: %w", lt.noun, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		q.woke(lt.wake, time.Time{}) // due now or later: the claimers look
	}
	return nil
}

// setColumn is a column a guarded state change sets, with its PostgreSQL
// type for Dialect.Casts.
type setColumn struct{ name, sqlType string }

// leasedRow is one guarded state change: the row, the owner that must hold
// its lease, and the values of the columns set, in their order.
type leasedRow struct {
	id, owner string
	values    []any
}

// setStateChunk bounds the rows of one guarded multi-row update, far below
// either database's argument limit.
const setStateChunk = 128

// setStatesIfLeased applies state changes to pending rows, each only while
// its owner (never empty: an unleased row's owner is empty too) holds the
// lease, dropping the lease whatever the new state, and returns the ids it
// changed. One statement per chunk of rows instead of one per row: a round
// trip each on PostgreSQL. Rows are locked in id order, as every other
// writer of the table locks them, so that writers never deadlock.
func setStatesIfLeased(ctx context.Context, q *queries, lt *leasedTable, cols []setColumn, rows []leasedRow) (map[string]bool, error) {
	rows = slices.SortedFunc(slices.Values(rows), func(a, b leasedRow) int { return strings.Compare(a.id, b.id) })
	sets := make([]string, 0, len(cols)+2)
	for i, c := range cols {
		sets = append(sets, fmt.Sprintf("%s = v.column%d", c.name, i+3))
	}
	sets = append(sets, fmt.Sprintf("leased_until = v.column%d", len(cols)+3), "lease_owner = ''")
	width := len(cols) + 3 // id, owner, the columns, leased_until
	applied := make(map[string]bool, len(rows))
	zero := q.t(time.Time{})
	for start := 0; start < len(rows); start += setStateChunk {
		chunk := rows[start:min(start+setStateChunk, len(rows))]
		values := make([]string, len(chunk))
		args := make([]any, 0, (width+1)*len(chunk))
		for i, r := range chunk {
			n := len(args)
			marks := make([]string, width)
			for j := range marks {
				marks[j] = fmt.Sprintf("$%d", n+j+1)
			}
			// PostgreSQL types a VALUES list by its first row: casts there
			// type the rest.
			if i == 0 {
				for j, c := range cols {
					marks[j+2] = q.typed(n+j+3, c.sqlType)
				}
				marks[width-1] = q.typed(n+width, "timestamptz")
			}
			values[i] = "(" + strings.Join(marks, ", ") + ")"
			args = append(append(append(args, r.id, r.owner), r.values...), zero)
		}
		first := len(args) + 1
		for _, r := range chunk {
			args = append(args, r.id)
		}
		t := lt.table
		res, err := q.query(ctx, `UPDATE `+t+` SET `+strings.Join(sets, ", ")+` FROM (VALUES `+strings.Join(values, ", ")+`) AS v
			WHERE `+t+`.id = v.column1 AND `+t+`.lease_owner = v.column2 AND `+t+`.lease_owner <> '' AND `+t+`.state = 'pending'
			AND `+t+`.id IN (SELECT id FROM `+t+` WHERE id IN (`+placeholders(first, len(chunk))+`) ORDER BY id `+q.d.LockSuffix+`)
			RETURNING `+t+`.id`, args...)
		if err != nil {
			return nil, fmt.Errorf("set %s states: %w", lt.noun, q.interpret(err))
		}
		ids, err := collect(res, func(r interface{ Scan(...any) error }) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil {
			return nil, fmt.Errorf("set %s states: %w", lt.noun, err)
		}
		for _, id := range ids {
			applied[id] = true
		}
	}
	return applied, nil
}
