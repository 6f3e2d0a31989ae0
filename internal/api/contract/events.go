package contract

import (
	"reflect"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
)

// EventType is one entry of the event catalog: a built-in event type and
// the schema of the body a receiver gets for it.
type EventType struct {
	Type        string
	Description string
	// Payload is the type whose schema the body follows.
	Payload reflect.Type
	// RunsOnly marks the time rules' events: automation runs (and so a
	// webhook action) see them, endpoints never get them.
	RunsOnly bool
}

// HostEventType is the catalog's name for host-published events: any type
// name outside events.ReservedPrefixes.
const HostEventType = "{host event}"

// Events is the event catalog: every built-in event type, in the order
// docs/receiving-webhooks.md shows them, then host-published events.
func Events() []EventType {
	group := reflect.TypeFor[FieldGroupEvent]()
	global := reflect.TypeFor[GlobalFieldEvent]()
	tenant := reflect.TypeFor[TenantFieldEvent]()
	value := reflect.TypeFor[FieldValueEvent]()
	return []EventType{
		{events.FieldGroupCreated, "A field group was created.", group, false},
		{events.FieldGroupUpdated, "A field group was changed; previous is its former state.", group, false},
		{events.FieldGroupDeleted, "A field group was deleted with its fields and values.", group, false},
		{events.GlobalFieldCreated, "A global field was created.", global, false},
		{events.GlobalFieldUpdated, "A global field was changed; previous is its former state.", global, false},
		{events.GlobalFieldDeleted, "A global field was deleted (its stored values are kept).", global, false},
		{events.TenantFieldCreated, "A tenant added a field of its own.", tenant, false},
		{events.TenantFieldUpdated, "A tenant field was changed; previous is its former state.", tenant, false},
		{events.TenantFieldDeleted, "A tenant field was deleted (its stored values are kept).", tenant, false},
		{events.FieldValueSaved, "One value of an entity changed (previousValue is null for a new key).", value, false},
		{events.FieldValueDeleted, "One value of an entity was removed (value is null).", value, false},
		{events.EntityUpdated, "A save changed an entity: its values after it, the former values of the changed keys and its new version.", reflect.TypeFor[EntityUpdatedEvent](), false},
		{events.WebhookTest, "Sent by POST /api/webhooks/{id}/test to that endpoint only.", reflect.TypeFor[WebhookTestEvent](), false},
		{events.WebhookDisabled, "An endpoint was disabled (sent to the other endpoints, not to it).", reflect.TypeFor[WebhookDisabledEvent](), false},
		{events.AutomationRunFailed, "An automation run failed for good.", reflect.TypeFor[RunFailedEvent](), false},
		{events.TenantErased, "A tenant's data was erased (DELETE /api/tenants/{tenantId}): sent to vendor-wide endpoints once the erasure is done.", reflect.TypeFor[TenantErasedEvent](), false},
		{"automation.sla_reached", "A time rule: a value has been held for `after` since `heldSince`. Seen by the automation's run only.", reflect.TypeFor[SLAReachedEvent](), true},
		{"automation.date_reached", "A time rule: the date or datetime value plus offset has been reached. Seen by the automation's run only.", reflect.TypeFor[DateReachedEvent](), true},
		{HostEventType, "Published by the host with POST /api/events, under any type name outside fieldflow's reserved prefixes: data and previous as given.", reflect.TypeFor[HostEvent](), false},
	}
}

// Envelope is what every event body starts with.
type Envelope struct {
	Event     string    `json:"event" doc:"The event type."`
	EventID   string    `json:"eventId" doc:"The event id (evt_…), also sent as webhook-id: the same on every retry and replay; deduplicate on it."`
	Timestamp time.Time `json:"timestamp" doc:"When it happened: RFC 3339, UTC, microseconds."`
}

// FieldGroupEvent is the body of field_group.created, .updated and .deleted.
type FieldGroupEvent struct {
	Envelope
	FieldGroupID  string              `json:"fieldGroupId" doc:"The group's id, also at fieldGroup.id: flat, for receivers that read it at the top level."`
	FieldGroupKey string              `json:"fieldGroupKey" doc:"The group's key, also at fieldGroup.key."`
	FieldGroup    records.FieldGroup  `json:"fieldGroup" doc:"The group as the API returns it."`
	Previous      *records.FieldGroup `json:"previous,omitempty" doc:"Its former state (updated and deleted)."`
}

// GlobalFieldEvent is the body of global_field.created, .updated and .deleted.
type GlobalFieldEvent struct {
	Envelope
	FieldID       string               `json:"fieldId" doc:"The field's id, also at field.id: flat, for receivers that read it at the top level."`
	FieldKey      string               `json:"fieldKey" doc:"The field's key, also at field.key."`
	FieldGroupIDs []string             `json:"fieldGroupIds" doc:"The groups the field belongs to (a global field may belong to several), also at field.fieldGroupIds."`
	Field         records.GlobalField  `json:"field" doc:"The field as the API returns it."`
	Previous      *records.GlobalField `json:"previous,omitempty" doc:"Its former state (updated and deleted)."`
}

