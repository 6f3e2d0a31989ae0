package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// placeholders returns "$n, $n+1, …" for k arguments starting at n.
func placeholders(n, k int) string {
	marks := make([]string, k)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", n+i)
	}
	return strings.Join(marks, ", ")
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

const endpointCols = `id, url, description, tenant_id, events, filter, headers, signature_header, retry_schedule,
	timeout_seconds, max_in_flight, active, disabled_reason, secret, prev_secret, prev_secret_until, failing_since, created_at, updated_at, deleted_at,
	signature_format, signing_key, prev_signing_key, public_key, body_template`

func scanEndpoint(row interface{ Scan(...any) error }) (*store.Endpoint, error) {
	e := &store.Endpoint{}
	var evs, headers, sched string
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.TenantID, &evs, &e.Filter, &headers, &e.SignatureHeader, &sched,
		&e.TimeoutSeconds, &e.MaxInFlight, &e.Active, &e.DisabledReason, &e.Secret, &e.PrevSecret,
		scanTime{&e.PrevSecretUntil}, scanTime{&e.FailingSince}, scanTime{&e.CreatedAt}, scanTime{&e.UpdatedAt}, scanTime{&e.DeletedAt},
		&e.SignatureFormat, &e.SigningKey, &e.PrevSigningKey, &e.PublicKey, &e.BodyTemplate)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(evs), &e.Events); err != nil {
		return nil, fmt.Errorf("decode endpoint events: %w", err)
	}
	if err := json.Unmarshal([]byte(headers), &e.Headers); err != nil {
		return nil, fmt.Errorf("decode endpoint headers: %w", err)
	}
	if err := json.Unmarshal([]byte(sched), &e.RetrySchedule); err != nil {
		return nil, fmt.Errorf("decode endpoint retry schedule: %w", err)
	}
	return e, nil
}

func (q *queries) endpointArgs(e *store.Endpoint) []any {
	return []any{e.ID, e.URL, e.Description, e.TenantID, jsonText(e.Events), e.Filter, jsonText(e.Headers), e.SignatureHeader, jsonText(e.RetrySchedule),
		e.TimeoutSeconds, e.MaxInFlight, e.Active, e.DisabledReason, e.Secret, e.PrevSecret,
		q.t(e.PrevSecretUntil), q.t(e.FailingSince), q.t(e.CreatedAt), q.t(e.UpdatedAt), q.t(e.DeletedAt),
		e.SignatureFormat, e.SigningKey, e.PrevSigningKey, e.PublicKey, e.BodyTemplate}
}

func (q *queries) EndpointCreate(ctx context.Context, e *store.Endpoint) error {
	_, err := q.exec(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`) VALUES (`+placeholders(1, 25)+`)`, q.endpointArgs(e)...)
	if err != nil {
		return fmt.Errorf("create endpoint: %w", q.interpret(err))
	}
	return nil
}

func (q *queries) EndpointUpdate(ctx context.Context, e *store.Endpoint) error {
	res, err := q.exec(ctx, `UPDATE webhook_endpoints SET url = $2, description = $3, tenant_id = $4, events = $5, filter = $6,
		headers = $7, signature_header = $8, retry_schedule = $9, timeout_seconds = $10, max_in_flight = $11, active = $12,
		disabled_reason = $13, secret = $14, prev_secret = $15, prev_secret_until = $16, failing_since = $17, created_at = $18, updated_at = $19,
		signature_format = $21, signing_key = $22, prev_signing_key = $23, public_key = $24, body_template = $25
		WHERE id = $1 AND deleted_at = $20`, q.endpointArgs(e)...)
	return q.checkAffected("update endpoint", res, err)
}

// notDeleted is the condition on live endpoints; its one argument is the
// zero time.
const notDeleted = `deleted_at = $1`

func (q *queries) EndpointDelete(ctx context.Context, id string, at time.Time) error {
	zero := q.t(time.Time{})
	res, err := q.exec(ctx, `UPDATE webhook_endpoints SET deleted_at = $2, updated_at = $2, active = FALSE, secret = '', prev_secret = '',
		prev_secret_until = $3 WHERE id = $1 AND deleted_at = $3`, id, q.t(at), zero)
	if err := q.checkAffected("delete endpoint", res, err); err != nil {
		return err
	}
	// Nothing more goes to it; what is being attempted now finds its lease
	// gone and records nothing.
	_, err = q.exec(ctx, `UPDATE deliveries SET state = 'failed', last_error = 'endpoint was deleted', next_attempt_at = $2, updated_at = $2,
		leased_until = $3, lease_owner = '' WHERE endpoint_id = $1 AND state = 'pending'`, id, q.t(at), zero)
	if err != nil {
		return fmt.Errorf("delete endpoint: fail its pending deliveries: %w", err)
	}
	return nil
}

func (q *queries) EndpointGet(ctx context.Context, id string) (*store.Endpoint, error) {
	e, err := scanEndpoint(q.queryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get endpoint: %w", q.interpret(err))
	}
	return e, nil
}

