package automations

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// TestRunInput asks to try an automation, saved or not, on one event: a past
// event by id, or a sample payload.
type TestRunInput struct {
	Automation AutomationInput `json:"automation"`
	EventID    string          `json:"eventId,omitempty"`
	Event      map[string]any  `json:"event,omitempty"`
}

// TestRunResult is what a test run did. It is not stored: nothing of it
// shows in the run log, and no run, step or event is written.
type TestRunResult struct {
	// ConditionHeld says whether the trigger's condition held for the
	// event (true when it has none); the steps ran either way.
	ConditionHeld bool    `json:"conditionHeld"`
	ConditionNote string  `json:"conditionNote,omitempty"`
	Steps         []*Step `json:"steps"`
}

// TestAutomation runs an automation's steps once against an event, as a
// run would, but as a test: http and webhook steps make their requests for
// real (with a test run's Idempotency-Key), a set_field step renders the
// values it would write and writes nothing, no step is retried, and the
// outcome is the answer only. The definition is checked as a save checks
// it, and a tenant's automation sees only what its run would see.
func (s *Service) TestAutomation(ctx context.Context, sc scope.Scope, in *TestRunInput) (*TestRunResult, error) {
	owner, err := records.ClaimTenant(sc, in.Automation.TenantID)
	if err != nil {
		return nil, err
	}
	tenant := ""
	if owner != nil {
		tenant = *owner
	}
	if err := checkAutomation(ctx, s.store, tenant, in.Automation.Name, &in.Automation.Definition); err != nil {
		return nil, err
	}
	payload, eventTenant, eventID, err := s.testEvent(ctx, sc, tenant, in)
	if err != nil {
		return nil, err
	}
	def, err := json.Marshal(&in.Automation.Definition)
	if err != nil {
		return nil, fmt.Errorf("test automation: %w", err)
	}
	a := &store.Automation{ID: "au_test", TenantID: tenant, Name: in.Automation.Name, Definition: def}
	ca, err := compile(a, s.box)
	if err != nil {
		return nil, err
	}
	ca.secret = newSecret() // a webhook step signs with a secret of the test's own
	run := &store.Run{ID: events.NewID("run_test_"), AutomationID: a.ID, TenantID: eventTenant, EventID: eventID}
	rsc, err := s.scope(ctx, ca, &runJob{run: run, payload: payload})
	if err != nil {
		return nil, fmt.Errorf("prepare test run: %w", err)
	}
	res := &TestRunResult{ConditionHeld: true, Steps: []*Step{}}
	if ca.cond != nil {
		held, err := ca.cond.eval(rsc.celVars())
		res.ConditionHeld = err == nil && held
		if err != nil {
			res.ConditionNote = "the condition could not be evaluated: " + err.Error()
		}
	}
	for i := range ca.def.Actions {
		act := &ca.def.Actions[i]
		rec := &store.RunStep{RunID: run.ID, Index: i, Name: act.Name, Type: act.Type, Attempt: 1, StartedAt: s.clock()}
		if c := ca.ifs[i]; c != nil {
			ok, err := c.eval(rsc.celVars())
			if err != nil || !ok {
				rec.State = store.StepSkipped
				if err != nil {
					rec.Error = "if could not be evaluated, so the step was skipped: " + err.Error()
				}
				res.Steps = append(res.Steps, viewStep(rec))
				continue
			}
		}
		var out *stepOutcome
		if act.Type == ActionSetField {
			var p *records.SaveValuesParams
			p, out = s.prepareSetField(ca, act, run, rsc)
			if p != nil {
				out.Notes = append(out.Notes, "test run: these values were not written")
			}
		} else {
			out = s.runStep(ctx, ca, act, run, payload, rsc)
		}
		out.fill(rec)
		if out.err != "" {
			rec.State = store.StepFailed
			res.Steps = append(res.Steps, viewStep(rec))
			break
		}
		rec.State = store.StepSucceeded
		res.Steps = append(res.Steps, viewStep(rec))
		if act.CaptureResponse && out.response != nil {
			rsc.Steps[act.Name] = map[string]any{"response": out.response}
		}
	}
	return res, nil
}

// testEvent is the payload a test run sees, its tenant and event id: a
// stored event the scope may see (and, for a tenant's automation, its
// tenant's), or the sample given.
func (s *Service) testEvent(ctx context.Context, sc scope.Scope, tenant string, in *TestRunInput) ([]byte, string, string, error) {
	switch {
	case in.EventID != "" && in.Event != nil:
		return nil, "", "", problem.Invalid("body.event", "give eventId or event, not both", nil)
	case in.EventID != "":
		ev, err := s.store.EventGet(ctx, in.EventID)
		if err == nil && (!sc.Allows(ev.TenantID) || (tenant != "" && ev.TenantID != tenant)) {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, "", "", problem.Invalid("body.eventId", "no such event for this automation", in.EventID)
		}
		return ev.Payload, ev.TenantID, ev.ID, nil
	case in.Event != nil:
		evTenant, _ := in.Event["tenantId"].(string)
		if tenant != "" {
			if evTenant != "" && evTenant != tenant {
				return nil, "", "", problem.Invalid("body.event.tenantId", "a tenant's automation sees its own tenant's events only", evTenant)
			}
			evTenant = tenant
		}
		payload, err := events.Encode(in.Event)
		if err != nil {
			return nil, "", "", problem.Invalid("body.event", err.Error(), nil)
		}
		id, _ := in.Event["eventId"].(string)
		return payload, evTenant, id, nil
	}
	return nil, "", "", problem.Invalid("body.eventId", "give eventId (a past event) or event (a sample payload)", nil)
}
