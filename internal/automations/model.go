package automations

import "time"

// Definition is what an automation does: its trigger and its actions, as
// the API takes them and the store keeps them (JSON).
type Definition struct {
	Description string   `json:"description,omitempty" maxLength:"2000"`
	Trigger     Trigger  `json:"trigger"`
	Actions     []Action `json:"actions" minItems:"1" maxItems:"20"`
}

// Trigger says which events start a run. Exactly one of Event, SLA and
// Date is set.
type Trigger struct {
	// Event is an event type name (built-in or host-published); "prefix.*"
	// and "*" match several.
	Event      string `json:"event,omitempty" maxLength:"128" doc:"Event type: an exact name, prefix.* or *."`
	FieldGroup string `json:"fieldGroup,omitempty" maxLength:"128" doc:"Only events of this field group (id or key)."`
	FieldKey   string `json:"fieldKey,omitempty" maxLength:"128" doc:"Only field_value.* events of this field key."`
	From       any    `json:"from,omitempty" doc:"Only when the previous value equals this (field_value.* events). Absent or null: any."`
	To         any    `json:"to,omitempty" doc:"Only when the new value equals this (field_value.* events). Absent or null: any."`
	Condition  string `json:"condition,omitempty" maxLength:"4096" doc:"CEL boolean expression over event, entity (entity.values) and tenant (tenant.id)."`
	SLA        *SLA   `json:"sla,omitempty" doc:"Time rule: a field has held a value longer than after."`
	Date       *Date  `json:"date,omitempty" doc:"Time rule: a date or datetime field's value plus offset has been reached."`
}

// SLA fires once when a field has held Value (any value when absent) for
// After; not again until the value changes and returns.
type SLA struct {
	FieldGroup string `json:"fieldGroup" minLength:"1" maxLength:"128"`
	FieldKey   string `json:"fieldKey" minLength:"1" maxLength:"128"`
	Value      any    `json:"value,omitempty" doc:"The value being held; absent: any value."`
	After      string `json:"after" minLength:"1" doc:"Go duration, e.g. 72h."`
}

// Date fires once per value when the field's date plus Offset is reached.
type Date struct {
	FieldGroup string `json:"fieldGroup" minLength:"1" maxLength:"128"`
	FieldKey   string `json:"fieldKey" minLength:"1" maxLength:"128"`
	Offset     string `json:"offset,omitempty" doc:"Go duration added to the value, e.g. -24h; default 0."`
}

// Action kinds.
const (
	ActionWebhook  = "webhook"
	ActionHTTP     = "http"
	ActionSetField = "set_field"
)

// Action is one step of a run. Which fields apply depends on Type.
type Action struct {
	Name string `json:"name" minLength:"1" maxLength:"64" doc:"Unique within the automation; later steps read steps.<name>.response."`
	Type string `json:"type" enum:"webhook,http,set_field"`
	If   string `json:"if,omitempty" maxLength:"4096" doc:"CEL boolean over event, entity, tenant and steps; false skips the step."`

	// webhook and http
	URL            string            `json:"url,omitempty" maxLength:"2048" doc:"webhook, http: the target URL (templates allowed in http)."`
	Method         string            `json:"method,omitempty" enum:"GET,POST,PUT,PATCH,DELETE" doc:"http: default POST."`
	Auth           *Auth             `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	Body           *Body             `json:"body,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty" minimum:"1" maximum:"300" doc:"Default 30."`
	Retry          *Retry            `json:"retry,omitempty"`
	// CaptureResponse keeps the response (status, headers, body) for later
	// steps' templates as steps.<name>.response.
	CaptureResponse bool `json:"captureResponse,omitempty"`

	// set_field
	Values     map[string]any `json:"values,omitempty" doc:"set_field: values to save; a string that is exactly one {{path}} keeps the value's type."`
	FieldGroup string         `json:"fieldGroup,omitempty" maxLength:"128" doc:"set_field: default the triggering event's group."`
	EntityID   string         `json:"entityId,omitempty" maxLength:"256" doc:"set_field: default the triggering event's entity (templates allowed)."`
}

// Auth kinds.
const (
	AuthNone   = "none"
	AuthBearer = "bearer"
	AuthAPIKey = "apiKey"
	AuthBasic  = "basic"
	AuthOAuth2 = "oauth2"
)

// Auth is how an http action authenticates. Every string takes templates.
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

// Body kinds.
const (
	BodyNone = "none"
	BodyJSON = "json"
	BodyForm = "form"
	BodyRaw  = "raw"
)

// Body is an http action's request body.
type Body struct {
	Type        string            `json:"type" enum:"none,json,form,raw"`
	JSON        any               `json:"json,omitempty" doc:"json: any JSON; strings take templates, JSON-escaped."`
	Form        map[string]string `json:"form,omitempty" doc:"form: fields, URL-encoded."`
	Raw         string            `json:"raw,omitempty" doc:"raw: the body as is (templates unescaped)."`
	ContentType string            `json:"contentType,omitempty" doc:"raw: default text/plain; charset=utf-8."`
}

// Retry is a step's retry policy.
type Retry struct {
	Schedule []string `json:"schedule,omitempty" maxItems:"20" doc:"Waits before each retry, e.g. [\"10s\",\"1m\"]. Empty: no retry."`
	// OnStatus lists the response statuses worth retrying; network errors
	// and timeouts always are.
	OnStatus []int `json:"onStatus,omitempty" doc:"Statuses that retry; default 408, 429 and 5xx."`
}

// DefaultActionTimeout is an http or webhook step's timeout when none is set.
const DefaultActionTimeout = 30 * time.Second
