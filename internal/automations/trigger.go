package automations

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Event types of runs started by time rules. They are not stored events:
// the run keeps the payload its templates see.
const (
	SLAReached  = "automation.sla_reached"
	DateReached = "automation.date_reached"
)

// eventView is an event as every automation that looks at it reads it:
// its subject (set by the writer, or decoded once for an event read back)
// and, on first use, the payload decoded for CEL and the entity.
type eventView struct {
	ev      *events.Event
	subj    *events.Subject
	decoded map[string]any
	entity  map[string]any // built on first use
}

func newEventView(ev *events.Event) *eventView {
	return &eventView{ev: ev, subj: events.SubjectOf(ev)}
}

func (v *eventView) payload() map[string]any {
	if v.decoded == nil {
		v.decoded = map[string]any{}
		_ = json.Unmarshal(v.ev.Payload, &v.decoded)
	}
	return v.decoded
}

// entityOf returns the entity of the event, for conditions that read
// entity: the values the subject carries (the writer's, after its change),
// or else the current ones read through r.
func (v *eventView) entityOf(ctx context.Context, r store.Reader) (map[string]any, error) {
	if v.entity != nil {
		return v.entity, nil
	}
	sj := v.subj
	switch {
	case sj.FieldGroupID == "" || sj.EntityID == "":
		v.entity = map[string]any{"values": map[string]any{}}
	case sj.Values != nil:
		v.entity = entityView(store.EntityKey{TenantID: v.ev.TenantID, FieldGroupID: sj.FieldGroupID, EntityID: sj.EntityID}, sj.Values, sj.Version)
	default:
		e, err := loadEntity(ctx, r, store.EntityKey{TenantID: v.ev.TenantID, FieldGroupID: sj.FieldGroupID, EntityID: sj.EntityID})
		if err != nil {
			return nil, err
		}
		v.entity = e
	}
	return v.entity, nil
}

// loadEntity returns an entity as conditions and templates see it.
func loadEntity(ctx context.Context, r store.Reader, k store.EntityKey) (map[string]any, error) {
	e, err := r.EntityGet(ctx, k)
	if err != nil {
		return nil, err
	}
	v := entityView(k, e.Values, e.Version)
	v["createdAt"], v["updatedAt"] = timeValue(e.CreatedAt), timeValue(e.UpdatedAt)
	return v, nil
}

// timeValue is a stored time as templates and payloads show times
// (RFC 3339 in UTC), or null when zero (an entity never saved).
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// entityView is an entity's values as conditions and templates see it.
func entityView(k store.EntityKey, values map[string]json.RawMessage, version int64) map[string]any {
	vals := make(map[string]any, len(values))
	for key, raw := range values {
		vals[key], _ = events.Decode(raw)
	}
	return map[string]any{"id": k.EntityID, "fieldGroupId": k.FieldGroupID, "values": vals, "version": version}
}

// Starter is automations' subscriber: in the transaction that writes
// events, one run per event and automation whose trigger matches, and the
// timers of time rules set or cleared. It is built before the services
// that write events, so that all of them (records, webhooks and this
// package's Service) share one list of subscribers; New then connects it
// to its runner.
type Starter struct {
	cache *automationCache
	clock func() time.Time
	// runner takes runs straight from memory; set by New before any
	// write, nil until then (the runs then wait in the database).
	runner *runner
}

// NewStarter returns the starter of the automations in cfg.Store. It uses
// cfg's Box, Now, RefreshEvery, Logger and Registry; hand it to New with
// the same cfg.
func NewStarter(cfg Config) *Starter {
	cfg = cfg.withDefaults()
	broken := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fieldflow_automations_broken",
		Help: "Stored automations that no longer compile and so start no runs (GET /api/automations shows them with health.state broken)."})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(broken)
	}
	now := cfg.Now
	return &Starter{
		cache: &automationCache{box: cfg.Box, refreshEvery: cfg.RefreshEvery, log: cfg.Logger, brokenGauge: broken},
		clock: func() time.Time { return events.StoredTime(now()) },
	}
}

var _ records.Subscriber = (*Starter)(nil)

