package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/queue"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
)

// disableAfter is how long an endpoint may fail everything before it is
// disabled.
const disableAfter = 5 * 24 * time.Hour

// deliveryTaskV1 is a delivery held in memory: handed over right after the
// commit that created it, or claimed from the database.
type deliveryTaskV1 struct {
	d       *store.Delivery
	payload []byte
}

// result is the outcome of one attempt, waiting to be written.
type result struct {
	task    *deliveryTaskV1
	attempt *store.Attempt // nil when nothing was sent
	state   *store.DeliverySetStateParams
	// disable, when set, disables the endpoint with this reason.
	disable string
	success bool
}

// dispatcher sends deliveries on a queue.Queue keyed by endpoint: each
// endpoint has its own queue in memory and in-flight limit, and workers
// take from the endpoints round-robin, so a slow or dead endpoint occupies
// at most its own limit of workers and never delays another endpoint's
// deliveries. What is left here is what is particular to deliveries:
// claiming them with their payloads, the attempt, and writing results
// with endpoint health.
type dispatcher = queue.Queue[*deliveryTaskV1, *result]

func newDispatcher(s *Service) *dispatcher {
	cfg := s.cfg
	return queue.New(queue.Config[*deliveryTaskV1, *result]{
		Workers:              cfg.Workers,
		QueuePerKey:          cfg.QueuePerEndpoint,
		LeaseDuration:        cfg.LeaseDuration,
		PollInterval:         cfg.PollInterval,
		ReleaseLeasesOnStart: cfg.ReleaseLeasesOnStart,
		ID:                   func(t *deliveryTaskV1) string { return t.d.ID },
		Key:                  func(t *deliveryTaskV1) string { return t.d.EndpointID },
		Limit:                s.inFlightLimit,
		Claim:                s.claimDeliveries,
		Owner:                cfg.Owner,
		Leases:               store.DeliveryLeases{Store: s.store},
		Do: func(ctx context.Context, t *deliveryTaskV1) (*result, bool) {
			r := s.attempt(ctx, t)
			return r, r != nil
		},
		Write: func(ctx context.Context, batch []*result) []time.Time {
			retryAt, _ := s.writeResults(ctx, batch) // writeResults logs its error
			return retryAt
		},
		Now:     s.now,
		Logger:  s.log.With("queue", "webhook deliveries"),
		OnDepth: func(n int) { s.metrics.queueDepth.Set(float64(n)) },
		OnBusy:  func(n int) { s.metrics.inFlight.Set(float64(n)) },
	})
}

// inFlightLimit is an endpoint's in-flight limit. The queue calls it under
// its lock, so it reads the cache as it is and never reloads it from the
// database.
func (s *Service) inFlightLimit(endpointID string) int {
	if conf, ok := s.cache.peek(endpointID); ok && conf.ep.MaxInFlight > 0 {
		return conf.ep.MaxInFlight
	}
	return 1
}

// claimDeliveries leases due deliveries that nobody holds, oldest due
// first, and loads their payloads.
func (s *Service) claimDeliveries(ctx context.Context, p queue.ClaimParams) ([]*deliveryTaskV1, error) {
	var ds []*store.Delivery
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		ds, err = tx.DeliveryClaimDue(ctx, &store.DeliveryClaimDueParams{Now: p.Now, Owner: s.cfg.Owner,
			LeaseUntil: p.LeaseUntil, Limit: p.Limit, ExcludeEndpoints: p.FullKeys})
		return err
	})
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	ids := make([]string, len(ds))
	for i, dl := range ds {
		ids[i] = dl.EventID
	}
	payloads, err := s.store.EventPayloads(ctx, ids)
	if err != nil {
		return nil, err
	}
	tasks := make([]*deliveryTaskV1, 0, len(ds))
	for _, dl := range ds {
		tasks = append(tasks, &deliveryTaskV1{d: dl, payload: payloads[dl.EventID]})
	}
	return tasks, nil
}

