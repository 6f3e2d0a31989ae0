package records

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// errNoChange rolls back a save that changed nothing (the entity row that
// locking may have created goes with it).
var errNoChange = errors.New("records: no change")

// SaveValuesParams is one partial save of an entity's values.
type SaveValuesParams struct {
	TenantID string
	Group    string // id or key
	EntityID string
	// Values maps field keys to new values; a nil value removes the key.
	Values map[string]any
	// IfMatch, when set, refuses the save unless the entity is at that
	// version.
	IfMatch *int64
	// Cause, when set, is the chain of automation runs that made this
	// save; its events carry it.
	Cause []events.Cause
}

// SaveValues validates and stores a partial update, with one
// field_value.saved or field_value.deleted event per changed key and one
// entity.updated event. A save that changes nothing writes nothing.
func (s *Service) SaveValues(ctx context.Context, sc scope.Scope, p *SaveValuesParams) (*EntityValues, error) {
	if err := sc.Check(p.TenantID); err != nil {
		return nil, fmt.Errorf("save values: %w", err)
	}
	g, err := s.schemas.group(ctx, s.store, p.Group)
	if err != nil {
		return nil, fmt.Errorf("save values: %w", err)
	}
	// Validation reads the schema outside the transaction (and mostly from
	// memory) so that the single SQLite writer spends its time only on the
	// write.
	schema, err := s.schemas.schema(ctx, s, p.TenantID, g.ID)
	if err != nil {
		return nil, fmt.Errorf("save values: %w", err)
	}
	encoded, err := encodeValues(schema, p.Values)
	if err != nil {
		return nil, fmt.Errorf("save values: %w", err)
	}
	key := store.EntityKey{TenantID: p.TenantID, FieldGroupID: g.ID, EntityID: p.EntityID}
	var out *EntityValues
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var saveErr error
		out, saveErr = s.saveLocked(ctx, tx, g, schema, key, p, encoded)
		return saveErr
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return nil, fmt.Errorf("save values: %w", err)
	}
	return out, nil
}

// encodeValues checks each value sent against its field alone and
// returns the values' JSON; nil values (removals) are left out.
func encodeValues(schema []fields.Field, values map[string]any) (map[string]json.RawMessage, error) {
	byKey := make(map[string]*fields.Field, len(schema))
	for i := range schema {
		byKey[schema[i].Key] = &schema[i]
	}
	encoded := make(map[string]json.RawMessage, len(values))
	var ps []problem.Problem
	for _, key := range slices.Sorted(maps.Keys(values)) {
		v := values[key]
		f, ok := byKey[key]
		if !ok {
			ps = append(ps, problem.Problem{Location: "body." + key, Message: "unknown field: the group has no such field for this tenant", Value: v})
			continue
		}
		if v == nil {
			if f.Schema.Validation.Required {
				ps = append(ps, problem.Problem{Location: "body." + key, Message: "is required and cannot be removed", Value: v})
			}
			continue
		}
		for _, fp := range f.Schema.ValidateValue(v) {
			ps = append(ps, problem.Problem{Location: "body." + key, Message: fp.Message, Value: v})
		}
		raw, err := events.Encode(v)
		if err != nil {
			return nil, err
		}
		encoded[key] = raw
	}
	if ps != nil {
		return nil, &problem.ValidationError{Problems: ps}
	}
	return encoded, nil
}

