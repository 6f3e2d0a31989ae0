package contract

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// Twins pairs each domain type with the tagged twin its schema is made
// from, in no particular order.
func Twins() []Twin {
	return []Twin{
		{reflect.TypeFor[automations.Action](), reflect.TypeFor[Action]()},
		{reflect.TypeFor[automations.Auth](), reflect.TypeFor[Auth]()},
		{reflect.TypeFor[automations.Automation](), reflect.TypeFor[Automation]()},
		{reflect.TypeFor[automations.AutomationHealth](), reflect.TypeFor[AutomationHealth]()},
		{reflect.TypeFor[automations.AutomationInput](), reflect.TypeFor[AutomationInput]()},
		{reflect.TypeFor[automations.AutomationPatch](), reflect.TypeFor[AutomationPatch]()},
		{reflect.TypeFor[automations.Body](), reflect.TypeFor[Body]()},
		{reflect.TypeFor[automations.Date](), reflect.TypeFor[Date]()},
		{reflect.TypeFor[automations.Definition](), reflect.TypeFor[Definition]()},
		{reflect.TypeFor[automations.OAuth2Input](), reflect.TypeFor[OAuth2Input]()},
		{reflect.TypeFor[automations.OAuth2Patch](), reflect.TypeFor[OAuth2Patch]()},
		{reflect.TypeFor[automations.RequestTemplateInput](), reflect.TypeFor[RequestTemplateInput]()},
		{reflect.TypeFor[automations.RequestTemplatePatch](), reflect.TypeFor[RequestTemplatePatch]()},
		{reflect.TypeFor[automations.Retry](), reflect.TypeFor[Retry]()},
		{reflect.TypeFor[automations.Run](), reflect.TypeFor[Run]()},
		{reflect.TypeFor[automations.SLA](), reflect.TypeFor[SLA]()},
		{reflect.TypeFor[automations.Step](), reflect.TypeFor[Step]()},
		{reflect.TypeFor[automations.Trigger](), reflect.TypeFor[Trigger]()},
		{reflect.TypeFor[automations.Variable](), reflect.TypeFor[Variable]()},
		{reflect.TypeFor[automations.VariableInput](), reflect.TypeFor[VariableInput]()},
		{reflect.TypeFor[fields.Schema](), reflect.TypeFor[Schema]()},
		{reflect.TypeFor[fields.Validation](), reflect.TypeFor[Validation]()},
		{reflect.TypeFor[records.FieldGroup](), reflect.TypeFor[FieldGroup]()},
		{reflect.TypeFor[records.FieldGroupInput](), reflect.TypeFor[FieldGroupInput]()},
		{reflect.TypeFor[records.FieldGroupPatch](), reflect.TypeFor[FieldGroupPatch]()},
		{reflect.TypeFor[records.GlobalFieldInput](), reflect.TypeFor[GlobalFieldInput]()},
		{reflect.TypeFor[records.GlobalFieldPatch](), reflect.TypeFor[GlobalFieldPatch]()},
		{reflect.TypeFor[records.PublishInput](), reflect.TypeFor[PublishInput]()},
		{reflect.TypeFor[records.Published](), reflect.TypeFor[Published]()},
		{reflect.TypeFor[records.SchemaField](), reflect.TypeFor[SchemaField]()},
		{reflect.TypeFor[records.TenantFieldInput](), reflect.TypeFor[TenantFieldInput]()},
		{reflect.TypeFor[records.TenantFieldPatch](), reflect.TypeFor[TenantFieldPatch]()},
		{reflect.TypeFor[webhooks.DeliveryView](), reflect.TypeFor[DeliveryView]()},
		{reflect.TypeFor[webhooks.EndpointHealth](), reflect.TypeFor[EndpointHealth]()},
		{reflect.TypeFor[webhooks.EndpointInput](), reflect.TypeFor[EndpointInput]()},
		{reflect.TypeFor[webhooks.EndpointPatch](), reflect.TypeFor[EndpointPatch]()},
		{reflect.TypeFor[webhooks.FilteredOut](), reflect.TypeFor[FilteredOut]()},
		{reflect.TypeFor[webhooks.RecentAttempts](), reflect.TypeFor[RecentAttempts]()},
		{reflect.TypeFor[webhooks.ReplayInput](), reflect.TypeFor[ReplayInput]()},
	}
}

