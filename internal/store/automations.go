package store

import (
	"context"
	"time"
)

// SettingsReader holds the reads of automation settings: variables and
// OAuth2 connections.
type SettingsReader interface {
	VariableGet(ctx context.Context, tenantID, name string) (*Variable, error)
	VariableList(ctx context.Context, tenantID string) ([]*Variable, error)
	// VariableListByName returns every variable of that name, global and
	// per tenant, ordered by tenant id ("" first).
	VariableListByName(ctx context.Context, name string) ([]*Variable, error)
	OAuth2ConnectionGet(ctx context.Context, id string) (*OAuth2Connection, error)
	OAuth2ConnectionList(ctx context.Context, p *OAuth2ConnectionListParams) ([]*OAuth2Connection, int, error)
	RequestTemplateGet(ctx context.Context, id string) (*RequestTemplate, error)
	RequestTemplateList(ctx context.Context, p *RequestTemplateListParams) ([]*RequestTemplate, int, error)
}

// SettingsWriter holds their writes.
type SettingsWriter interface {
	// VariablePut creates or replaces a variable; CreatedAt is kept on
	// replace.
	VariablePut(ctx context.Context, v *Variable) error
	VariableDelete(ctx context.Context, tenantID, name string) error
	OAuth2ConnectionCreate(ctx context.Context, c *OAuth2Connection) error
	OAuth2ConnectionUpdate(ctx context.Context, c *OAuth2Connection) error
	OAuth2ConnectionDelete(ctx context.Context, id string) error
	RequestTemplateCreate(ctx context.Context, rt *RequestTemplate) error
	// RequestTemplateUpdate writes rt if its stored version is rt.Version-1,
	// else ErrNotFound: edits are counted, none is lost.
	RequestTemplateUpdate(ctx context.Context, rt *RequestTemplate) error
	RequestTemplateDelete(ctx context.Context, id string) error
}