func (q *queries) EndpointList(ctx context.Context, p *store.EndpointListParams) ([]*store.Endpoint, int, error) {
	where, args := ` WHERE `+notDeleted, []any{q.t(time.Time{})}
	if p.TenantID != nil {
		where, args = where+` AND tenant_id = $2`, append(args, *p.TenantID)
	}
	total, err := q.count(ctx, `SELECT count(*) FROM webhook_endpoints`+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count endpoints: %w", err)
	}
	n := len(args)
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+endpointCols+` FROM webhook_endpoints`+where+` ORDER BY created_at, id LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, p.PageSize, p.Offset())...)
	if err != nil {
		return nil, 0, fmt.Errorf("list endpoints: %w", err)
	}
	out, err := collect(rows, scanEndpoint)
	if err != nil {
		return nil, 0, fmt.Errorf("list endpoints: %w", err)
	}
	return out, total, nil
}

func (q *queries) EndpointListAll(ctx context.Context) ([]*store.Endpoint, error) {
	rows, err := q.query(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE `+notDeleted+` ORDER BY id`, q.t(time.Time{}))
	if err != nil {
		return nil, fmt.Errorf("list all endpoints: %w", err)
	}
	out, err := collect(rows, scanEndpoint)
	if err != nil {
		return nil, fmt.Errorf("list all endpoints: %w", err)
	}
	return out, nil
}

// ---- deliveries

const deliveryCols = `seq, id, endpoint_id, event_id, event_type, tenant_id, state, attempts, next_attempt_at, leased_until, lease_owner,
	last_status, last_error, created_at, updated_at`

func scanDelivery(row interface{ Scan(...any) error }) (*store.Delivery, error) {
	d := &store.Delivery{}
	err := row.Scan(&d.Seq, &d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.TenantID, &d.State, &d.Attempts,
		scanTime{&d.NextAttemptAt}, scanTime{&d.LeasedUntil}, &d.LeaseOwner, &d.LastStatus, &d.LastError, scanTime{&d.CreatedAt}, scanTime{&d.UpdatedAt})
	return d, err
}

func (q *queries) DeliveryInsert(ctx context.Context, ds []*store.Delivery) error {
	for _, d := range ds {
		err := q.queryRow(ctx, `INSERT INTO deliveries (id, endpoint_id, event_id, event_type, tenant_id, state, attempts, next_attempt_at,
			leased_until, lease_owner, last_status, last_error, created_at, updated_at) VALUES (`+placeholders(1, 14)+`) RETURNING seq`,
			d.ID, d.EndpointID, d.EventID, d.EventType, d.TenantID, d.State, d.Attempts, q.t(d.NextAttemptAt),
			q.t(d.LeasedUntil), d.LeaseOwner, d.LastStatus, d.LastError, q.t(d.CreatedAt), q.t(d.UpdatedAt)).Scan(&d.Seq)
		if err != nil {
			return fmt.Errorf("insert delivery: %w", q.interpret(err))
		}
		if d.LeaseOwner == "" && d.State == store.DeliveryPending {
			q.woke(store.WakeDeliveries, d.NextAttemptAt)
		}
	}
	return nil
}

func (q *queries) DeliveryGet(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(q.queryRow(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get delivery: %w", q.interpret(err))
	}
	return d, nil
}

func (q *queries) DeliveryList(ctx context.Context, p *store.DeliveryListParams) ([]*store.Delivery, error) {
	return listJobs(ctx, q, deliveryLeases, jobFilter{key: p.EndpointID, eventID: p.EventID, state: string(p.State), beforeSeq: p.BeforeSeq,
		limit: p.Limit}, scanDelivery)
}

// DeliveryEventsInRange returns the first matching delivery of each event,
// so that a range holding earlier replays sends every event once. With
// OnlyFailed, an event that has since been delivered (or is about to be
// tried again) to the endpoint is left out.
func (q *queries) DeliveryEventsInRange(ctx context.Context, p *store.DeliveryRangeParams) ([]*store.Delivery, error) {
	args := []any{p.EndpointID, q.t(p.Since)}
	sub := `SELECT min(seq) FROM deliveries WHERE endpoint_id = $1 AND created_at >= $2`
	if !p.Until.IsZero() {
		args = append(args, q.t(p.Until))
		sub += fmt.Sprintf(" AND created_at < $%d", len(args))
	}
	query := `SELECT ` + deliveryCols + ` FROM deliveries WHERE seq IN (` + sub
	if p.OnlyFailed {
		args = append(args, store.DeliveryFailed)
		n := len(args)
		query += fmt.Sprintf(` AND state = $%d GROUP BY event_id) AND NOT EXISTS (SELECT 1 FROM deliveries o
			WHERE o.endpoint_id = $1 AND o.event_id = deliveries.event_id AND o.state <> $%d)`, n, n)
	} else {
		query += ` GROUP BY event_id)`
	}
	args = append(args, p.Limit)
	rows, err := q.query(ctx, query+fmt.Sprintf(" ORDER BY seq LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries to replay: %w", err)
	}
	out, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("list deliveries to replay: %w", err)
	}
	return out, nil
}