// Action is the schema of automations.Action.
type Action struct {
	Name            string             `json:"name" minLength:"1" maxLength:"64" doc:"Unique within the automation; later steps read steps.<name>.response."`
	Type            string             `json:"type" enum:"webhook,http,set_field"`
	If              string             `json:"if,omitempty" maxLength:"4096" doc:"CEL boolean over event, entity, tenant and steps; false skips the step."`
	Template        string             `json:"template,omitempty" maxLength:"64" doc:"http: the id of a request template (POST /api/request-templates) this action sends; the action's own url, method, auth, body and timeoutSeconds replace the template's, its headers and query are merged over the template's. Editing the template changes every action that references it. The automation's owner must own the template. An http action has a url, a template, or both."`
	URL             string             `json:"url,omitempty" maxLength:"2048" doc:"webhook, http: the target URL (templates allowed in http)."`
	Method          string             `json:"method,omitempty" enum:"GET,POST,PUT,PATCH,DELETE" doc:"http: default POST."`
	Auth            *automations.Auth  `json:"auth,omitempty"`
	Headers         map[string]string  `json:"headers,omitempty"`
	Query           map[string]string  `json:"query,omitempty"`
	Body            *automations.Body  `json:"body,omitempty"`
	TimeoutSeconds  int                `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300" doc:"Default 30."`
	Retry           *automations.Retry `json:"retry,omitempty"`
	CaptureResponse bool               `json:"captureResponse,omitempty"`
	Values          map[string]any     `json:"values,omitempty" doc:"set_field: values to save; a string that is exactly one {{path}} keeps the value's type."`
	FieldGroup      string             `json:"fieldGroup,omitempty" maxLength:"128" doc:"set_field: default the triggering event's group."`
	EntityID        string             `json:"entityId,omitempty" maxLength:"256" doc:"set_field: default the triggering event's entity (templates allowed)."`
}

// Auth is the schema of automations.Auth.
type Auth struct {
	Type         string `json:"type" enum:"none,bearer,apiKey,basic,oauth2"`
	Token        string `json:"token,omitempty" doc:"bearer"`
	In           string `json:"in,omitempty" enum:"header,query" doc:"apiKey: default header."`
	Name         string `json:"name,omitempty" doc:"apiKey: header or query parameter name."`
	Value        string `json:"value,omitempty" doc:"apiKey"`
	Username     string `json:"username,omitempty" doc:"basic"`
	Password     string `json:"password,omitempty" doc:"basic"`
	ConnectionID string `json:"connectionId,omitempty" doc:"oauth2: an OAuth2 connection's id."`
}

// Automation is the schema of automations.Automation: it has no tags of
// its own, but it embeds Definition, whose twin holds them.
type Automation struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	TenantID    *string    `json:"tenantId"`
	Active      bool       `json:"active"`
	ActivatedAt *time.Time `json:"activatedAt"`
	Definition
	Secret    string                        `json:"secret,omitempty"`
	Health    *automations.AutomationHealth `json:"health"`
	CreatedAt time.Time                     `json:"createdAt"`
	UpdatedAt time.Time                     `json:"updatedAt"`
}

// AutomationHealth is the schema of automations.AutomationHealth.
type AutomationHealth struct {
	State string `json:"state" enum:"ok,broken" doc:"broken: the stored automation no longer compiles (say, after an upgrade of the CEL library, or its secret cannot be opened with the master key); it starts no runs until it is fixed with a PATCH or deleted. Other automations and every write carry on."`
	Error string `json:"error,omitempty" doc:"Why it is broken."`
}

// AutomationInput is the schema of automations.AutomationInput.
type AutomationInput struct {
	Name     string  `json:"name" minLength:"1" maxLength:"200"`
	TenantID *string `json:"tenantId,omitempty" maxLength:"128" doc:"Only this tenant's events; absent or null: every tenant (admin keys only)."`
	Active   *bool   `json:"active,omitempty" doc:"Default true. Only events after activation start runs."`
	Definition
}