// attempt sends one delivery and judges the outcome. It returns nil when
// the attempt was cut short by shutdown.
func (s *Service) attempt(ctx context.Context, t *deliveryTaskV1) *result {
	now := s.now()
	conf, ok := s.cache.get(ctx, s.store, t.d.EndpointID)
	if !ok {
		// The endpoint was deleted (its delivery was written by a fan-out
		// that ran beside the delete), or the cache could not load: only
		// the first is final.
		if ep, err := s.store.EndpointGet(ctx, t.d.EndpointID); errors.Is(err, store.ErrNotFound) || (err == nil && !ep.DeletedAt.IsZero()) {
			return &result{task: t, state: store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, t.d.Attempts, 0, "endpoint was deleted", now)}
		}
		return &result{task: t}
	}
	attempts := t.d.Attempts + 1
	if !conf.ep.Active {
		return &result{task: t, state: store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, t.d.Attempts, 0, "endpoint is disabled", now)}
	}
	if conf.broken != "" {
		// Deliveries written before the endpoint broke wait on its
		// schedule, each wait logged as an attempt that sent nothing, so
		// a fix (a new filter, the right master key) lets them go out.
		a := &store.Attempt{DeliveryID: t.d.ID, Attempt: attempts, StartedAt: now, RequestHeaders: map[string]string{},
			Error: "endpoint is broken, nothing was sent: " + conf.broken}
		r := &result{task: t, attempt: a}
		if next, ok := outbound.NextAttemptAt(now, conf.schedule, attempts, 0, rand.Float64()); ok {
			r.state = store.DeliveryRetryAt(t.d.ID, s.cfg.Owner, attempts, 0, a.Error, next, now)
		} else {
			r.state = store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, attempts, 0, a.Error, now)
		}
		s.logFailedAttempt(t, r.state, "broken_endpoint", errors.New(a.Error))
		return r
	}
	req, headers, err := s.buildRequest(conf, t, now)
	if err != nil {
		r := &result{task: t, state: store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, t.d.Attempts, 0, err.Error(), now)}
		s.logFailedAttempt(t, r.state, "not_sent", err)
		return r
	}
	start := time.Now()
	resp, sendErr := outbound.Send(ctx, s.client, req, conf.timeout)
	elapsed := time.Since(start)
	if sendErr != nil && ctx.Err() != nil {
		return nil
	}
	a := &store.Attempt{DeliveryID: t.d.ID, Attempt: attempts, StartedAt: now, DurationMS: elapsed.Milliseconds(), RequestHeaders: headers}
	status := 0
	var retryAfter time.Duration
	if resp != nil {
		status, a.ResponseStatus, a.ResponseHeaders, a.ResponseBody = resp.Status, resp.Status, resp.Headers, resp.Body
		if resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable {
			retryAfter = resp.RetryAfter
		}
	}
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	outcome := "success"
	switch {
	case sendErr != nil && errors.Is(sendErr, outbound.ErrTimeout):
		outcome = "timeout"
	case sendErr != nil:
		outcome = "network_error"
	case status < 200 || status > 299:
		outcome = "http_error"
		a.Error = "HTTP " + strconv.Itoa(status)
	}
	s.metrics.attempts.WithLabelValues(outcome).Inc()
	s.metrics.attemptDuration.Observe(elapsed.Seconds())
	s.log.Debug("attempt", "delivery", t.d.ID, "endpoint", conf.ep.ID, "attempt", attempts, "status", status, "outcome", outcome, "ms", elapsed.Milliseconds())

	r := &result{task: t, attempt: a}
	switch {
	case outcome == "success":
		r.success = true
		r.state = store.DeliverySucceededAt(t.d.ID, s.cfg.Owner, attempts, status, now)
		s.metrics.latency.Observe(max(s.now().Sub(t.d.CreatedAt), 0).Seconds())
	case status == http.StatusGone:
		r.disable = "the endpoint answered 410 Gone"
		r.state = store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, attempts, status, "410 Gone: endpoint disabled", now)
	default:
		// The wait runs from the end of this attempt, as Retry-After
		// does: from its start, a timeout as long as the wait would
		// leave no pause at all before the retry.
		if next, ok := outbound.NextAttemptAt(s.now(), conf.schedule, attempts, retryAfter, rand.Float64()); ok {
			r.state = store.DeliveryRetryAt(t.d.ID, s.cfg.Owner, attempts, status, a.Error, next, now)
		} else {
			r.state = store.DeliveryFailedAt(t.d.ID, s.cfg.Owner, attempts, status, a.Error, now)
		}
	}
	if !r.success {
		err := sendErr
		if err == nil {
			err = errors.New(a.Error)
		}
		s.logFailedAttempt(t, r.state, outcome, err)
	}
	return r
}

