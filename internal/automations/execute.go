package automations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// runJob is a run held in memory with the payload its templates see as
// event.
type runJob struct {
	run     *store.Run
	payload []byte
	// subject is the event's, when the run was started in this process;
	// nil when it was claimed from the database or started by a timer.
	subject *events.Subject
}

// runResult is what one pass over a run's steps did, waiting to be
// written: the step attempts and the run's new state. state is nil when
// nothing is to be written (the automation is gone).
type runResult struct {
	job   *runJob
	steps []*store.RunStep
	state *store.RunSetStateParams
}

// execute runs a run's actions from its current step, in order, until one
// fails or all are done. A step that fails and may be retried leaves the
// run pending at that step; its next attempt starts there, with what the
// earlier steps captured. It returns false when shutdown cut it short.
func (s *Service) execute(ctx context.Context, j *runJob) (*runResult, bool) {
	r := j.run
	res := &runResult{job: j}
	ca, broken, ok := s.cache.get(ctx, s.store, r.AutomationID)
	if !ok {
		return res, true // deleted, and its runs with it
	}
	now := s.clock()
	if ca == nil {
		res.state = store.RunFailedAt(r.ID, s.cfg.Owner, r.Step, r.Attempts, nil, "the automation is broken: "+broken, now)
		return res, true
	}
	sc, err := s.scope(ctx, ca, j)
	if err != nil {
		res.state = store.RunFailedAt(r.ID, s.cfg.Owner, r.Step, r.Attempts, nil, "prepare run: "+err.Error(), now)
		return res, true
	}
	captured := sc.Steps
	step, attempts := r.Step, r.Attempts
	for ; step < len(ca.def.Actions); step++ {
		a := &ca.def.Actions[step]
		rec := &store.RunStep{RunID: r.ID, Index: step, Name: a.Name, Type: a.Type, Attempt: attempts + 1, StartedAt: s.clock()}
		if c := ca.ifs[step]; c != nil {
			ok, err := c.eval(sc.celVars())
			if err != nil || !ok {
				rec.State = store.StepSkipped
				if err != nil {
					rec.Error = "if could not be evaluated, so the step was skipped: " + err.Error()
				}
				res.steps = append(res.steps, rec)
				attempts = 0
				continue
			}
		}
		out := s.runStep(ctx, ca, a, r, j.payload, sc)
		if out.cutShort && ctx.Err() != nil {
			return nil, false
		}
		out.fill(rec)
		if out.err == "" {
			rec.State = store.StepSucceeded
			res.steps = append(res.steps, rec)
			if a.CaptureResponse && out.response != nil {
				captured[a.Name] = map[string]any{"response": out.response}
			}
			if out.entity != nil {
				sc.Entity = out.entity
			}
			attempts = 0
			continue
		}
		attempts++
		if out.retryable {
			if next, ok := outbound.NextAttemptAt(s.clock(), ca.schedules[step], attempts, out.retryAfter, rand.Float64()); ok {
				rec.State = store.StepRetrying
				res.steps = append(res.steps, rec)
				res.state = store.RunRetryAt(r.ID, s.cfg.Owner, step, attempts, encodeSteps(captured), out.err, next, now)
				return res, true
			}
		}
		rec.State = store.StepFailed
		res.steps = append(res.steps, rec)
		res.state = store.RunFailedAt(r.ID, s.cfg.Owner, step, attempts, encodeSteps(captured), fmt.Sprintf("step %s failed: %s", a.Name, out.err), now)
		return res, true
	}
	res.state = store.RunSucceededAt(r.ID, s.cfg.Owner, step, encodeSteps(captured), now)
	return res, true
}

func encodeSteps(m map[string]any) []byte {
	if len(m) == 0 {
		return nil
	}
	b, _ := events.Encode(m)
	return b
}

// stepOutcome is one attempt of one step, whatever its kind.
type stepOutcome struct {
	*StepOutcome
	err        string
	retryable  bool
	retryAfter time.Duration
	response   map[string]any
	entity     map[string]any // set_field: the entity after the write
	cutShort   bool
}

func (o *stepOutcome) fill(rec *store.RunStep) {
	rec.Error = o.err
	if o.StepOutcome == nil {
		return
	}
	rec.Request = o.Request
	rec.ResponseStatus = o.Status
	rec.ResponseHeaders = o.Headers
	rec.ResponseBody = o.Body
	rec.DurationMS = o.Duration.Milliseconds()
	rec.Notes = o.Notes
}