// AutomationPatch is the schema of automations.AutomationPatch.
type AutomationPatch struct {
	Name        *string              `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Description *string              `json:"description,omitempty" maxLength:"2000"`
	Active      *bool                `json:"active,omitempty" doc:"Turning an automation on sets activatedAt: only later events start runs."`
	Trigger     *automations.Trigger `json:"trigger,omitempty"`
	Actions     []automations.Action `nullable:"true" json:"actions,omitempty" minItems:"1" maxItems:"20"`
}

// Body is the schema of automations.Body.
type Body struct {
	Type        string            `json:"type" enum:"none,json,form,raw"`
	JSON        any               `json:"json,omitempty" doc:"json: any JSON; strings take templates, JSON-escaped."`
	Form        map[string]string `json:"form,omitempty" doc:"form: fields, URL-encoded."`
	Raw         string            `json:"raw,omitempty" doc:"raw: the body as is (templates unescaped)."`
	ContentType string            `json:"contentType,omitempty" doc:"raw: default text/plain; charset=utf-8."`
}

// Date is the schema of automations.Date.
type Date struct {
	FieldGroup string `json:"fieldGroup" minLength:"1" maxLength:"128"`
	FieldKey   string `json:"fieldKey" minLength:"1" maxLength:"128"`
	Offset     string `json:"offset,omitempty" doc:"Go duration added to the value, e.g. -24h; default 0."`
}

// Definition is the schema of automations.Definition.
type Definition struct {
	Description string               `json:"description,omitempty" maxLength:"2000"`
	Trigger     automations.Trigger  `json:"trigger"`
	Actions     []automations.Action `json:"actions" minItems:"1" maxItems:"20"`
}

// RequestTemplateInput is the schema of automations.RequestTemplateInput.
type RequestTemplateInput struct {
	Name           string            `json:"name" minLength:"1" maxLength:"200"`
	TenantID       *string           `json:"tenantId,omitempty" maxLength:"128" doc:"The tenant that owns it; absent for the vendor's own. A tenant's key always creates its own tenant's."`
	Method         string            `json:"method,omitempty" enum:"GET,POST,PUT,PATCH,DELETE" doc:"Default POST."`
	URL            string            `json:"url" minLength:"1" maxLength:"2048" doc:"Templates allowed, as in an http action."`
	Auth           *automations.Auth `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	Body           *automations.Body `json:"body,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300"`
}

// RequestTemplatePatch is the schema of automations.RequestTemplatePatch.
type RequestTemplatePatch struct {
	Name           *string           `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Method         *string           `json:"method,omitempty" enum:"GET,POST,PUT,PATCH,DELETE"`
	URL            *string           `json:"url,omitempty" minLength:"1" maxLength:"2048"`
	Auth           *automations.Auth `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty" doc:"Replaces the headers."`
	Query          map[string]string `json:"query,omitempty" doc:"Replaces the query."`
	Body           *automations.Body `json:"body,omitempty"`
	TimeoutSeconds *int              `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300"`
}

// OAuth2Input is the schema of automations.OAuth2Input.
type OAuth2Input struct {
	Name         string   `json:"name" minLength:"1" maxLength:"200"`
	TenantID     *string  `json:"tenantId,omitempty" maxLength:"128" doc:"Only this tenant's automations may use it; absent for all."`
	TokenURL     string   `json:"tokenUrl" minLength:"1" maxLength:"2000"`
	ClientID     string   `json:"clientId" minLength:"1" maxLength:"500"`
	ClientSecret string   `json:"clientSecret" minLength:"1" maxLength:"4000" doc:"Stored sealed; never returned."`
	Scopes       []string `nullable:"true" json:"scopes,omitempty" maxItems:"50"`
	GrantType    string   `json:"grantType" enum:"client_credentials,refresh_token"`
	RefreshToken string   `json:"refreshToken,omitempty" maxLength:"8000" doc:"Required for refresh_token; stored sealed; never returned."`
}

// OAuth2Patch is the schema of automations.OAuth2Patch.
type OAuth2Patch struct {
	Name         *string  `json:"name,omitempty" minLength:"1" maxLength:"200"`
	TokenURL     *string  `json:"tokenUrl,omitempty" minLength:"1" maxLength:"2000"`
	ClientID     *string  `json:"clientId,omitempty" minLength:"1" maxLength:"500"`
	ClientSecret *string  `json:"clientSecret,omitempty" minLength:"1" maxLength:"4000"`
	Scopes       []string `nullable:"true" json:"scopes,omitempty" maxItems:"50"`
	GrantType    *string  `json:"grantType,omitempty" enum:"client_credentials,refresh_token"`
	RefreshToken *string  `json:"refreshToken,omitempty" maxLength:"8000"`
}