// saveLocked writes a checked save in tx with its events, once the entity
// is locked at the version If-Match asked for; it returns errNoChange
// (with the entity as it is) when nothing changes.
func (s *Service) saveLocked(ctx context.Context, tx store.Tx, g *store.FieldGroup, schema []fields.Field, key store.EntityKey, p *SaveValuesParams, encoded map[string]json.RawMessage) (*EntityValues, error) {
	version, err := tx.EntityLock(ctx, key)
	if err != nil {
		return nil, err
	}
	if p.IfMatch != nil && *p.IfMatch != version {
		return nil, fmt.Errorf("%w: entity is at version %d, not %d", ErrVersionMismatch, version, *p.IfMatch)
	}
	cur, err := tx.EntityGet(ctx, key)
	if err != nil {
		return nil, err
	}
	save := &store.EntitySaveParams{EntityKey: key, Set: map[string]json.RawMessage{}, ValueText: map[string]string{}, Version: version + 1, At: s.Now()}
	changed := planSave(save, cur.Values, p.Values, encoded)
	if err := checkEntity(ctx, tx, schema, save, cur.Values, p.Values); err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		vals, err := decodeValues(cur.Values)
		if err != nil {
			return nil, err
		}
		return &EntityValues{Data: vals, Version: version}, errNoChange
	}
	if err := tx.EntitySave(ctx, save); err != nil {
		return nil, err
	}
	after := applySave(cur.Values, save)
	evs, err := valueEvents(g, p.EntityID, p.TenantID, save.At, changed, cur.Values, after, save.Version, p.Cause)
	if err != nil {
		return nil, err
	}
	if err := s.emit(ctx, tx, evs); err != nil {
		return nil, err
	}
	vals, err := decodeValues(after)
	if err != nil {
		return nil, err
	}
	return &EntityValues{Data: vals, Version: save.Version}, nil
}

// planSave fills save with the keys whose values differ from cur and
// returns those keys in order.
func planSave(save *store.EntitySaveParams, cur map[string]json.RawMessage, values map[string]any, encoded map[string]json.RawMessage) []string {
	var changed []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		old, had := cur[k]
		if values[k] == nil {
			if had {
				save.Delete = append(save.Delete, k)
				changed = append(changed, k)
			}
			continue
		}
		if had && bytes.Equal(old, encoded[k]) {
			continue
		}
		save.Set[k] = encoded[k]
		save.ValueText[k] = valueText(values[k], encoded[k])
		changed = append(changed, k)
	}
	return changed
}

// checkEntity applies the rules that depend on the whole entity after the
// save: required fields present, unique values not held by another
// entity.
func checkEntity(ctx context.Context, tx store.Tx, schema []fields.Field, save *store.EntitySaveParams, cur map[string]json.RawMessage, values map[string]any) error {
	var ps []problem.Problem
	for _, f := range schema {
		_, has := cur[f.Key]
		if _, set := save.Set[f.Key]; set {
			has = true
		}
		if slices.Contains(save.Delete, f.Key) {
			has = false
		}
		if f.Schema.Validation.Required && !has {
			ps = append(ps, problem.Problem{Location: "body." + f.Key, Message: "is required"})
		}
		if text, set := save.ValueText[f.Key]; set && f.Schema.Validation.Unique {
			taken, err := tx.FieldValueTaken(ctx, &store.FieldValueTakenParams{EntityKey: save.EntityKey, FieldKey: f.Key, ValueText: text})
			if err != nil {
				return err
			}
			if taken {
				ps = append(ps, problem.Problem{Location: "body." + f.Key, Message: "must be unique: another entity already has this value", Value: values[f.Key]})
			}
		}
	}
	if ps != nil {
		return &problem.ValidationError{Problems: ps}
	}
	return nil
}

// applySave returns the entity's values as the save leaves them.
func applySave(cur map[string]json.RawMessage, save *store.EntitySaveParams) map[string]json.RawMessage {
	after := make(map[string]json.RawMessage, len(cur)+len(save.Set))
	for k, v := range cur {
		after[k] = v
	}
	for k, v := range save.Set {
		after[k] = v
	}
	for _, k := range save.Delete {
		delete(after, k)
	}
	return after
}