// logFailedAttempt logs a failed attempt with the ids an operator looks
// for: at info while the delivery will be retried, at warn when it failed
// for good. A transport error quotes the endpoint's URL, whose path or
// query may hold the receiver's token (Slack-style URLs do): the log gets
// the error without it.
func (s *Service) logFailedAttempt(t *deliveryTaskV1, st *store.DeliverySetStateParams, outcome string, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	attrs := []slog.Attr{slog.String("delivery", t.d.ID), slog.String("endpoint", t.d.EndpointID), slog.String("event", t.d.EventID),
		slog.String("type", t.d.EventType), slog.Int("attempt", st.Attempts), slog.String("outcome", outcome),
		slog.Int("status", st.LastStatus), slog.String("err", err.Error())}
	if st.State == store.DeliveryPending {
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "webhook delivery attempt failed; it will be retried",
			append(attrs, slog.Time("next_attempt_at", st.NextAttemptAt))...)
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "webhook delivery failed for good", attrs...)
}

func (s *Service) buildRequest(conf *endpointConf, t *deliveryTaskV1, now time.Time) (*http.Request, map[string]string, error) {
	body := t.payload
	if conf.body != nil {
		var err error
		if body, err = renderBody(s.templates, conf.body, t.payload); err != nil {
			return nil, nil, err
		}
	}
	req, err := http.NewRequest(http.MethodPost, conf.ep.URL, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	sigs, err := outbound.Sign(conf.signing(now), t.d.EventID, now.Unix(), body)
	if err != nil {
		return nil, nil, err
	}
	headers := make(map[string]string, 10+len(conf.ep.Headers))
	for k, v := range conf.ep.Headers {
		headers[k] = v
	}
	headers["Content-Type"] = "application/json"
	headers["User-Agent"] = "fieldflow/" + s.cfg.Version
	headers["X-Fieldflow-Event"] = t.d.EventType
	headers["X-Fieldflow-Delivery"] = t.d.ID
	headers[conf.ep.SignatureHeader] = sigs.Hex
	headers["webhook-id"] = t.d.EventID
	headers["webhook-timestamp"] = strconv.FormatInt(now.Unix(), 10)
	headers["webhook-signature"] = sigs.Standard
	for k, v := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	// Standard Webhooks names its headers in lower case; keep them so.
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		delete(req.Header, http.CanonicalHeaderKey(k))
		req.Header[k] = []string{headers[k]}
	}
	// The attempt log keeps the headers sent, without the signatures.
	logged := make(map[string]string, len(headers))
	for k, v := range headers {
		logged[k] = v
	}
	logged[conf.ep.SignatureHeader] = outbound.Redacted
	logged["webhook-signature"] = outbound.Redacted
	return req, logged, nil
}