// Retry is the schema of automations.Retry.
type Retry struct {
	Schedule []string `nullable:"true" json:"schedule,omitempty" maxItems:"20" doc:"Waits before each retry, e.g. [\"10s\",\"1m\"]. Empty: no retry. Absent: no retry for http, the webhook schedule [1m, 5m, 30m, 2h, 12h] for webhook."`
	OnStatus []int    `nullable:"true" json:"onStatus,omitempty" doc:"Statuses that retry; default 408, 429 and 5xx for http, any non-2xx for webhook."`
}

// Run is the schema of automations.Run.
type Run struct {
	ID            string              `json:"id"`
	AutomationID  string              `json:"automationId"`
	EventID       string              `json:"eventId"`
	EventType     string              `json:"eventType"`
	TenantID      string              `json:"tenantId,omitempty"`
	State         string              `json:"state" enum:"pending,succeeded,failed"`
	Step          int                 `json:"step"`
	Attempts      int                 `json:"attempts" doc:"Attempts of that step so far."`
	NextAttemptAt *time.Time          `json:"nextAttemptAt,omitempty"`
	Error         string              `json:"error,omitempty"`
	CausedBy      []events.Cause      `json:"causedBy,omitempty" doc:"The runs whose writes led to this run, oldest first."`
	Steps         []*automations.Step `json:"steps"`
	CreatedAt     time.Time           `json:"createdAt"`
	UpdatedAt     time.Time           `json:"updatedAt"`
}

// SLA is the schema of automations.SLA.
type SLA struct {
	FieldGroup string `json:"fieldGroup" minLength:"1" maxLength:"128"`
	FieldKey   string `json:"fieldKey" minLength:"1" maxLength:"128"`
	Value      any    `json:"value,omitempty" doc:"The value being held; absent: any value."`
	After      string `json:"after" minLength:"1" doc:"Go duration, e.g. 72h."`
}

// Step is the schema of automations.Step.
type Step struct {
	Index      int                       `json:"index"`
	Name       string                    `json:"name"`
	Type       string                    `json:"type"`
	Attempt    int                       `json:"attempt"`
	State      string                    `json:"state" enum:"succeeded,failed,retrying,skipped"`
	StartedAt  time.Time                 `json:"startedAt"`
	DurationMS int64                     `json:"durationMs"`
	Request    json.RawMessage           `json:"request,omitempty" doc:"The rendered request; secrets show as ••••."`
	Response   *automations.StepResponse `json:"response,omitempty"`
	Error      string                    `json:"error,omitempty"`
	Notes      []string                  `nullable:"true" json:"notes,omitempty" doc:"Remarks such as template paths that were missing."`
}

// Trigger is the schema of automations.Trigger.
type Trigger struct {
	Event      string            `json:"event,omitempty" maxLength:"128" doc:"Event type: an exact name, prefix.* or *."`
	FieldGroup string            `json:"fieldGroup,omitempty" maxLength:"128" doc:"Only events of this field group (id or key)."`
	FieldKey   string            `json:"fieldKey,omitempty" maxLength:"128" doc:"Only field_value.* events of this field key."`
	From       any               `json:"from,omitempty" doc:"Only when the previous value equals this (field_value.* events). Absent or null: any."`
	To         any               `json:"to,omitempty" doc:"Only when the new value equals this (field_value.* events). Absent or null: any."`
	Condition  string            `json:"condition,omitempty" maxLength:"4096" doc:"CEL boolean expression over event, entity (entity.values) and tenant (tenant.id)."`
	SLA        *automations.SLA  `json:"sla,omitempty" doc:"Time rule: a field has held a value longer than after."`
	Date       *automations.Date `json:"date,omitempty" doc:"Time rule: a date or datetime field's value plus offset has been reached."`
}

