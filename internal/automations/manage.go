package automations

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// ErrRunNotFailed means a retry was asked of a run that has not failed.
var ErrRunNotFailed = errors.New("automations: run has not failed")

// AutomationInput creates an automation.
type AutomationInput struct {
	Name     string  `json:"name"`
	TenantID *string `json:"tenantId,omitempty"`
	Active   *bool   `json:"active,omitempty"`
	Definition
}

// AutomationPatch changes an automation; absent fields keep their values.
// A trigger or actions given replace the old ones whole.
type AutomationPatch struct {
	Name        *string  `json:"name,omitempty"`
	Description *string  `json:"description,omitempty"`
	Active      *bool    `json:"active,omitempty"`
	Trigger     *Trigger `json:"trigger,omitempty"`
	Actions     []Action `json:"actions,omitempty"`
}

// Automation is an automation as clients see it. Secret signs the webhook
// action's requests; it is shown only when the automation is created.
type Automation struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	TenantID    *string    `json:"tenantId"`
	Active      bool       `json:"active"`
	ActivatedAt *time.Time `json:"activatedAt"`
	Definition
	Secret    string            `json:"secret,omitempty"`
	Health    *AutomationHealth `json:"health"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

// viewAutomation shows a stored automation. A definition that does not
// decode shows as empty, for health to explain: listing must not fail on
// one bad row.
func viewAutomation(a *store.Automation) (*Automation, error) {
	v := &Automation{ID: a.ID, Name: a.Name, Active: a.Active, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Health: &AutomationHealth{State: HealthOK}}
	if err := json.Unmarshal(a.Definition, &v.Definition); err != nil {
		v.Definition = Definition{Actions: []Action{}}
	}
	if a.TenantID != "" {
		t := a.TenantID
		v.TenantID = &t
	}
	if !a.ActivatedAt.IsZero() {
		t := a.ActivatedAt
		v.ActivatedAt = &t
	}
	return v, nil
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// CreateAutomation validates and stores an automation.
func (s *Service) CreateAutomation(ctx context.Context, sc scope.Scope, in *AutomationInput) (*Automation, error) {
	owner, err := records.ClaimTenant(sc, in.TenantID)
	if err != nil {
		return nil, err
	}
	in.TenantID = owner
	tenant := ""
	if in.TenantID != nil {
		tenant = *in.TenantID
	}
	if err := checkAutomation(ctx, s.store, tenant, in.Name, &in.Definition); err != nil {
		return nil, err
	}
	def, err := json.Marshal(&in.Definition)
	if err != nil {
		return nil, fmt.Errorf("create automation: %w", err)
	}
	now := s.clock()
	secret := newSecret()
	a := &store.Automation{ID: events.NewID("au_"), TenantID: tenant, Name: in.Name, Active: in.Active == nil || *in.Active,
		Definition: def, Secret: s.box.Seal(secret), CreatedAt: now, UpdatedAt: now}
	if a.Active {
		a.ActivatedAt = now
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AutomationCreate(ctx, a); err != nil {
			return err
		}
		tx.AfterCommit(s.cache.invalidate)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create automation: %w", err)
	}
	v, err := viewAutomation(a)
	if err != nil {
		return nil, err
	}
	v.Secret = secret
	return v, nil
}

// ownedAutomation returns an automation the scope allows; to a tenant
// scope only that tenant's automations exist.
func ownedAutomation(ctx context.Context, sc scope.Scope, r store.Reader, id string) (*store.Automation, error) {
	a, err := r.AutomationGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.Allows(a.TenantID) {
		return nil, store.ErrNotFound
	}
	return a, nil
}

// GetAutomation returns an automation.
func (s *Service) GetAutomation(ctx context.Context, sc scope.Scope, id string) (*Automation, error) {
	a, err := ownedAutomation(ctx, sc, s.store, id)
	if err != nil {
		return nil, err
	}
	v, err := viewAutomation(a)
	if err != nil {
		return nil, err
	}
	v.Health = s.cache.health(ctx, s.store, a)
	return v, nil
}

// ListAutomations lists automations, of one tenant when tenantID is set
// or the scope is a tenant's (see scope.Filter).
func (s *Service) ListAutomations(ctx context.Context, sc scope.Scope, tenantID string, p store.Page) ([]*Automation, int, error) {
	tenant, err := sc.Filter(tenantID)
	if err != nil {
		return nil, 0, err
	}
	as, total, err := s.store.AutomationList(ctx, &store.AutomationListParams{Page: p, TenantID: tenant})
	if err != nil {
		return nil, 0, fmt.Errorf("list automations: %w", err)
	}
	out := make([]*Automation, 0, len(as))
	for _, a := range as {
		v, err := viewAutomation(a)
		if err != nil {
			return nil, 0, err
		}
		v.Health = s.cache.health(ctx, s.store, a)
		out = append(out, v)
	}
	return out, total, nil
}

// UpdateAutomation applies a patch, validating the result as a whole.
func (s *Service) UpdateAutomation(ctx context.Context, sc scope.Scope, id string, p *AutomationPatch) (*Automation, error) {
	var out *Automation
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		a, err := ownedAutomation(ctx, sc, tx, id)
		if err != nil {
			return err
		}
		// A definition that no longer decodes (a broken automation) starts
		// empty: the patch must then give what makes it whole again, and
		// checkAutomation says what is missing.
		var def Definition
		_ = json.Unmarshal(a.Definition, &def)
		if p.Name != nil {
			a.Name = *p.Name
		}
		if p.Description != nil {
			def.Description = *p.Description
		}
		if p.Trigger != nil {
			def.Trigger = *p.Trigger
		}
		if p.Actions != nil {
			def.Actions = p.Actions
		}
		if err := checkAutomation(ctx, tx, a.TenantID, a.Name, &def); err != nil {
			return err
		}
		now := s.clock()
		if p.Active != nil {
			if *p.Active && !a.Active {
				a.ActivatedAt = now
			}
			a.Active = *p.Active
		}
		if a.Definition, err = json.Marshal(&def); err != nil {
			return err
		}
		a.UpdatedAt = now
		if err := tx.AutomationUpdate(ctx, a); err != nil {
			return err
		}
		tx.AfterCommit(s.cache.invalidate)
		out, err = viewAutomation(a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update automation %s: %w", id, err)
	}
	return out, nil
}

// DeleteAutomation deletes an automation with its runs and timers.
func (s *Service) DeleteAutomation(ctx context.Context, sc scope.Scope, id string) error {
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := ownedAutomation(ctx, sc, tx, id); err != nil {
			return err
		}
		if err := tx.AutomationDelete(ctx, id); err != nil {
			return err
		}
		tx.AfterCommit(s.cache.invalidate)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete automation %s: %w", id, err)
	}
	return nil
}

// Run is a run as clients see it, with its step attempts in order.
type Run struct {
	ID           string `json:"id"`
	AutomationID string `json:"automationId"`
	EventID      string `json:"eventId"`
	EventType    string `json:"eventType"`
	TenantID     string `json:"tenantId,omitempty"`
	State        string `json:"state"`
	// Step is the index of the next action to run: where a pending run
	// resumes and where a failed one stopped.
	Step          int            `json:"step"`
	Attempts      int            `json:"attempts"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt,omitempty"`
	Error         string         `json:"error,omitempty"`
	CausedBy      []events.Cause `json:"causedBy,omitempty"`
	Steps         []*Step        `json:"steps"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
}

// Step is one attempt of one action.
type Step struct {
	Index      int             `json:"index"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Attempt    int             `json:"attempt"`
	State      string          `json:"state"`
	StartedAt  time.Time       `json:"startedAt"`
	DurationMS int64           `json:"durationMs"`
	Request    json.RawMessage `json:"request,omitempty"`
	Response   *StepResponse   `json:"response,omitempty"`
	Error      string          `json:"error,omitempty"`
	Notes      []string        `json:"notes,omitempty"`
}