// valueEvents builds one field_value.* event per changed key and the
// entity.updated event, each with its subject. The subjects share after,
// which nobody modifies once it is built.
func valueEvents(g *store.FieldGroup, entityID, tenantID string, at time.Time, changed []string, before, after map[string]json.RawMessage, version int64, cause []events.Cause) ([]*events.Event, error) {
	evs := make([]*events.Event, 0, len(changed)+1)
	var caused []events.Member
	if len(cause) > 0 {
		caused = []events.Member{events.CauseMember(cause)}
	}
	for _, k := range changed {
		typ := events.FieldValueSaved
		if _, ok := after[k]; !ok {
			typ = events.FieldValueDeleted
		}
		members := append([]events.Member{
			{Key: "fieldGroupId", Value: g.ID},
			{Key: "fieldGroupKey", Value: g.Key},
			{Key: "entityId", Value: entityID},
			{Key: "fieldKey", Value: k},
			{Key: "value", Value: events.RawOrNull(after[k])},
			{Key: "previousValue", Value: events.RawOrNull(before[k])},
		}, caused...)
		ev, err := newEvent(typ, tenantID, at, members...)
		if err != nil {
			return nil, err
		}
		ev.Cause = cause
		ev.Subject = &events.Subject{TenantID: tenantID, FieldGroupID: g.ID, FieldGroupKey: g.Key, EntityID: entityID,
			FieldKey: k, Value: after[k], PreviousValue: before[k], Values: after, Version: version}
		evs = append(evs, ev)
	}
	members := append([]events.Member{
		{Key: "fieldGroupId", Value: g.ID},
		{Key: "fieldGroupKey", Value: g.Key},
		{Key: "entityId", Value: entityID},
		{Key: "values", Value: rawObject(after, slices.Sorted(maps.Keys(after)))},
		{Key: "previousValues", Value: rawObject(before, changed)},
		{Key: "changedKeys", Value: changed},
		{Key: "version", Value: version},
	}, caused...)
	ev, err := newEvent(events.EntityUpdated, tenantID, at, members...)
	if err != nil {
		return nil, err
	}
	ev.Cause = cause
	ev.Subject = &events.Subject{TenantID: tenantID, FieldGroupID: g.ID, FieldGroupKey: g.Key, EntityID: entityID,
		ChangedKeys: changed, Values: after, Version: version}
	return append(evs, ev), nil
}

func rawObject(m map[string]json.RawMessage, keys []string) events.Object {
	obj := make(events.Object, 0, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			obj = append(obj, events.Member{Key: k, Value: v})
		} else {
			obj = append(obj, events.Member{Key: k, Value: nil})
		}
	}
	return obj
}

// valueText is what search and unique checks compare: a string's own text,
// the canonical JSON of anything else, bounded by indexText.
func valueText(v any, encoded json.RawMessage) string {
	if s, ok := v.(string); ok {
		return indexText(s)
	}
	return indexText(string(encoded))
}

// maxIndexText bounds the compared text: PostgreSQL's btree indexes refuse
// rows over about 2.7 kB.
const maxIndexText = 1024

// indexText keeps a text longer than maxIndexText as its head and SHA-256.
// The result is longer than maxIndexText, so it never equals a text kept
// whole; search values go through it too.
func indexText(s string) string {
	if len(s) <= maxIndexText {
		return s
	}
	cut := maxIndexText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + "#sha256:" + hex.EncodeToString(sum[:])
}

// GetValues returns an entity's values; an unknown entity has none.
func (s *Service) GetValues(ctx context.Context, sc scope.Scope, tenantID, group, entityID string) (*EntityValues, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, fmt.Errorf("get values: %w", err)
	}
	g, err := s.store.FieldGroupGet(ctx, group)
	if err != nil {
		return nil, err
	}
	e, err := s.store.EntityGet(ctx, store.EntityKey{TenantID: tenantID, FieldGroupID: g.ID, EntityID: entityID})
	if err != nil {
		return nil, err
	}
	vals, err := decodeValues(e.Values)
	if err != nil {
		return nil, err
	}
	return &EntityValues{Data: vals, Version: e.Version}, nil
}