// Variable is the schema of automations.Variable.
type Variable struct {
	Name      string    `json:"name"`
	TenantID  string    `json:"tenantId,omitempty"`
	Value     *string   `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	Shared    bool      `json:"shared" doc:"Tenant-scoped automations may read this global variable."`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// VariableInput is the schema of automations.VariableInput.
type VariableInput struct {
	Value  string `json:"value" maxLength:"65536" doc:"The value; templates render it as text."`
	Secret bool   `json:"secret,omitempty" doc:"Store sealed, never return it, and show it as •••• in run logs."`
	Shared bool   `json:"shared,omitempty" doc:"Global variables only, and not with secret: let tenant-scoped automations read it as vars.<name>. A tenant's automation sees only its own tenant's variables and secrets, plus the global variables marked shared; never a global secret. Each put sets it anew (absent: not shared)."`
}

// Schema is the schema of fields.Schema.
type Schema struct {
	Type       fields.Type       `json:"type" enum:"string,textarea,number,boolean,date,datetime,select,multiselect,email,url,phone,json" doc:"Field type."`
	Validation fields.Validation `json:"validation,omitzero" doc:"Validation rules checked on every save."`
	UI         fields.UI         `json:"ui,omitzero" doc:"Hints for forms; not enforced."`
}

// Validation is the schema of fields.Validation.
type Validation struct {
	Required  bool     `json:"required,omitempty" doc:"The entity must always have a value for this field."`
	MinLength *int     `json:"minLength,omitempty" minimum:"0" doc:"Minimum length in characters (string types) or items (multiselect)."`
	MaxLength *int     `json:"maxLength,omitempty" minimum:"0" doc:"Maximum length in characters (string types) or items (multiselect)."`
	Min       *float64 `json:"min,omitempty" doc:"Minimum number."`
	Max       *float64 `json:"max,omitempty" doc:"Maximum number."`
	Pattern   string   `json:"pattern,omitempty" doc:"RE2 regular expression a string value must match."`
	Options   []string `nullable:"true" json:"options,omitempty" doc:"Allowed values of select and multiselect fields."`
	Unique    bool     `json:"unique,omitempty" doc:"No two entities of one tenant and field group share the value."`
}

// FieldGroup is the schema of records.FieldGroup.
type FieldGroup struct {
	ID          string    `json:"id" example:"fg_01jd3…"`
	Key         string    `json:"key" example:"booking"`
	Name        string    `json:"name" example:"Booking"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// FieldGroupInput is the schema of records.FieldGroupInput.
type FieldGroupInput struct {
	Key         string `json:"key" minLength:"1" maxLength:"64" doc:"Unique key: letters, digits and _, starting with a letter; snake_case and camelCase alike, case-sensitive."`
	Name        string `json:"name" minLength:"1" maxLength:"200"`
	Description string `json:"description,omitempty" maxLength:"2000"`
}

// FieldGroupPatch is the schema of records.FieldGroupPatch.
type FieldGroupPatch struct {
	Key         *string `json:"key,omitempty" minLength:"1" maxLength:"64"`
	Name        *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Description *string `json:"description,omitempty" maxLength:"2000"`
}

// GlobalFieldInput is the schema of records.GlobalFieldInput.
type GlobalFieldInput struct {
	Key           string        `json:"key" minLength:"1" maxLength:"64" doc:"Letters, digits and _, starting with a letter (snake_case or camelCase: dealValue); case-sensitive. Values are stored under it and CEL and templates read it as entity.values.<key>."`
	Label         string        `json:"label" minLength:"1" maxLength:"200"`
	Schema        fields.Schema `json:"schema"`
	FieldGroupIDs []string      `json:"fieldGroupIds" minItems:"1" maxItems:"100" doc:"Groups (ids or keys) the field belongs to."`
}

// GlobalFieldPatch is the schema of records.GlobalFieldPatch.
type GlobalFieldPatch struct {
	Label         *string        `json:"label,omitempty" minLength:"1" maxLength:"200"`
	Schema        *fields.Schema `json:"schema,omitempty"`
	FieldGroupIDs []string       `nullable:"true" json:"fieldGroupIds,omitempty" minItems:"1" maxItems:"100"`
}

// PublishInput is the schema of records.PublishInput.
type PublishInput struct {
	Type     string         `json:"type" minLength:"1" maxLength:"128" doc:"Any event type name the host chooses, such as TASK_COMPLETED, except under fieldflow's own prefixes (field_group., global_field., tenant_field., field_value., entity., webhook., automation.): those are refused with 422."`
	TenantID string         `json:"tenantId,omitempty" maxLength:"128" doc:"The tenant the event belongs to (an id matching ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$); a tenant key's own tenant when left out."`
	Data     map[string]any `json:"data"`
	Previous map[string]any `json:"previous,omitempty"`
	ID       string         `json:"id,omitempty" maxLength:"128" doc:"The host's own id (matching ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$): a second publish with the same id (and tenant) returns the first event and fans out nothing."`
}

// Published is the schema of records.Published.
type Published struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty" doc:"True when id was already used: nothing new was stored."`
}

