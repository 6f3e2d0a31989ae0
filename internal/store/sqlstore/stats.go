package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// ---- dashboard statistics
//
// Each count reads the rows of its window only, through an index the store
// keeps for other reasons: events by events_occurred, settled deliveries
// and runs by deliveries_settled and runs_settled (the retention indexes on
// updated_at), pending ones by deliveries_due and runs_due. The backlog at
// a bucket's end needs no history table: a delivery is pending from its
// creation until it settles, so the deliveries that settled in the window
// and those pending now are all that was pending at any time in it, and
// the backlog is the running sum of their creations less their
// settlements.

// bucketOf is the bucket index of col's time: whole seconds since $2,
// divided by the bucket width $3. A time before $1 (the window's start)
// falls into bucket 0.
func (q *queries) bucketOf(col string) string {
	return fmt.Sprintf("CASE WHEN %[1]s < $1 THEN 0 ELSE (%[2]s - $2) / $3 END", col, q.d.Epoch(col))
}

func (q *queries) ActivityRead(ctx context.Context, p *store.ActivityReadParams) (*store.Activity, error) {
	n := p.Buckets
	width := int64(p.Bucket / time.Second)
	if n <= 0 || width <= 0 {
		return nil, fmt.Errorf("read activity: %d buckets of %s", n, p.Bucket)
	}
	since := p.Since.UTC().Truncate(time.Second)
	until := since.Add(time.Duration(n) * time.Duration(width) * time.Second)
	a := &store.Activity{Buckets: make([]store.ActivityBucket, n)}
	for i := range a.Buckets {
		a.Buckets[i].Start = since.Add(time.Duration(int64(i)*width) * time.Second)
	}
	// at is the bucket of an index; one past the end (a row stamped after
	// the window, by a clock ahead of this one) counts in the last.
	at := func(i int64) *store.ActivityBucket { return &a.Buckets[min(max(i, 0), int64(n-1))] }
	window := []any{q.t(since), since.Unix(), width, q.t(until)}

	rows, err := q.query(ctx, `SELECT `+q.bucketOf("occurred_at")+` AS b, count(*) FROM events
		WHERE occurred_at >= $1 AND occurred_at < $4 GROUP BY b`, window...)
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
		var b int64
		var c int
		if err := r.Scan(&b, &c); err != nil {
			return err
		}
		at(b).Events += c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}

	type tally struct{ succeeded, failed, endpoints *int }
	deliveries := func(b *store.ActivityBucket) tally {
		return tally{&b.DeliveriesSucceeded, &b.DeliveriesFailed, &b.EndpointsFailed}
	}
	runs := func(b *store.ActivityBucket) tally { return tally{&b.RunsSucceeded, &b.RunsFailed, nil} }
	backlog := []struct {
		table, what, distinct string
		of                    func(*store.ActivityBucket) tally
		pending               func(*store.ActivityBucket) *int
		total                 *int
		oldest                *time.Time
	}{
		{"deliveries", "deliveries", "endpoint_id", deliveries, func(b *store.ActivityBucket) *int { return &b.DeliveriesBacklog },
			&a.DeliveriesPending, &a.DeliveriesOldestPending},
		{"runs", "runs", "automation_id", runs, func(b *store.ActivityBucket) *int { return &b.RunsBacklog },
			&a.RunsPending, &a.RunsOldestPending},
	}
	for _, k := range backlog {
		// change[i] is how much the backlog grew in bucket i.
		change := make([]int, n)
		bucket := func(i int64) int { return int(min(max(i, 0), int64(n-1))) }
		rows, err := q.query(ctx, `SELECT `+q.bucketOf("updated_at")+` AS b, state, count(*), count(DISTINCT `+k.distinct+`)
			FROM `+k.table+` WHERE state <> 'pending' AND updated_at >= $1 AND updated_at < $4 GROUP BY b, state`, window...)
		if err != nil {
			return nil, fmt.Errorf("count settled %s: %w", k.what, err)
		}
		err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
			var b int64
			var state string
			var c, distinct int
			if err := r.Scan(&b, &state, &c, &distinct); err != nil {
				return err
			}
			t := k.of(at(b))
			switch state {
			case "succeeded":
				*t.succeeded += c
			case "failed":
				*t.failed += c
				if t.endpoints != nil {
					*t.endpoints += distinct
				}
			}
			change[bucket(b)] -= c
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("count settled %s: %w", k.what, err)
		}
		rows, err = q.query(ctx, `SELECT `+q.bucketOf("created_at")+` AS b, count(*) FROM `+k.table+`
			WHERE state <> 'pending' AND updated_at >= $1 AND updated_at < $4 GROUP BY b`, window...)
		if err != nil {
			return nil, fmt.Errorf("count settled %s by creation: %w", k.what, err)
		}
		err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
			var b int64
			var c int
			if err := r.Scan(&b, &c); err != nil {
				return err
			}
			change[bucket(b)] += c
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("count settled %s by creation: %w", k.what, err)
		}
		rows, err = q.query(ctx, `SELECT `+q.bucketOf("created_at")+` AS b, count(*), min(created_at) FROM `+k.table+`
			WHERE state = 'pending' GROUP BY b`, window[:3]...)
		if err != nil {
			return nil, fmt.Errorf("count pending %s: %w", k.what, err)
		}
		err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
			var b int64
			var c int
			var oldest time.Time
			if err := r.Scan(&b, &c, scanTime{&oldest}); err != nil {
				return err
			}
			change[bucket(b)] += c
			*k.total += c
			if k.oldest.IsZero() || oldest.Before(*k.oldest) {
				*k.oldest = oldest
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("count pending %s: %w", k.what, err)
		}
		sum := 0
		for i := range a.Buckets {
			sum += change[i]
			*k.pending(&a.Buckets[i]) = max(sum, 0)
		}
	}
	return a, nil
}

