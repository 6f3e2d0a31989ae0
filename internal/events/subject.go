package events

import "encoding/json"

// Subject is what an event is about, as its writer knew it: the tenant, the
// entity and field it concerns and the entity's values after the change.
// Subscribers in the writing transaction read it instead of decoding the
// payload and re-reading the entity that transaction just wrote. It is not
// stored: an event read back from the database has none, and SubjectOf
// decodes one from its payload.
type Subject struct {
	TenantID      string
	FieldGroupID  string
	FieldGroupKey string
	EntityID      string
	// FieldKey is the field of a field_value.* event; empty otherwise.
	FieldKey string
	// Value and PreviousValue are a field_value.* event's value after and
	// before the change, as canonical JSON; nil when there is none.
	Value, PreviousValue json.RawMessage
	// ChangedKeys are the keys an entity.updated event changed.
	ChangedKeys []string
	// Values are the entity's values after the change, as canonical JSON.
	// Nil means unknown (an event read back that does not carry them, or
	// one about no entity); an entity without values has an empty map.
	Values map[string]json.RawMessage
	// Version is the entity's version after the change, when Values is set.
	Version int64
}

// SubjectOf returns the subject an event's writer set or, for an event
// read back from the database, the one its payload holds (DecodeSubject,
// the one place that reads a subject from bytes).
func SubjectOf(ev *Event) *Subject {
	if ev.Subject != nil {
		return ev.Subject
	}
	return DecodeSubject(ev.Payload)
}

// DecodeSubject reads a subject from a payload's top-level members
// (tenantId, fieldGroupId, entityId, fieldKey, value, …). Members that are
// absent or of another type are left zero; only entity.updated payloads
// carry the entity's values.
func DecodeSubject(payload []byte) *Subject {
	var p struct {
		Event         string                     `json:"event"`
		TenantID      json.RawMessage            `json:"tenantId"`
		FieldGroupID  json.RawMessage            `json:"fieldGroupId"`
		FieldGroupKey json.RawMessage            `json:"fieldGroupKey"`
		EntityID      json.RawMessage            `json:"entityId"`
		FieldKey      json.RawMessage            `json:"fieldKey"`
		Value         json.RawMessage            `json:"value"`
		PreviousValue json.RawMessage            `json:"previousValue"`
		ChangedKeys   json.RawMessage            `json:"changedKeys"`
		Values        map[string]json.RawMessage `json:"values"`
		Version       json.RawMessage            `json:"version"`
	}
	_ = json.Unmarshal(payload, &p)
	s := &Subject{TenantID: str(p.TenantID), FieldGroupID: str(p.FieldGroupID), FieldGroupKey: str(p.FieldGroupKey),
		EntityID: str(p.EntityID), FieldKey: str(p.FieldKey), Value: present(p.Value), PreviousValue: present(p.PreviousValue)}
	_ = json.Unmarshal(p.ChangedKeys, &s.ChangedKeys)
	if p.Event == EntityUpdated && p.Values != nil {
		s.Values = p.Values
		_ = json.Unmarshal(p.Version, &s.Version)
	}
	return s
}

// str reads a JSON string; anything else reads as empty.
func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// present is raw, or nil for an absent or null member.
func present(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}