// SchemaField is the schema of records.SchemaField.
type SchemaField struct {
	ID     string        `json:"id"`
	Key    string        `json:"key"`
	Label  string        `json:"label"`
	Schema fields.Schema `json:"schema"`
	Scope  fields.Scope  `json:"scope" enum:"global,tenant"`
}

// TenantFieldInput is the schema of records.TenantFieldInput.
type TenantFieldInput struct {
	Key    string        `json:"key" minLength:"1" maxLength:"64" doc:"Letters, digits and _, starting with a letter (snake_case or camelCase: dealValue); case-sensitive. Values are stored under it and CEL and templates read it as entity.values.<key>."`
	Label  string        `json:"label" minLength:"1" maxLength:"200"`
	Schema fields.Schema `json:"schema"`
}

// TenantFieldPatch is the schema of records.TenantFieldPatch.
type TenantFieldPatch struct {
	Label  *string        `json:"label,omitempty" minLength:"1" maxLength:"200"`
	Schema *fields.Schema `json:"schema,omitempty"`
}

// DeliveryView is the schema of webhooks.DeliveryView.
type DeliveryView struct {
	ID            string                  `json:"id"`
	EndpointID    string                  `json:"endpointId"`
	EventID       string                  `json:"eventId"`
	EventType     string                  `json:"eventType"`
	TenantID      string                  `json:"tenantId,omitempty"`
	Status        string                  `json:"status" enum:"pending,succeeded,failed"`
	AttemptCount  int                     `json:"attemptCount"`
	NextAttemptAt *time.Time              `json:"nextAttemptAt,omitempty"`
	LastStatus    int                     `json:"lastStatus,omitempty"`
	LastError     string                  `json:"lastError,omitempty"`
	CreatedAt     time.Time               `json:"createdAt"`
	UpdatedAt     time.Time               `json:"updatedAt"`
	Attempts      []*webhooks.AttemptView `json:"attempts"`
}

// EndpointHealth is the schema of webhooks.EndpointHealth.
type EndpointHealth struct {
	State        string                   `json:"state" enum:"healthy,failing,disabled,broken" doc:"broken: the endpoint cannot be used (its filter does not compile, its secret cannot be opened) and gets no deliveries until fixed: PATCH a new filter, or rotate the secret."`
	Error        string                   `json:"error,omitempty" doc:"Why the endpoint is broken or disabled."`
	FailingSince *time.Time               `json:"failingSince,omitempty" doc:"When the current run of failed deliveries began."`
	Recent       *webhooks.RecentAttempts `json:"recent,omitempty" doc:"The attempts of the endpoint's latest deliveries, summed up; in reads (get and list), not in the answers to writes."`
}

// RecentAttempts is the schema of webhooks.RecentAttempts.
type RecentAttempts struct {
	Deliveries    int        `json:"deliveries" doc:"How many of the endpoint's latest deliveries are counted (at most 100)."`
	Attempts      int        `json:"attempts" doc:"Their attempts."`
	Succeeded     int        `json:"succeeded" doc:"Attempts the receiver answered with 2xx."`
	SuccessRate   *float64   `json:"successRate" minimum:"0" maximum:"1" doc:"succeeded / attempts; null without attempts."`
	LastSuccessAt *time.Time `json:"lastSuccessAt" doc:"When the latest successful attempt among them started; null when none succeeded."`
	LastErrorAt   *time.Time `json:"lastErrorAt" doc:"When the latest failed attempt among them started; null when none failed."`
	LastStatus    int        `json:"lastStatus,omitempty" doc:"The latest failed attempt's HTTP status; absent when it got no answer."`
	LastError     string     `json:"lastError,omitempty" doc:"The latest failed attempt's error."`
}