// writeResults records a batch of attempt results in one transaction:
// the attempt rows, the guarded state changes, and endpoint health
// (failing since, disabled) with its webhook.disabled events. It returns
// when the deliveries it rescheduled come due, for the claimer to wake at.
func (s *Service) writeResults(ctx context.Context, batch []*result) ([]time.Time, error) {
	now := s.now()
	var retryAt []time.Time
	disabled := false
	// Rows are locked in id order, deliveries then endpoints, by every
	// writer and by the lease heartbeat: several writers locking the same
	// rows in different orders deadlock on PostgreSQL, and a rolled-back
	// batch is sent again.
	ordered := slices.Clone(batch)
	slices.SortFunc(ordered, func(a, b *result) int {
		if a.state == nil || b.state == nil {
			return cmp.Compare(boolInt(a.state != nil), boolInt(b.state != nil))
		}
		return strings.Compare(a.state.ID, b.state.ID)
	})
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		retryAt = retryAt[:0]
		// One statement sets every state and one writes every attempt:
		// per-result statements were most of a batch's cost, a round trip
		// each on PostgreSQL.
		states := make([]*store.DeliverySetStateParams, 0, len(ordered))
		for _, r := range ordered {
			if r.state != nil {
				states = append(states, r.state)
			}
		}
		if len(states) == 0 {
			return nil
		}
		applied, err := tx.DeliverySetStatesIfLeased(ctx, states)
		if err != nil {
			return err
		}
		health := map[string]*result{} // last result per endpoint
		var attempts []*store.Attempt
		for _, r := range ordered {
			if r.state == nil || !applied[r.state.ID] {
				continue // nothing to record, or the lease was lost: someone else owns it now
			}
			if r.attempt != nil {
				attempts = append(attempts, r.attempt)
				health[r.task.d.EndpointID] = r
			}
			if r.state.State == store.DeliveryPending {
				retryAt = append(retryAt, r.state.NextAttemptAt)
			}
		}
		if len(attempts) > 0 {
			if err := tx.AttemptInsert(ctx, attempts...); err != nil {
				return err
			}
		}
		for _, id := range slices.Sorted(maps.Keys(health)) {
			changed, err := s.updateHealth(ctx, tx, id, health[id], now)
			if err != nil {
				return err
			}
			disabled = disabled || changed
		}
		return nil
	})
	if err != nil {
		// The deliveries stay leased; when the lease ends they are claimed
		// and sent again (at least once, never lost).
		s.log.Error("record attempt results", "err", err, "count", len(batch))
		return nil, err
	}
	for _, r := range batch {
		if r.state != nil {
			switch r.state.State {
			case store.DeliverySucceeded, store.DeliveryFailed:
				s.metrics.deliveries.WithLabelValues(string(r.state.State)).Inc()
			}
		}
	}
	if disabled {
		s.cache.invalidate()
	}
	return retryAt, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// updateHealth tracks how long an endpoint has failed and disables it on
// 410 Gone or after five days of failing everything.
func (s *Service) updateHealth(ctx context.Context, tx store.Tx, endpointID string, r *result, now time.Time) (bool, error) {
	conf, ok := s.cache.get(ctx, tx, endpointID)
	if !ok {
		return false, nil
	}
	cached := conf.ep
	needs := r.disable != "" ||
		(r.success && !cached.FailingSince.IsZero()) ||
		(!r.success && (cached.FailingSince.IsZero() || now.Sub(cached.FailingSince) >= disableAfter))
	if !needs {
		return false, nil
	}
	ep, err := tx.EndpointGet(ctx, endpointID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !ep.DeletedAt.IsZero()) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	reason := r.disable
	switch {
	case r.success:
		ep.FailingSince = time.Time{}
	case ep.FailingSince.IsZero():
		ep.FailingSince = now
	case now.Sub(ep.FailingSince) >= disableAfter && reason == "":
		reason = "every delivery failed for 5 days"
	}
	if reason != "" && ep.Active {
		ep.Active = false
		ep.DisabledReason = reason
		ev, err := events.New(events.WebhookDisabled, ep.TenantID, now,
			events.Member{Key: "webhook", Value: events.Object{{Key: "id", Value: ep.ID}, {Key: "url", Value: ep.URL}}},
			events.Member{Key: "reason", Value: reason})
		if err != nil {
			return false, err
		}
		if err := records.WriteEvents(ctx, tx, s.subs, []*events.Event{ev}); err != nil {
			return false, err
		}
		id := ep.ID
		tx.AfterCommit(func() { s.log.Warn("webhook endpoint disabled", "endpoint", id, "reason", reason) })
	}
	ep.UpdatedAt = now
	if err := tx.EndpointUpdate(ctx, ep); err != nil {
		return false, err
	}
	tx.AfterCommit(s.cache.invalidate)
	return true, nil
}