// Variable is a named value for automation templates, global (TenantID
// empty) or per tenant. A secret one's Value is sealed with the master key.
type Variable struct {
	TenantID string
	Name     string
	Value    string
	Secret   bool
	// Shared lets tenant-scoped automations read a global, non-secret
	// variable; it is false on every other variable.
	Shared    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OAuth2Connection holds what fetching a token needs. ClientSecret,
// RefreshToken and AccessToken are sealed with the master key.
type OAuth2Connection struct {
	ID             string
	Name           string
	TenantID       string
	TokenURL       string
	ClientID       string
	ClientSecret   string
	Scopes         []string
	GrantType      string
	RefreshToken   string
	AccessToken    string
	TokenExpiresAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// RequestTemplate is a named HTTP request that http actions reference and
// override in part. Request is its JSON; Version counts its edits from 1.
type RequestTemplate struct {
	ID        string
	TenantID  string // empty: the vendor's
	Name      string
	Version   int64
	Request   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RequestTemplateListParams filters request templates.
type RequestTemplateListParams struct {
	Page
	TenantID *string
}

// OAuth2ConnectionListParams filters connections.
type OAuth2ConnectionListParams struct {
	Page
	TenantID *string
}

// AutomationReader holds the reads of automations, their runs and timers.
type AutomationReader interface {
	AutomationGet(ctx context.Context, id string) (*Automation, error)
	AutomationList(ctx context.Context, p *AutomationListParams) ([]*Automation, int, error)
	// AutomationListAll returns every automation, for the trigger cache.
	AutomationListAll(ctx context.Context) ([]*Automation, error)

	RunGet(ctx context.Context, id string) (*Run, error)
	// RunList lists runs newest first (by Seq).
	RunList(ctx context.Context, p *RunListParams) ([]*Run, error)
	// RunStepList returns the step attempts of the runs, oldest first (by
	// their Seq).
	RunStepList(ctx context.Context, runIDs []string) ([]*RunStep, error)
}

// AutomationWriter holds their writes.
type AutomationWriter interface {
	AutomationCreate(ctx context.Context, a *Automation) error
	AutomationUpdate(ctx context.Context, a *Automation) error
	// AutomationDelete deletes an automation with its runs, their steps and
	// its timers.
	AutomationDelete(ctx context.Context, id string) error

	RunInsert(ctx context.Context, rs []*Run) error
	// RunClaimDue leases up to Limit pending runs that are due and not
	// leased by anyone, oldest due first (the delivery claim, for runs).
	RunClaimDue(ctx context.Context, p *RunClaimDueParams) ([]*Run, error)
	RunExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	// RunReleaseLeases drops the leases of pending runs held by owner, or by
	// anyone when owner is empty.
	RunReleaseLeases(ctx context.Context, owner string) error
	// RunSetStatesIfLeased applies each of ps only while its Owner holds
	// the run's lease and the run is pending, and returns the ids of those
	// it applied. As for deliveries, an applied change always drops the
	// lease (whatever the new state): a run left pending is claimed again
	// when NextAttemptAt comes. Rows are locked in id order.
	RunSetStatesIfLeased(ctx context.Context, ps []*RunSetStateParams) (map[string]bool, error)
	// RunRetryNow makes a run pending and due now, whatever its state,
	// keeping its Step (a retry continues from the failed step) and Steps,
	// with Attempts 0, no lease and no Error; ErrNotFound if there is no
	// such run.
	RunRetryNow(ctx context.Context, id string, now time.Time) error
	// RunStepInsert appends step attempts; Seq is assigned by the database.
	RunStepInsert(ctx context.Context, steps []*RunStep) error

	// TimerUpsert sets the timer of (automation, tenant, group, entity,
	// field), replacing one that exists (every column, CreatedAt too).
	TimerUpsert(ctx context.Context, t *Timer) error
	// TimerDelete removes the timer of a key, if any.
	TimerDelete(ctx context.Context, k TimerKey) error
	// TimerTakeDue deletes and returns up to limit timers due at or before
	// now, soonest first. Two concurrent callers never take the same timer.
	TimerTakeDue(ctx context.Context, now time.Time, limit int) ([]*Timer, error)
	// TimerNextDue is the soonest due time of any timer; zero if none.
	TimerNextDue(ctx context.Context) (time.Time, error)
}

// Automation is a stored automation. Definition holds its description,
// trigger and actions as the API took them (JSON).
//
// The JSON []byte fields of Automation, Run, RunSetStateParams, RunStep and
// Timer are kept as text; an empty one (nil or zero-length) is stored as
// empty text and read back as nil.
type Automation struct {
	ID          string
	TenantID    string // empty: vendor-wide
	Name        string
	Active      bool
	ActivatedAt time.Time // zero while never active
	Definition  []byte
	// Secret signs the webhook action's requests; sealed with the master key.
	Secret    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AutomationListParams filters automations.
type AutomationListParams struct {
	Page
	TenantID *string
}

// RunState is where a run stands. A run moves only from pending, under its
// lease, through the constructors of RunSetStateParams (RunRetryAt,
// RunSucceededAt, RunFailedAt), or back to pending by a manual retry.
type RunState string

// Run states.
const (
	RunPending   RunState = "pending"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
)

// Run is one automation × one trigger.
type Run struct {
	Seq          int64
	ID           string
	AutomationID string
	// EventID is the triggering event; for a time rule, the event that set
	// the timer off (the last change of the field).
	EventID   string
	EventType string
	TenantID  string
	// Trigger is the payload templates see as `event` when it is not the
	// stored event's payload (time rules); empty otherwise.
	Trigger []byte
	// Cause is the cause chain (JSON array) of the triggering event; its
	// length is the run's depth.
	Cause         []byte
	State         RunState
	Step          int // index of the next action to run
	Attempts      int // attempts of that action so far
	NextAttemptAt time.Time
	LeasedUntil   time.Time
	LeaseOwner    string
	// Steps holds what finished steps left for later ones (JSON object by
	// step name: their captured responses).
	Steps     []byte
	Error     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RunListParams filters runs, newest first. Set AutomationID or EventID.
type RunListParams struct {
	AutomationID string
	EventID      string
	State        RunState
	BeforeSeq    int64
	Limit        int
}

// RunClaimDueParams claims due runs.
type RunClaimDueParams struct {
	Now        time.Time
	Owner      string
	LeaseUntil time.Time
	Limit      int
	// ExcludeAutomations are automations whose local queue is full.
	ExcludeAutomations []string
}

// RunSetStateParams is a guarded state change of a run. Build it with
// RunRetryAt, RunSucceededAt or RunFailedAt.
type RunSetStateParams struct {
	ID            string
	Owner         string
	State         RunState
	Step          int
	Attempts      int
	NextAttemptAt time.Time
	Steps         []byte
	Error         string
	At            time.Time
}

// StepState is how one attempt of one action ended.
type StepState string

// RunRetryAt keeps a run pending at step, to be tried again at next.
func RunRetryAt(id, owner string, step, attempts int, steps []byte, attemptErr string, next, at time.Time) *RunSetStateParams {
	return &RunSetStateParams{ID: id, Owner: owner, State: RunPending, Step: step, Attempts: attempts, NextAttemptAt: next,
		Steps: steps, Error: attemptErr, At: at}
}

// RunSucceededAt ends a run that ran every step.
func RunSucceededAt(id, owner string, step int, steps []byte, at time.Time) *RunSetStateParams {
	return &RunSetStateParams{ID: id, Owner: owner, State: RunSucceeded, Step: step, NextAttemptAt: at, Steps: steps, At: at}
}

// RunFailedAt ends a run that failed for good at step.
func RunFailedAt(id, owner string, step, attempts int, steps []byte, runErr string, at time.Time) *RunSetStateParams {
	return &RunSetStateParams{ID: id, Owner: owner, State: RunFailed, Step: step, Attempts: attempts, NextAttemptAt: at,
		Steps: steps, Error: runErr, At: at}
}

// Step attempt states.
const (
	StepSucceeded StepState = "succeeded"
	StepFailed    StepState = "failed"   // final: the run failed here
	StepRetrying  StepState = "retrying" // failed, will be tried again
	StepSkipped   StepState = "skipped"  // its `if` was false
)

// RunStep is one attempt of one action of a run.
type RunStep struct {
	Seq        int64
	RunID      string
	Index      int
	Name       string
	Type       string
	Attempt    int
	State      StepState
	StartedAt  time.Time
	DurationMS int64
	// Request is the rendered request (JSON object), secrets redacted.
	Request         []byte
	ResponseStatus  int
	ResponseHeaders map[string]string
	ResponseBody    string
	Error           string
	// Notes are remarks such as template paths that were missing.
	Notes []string
}

// TimerKey names the timer of one automation for one entity's field.
type TimerKey struct {
	AutomationID string
	TenantID     string
	FieldGroupID string
	EntityID     string
	FieldKey     string
}

// Timer is a pending time rule: when DueAt comes, the automation runs.
type Timer struct {
	TimerKey
	DueAt time.Time
	// EventID is the change that started it; Value the field's value then.
	EventID   string
	Value     []byte
	CreatedAt time.Time
}