func (s *Service) runStep(ctx context.Context, ca *rule, a *Action, r *store.Run, payload []byte, sc *runScope) *stepOutcome {
	idem := r.ID + "-" + a.Name
	switch a.Type {
	case ActionHTTP:
		var note string
		if a.Template != "" {
			merged, rt, err := resolveTemplate(ctx, s.store, ca.a.TenantID, a)
			if err != nil {
				return &stepOutcome{err: fmt.Sprintf("request template %s: %v", a.Template, err)}
			}
			a, note = merged, fmt.Sprintf("request template %s (%s) version %d", rt.ID, rt.Name, rt.Version)
		}
		if err := s.connectionAllowed(ctx, ca, a); err != nil {
			return &stepOutcome{err: err.Error()}
		}
		out := fromHTTP(ctx, s.exec.HTTP(ctx, a, &sc.Scope, idem))
		if note != "" && out.StepOutcome != nil {
			out.Notes = append([]string{note}, out.Notes...)
		}
		return out
	case ActionWebhook:
		body, err := webhookBody(ca, r, payload, sc)
		if err != nil {
			return &stepOutcome{err: err.Error()}
		}
		msgID := r.ID + "-" + a.Name
		return fromHTTP(ctx, s.exec.Webhook(ctx, a, ca.secret, msgID, body, idem))
	case ActionSetField:
		return s.setField(ctx, ca, a, r, sc)
	}
	return &stepOutcome{err: "unknown action type " + a.Type}
}

// connectionAllowed refuses an OAuth2 connection of another scope than the
// automation's (a vendor-wide one for a tenant's automation, or another
// tenant's), whatever the stored definition says: saving refuses it
// already, and this keeps the vendor's token from a tenant's URL even if
// a row was written some other way.
func (s *Service) connectionAllowed(ctx context.Context, ca *rule, a *Action) error {
	if a.Auth == nil || a.Auth.Type != AuthOAuth2 || a.Auth.ConnectionID == "" {
		return nil
	}
	c, err := s.store.OAuth2ConnectionGet(ctx, a.Auth.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the token source says so
	}
	if err != nil {
		return fmt.Errorf("check OAuth2 connection %s: %w", a.Auth.ConnectionID, err)
	}
	if c.TenantID != ca.a.TenantID {
		return fmt.Errorf("OAuth2 connection %s is not of this automation's scope, so its token was not used", c.ID)
	}
	return nil
}

func fromHTTP(ctx context.Context, o *StepOutcome) *stepOutcome {
	out := &stepOutcome{StepOutcome: o, response: o.Response, retryable: o.Retryable, retryAfter: o.RetryAfter}
	switch {
	case o.Err != nil:
		out.err = o.Err.Error()
		out.cutShort = ctx.Err() != nil
	case o.Status < 200 || o.Status > 299:
		out.err = fmt.Sprintf("HTTP %d", o.Status)
	}
	return out
}

// webhookBody is what the webhook action sends: the event, the record it
// is about as the entity is now, when the trigger fired, and which
// automation and trigger sent it.
func webhookBody(ca *rule, r *store.Run, payload []byte, sc *runScope) ([]byte, error) {
	record := events.Object{}
	if id, ok := sc.Entity["id"]; ok {
		record = events.Object{
			{Key: "id", Value: id},
			{Key: "tenantId", Value: sc.tenantID},
			{Key: "fieldGroupId", Value: sc.Entity["fieldGroupId"]},
			{Key: "fieldGroupKey", Value: sc.Event["fieldGroupKey"]},
			{Key: "entityId", Value: id},
			{Key: "values", Value: sc.Entity["values"]},
			{Key: "version", Value: sc.Entity["version"]},
			{Key: "createdAt", Value: sc.Entity["createdAt"]},
			{Key: "updatedAt", Value: sc.Entity["updatedAt"]},
		}
	}
	return events.Encode(events.Object{
		{Key: "event", Value: json.RawMessage(payload)},
		{Key: "record", Value: record},
		{Key: "firedAt", Value: r.CreatedAt.UTC().Format(time.RFC3339Nano)},
		{Key: "triggerKey", Value: triggerKey(&ca.def.Trigger, r.EventType)},
		{Key: "triggerName", Value: ca.a.Name},
	})
}

