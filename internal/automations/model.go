package automations

import "time"

// Definition is what an automation does: its trigger and its actions, as
// the API takes them and the store keeps them (JSON).
type Definition struct {
	Description string   `json:"description,omitempty"`
	Trigger     Trigger  `json:"trigger"`
	Actions     []Action `json:"actions"`
}

// Trigger says which events start a run. Exactly one of Event, SLA and
// Date is set.
type Trigger struct {
	// Event is an event type name (built-in or host-published); "prefix.*"
	// and "*" match several.
	Event      string `json:"event,omitempty"`
	FieldGroup string `json:"fieldGroup,omitempty"`
	FieldKey   string `json:"fieldKey,omitempty"`
	From       any    `json:"from,omitempty"`
	To         any    `json:"to,omitempty"`
	Condition  string `json:"condition,omitempty"`
	SLA        *SLA   `json:"sla,omitempty"`
	Date       *Date  `json:"date,omitempty"`
}

// SLA fires once when a field has held Value (any value when absent) for
// After; not again until the value changes and returns.
type SLA struct {
	FieldGroup string `json:"fieldGroup"`
	FieldKey   string `json:"fieldKey"`
	Value      any    `json:"value,omitempty"`
	After      string `json:"after"`
}

// Date fires once per value when the field's date plus Offset is reached.
type Date struct {
	FieldGroup string `json:"fieldGroup"`
	FieldKey   string `json:"fieldKey"`
	Offset     string `json:"offset,omitempty"`
}

// Action kinds.
const (
	ActionWebhook  = "webhook"
	ActionHTTP     = "http"
	ActionSetField = "set_field"
)

// Action is one step of a run. Which fields apply depends on Type.
type Action struct {
	Name string `json:"name"`
	Type string `json:"type"`
	If   string `json:"if,omitempty"`

	// Template (http) is the id of a request template this action sends,
	// with the action's own fields on top.
	Template string `json:"template,omitempty"`

	// webhook and http
	URL            string            `json:"url,omitempty"`
	Method         string            `json:"method,omitempty"`
	Auth           *Auth             `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	Body           *Body             `json:"body,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty"`
	Retry          *Retry            `json:"retry,omitempty"`
	// CaptureResponse keeps the response (status, headers, body) for later
	// steps' templates as steps.<name>.response.
	CaptureResponse bool `json:"captureResponse,omitempty"`

	// set_field
	Values     map[string]any `json:"values,omitempty"`
	FieldGroup string         `json:"fieldGroup,omitempty"`
	EntityID   string         `json:"entityId,omitempty"`
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
	Type         string `json:"type"`
	Token        string `json:"token,omitempty"`
	In           string `json:"in,omitempty"`
	Name         string `json:"name,omitempty"`
	Value        string `json:"value,omitempty"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	ConnectionID string `json:"connectionId,omitempty"`
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
	Type        string            `json:"type"`
	JSON        any               `json:"json,omitempty"`
	Form        map[string]string `json:"form,omitempty"`
	Raw         string            `json:"raw,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
}

// Retry is a step's retry policy.
type Retry struct {
	Schedule []string `json:"schedule,omitempty"`
	// OnStatus lists the response statuses worth retrying; network errors
	// and timeouts always are.
	OnStatus []int `json:"onStatus,omitempty"`
}

// DefaultActionTimeout is an http or webhook step's timeout when none is set.
const DefaultActionTimeout = 30 * time.Second