// EndpointInput is the schema of webhooks.EndpointInput.
type EndpointInput struct {
	URL                 string            `json:"url" minLength:"1" maxLength:"2000" doc:"http or https URL, without credentials."`
	Events              []string          `json:"events" minItems:"1" maxItems:"100" doc:"Event types: exact names, prefix.* or *."`
	TenantID            *string           `json:"tenantId,omitempty" maxLength:"128" doc:"Only this tenant's events; absent or null for all tenants."`
	Description         string            `json:"description,omitempty" maxLength:"2000"`
	Filter              string            `json:"filter,omitempty" maxLength:"4000" doc:"CEL expression over the payload as event, e.g. event.fieldKey != 'internal_note'. Every top-level payload key (event, eventId, timestamp, tenantId, fieldGroupId, fieldGroupKey, entityId, fieldKey, value, previousValue, values, previousValues, changedKeys, version, fieldGroup, field, previous, data, causedBy) is present, null when the event does not carry it. Refused at save when it does not compile, holds a bad constant regular expression, or its worst-case cost exceeds the limit; an event whose evaluation fails is not delivered, and its event detail says why."`
	Headers             map[string]string `json:"headers,omitempty" doc:"Extra request headers."`
	SignatureHeader     string            `json:"signatureHeader,omitempty" maxLength:"100" doc:"Name of the hex signature header. Default X-Fieldflow-Signature."`
	SignatureFormat     string            `json:"signatureFormat,omitempty" enum:"hex,prefixed,timestamped" doc:"Form of the hex signature header, always one signature by the newest secret: hex (default) is the lowercase hex HMAC-SHA256 of the body keyed with the whole secret string; prefixed is sha256=<hex>, as GitHub-style receivers expect; timestamped is t=<unix>,v1=<hex> with the HMAC over <unix>.<body>."`
	AsymmetricSignature bool              `json:"asymmetricSignature,omitempty" doc:"Also sign with an ed25519 key pair: webhook-signature gains a v1a,<base64> entry (Standard Webhooks' asymmetric form) that receivers check with the endpoint's publicKey, so they need no shared secret. Default false."`
	BodyTemplate        json.RawMessage   `json:"bodyTemplate,omitempty" doc:"A JSON object or array sent instead of the payload: each string that is exactly one {{event.path}} becomes that value of the payload with its JSON type, other strings render as text ({{event.event}} updated). Reads event.… only. Checked at save; the rendered body is what is signed. Absent: the payload as it is."`
	RetrySchedule       []string          `nullable:"true" json:"retrySchedule,omitempty" maxItems:"20" doc:"Waits before each retry. Default [1m, 5m, 30m, 2h, 12h]."`
	TimeoutSeconds      int               `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300" doc:"Default 30."`
	MaxInFlight         int               `json:"maxInFlight,omitempty" minimum:"1" maximum:"1000" doc:"Concurrent attempts to this endpoint. Default 10."`
	Active              *bool             `json:"active,omitempty" doc:"Default true."`
}

// EndpointPatch is the schema of webhooks.EndpointPatch.
type EndpointPatch struct {
	URL                 *string           `json:"url,omitempty" minLength:"1" maxLength:"2000"`
	Events              []string          `nullable:"true" json:"events,omitempty" minItems:"1" maxItems:"100" doc:"Replaces the event types; null is refused (an endpoint takes at least one)."`
	Description         *string           `json:"description,omitempty" maxLength:"2000"`
	Filter              *string           `json:"filter,omitempty" maxLength:"4000" doc:"Replaces the filter; the empty string removes it."`
	Headers             map[string]string `json:"headers,omitempty"`
	SignatureHeader     *string           `json:"signatureHeader,omitempty" maxLength:"100"`
	SignatureFormat     *string           `json:"signatureFormat,omitempty" enum:"hex,prefixed,timestamped"`
	AsymmetricSignature *bool             `json:"asymmetricSignature,omitempty" doc:"true makes a key pair when the endpoint has none; false drops it."`
	BodyTemplate        json.RawMessage   `json:"bodyTemplate,omitempty" doc:"Replaces the body template; null removes it."`
	RetrySchedule       []string          `nullable:"true" json:"retrySchedule,omitempty" maxItems:"20"`
	TimeoutSeconds      *int              `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300"`
	MaxInFlight         *int              `json:"maxInFlight,omitempty" minimum:"1" maximum:"1000"`
	Active              *bool             `json:"active,omitempty"`
	//lint:ignore U1000 a twin has its domain type's fields exactly, unexported ones too
	eventsNull bool
}

// FilteredOut is the schema of webhooks.FilteredOut.
type FilteredOut struct {
	EndpointID string `json:"endpointId"`
	Reason     string `json:"reason" doc:"filter false; filter error: why the evaluation failed; or endpoint broken: why."`
}

// ReplayInput is the schema of webhooks.ReplayInput.
type ReplayInput struct {
	Since      time.Time  `json:"since" doc:"Deliveries created at or after this time."`
	Until      *time.Time `json:"until,omitempty" doc:"Before this time; default now."`
	OnlyFailed bool       `json:"onlyFailed,omitempty"`
}