// DeleteValues removes one value (fieldKey set) or all of an entity's
// values, with the events a save removing them would have.
func (s *Service) DeleteValues(ctx context.Context, sc scope.Scope, tenantID, group, entityID, fieldKey string) error {
	if err := sc.Check(tenantID); err != nil {
		return fmt.Errorf("delete values: %w", err)
	}
	g, err := s.store.FieldGroupGet(ctx, group)
	if err != nil {
		return fmt.Errorf("delete values: %w", err)
	}
	if fieldKey != "" {
		// Removing one required value is refused as the save
		// {"<fieldKey>": null} would be.
		schema, err := s.effective(ctx, s.store, tenantID, g.ID)
		if err != nil {
			return fmt.Errorf("delete values: %w", err)
		}
		for _, f := range schema {
			if f.Key == fieldKey && f.Schema.Validation.Required {
				return problem.Invalid("body."+fieldKey, "is required and cannot be removed", nil)
			}
		}
	}
	key := store.EntityKey{TenantID: tenantID, FieldGroupID: g.ID, EntityID: entityID}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		version, err := tx.EntityLock(ctx, key)
		if err != nil {
			return err
		}
		cur, err := tx.EntityGet(ctx, key)
		if err != nil {
			return err
		}
		var removed []string
		if fieldKey != "" {
			if _, ok := cur.Values[fieldKey]; !ok {
				return fmt.Errorf("%w: entity has no value for %q", store.ErrNotFound, fieldKey)
			}
			removed = []string{fieldKey}
		} else {
			removed = slices.Sorted(maps.Keys(cur.Values))
		}
		if len(removed) == 0 {
			return errNoChange
		}
		at := s.Now()
		after := map[string]json.RawMessage{}
		if fieldKey != "" {
			for k, v := range cur.Values {
				if k != fieldKey {
					after[k] = v
				}
			}
		}
		save := &store.EntitySaveParams{EntityKey: key, Delete: removed, Version: version + 1, At: at}
		if err := tx.EntitySave(ctx, save); err != nil {
			return err
		}
		evs, err := valueEvents(g, entityID, tenantID, at, removed, cur.Values, after, save.Version, nil)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, evs)
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return fmt.Errorf("delete values: %w", err)
	}
	return nil
}

// SearchParams filters a value search; empty strings match everything.
type SearchParams struct {
	store.Page
	TenantID string // narrowed by the scope, see scope.Filter
	Group    string
	EntityID string
	FieldKey string
	Value    *string
}

// Search finds stored values. Value matches a string value's text or the
// JSON of any other value (42, true).
func (s *Service) Search(ctx context.Context, sc scope.Scope, p *SearchParams) ([]*FieldValueRow, int, error) {
	tenant, err := sc.Filter(p.TenantID)
	if err != nil {
		return nil, 0, fmt.Errorf("search values: %w", err)
	}
	params := &store.FieldValueSearchParams{Page: p.Page, EntityID: p.EntityID, FieldKey: p.FieldKey}
	if tenant != nil {
		params.TenantID = *tenant
	}
	if p.Value != nil {
		v := indexText(*p.Value)
		params.Value = &v
	}
	if p.Group != "" {
		g, err := s.store.FieldGroupGet(ctx, p.Group)
		if errors.Is(err, store.ErrNotFound) {
			return []*FieldValueRow{}, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		params.FieldGroupID = g.ID
	}
	rows, total, err := s.store.FieldValueSearch(ctx, params)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*FieldValueRow, len(rows))
	for i, r := range rows {
		var v any
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, 0, err
		}
		out[i] = &FieldValueRow{TenantID: r.TenantID, FieldGroupID: r.FieldGroupID, FieldGroupKey: r.FieldGroupKey, FieldGroupName: r.FieldGroupName,
			EntityID: r.EntityID, FieldKey: r.FieldKey, Value: v, UpdatedAt: r.UpdatedAt}
	}
	return out, total, nil
}
