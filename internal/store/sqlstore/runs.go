package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// ---- runs
//
// Runs are leased jobs, as deliveries are: leases.go holds the statements
// that claim, extend and release their leases.

const runCols = `seq, id, automation_id, event_id, event_type, tenant_id, trigger, cause, state, step, attempts,
	next_attempt_at, leased_until, lease_owner, steps, error, created_at, updated_at`

func scanRun(row interface{ Scan(...any) error }) (*store.Run, error) {
	r := &store.Run{}
	var trigger, cause, steps string
	err := row.Scan(&r.Seq, &r.ID, &r.AutomationID, &r.EventID, &r.EventType, &r.TenantID, &trigger, &cause, &r.State, &r.Step, &r.Attempts,
		scanTime{&r.NextAttemptAt}, scanTime{&r.LeasedUntil}, &r.LeaseOwner, &steps, &r.Error, scanTime{&r.CreatedAt}, scanTime{&r.UpdatedAt})
	r.Trigger, r.Cause, r.Steps = bytesOrNil(trigger), bytesOrNil(cause), bytesOrNil(steps)
	return r, err
}

func (q *queries) RunInsert(ctx context.Context, rs []*store.Run) error {
	for _, r := range rs {
		err := q.queryRow(ctx, `INSERT INTO runs (id, automation_id, event_id, event_type, tenant_id, trigger, cause, state, step, attempts,
			next_attempt_at, leased_until, lease_owner, steps, error, created_at, updated_at) VALUES (`+placeholders(1, 17)+`) RETURNING seq`,
			r.ID, r.AutomationID, r.EventID, r.EventType, r.TenantID, string(r.Trigger), string(r.Cause), r.State, r.Step, r.Attempts,
			q.t(r.NextAttemptAt), q.t(r.LeasedUntil), r.LeaseOwner, string(r.Steps), r.Error, q.t(r.CreatedAt), q.t(r.UpdatedAt)).Scan(&r.Seq)
		if err != nil {
			return fmt.Errorf("insert run: %w", q.interpret(err))
		}
		if r.LeaseOwner == "" && r.State == store.RunPending {
			q.woke(store.WakeRuns, r.NextAttemptAt)
		}
	}
	return nil
}

func (q *queries) RunGet(ctx context.Context, id string) (*store.Run, error) {
	r, err := scanRun(q.queryRow(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get run: %w", q.interpret(err))
	}
	return r, nil
}

func (q *queries) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	return listJobs(ctx, q, runLeases, jobFilter{key: p.AutomationID, eventID: p.EventID, state: string(p.State), beforeSeq: p.BeforeSeq,
		limit: p.Limit}, scanRun)
}

func (q *queries) RunClaimDue(ctx context.Context, p *store.RunClaimDueParams) ([]*store.Run, error) {
	out, err := claimDue(ctx, q, runLeases, leaseClaim{now: p.Now, leaseUntil: p.LeaseUntil, owner: p.Owner, limit: p.Limit,
		exclude: p.ExcludeAutomations}, scanRun)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.Run) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

func (q *queries) RunExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	return q.extendLeases(ctx, runLeases, owner, ids, until)
}

func (q *queries) RunReleaseLeases(ctx context.Context, owner string) error {
	return q.releaseLeases(ctx, runLeases, owner)
}

func (q *queries) RunSetStatesIfLeased(ctx context.Context, ps []*store.RunSetStateParams) (map[string]bool, error) {
	rows := make([]leasedRow, len(ps))
	for i, p := range ps {
		rows[i] = leasedRow{id: p.ID, owner: p.Owner, values: []any{string(p.State), p.Step, p.Attempts, q.t(p.NextAttemptAt), string(p.Steps), p.Error, q.t(p.At)}}
	}
	return setStatesIfLeased(ctx, q, runLeases, []setColumn{{"state", "text"}, {"step", "integer"}, {"attempts", "integer"},
		{"next_attempt_at", "timestamptz"}, {"steps", "text"}, {"error", "text"}, {"updated_at", "timestamptz"}}, rows)
}

func (q *queries) RunRetryNow(ctx context.Context, id string, now time.Time) error {
	res, err := q.exec(ctx, `UPDATE runs SET state = 'pending', next_attempt_at = $2, attempts = 0, error = '', leased_until = $3, lease_owner = '',
		updated_at = $2 WHERE id = $1`, id, q.t(now), q.t(time.Time{}))
	if err := q.checkAffected("retry run", res, err); err != nil {
		return err
	}
	q.woke(store.WakeRuns, time.Time{})
	return nil
}

// ---- run steps

const runStepCols = `seq, run_id, idx, name, type, attempt, state, started_at, duration_ms, request, response_status,
	response_headers, response_body, error, notes`

func scanRunStep(row interface{ Scan(...any) error }) (*store.RunStep, error) {
	s := &store.RunStep{}
	var request, headers, notes string
	if err := row.Scan(&s.Seq, &s.RunID, &s.Index, &s.Name, &s.Type, &s.Attempt, &s.State, scanTime{&s.StartedAt}, &s.DurationMS, &request,
		&s.ResponseStatus, &headers, &s.ResponseBody, &s.Error, &notes); err != nil {
		return nil, err
	}
	s.Request = bytesOrNil(request)
	if err := json.Unmarshal([]byte(headers), &s.ResponseHeaders); err != nil {
		return nil, fmt.Errorf("decode run step response headers: %w", err)
	}
	if err := json.Unmarshal([]byte(notes), &s.Notes); err != nil {
		return nil, fmt.Errorf("decode run step notes: %w", err)
	}
	return s, nil
}