// triggerKey names what fired a run: the trigger's kind (event, field,
// sla or date) and the event type, e.g. "field:field_value.saved".
func triggerKey(t *Trigger, eventType string) string {
	kind := "event"
	switch {
	case t.SLA != nil:
		kind = "sla"
	case t.Date != nil:
		kind = "date"
	case t.FieldKey != "":
		kind = "field"
	}
	return kind + ":" + eventType
}

// setField writes values back through the same validation as the API. The
// events it causes carry the run in their cause chain; a chain that would
// grow past events.MaxCauseDepth stops here.
func (s *Service) setField(ctx context.Context, ca *rule, a *Action, r *store.Run, sc *runScope) *stepOutcome {
	start := time.Now()
	p, out := s.prepareSetField(ca, a, r, sc)
	if out.StepOutcome != nil {
		defer func() { out.Duration = time.Since(start) }()
	}
	if p == nil {
		return out
	}
	saved, err := s.records.SaveValues(ctx, ownerScope(ca.a.TenantID), p)
	var ve *problem.ValidationError
	switch {
	case errors.As(err, &ve):
		msgs := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			msgs[i] = strings.TrimPrefix(p.Location, "body.") + ": " + p.Message
		}
		out.err = "values refused: " + strings.Join(msgs, "; ")
	case errors.Is(err, store.ErrNotFound):
		out.err = "field group " + p.Group + " not found"
	case err != nil:
		out.err = err.Error()
		out.retryable = true
	default:
		out.Status = 200
		out.Body = fmt.Sprintf(`{"version":%d}`, saved.Version)
		ent := map[string]any{"id": p.EntityID, "values": saved.Data, "version": saved.Version}
		if gid, ok := sc.Entity["fieldGroupId"]; ok {
			ent["fieldGroupId"] = gid
		}
		out.entity = ent
	}
	return out
}

// prepareSetField renders a set_field step: the save it would make, and
// its outcome so far (the logged request, notes). A nil save means the
// step failed before it: out says why.
func (s *Service) prepareSetField(ca *rule, a *Action, r *store.Run, sc *runScope) (*records.SaveValuesParams, *stepOutcome) {
	var chain []events.Cause
	if len(r.Cause) > 0 {
		if err := json.Unmarshal(r.Cause, &chain); err != nil {
			return nil, &stepOutcome{err: "read cause chain: " + err.Error()}
		}
	}
	chain = append(chain, events.Cause{AutomationID: ca.a.ID, RunID: r.ID, EventID: r.EventID})
	group := a.FieldGroup
	if group == "" {
		group, _ = sc.Event["fieldGroupId"].(string)
	}
	entityID, _ := sc.Event["entityId"].(string)
	rd := s.exec.Templates().Renderer(&sc.Scope)
	if a.EntityID != "" {
		rendered, err := rd.Text(a.EntityID)
		if err != nil {
			return nil, &stepOutcome{err: "entityId: " + err.Error()}
		}
		entityID = rendered.Text
	}
	values := make(map[string]any, len(a.Values))
	redacted := make(map[string]any, len(a.Values))
	for k, v := range a.Values {
		val, red, err := rd.JSON(v)
		if err != nil {
			return nil, &stepOutcome{err: "values." + k + ": " + err.Error()}
		}
		values[k], redacted[k] = val, red
	}
	notes := rd.Notes()
	reqLog, _ := events.Encode(events.Object{{Key: "fieldGroup", Value: group}, {Key: "entityId", Value: entityID}, {Key: "values", Value: redacted}})
	out := &stepOutcome{StepOutcome: &StepOutcome{Request: reqLog, Notes: notes}}
	if len(chain) > events.MaxCauseDepth {
		links := make([]string, len(chain))
		for i, c := range chain {
			links[i] = c.AutomationID
		}
		out.err = fmt.Sprintf("cause chain deeper than %d: each write triggered another run (%s), so this write was stopped to break the loop",
			events.MaxCauseDepth, strings.Join(links, " → "))
		return nil, out
	}
	return &records.SaveValuesParams{TenantID: r.TenantID, Group: group, EntityID: entityID, Values: values, Cause: chain}, out
}

// ownerScope is what an automation's actions may touch: a tenant's
// automation acts for that tenant only, a vendor-wide one for any.
func ownerScope(tenantID string) scope.Scope {
	if tenantID == "" {
		return scope.Admin()
	}
	return scope.Tenant(tenantID)
}