// eachRow calls f for each row and closes rows.
func eachRow(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, f func(r interface{ Scan(...any) error }) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// recentFloors is a CTE of the lowest seq of the latest $1+1 deliveries
// per endpoint named from $2 on: the deliveries_endpoint index gives each
// endpoint's newest first, so the floor costs as many index entries as
// the window holds.
func recentFloors(ids int) string {
	return `WITH floors AS (
		SELECT e.id AS endpoint_id, COALESCE((SELECT d.seq FROM deliveries d WHERE d.endpoint_id = e.id
			ORDER BY d.seq DESC LIMIT 1 OFFSET $1), 0) AS floor
		FROM webhook_endpoints e WHERE e.id IN (` + placeholders(2, ids) + `))`
}

func (q *queries) EndpointRecentRead(ctx context.Context, p *store.EndpointRecentReadParams) (map[string]*store.EndpointRecent, error) {
	out := map[string]*store.EndpointRecent{}
	if len(p.EndpointIDs) == 0 || p.Deliveries <= 0 {
		return out, nil
	}
	args := make([]any, 0, len(p.EndpointIDs)+1)
	args = append(args, p.Deliveries-1)
	for _, id := range p.EndpointIDs {
		args = append(args, id)
	}
	rows, err := q.query(ctx, recentFloors(len(p.EndpointIDs))+`
		SELECT d.endpoint_id, count(DISTINCT d.id), count(a.attempt), COALESCE(sum(CASE WHEN a.error = '' THEN 1 ELSE 0 END), 0),
			max(CASE WHEN a.error = '' THEN a.started_at END)
		FROM floors f JOIN deliveries d ON d.endpoint_id = f.endpoint_id AND d.seq >= f.floor
		LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
		GROUP BY d.endpoint_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read endpoints' recent attempts: %w", err)
	}
	err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
		var id string
		e := &store.EndpointRecent{}
		if err := r.Scan(&id, &e.Deliveries, &e.Attempts, &e.Succeeded, scanTime{&e.LastSuccessAt}); err != nil {
			return err
		}
		out[id] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read endpoints' recent attempts: %w", err)
	}
	rows, err = q.query(ctx, recentFloors(len(p.EndpointIDs))+`
		SELECT endpoint_id, started_at, response_status, error FROM (
			SELECT d.endpoint_id, a.started_at, a.response_status, a.error,
				ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY a.started_at DESC, d.seq DESC, a.attempt DESC) AS n
			FROM floors f JOIN deliveries d ON d.endpoint_id = f.endpoint_id AND d.seq >= f.floor
			JOIN delivery_attempts a ON a.delivery_id = d.id
			WHERE a.error <> '') latest
		WHERE n = 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("read endpoints' last errors: %w", err)
	}
	err = eachRow(rows, func(r interface{ Scan(...any) error }) error {
		var id string
		var at time.Time
		var status int
		var msg string
		if err := r.Scan(&id, scanTime{&at}, &status, &msg); err != nil {
			return err
		}
		if e := out[id]; e != nil {
			e.LastErrorAt, e.LastStatus, e.LastError = at, status, msg
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read endpoints' last errors: %w", err)
	}
	return out, nil
}