// Handle writes, in the transaction that writes the events, one run per
// event and automation whose trigger matches, and sets or clears the
// timers of time rules. Runs are handed to this process's runner once the
// transaction commits.
func (t *Starter) Handle(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	list, _, err := t.cache.snapshot(ctx, tx)
	if err != nil || len(list) == 0 {
		return err
	}
	now := t.clock()
	var runs []*store.Run
	var jobs []*runJob
	var wakes []time.Time
	for _, ev := range evs {
		if len(ev.Cause) > events.MaxCauseDepth {
			continue // a chain this deep is stopped, not extended
		}
		var view *eventView
		for _, ca := range list {
			a := ca.a
			if !a.Active || ev.OccurredAt.Before(a.ActivatedAt) || (a.TenantID != "" && a.TenantID != ev.TenantID) {
				continue
			}
			if view == nil {
				view = newEventView(ev)
			}
			tr := &ca.def.Trigger
			switch {
			case tr.Event != "":
				ok, err := matches(ctx, tx, ca, view)
				if err != nil {
					return err
				}
				if ok {
					r := newRun(t.runner, ca, ev.ID, ev.Type, ev.TenantID, nil, ev.Cause, now)
					runs = append(runs, r)
					if r.LeaseOwner != "" {
						jobs = append(jobs, &runJob{run: r, payload: ev.Payload, subject: view.subj})
					}
				}
			case tr.SLA != nil || tr.Date != nil:
				due, err := setTimer(ctx, tx, ca, view, t.clock())
				if err != nil {
					return err
				}
				if !due.IsZero() {
					wakes = append(wakes, due)
				}
			}
		}
	}
	if len(runs) > 0 {
		if err := tx.RunInsert(ctx, runs); err != nil {
			return err
		}
	}
	if rn := t.runner; rn != nil && (len(jobs) > 0 || len(wakes) > 0) {
		tx.AfterCommit(func() {
			rn.enqueue(jobs)
			rn.wakeTimers(wakes...)
		})
	}
	return nil
}

// matches applies an event trigger's filters, cheapest first, then its
// condition. A condition that fails to evaluate (a missing key, a type
// mismatch) does not match.
func matches(ctx context.Context, r store.Reader, ca *rule, v *eventView) (bool, error) {
	t := &ca.def.Trigger
	if !events.MatchType([]string{t.Event}, v.ev.Type) {
		return false, nil
	}
	sj := v.subj
	if t.FieldGroup != "" && t.FieldGroup != sj.FieldGroupID && t.FieldGroup != sj.FieldGroupKey {
		return false, nil
	}
	if t.FieldKey != "" && sj.FieldKey != t.FieldKey && !slices.Contains(sj.ChangedKeys, t.FieldKey) {
		return false, nil
	}
	if ca.from != nil && !bytes.Equal(ca.from, events.RawOrNull(sj.PreviousValue)) {
		return false, nil
	}
	if ca.to != nil && !bytes.Equal(ca.to, events.RawOrNull(sj.Value)) {
		return false, nil
	}
	if ca.cond == nil {
		return true, nil
	}
	vars := map[string]any{"event": v.payload(), "tenant": map[string]any{"id": v.ev.TenantID}, "entity": map[string]any{}, "steps": map[string]any{}}
	if ca.cond.usesEntity {
		e, err := v.entityOf(ctx, r)
		if err != nil {
			return false, err
		}
		vars["entity"] = e
	}
	ok, err := ca.cond.eval(vars)
	return ok && err == nil, nil
}

// setTimer starts, moves or clears the timer of a time rule when the
// event changes its field, and returns the new due time (zero if none).
//
// sla: a change to the held value (any value when none is named) starts
// the clock; a change away clears it. Since only changes start it, a rule
// fires once per period the value is held, and again only after the value
// changes and returns. date: each saved value sets the timer to the value
// plus the offset (once per value); a removed or unreadable one clears it.
func setTimer(ctx context.Context, tx store.Tx, ca *rule, v *eventView, now time.Time) (time.Time, error) {
	t := &ca.def.Trigger
	group, key := "", ""
	if t.SLA != nil {
		group, key = t.SLA.FieldGroup, t.SLA.FieldKey
	} else {
		group, key = t.Date.FieldGroup, t.Date.FieldKey
	}
	typ := v.ev.Type
	if typ != events.FieldValueSaved && typ != events.FieldValueDeleted {
		return time.Time{}, nil
	}
	sj := v.subj
	if sj.FieldKey != key || (group != sj.FieldGroupID && group != sj.FieldGroupKey) {
		return time.Time{}, nil
	}
	k := store.TimerKey{AutomationID: ca.a.ID, TenantID: v.ev.TenantID, FieldGroupID: sj.FieldGroupID, EntityID: sj.EntityID, FieldKey: key}
	value := events.RawOrNull(sj.Value)
	var due time.Time
	if typ == events.FieldValueSaved {
		if t.SLA != nil {
			if ca.slaValue == nil || bytes.Equal(ca.slaValue, value) {
				due = v.ev.OccurredAt.Add(ca.slaAfter)
			}
		} else if at, ok := parseDate(value); ok {
			due = at.Add(ca.offset)
		}
	}
	if due.IsZero() {
		return time.Time{}, tx.TimerDelete(ctx, k)
	}
	err := tx.TimerUpsert(ctx, &store.Timer{TimerKey: k, DueAt: events.StoredTime(due), EventID: v.ev.ID, Value: value, CreatedAt: now})
	return due, err
}

