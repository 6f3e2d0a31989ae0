// Package events defines the event envelope, the subject an event carries in
// memory for the subscribers of its transaction, the built-in event type
// names and the canonical JSON encoding of the bodies receivers get. It
// imports nothing of fieldflow's own, so every other package can depend on it.
package events

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Built-in event types. Host-published events use any other name.
const (
	FieldGroupCreated   = "field_group.created"
	FieldGroupUpdated   = "field_group.updated"
	FieldGroupDeleted   = "field_group.deleted"
	GlobalFieldCreated  = "global_field.created"
	GlobalFieldUpdated  = "global_field.updated"
	GlobalFieldDeleted  = "global_field.deleted"
	TenantFieldCreated  = "tenant_field.created"
	TenantFieldUpdated  = "tenant_field.updated"
	TenantFieldDeleted  = "tenant_field.deleted"
	FieldValueSaved     = "field_value.saved"
	FieldValueDeleted   = "field_value.deleted"
	EntityUpdated       = "entity.updated"
	WebhookTest         = "webhook.test"
	WebhookDisabled     = "webhook.disabled"
	AutomationRunFailed = "automation.run_failed"
	// TenantErased says a tenant's data was erased. It is a vendor-level
	// event (the tenant is gone); erasedTenantId names the tenant.
	TenantErased = "tenant.erased"
)

// Event is one immutable fact. Payload is the exact body a webhook receiver
// gets: canonical JSON (see Encode) whose first members are event, eventId
// and timestamp.
type Event struct {
	// Seq orders stored events; zero until stored.
	Seq        int64
	ID         string
	Type       string
	TenantID   string
	OccurredAt time.Time
	Payload    []byte
	// DedupKey is the id a host supplied when publishing; empty otherwise.
	DedupKey string
	// Cause is the chain of automation runs that led to this event, oldest
	// first; empty for changes made through the API. Its length is the
	// event's depth. The payload carries it as causedBy.
	Cause []Cause
	// Subject is what the event is about, set by its writer for the
	// subscribers in the same transaction; nil for an event read back from
	// the database (see SubjectOf).
	Subject *Subject
}

// Cause is one link of a cause chain: the run whose step made a change, the
// automation it belongs to and the event that started it.
type Cause struct {
	AutomationID string `json:"automationId"`
	RunID        string `json:"runId"`
	EventID      string `json:"eventId"`
}

// MaxCauseDepth is how many automation runs may follow one another through
// the changes they make. An event deeper than that starts no run, and a
// step that would make one fails with a clear error, so a rule that
// triggers itself (or two that trigger each other) stop.
const MaxCauseDepth = 5

// CauseMember is the causedBy member that payloads of caused events carry.
func CauseMember(chain []Cause) Member {
	links := make([]any, len(chain))
	for i, c := range chain {
		links[i] = Object{{"automationId", c.AutomationID}, {"runId", c.RunID}, {"eventId", c.EventID}}
	}
	return Member{"causedBy", links}
}

// StoredTime is t as both databases keep it: UTC, to the microsecond
// (PostgreSQL's precision), so that a time read back equals the one
// written and an event's timestamp equals its stored occurrence.
func StoredTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// New builds an event with a fresh id. Members are appended after the common
// header (event, eventId, timestamp, tenantId).
func New(typ, tenantID string, at time.Time, members ...Member) (*Event, error) {
	at = StoredTime(at)
	id := NewID("evt_")
	obj := make(Object, 0, 4+len(members))
	obj = append(obj,
		Member{"event", typ},
		Member{"eventId", id},
		Member{"timestamp", FormatTime(at)},
	)
	if tenantID != "" {
		obj = append(obj, Member{"tenantId", tenantID})
	}
	obj = append(obj, members...)
	body, err := Encode(obj)
	if err != nil {
		return nil, err
	}
	return &Event{ID: id, Type: typ, TenantID: tenantID, OccurredAt: at, Payload: body}, nil
}

// NewID returns prefix followed by a lexically sortable, unique ULID.
func NewID(prefix string) string {
	return prefix + strings.ToLower(ulid.Make().String())
}

// FormatTime is the one textual form of times in payloads: RFC 3339 in UTC.
func FormatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// ValidType reports whether a host-chosen event type name is acceptable:
// 1–128 printable ASCII characters without spaces.
func ValidType(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ReservedPrefixes are the type name prefixes of fieldflow's own events. A
// host may not publish under them: receivers and automations trust a
// field_value.saved or webhook.test to come from fieldflow itself.
func ReservedPrefixes() []string {
	return []string{"field_group.", "global_field.", "tenant_field.", "field_value.", "entity.", "webhook.", "automation.", "tenant."}
}

// Reserved reports whether a type name is under one of ReservedPrefixes.
func Reserved(typ string) bool {
	for _, p := range ReservedPrefixes() {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// Class is a bounded name for an event type, fit for a metric label: the
// reserved prefix of a built-in type without its dot (field_value,
// webhook…), or "host" for every type a host publishes, whose names are
// the host's own and unbounded.
func Class(typ string) string {
	for _, p := range ReservedPrefixes() {
		if strings.HasPrefix(typ, p) {
			return strings.TrimSuffix(p, ".")
		}
	}
	return "host"
}