// StepResponse is what a step's request got back; the body is capped.
type StepResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

func viewRun(r *store.Run, steps []*store.RunStep) *Run {
	v := &Run{ID: r.ID, AutomationID: r.AutomationID, EventID: r.EventID, EventType: r.EventType, TenantID: r.TenantID,
		State: string(r.State), Step: r.Step, Attempts: r.Attempts, Error: r.Error, Steps: []*Step{}, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.State == store.RunPending {
		t := r.NextAttemptAt
		v.NextAttemptAt = &t
	}
	if len(r.Cause) > 0 {
		_ = json.Unmarshal(r.Cause, &v.CausedBy)
	}
	for _, st := range steps {
		v.Steps = append(v.Steps, viewStep(st))
	}
	return v
}

func viewStep(st *store.RunStep) *Step {
	sv := &Step{Index: st.Index, Name: st.Name, Type: st.Type, Attempt: st.Attempt, State: string(st.State), StartedAt: st.StartedAt,
		DurationMS: st.DurationMS, Error: st.Error, Notes: st.Notes}
	if len(st.Request) > 0 {
		sv.Request = json.RawMessage(st.Request)
	}
	if st.ResponseStatus != 0 || st.ResponseBody != "" {
		sv.Response = &StepResponse{Status: st.ResponseStatus, Headers: st.ResponseHeaders, Body: st.ResponseBody}
	}
	return sv
}

func (s *Service) withSteps(ctx context.Context, rs []*store.Run) ([]*Run, error) {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	by := map[string][]*store.RunStep{}
	if len(ids) > 0 {
		steps, err := s.store.RunStepList(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, st := range steps {
			by[st.RunID] = append(by[st.RunID], st)
		}
	}
	out := make([]*Run, len(rs))
	for i, r := range rs {
		out[i] = viewRun(r, by[r.ID])
	}
	return out, nil
}

// ListRuns lists an automation's runs newest first, with their steps,
// and the cursor of the next page ("" on the last).
func (s *Service) ListRuns(ctx context.Context, sc scope.Scope, automationID string, state, cursor string, limit int) ([]*Run, string, error) {
	before, err := records.DecodeCursor(cursor)
	if err != nil {
		return nil, "", &problem.ValidationError{Problems: []problem.Problem{{Location: "query.cursor", Message: "is not a cursor this server gave out", Value: cursor}}}
	}
	if _, err := ownedAutomation(ctx, sc, s.store, automationID); err != nil {
		return nil, "", err
	}
	rs, err := s.store.RunList(ctx, &store.RunListParams{AutomationID: automationID, State: store.RunState(state), BeforeSeq: before, Limit: limit + 1})
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	next := ""
	if len(rs) > limit {
		rs = rs[:limit]
		next = records.EncodeCursor(rs[len(rs)-1].Seq)
	}
	out, err := s.withSteps(ctx, rs)
	return out, next, err
}

// RunsForEvent lists the runs an event started, for the event's detail.
// With a tenant scope it lists only those GetRun would show that tenant:
// runs of its own automations, not of vendor-wide ones.
func (s *Service) RunsForEvent(ctx context.Context, sc scope.Scope, eventID string) ([]*Run, error) {
	rs, err := s.store.RunList(ctx, &store.RunListParams{EventID: eventID, Limit: 500})
	if err != nil {
		return nil, fmt.Errorf("list runs of event %s: %w", eventID, err)
	}
	if !sc.IsAdmin() {
		visible := map[string]bool{}
		kept := rs[:0]
		for _, r := range rs {
			ok, seen := visible[r.AutomationID]
			if !seen {
				_, err := ownedAutomation(ctx, sc, s.store, r.AutomationID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, fmt.Errorf("list runs of event %s: %w", eventID, err)
				}
				ok = err == nil
				visible[r.AutomationID] = ok
			}
			if ok {
				kept = append(kept, r)
			}
		}
		rs = kept
	}
	return s.withSteps(ctx, rs)
}

// GetRun returns a run with its steps. A tenant sees only the runs of its
// own automations: not those a vendor-wide automation made of its events,
// as it sees only its own endpoints' deliveries.
func (s *Service) GetRun(ctx context.Context, sc scope.Scope, id string) (*Run, error) {
	r, err := s.store.RunGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.IsAdmin() {
		if _, err := ownedAutomation(ctx, sc, s.store, r.AutomationID); err != nil {
			return nil, err
		}
	}
	out, err := s.withSteps(ctx, []*store.Run{r})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// RetryRun makes a failed run pending again; it continues from the step
// that failed, with what earlier steps captured.
func (s *Service) RetryRun(ctx context.Context, sc scope.Scope, id string) (*Run, error) {
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		r, err := tx.RunGet(ctx, id)
		if err != nil {
			return err
		}
		if !sc.IsAdmin() {
			if _, err := ownedAutomation(ctx, sc, tx, r.AutomationID); err != nil {
				return err
			}
		}
		if r.State != store.RunFailed {
			return fmt.Errorf("%w: it is %s", ErrRunNotFailed, r.State)
		}
		if err := tx.RunRetryNow(ctx, id, s.clock()); err != nil {
			return err
		}
		tx.AfterCommit(s.runner.poke)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retry run %s: %w", id, err)
	}
	return s.GetRun(ctx, sc, id)
}