// TenantFieldEvent is the body of tenant_field.created, .updated and .deleted.
type TenantFieldEvent struct {
	Envelope
	TenantID      string               `json:"tenantId"`
	FieldGroupID  string               `json:"fieldGroupId" doc:"The field's group, also at field.fieldGroupId: flat, for receivers that read it at the top level."`
	FieldGroupKey string               `json:"fieldGroupKey" doc:"The key of the field's group."`
	FieldID       string               `json:"fieldId" doc:"The field's id, also at field.id."`
	FieldKey      string               `json:"fieldKey" doc:"The field's key, also at field.key."`
	Field         records.TenantField  `json:"field" doc:"The field as the API returns it."`
	Previous      *records.TenantField `json:"previous,omitempty" doc:"Its former state (updated and deleted)."`
}

// Entity names the entity a value event is about.
type Entity struct {
	TenantID      string `json:"tenantId"`
	FieldGroupID  string `json:"fieldGroupId"`
	FieldGroupKey string `json:"fieldGroupKey"`
	EntityID      string `json:"entityId" doc:"The host app's id of the entity."`
}

// CausedBy is the chain of automation runs behind a change.
type CausedBy struct {
	CausedBy []events.Cause `json:"causedBy,omitempty" doc:"Set when an automation's set_field step made the change: the runs behind it, oldest first."`
}

// FieldValueEvent is the body of field_value.saved and .deleted.
type FieldValueEvent struct {
	Envelope
	Entity
	FieldKey      string `json:"fieldKey"`
	Value         any    `json:"value" doc:"The value after the change; null when deleted."`
	PreviousValue any    `json:"previousValue" doc:"The value before it; null for a new key."`
	CausedBy
}

// EntityUpdatedEvent is the body of entity.updated.
type EntityUpdatedEvent struct {
	Envelope
	Entity
	Values         map[string]any `json:"values" doc:"The entity's values after the save."`
	PreviousValues map[string]any `json:"previousValues" doc:"The former values of the changed keys; a new key is absent."`
	ChangedKeys    []string       `json:"changedKeys"`
	Version        int64          `json:"version" doc:"The entity's new version, the one If-Match takes."`
	CausedBy
}

// WebhookTestData is the data of webhook.test.
type WebhookTestData struct {
	Message   string `json:"message"`
	WebhookID string `json:"webhookId"`
}

// WebhookTestEvent is the body of webhook.test.
type WebhookTestEvent struct {
	Envelope
	TenantID string          `json:"tenantId,omitempty"`
	Data     WebhookTestData `json:"data"`
}

// DisabledWebhook names the endpoint webhook.disabled is about.
type DisabledWebhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// WebhookDisabledEvent is the body of webhook.disabled.
type WebhookDisabledEvent struct {
	Envelope
	TenantID string          `json:"tenantId,omitempty" doc:"The disabled endpoint's tenant, if it has one."`
	Webhook  DisabledWebhook `json:"webhook"`
	Reason   string          `json:"reason"`
}

// FailedRun is the run automation.run_failed is about.
type FailedRun struct {
	ID        string `json:"id"`
	EventID   string `json:"eventId" doc:"The event that started the run."`
	EventType string `json:"eventType"`
	Step      int    `json:"step" doc:"The index of the step that failed."`
	Error     string `json:"error"`
}

// RunFailedEvent is the body of automation.run_failed.
type RunFailedEvent struct {
	Envelope
	TenantID     string    `json:"tenantId,omitempty"`
	AutomationID string    `json:"automationId"`
	Run          FailedRun `json:"run"`
	CausedBy
}

// TenantErasedEvent is the body of tenant.erased. It is a vendor-level
// event: the tenant is named by erasedTenantId, not by tenantId.
type TenantErasedEvent struct {
	Envelope
	ErasedTenantID string    `json:"erasedTenantId" doc:"The tenant whose data was erased."`
	RequestedAt    time.Time `json:"requestedAt" doc:"When the erasure was asked for."`
	RowsRemoved    int64     `json:"rowsRemoved" doc:"How many rows of the tenant were deleted."`
}

// TimeRule is what both time rules' events carry besides the envelope.
type TimeRule struct {
	Entity
	AutomationID string `json:"automationId"`
	FieldKey     string `json:"fieldKey"`
	Value        any    `json:"value"`
}

// SLAReachedEvent is the event an SLA rule's run sees.
type SLAReachedEvent struct {
	Envelope
	TimeRule
	After     string    `json:"after" doc:"How long the value had to be held, as the rule says it."`
	HeldSince time.Time `json:"heldSince"`
}

// DateReachedEvent is the event a date rule's run sees.
type DateReachedEvent struct {
	Envelope
	TimeRule
	Offset string `json:"offset" doc:"The rule's offset from the date, as it says it."`
}

// HostEvent is the body of an event the host published.
type HostEvent struct {
	Envelope
	TenantID string         `json:"tenantId,omitempty"`
	Data     map[string]any `json:"data" doc:"As published (keys sorted)."`
	Previous map[string]any `json:"previous,omitempty" doc:"As published, when it was."`
	CausedBy
}