func (q *queries) DeliveryClaimDue(ctx context.Context, p *store.DeliveryClaimDueParams) ([]*store.Delivery, error) {
	out, err := claimDue(ctx, q, deliveryLeases, leaseClaim{now: p.Now, leaseUntil: p.LeaseUntil, owner: p.Owner, limit: p.Limit,
		exclude: p.ExcludeEndpoints}, scanDelivery)
	if err != nil {
		return nil, err
	}
	// The dispatcher queues what it is given in order, so put the oldest
	// due first here.
	slices.SortFunc(out, func(a, b *store.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

func (q *queries) DeliveryExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	return q.extendLeases(ctx, deliveryLeases, owner, ids, until)
}

func (q *queries) DeliveryReleaseLeases(ctx context.Context, owner string) error {
	return q.releaseLeases(ctx, deliveryLeases, owner)
}

func (q *queries) DeliverySetStatesIfLeased(ctx context.Context, ps []*store.DeliverySetStateParams) (map[string]bool, error) {
	rows := make([]leasedRow, len(ps))
	for i, p := range ps {
		rows[i] = leasedRow{id: p.ID, owner: p.Owner, values: []any{string(p.State), p.Attempts, q.t(p.NextAttemptAt), p.LastStatus, p.LastError, q.t(p.At)}}
	}
	return setStatesIfLeased(ctx, q, deliveryLeases, []setColumn{{"state", "text"}, {"attempts", "integer"}, {"next_attempt_at", "timestamptz"},
		{"last_status", "integer"}, {"last_error", "text"}, {"updated_at", "timestamptz"}}, rows)
}

func (q *queries) DeliveryRetryNow(ctx context.Context, id string, now time.Time) error {
	res, err := q.exec(ctx, `UPDATE deliveries SET state = 'pending', next_attempt_at = $2, leased_until = $3, lease_owner = '', updated_at = $2 WHERE id = $1`,
		id, q.t(now), q.t(time.Time{}))
	if err := q.checkAffected("retry delivery", res, err); err != nil {
		return err
	}
	q.woke(store.WakeDeliveries, time.Time{})
	return nil
}

// attemptChunk bounds the rows of one multi-row attempt insert.
const attemptChunk = 128

func (q *queries) AttemptInsert(ctx context.Context, as ...*store.Attempt) error {
	for start := 0; start < len(as); start += attemptChunk {
		chunk := as[start:min(start+attemptChunk, len(as))]
		rows := make([]string, len(chunk))
		args := make([]any, 0, 9*len(chunk))
		for i, a := range chunk {
			rows[i] = "(" + placeholders(len(args)+1, 9) + ")"
			args = append(args, a.DeliveryID, a.Attempt, q.t(a.StartedAt), a.DurationMS, jsonText(a.RequestHeaders), a.ResponseStatus,
				jsonText(a.ResponseHeaders), a.ResponseBody, a.Error)
		}
		_, err := q.exec(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, request_headers, response_status,
			response_headers, response_body, error) VALUES `+strings.Join(rows, ", ")+` ON CONFLICT DO NOTHING`, args...)
		if err != nil {
			return fmt.Errorf("insert attempts: %w", q.interpret(err))
		}
	}
	return nil
}

func (q *queries) AttemptList(ctx context.Context, deliveryIDs []string) ([]*store.Attempt, error) {
	if len(deliveryIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(deliveryIDs))
	for i, id := range deliveryIDs {
		args[i] = id
	}
	rows, err := q.query(ctx, `SELECT delivery_id, attempt, started_at, duration_ms, request_headers, response_status, response_headers, response_body, error
		FROM delivery_attempts WHERE delivery_id IN (`+placeholders(1, len(args))+`) ORDER BY delivery_id, attempt`, args...)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*store.Attempt, error) {
		a := &store.Attempt{}
		var reqH, respH string
		if err := r.Scan(&a.DeliveryID, &a.Attempt, scanTime{&a.StartedAt}, &a.DurationMS, &reqH, &a.ResponseStatus, &respH, &a.ResponseBody, &a.Error); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(reqH), &a.RequestHeaders)
		_ = json.Unmarshal([]byte(respH), &a.ResponseHeaders)
		return a, nil
	})
}

func (q *queries) EventPayloads(ctx context.Context, eventIDs []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(eventIDs))
	for start := 0; start < len(eventIDs); start += 500 {
		chunk := eventIDs[start:min(start+500, len(eventIDs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.query(ctx, `SELECT id, payload FROM events WHERE id IN (`+placeholders(1, len(args))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("get event payloads: %w", err)
		}
		for rows.Next() {
			var id, payload string
			if err := rows.Scan(&id, &payload); err != nil {
				rows.Close()
				return nil, fmt.Errorf("get event payloads: %w", err)
			}
			out[id] = []byte(payload)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("get event payloads: %w", err)
		}
	}
	return out, nil
}
