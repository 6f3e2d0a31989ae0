package automations

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// Event types of runs started by time rules. They are not stored events:
// the run keeps the payload its templates see.
const (
	SLAReached  = "automation.sla_reached"
	DateReached = "automation.date_reached"
)

// eventView is an event decoded once for every automation that looks at
// it: raw members for exact value comparison, decoded ones for CEL.
type eventView struct {
	ev      *events.Event
	raw     map[string]json.RawMessage
	decoded map[string]any
	entity  map[string]any // loaded on first use
}

func newEventView(ev *events.Event) *eventView {
	v := &eventView{ev: ev}
	_ = json.Unmarshal(ev.Payload, &v.raw)
	return v
}

func (v *eventView) str(key string) string {
	var s string
	_ = json.Unmarshal(v.raw[key], &s)
	return s
}

func (v *eventView) payload() map[string]any {
	if v.decoded == nil {
		v.decoded = map[string]any{}
		_ = json.Unmarshal(v.ev.Payload, &v.decoded)
	}
	return v.decoded
}

// entityOf loads the current values of the event's entity through r, for
// conditions that read entity. entity.updated carries them already.
func (v *eventView) entityOf(ctx context.Context, r store.Reader) (map[string]any, error) {
	if v.entity != nil {
		return v.entity, nil
	}
	p := v.payload()
	if vals, ok := p["values"].(map[string]any); ok && v.ev.Type == events.EntityUpdated {
		v.entity = map[string]any{"id": p["entityId"], "fieldGroupId": p["fieldGroupId"], "values": vals, "version": p["version"]}
		return v.entity, nil
	}
	gid, eid := v.str("fieldGroupId"), v.str("entityId")
	if gid == "" || eid == "" {
		v.entity = map[string]any{"values": map[string]any{}}
		return v.entity, nil
	}
	e, err := loadEntity(ctx, r, store.EntityKey{TenantID: v.ev.TenantID, FieldGroupID: gid, EntityID: eid})
	if err != nil {
		return nil, err
	}
	v.entity = e
	return e, nil
}

// loadEntity returns an entity as conditions and templates see it.
func loadEntity(ctx context.Context, r store.Reader, k store.EntityKey) (map[string]any, error) {
	e, err := r.EntityGet(ctx, k)
	if err != nil {
		return nil, err
	}
	vals := make(map[string]any, len(e.Values))
	for key, raw := range e.Values {
		var x any
		_ = json.Unmarshal(raw, &x)
		vals[key] = x
	}
	return map[string]any{"id": k.EntityID, "fieldGroupId": k.FieldGroupID, "values": vals, "version": e.Version}, nil
}

// Trigger writes, in the transaction that writes the events, one run per
// event and automation whose trigger matches, and sets or clears the
// timers of time rules. Runs are handed to this process's runner once the
// transaction commits. It is chained after webhook fan-out as a
// records.Emitter (the events are already inserted).
func (s *Service) Trigger(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	list, _, err := s.cache.snapshot(ctx, tx)
	if err != nil || len(list) == 0 {
		return err
	}
	now := s.clock()
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
			t := &ca.def.Trigger
			switch {
			case t.Event != "":
				ok, err := s.matches(ctx, tx, ca, view)
				if err != nil {
					return err
				}
				if ok {
					r := s.newRun(ca, ev.ID, ev.Type, ev.TenantID, nil, ev.Cause, now)
					runs = append(runs, r)
					if r.LeaseOwner != "" {
						jobs = append(jobs, &runJob{run: r, payload: ev.Payload})
					}
				}
			case t.SLA != nil || t.Date != nil:
				due, err := s.setTimer(ctx, tx, ca, view)
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
	if len(jobs) > 0 || len(wakes) > 0 {
		tx.AfterCommit(func() {
			s.runner.enqueue(jobs)
			s.runner.wakeTimers(wakes...)
		})
	}
	return nil
}

// matches applies an event trigger's filters, cheapest first, then its
// condition. A condition that fails to evaluate (a missing key, a type
// mismatch) does not match.
func (s *Service) matches(ctx context.Context, r store.Reader, ca *rule, v *eventView) (bool, error) {
	t := &ca.def.Trigger
	if !webhooks.MatchType([]string{t.Event}, v.ev.Type) {
		return false, nil
	}
	if t.FieldGroup != "" && t.FieldGroup != v.str("fieldGroupId") && t.FieldGroup != v.str("fieldGroupKey") {
		return false, nil
	}
	if t.FieldKey != "" && !touchesKey(v, t.FieldKey) {
		return false, nil
	}
	if ca.from != nil && !bytes.Equal(ca.from, rawOrNull(v.raw["previousValue"])) {
		return false, nil
	}
	if ca.to != nil && !bytes.Equal(ca.to, rawOrNull(v.raw["value"])) {
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

// touchesKey reports whether the event is about the field key: its
// fieldKey, or one of entity.updated's changedKeys.
func touchesKey(v *eventView, key string) bool {
	if v.str("fieldKey") == key {
		return true
	}
	var changed []string
	_ = json.Unmarshal(v.raw["changedKeys"], &changed)
	for _, k := range changed {
		if k == key {
			return true
		}
	}
	return false
}

func rawOrNull(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// setTimer starts, moves or clears the timer of a time rule when the
// event changes its field, and returns the new due time (zero if none).
//
// sla: a change to the held value (any value when none is named) starts
// the clock; a change away clears it. Since only changes start it, a rule
// fires once per period the value is held, and again only after the value
// changes and returns. date: each saved value sets the timer to the value
// plus the offset (once per value); a removed or unreadable one clears it.
func (s *Service) setTimer(ctx context.Context, tx store.Tx, ca *rule, v *eventView) (time.Time, error) {
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
	if v.str("fieldKey") != key || (group != v.str("fieldGroupId") && group != v.str("fieldGroupKey")) {
		return time.Time{}, nil
	}
	k := store.TimerKey{AutomationID: ca.a.ID, TenantID: v.ev.TenantID, FieldGroupID: v.str("fieldGroupId"), EntityID: v.str("entityId"), FieldKey: key}
	value := rawOrNull(v.raw["value"])
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
	err := tx.TimerUpsert(ctx, &store.Timer{TimerKey: k, DueAt: due.UTC().Truncate(time.Microsecond), EventID: v.ev.ID, Value: value, CreatedAt: s.clock()})
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

// newRun builds a pending run, leased to this process when its runner
// will take it straight from memory.
func (s *Service) newRun(ca *rule, eventID, eventType, tenantID string, trigger []byte, cause []events.Cause, now time.Time) *store.Run {
	r := &store.Run{ID: events.NewID("run_"), AutomationID: ca.a.ID, EventID: eventID, EventType: eventType, TenantID: tenantID,
		Trigger: trigger, State: store.RunPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if len(cause) > 0 {
		r.Cause, _ = json.Marshal(cause)
	}
	if s.runner.accepting(ca.a.ID) {
		r.LeaseOwner = s.cfg.Owner
		r.LeasedUntil = now.Add(s.cfg.LeaseDuration)
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
			r := s.newRun(ca, t.EventID, typ, t.TenantID, payload, nil, now)
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

// entityKeyOf names the entity an event is about, if it names one.
func entityKeyOf(tenantID string, payload map[string]any) (store.EntityKey, bool) {
	gid, _ := payload["fieldGroupId"].(string)
	eid, _ := payload["entityId"].(string)
	return store.EntityKey{TenantID: tenantID, FieldGroupID: gid, EntityID: eid}, gid != "" && eid != ""
}