func (q *queries) RunStepInsert(ctx context.Context, steps []*store.RunStep) error {
	for _, s := range steps {
		// A nil map or list is stored as JSON null and read back nil; an
		// empty one as {} or [] and read back empty.
		err := q.queryRow(ctx, `INSERT INTO run_steps (run_id, idx, name, type, attempt, state, started_at, duration_ms, request,
			response_status, response_headers, response_body, error, notes) VALUES (`+placeholders(1, 14)+`) RETURNING seq`,
			s.RunID, s.Index, s.Name, s.Type, s.Attempt, s.State, q.t(s.StartedAt), s.DurationMS, string(s.Request),
			s.ResponseStatus, jsonText(s.ResponseHeaders), s.ResponseBody, s.Error, jsonText(s.Notes)).Scan(&s.Seq)
		if err != nil {
			return fmt.Errorf("insert run step: %w", q.interpret(err))
		}
	}
	return nil
}

func (q *queries) RunStepList(ctx context.Context, runIDs []string) ([]*store.RunStep, error) {
	var out []*store.RunStep
	for start := 0; start < len(runIDs); start += 500 {
		chunk := runIDs[start:min(start+500, len(runIDs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.query(ctx, `SELECT `+runStepCols+` FROM run_steps WHERE run_id IN (`+placeholders(1, len(args))+`) ORDER BY seq`, args...)
		if err != nil {
			return nil, fmt.Errorf("list run steps: %w", err)
		}
		steps, err := collect(rows, scanRunStep)
		if err != nil {
			return nil, fmt.Errorf("list run steps: %w", err)
		}
		out = append(out, steps...)
	}
	if len(runIDs) > 500 {
		// Each chunk came in order; together they must be merged.
		slices.SortFunc(out, func(a, b *store.RunStep) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	return out, nil
}

// ---- timers

const timerCols = `automation_id, tenant_id, field_group_id, entity_id, field_key, due_at, event_id, value, created_at`

func scanTimer(row interface{ Scan(...any) error }) (*store.Timer, error) {
	t := &store.Timer{}
	var value string
	err := row.Scan(&t.AutomationID, &t.TenantID, &t.FieldGroupID, &t.EntityID, &t.FieldKey, scanTime{&t.DueAt}, &t.EventID, &value,
		scanTime{&t.CreatedAt})
	t.Value = bytesOrNil(value)
	return t, err
}

func (q *queries) TimerUpsert(ctx context.Context, t *store.Timer) error {
	_, err := q.exec(ctx, `INSERT INTO automation_timers (`+timerCols+`) VALUES (`+placeholders(1, 9)+`)
		ON CONFLICT (automation_id, tenant_id, field_group_id, entity_id, field_key) DO UPDATE SET due_at = excluded.due_at,
		event_id = excluded.event_id, value = excluded.value, created_at = excluded.created_at`,
		t.AutomationID, t.TenantID, t.FieldGroupID, t.EntityID, t.FieldKey, q.t(t.DueAt), t.EventID, string(t.Value), q.t(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("upsert timer: %w", q.interpret(err))
	}
	q.woke(store.WakeTimers, t.DueAt)
	return nil
}

func (q *queries) TimerDelete(ctx context.Context, k store.TimerKey) error {
	if _, err := q.exec(ctx, `DELETE FROM automation_timers WHERE automation_id = $1 AND tenant_id = $2 AND field_group_id = $3
		AND entity_id = $4 AND field_key = $5`, k.AutomationID, k.TenantID, k.FieldGroupID, k.EntityID, k.FieldKey); err != nil {
		return fmt.Errorf("delete timer: %w", q.interpret(err))
	}
	return nil
}

// TimerTakeDue picks the due timers in a materialized CTE, so that the pick
// (and, on PostgreSQL, its row locks, which skip rows another taker holds)
// runs exactly once whatever plan the DELETE gets, then deletes and returns
// them. SQLite has one writer, so the pick and the delete are never
// interleaved with another taker's.
func (q *queries) TimerTakeDue(ctx context.Context, now time.Time, limit int) ([]*store.Timer, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := q.query(ctx, `WITH due AS MATERIALIZED (SELECT automation_id, tenant_id, field_group_id, entity_id, field_key
			FROM automation_timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2 `+q.d.ClaimSuffix+`)
		DELETE FROM automation_timers WHERE (automation_id, tenant_id, field_group_id, entity_id, field_key) IN
			(SELECT automation_id, tenant_id, field_group_id, entity_id, field_key FROM due)
		RETURNING `+timerCols, q.t(now), limit)
	if err != nil {
		return nil, fmt.Errorf("take due timers: %w", q.interpret(err))
	}
	out, err := collect(rows, scanTimer)
	if err != nil {
		return nil, fmt.Errorf("take due timers: %w", err)
	}
	// RETURNING comes in no particular order: soonest first, ties by key.
	slices.SortFunc(out, func(a, b *store.Timer) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.AutomationID, b.AutomationID), cmp.Compare(a.TenantID, b.TenantID),
			cmp.Compare(a.FieldGroupID, b.FieldGroupID), cmp.Compare(a.EntityID, b.EntityID), cmp.Compare(a.FieldKey, b.FieldKey))
	})
	return out, nil
}

func (q *queries) TimerNextDue(ctx context.Context) (time.Time, error) {
	var due time.Time
	// min() of no rows is NULL, which scanTime reads as the zero time.
	if err := q.queryRow(ctx, `SELECT min(due_at) FROM automation_timers`).Scan(scanTime{&due}); err != nil {
		return time.Time{}, fmt.Errorf("next timer due: %w", err)
	}
	return due, nil
}