// parseDate reads a date (midnight UTC) or datetime field value.
func parseDate(raw []byte) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// newRun builds a pending run, leased to this process when rn will take
// it straight from memory (nil: never).
func newRun(rn *runner, ca *rule, eventID, eventType, tenantID string, trigger []byte, cause []events.Cause, now time.Time) *store.Run {
	r := &store.Run{ID: events.NewID("run_"), AutomationID: ca.a.ID, EventID: eventID, EventType: eventType, TenantID: tenantID,
		Trigger: trigger, State: store.RunPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if len(cause) > 0 {
		r.Cause, _ = json.Marshal(cause)
	}
	if rn != nil && rn.accepting(ca.a.ID) {
		r.LeaseOwner = rn.svc.cfg.Owner
		r.LeasedUntil = now.Add(rn.svc.cfg.LeaseDuration)
	}
	return r
}

// fireTimers turns due timers into runs: each timer is taken and its run
// written in one transaction, so a timer fires exactly once. A time rule's
// condition is checked now, against the entity's current values.
func (s *Service) fireTimers(ctx context.Context) (int, error) {
	now := s.clock()
	var jobs []*runJob
	var n int
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		jobs = jobs[:0]
		ts, err := tx.TimerTakeDue(ctx, now, 256)
		if err != nil {
			return err
		}
		n = len(ts)
		_, byID, err := s.cache.snapshot(ctx, tx)
		if err != nil {
			return err
		}
		var runs []*store.Run
		for _, t := range ts {
			ca, ok := byID[t.AutomationID]
			if !ok || !ca.a.Active {
				continue
			}
			payload, ok, err := s.timerPayload(ctx, tx, ca, t)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			typ := SLAReached
			if ca.def.Trigger.Date != nil {
				typ = DateReached
			}
			r := newRun(s.runner, ca, t.EventID, typ, t.TenantID, payload, nil, now)
			runs = append(runs, r)
			if r.LeaseOwner != "" {
				jobs = append(jobs, &runJob{run: r, payload: payload})
			}
		}
		if len(runs) == 0 {
			return nil
		}
		return tx.RunInsert(ctx, runs)
	})
	if err != nil {
		return 0, err
	}
	s.runner.enqueue(jobs)
	return n, nil
}

// timerPayload builds what a time rule's run sees as event, and reports
// whether the rule still holds: the value is still there (and, for sla,
// still the held one) and the condition is true.
func (s *Service) timerPayload(ctx context.Context, tx store.Tx, ca *rule, t *store.Timer) ([]byte, bool, error) {
	g, err := tx.FieldGroupGet(ctx, t.FieldGroupID)
	if err != nil {
		return nil, false, nil // the group is gone, and the values with it
	}
	ent, err := loadEntity(ctx, tx, store.EntityKey{TenantID: t.TenantID, FieldGroupID: t.FieldGroupID, EntityID: t.EntityID})
	if err != nil {
		return nil, false, err
	}
	cur, err := canonical(ent["values"].(map[string]any)[t.FieldKey])
	if err != nil || cur == nil || !bytes.Equal(cur, t.Value) {
		return nil, false, err
	}
	typ, members := SLAReached, []events.Member{}
	tr := &ca.def.Trigger
	if tr.SLA != nil {
		members = append(members, events.Member{Key: "after", Value: tr.SLA.After}, events.Member{Key: "heldSince", Value: events.FormatTime(t.DueAt.Add(-ca.slaAfter))})
	} else {
		typ = DateReached
		members = append(members, events.Member{Key: "offset", Value: tr.Date.Offset})
	}
	head := events.Object{{Key: "event", Value: typ}, {Key: "eventId", Value: t.EventID}, {Key: "timestamp", Value: events.FormatTime(t.DueAt)}}
	if t.TenantID != "" {
		head = append(head, events.Member{Key: "tenantId", Value: t.TenantID})
	}
	head = append(head,
		events.Member{Key: "automationId", Value: ca.a.ID},
		events.Member{Key: "fieldGroupId", Value: g.ID},
		events.Member{Key: "fieldGroupKey", Value: g.Key},
		events.Member{Key: "entityId", Value: t.EntityID},
		events.Member{Key: "fieldKey", Value: t.FieldKey},
		events.Member{Key: "value", Value: json.RawMessage(t.Value)})
	head = append(head, members...)
	payload, err := events.Encode(head)
	if err != nil {
		return nil, false, err
	}
	if ca.cond != nil {
		var decoded map[string]any
		_ = json.Unmarshal(payload, &decoded)
		ok, err := ca.cond.eval(map[string]any{"event": decoded, "entity": ent, "tenant": map[string]any{"id": t.TenantID}, "steps": map[string]any{}})
		if err != nil || !ok {
			return nil, false, nil
		}
	}
	return payload, true, nil
}
