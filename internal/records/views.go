package records

import (
	"encoding/json"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/store"
)

// The public shapes of resources: API responses and event payloads use the
// same ones.

// FieldGroup is a field group as clients see it.
type FieldGroup struct {
	ID          string    `json:"id"`
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func viewFieldGroup(g *store.FieldGroup) *FieldGroup {
	return &FieldGroup{ID: g.ID, Key: g.Key, Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
}

// GlobalField is a vendor-defined field as clients see it.
type GlobalField struct {
	ID            string        `json:"id"`
	Key           string        `json:"key"`
	Label         string        `json:"label"`
	Schema        fields.Schema `json:"schema"`
	FieldGroupIDs []string      `json:"fieldGroupIds"`
	CreatedAt     time.Time     `json:"createdAt"`
	UpdatedAt     time.Time     `json:"updatedAt"`
}

func viewGlobalField(f *store.GlobalField) (*GlobalField, error) {
	s, err := decodeSchema(f.Schema)
	if err != nil {
		return nil, err
	}
	return &GlobalField{ID: f.ID, Key: f.Key, Label: f.Label, Schema: s, FieldGroupIDs: f.FieldGroupIDs, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}, nil
}

// TenantField is a tenant's own field as clients see it.
type TenantField struct {
	ID           string        `json:"id"`
	TenantID     string        `json:"tenantId"`
	FieldGroupID string        `json:"fieldGroupId"`
	Key          string        `json:"key"`
	Label        string        `json:"label"`
	Schema       fields.Schema `json:"schema"`
	CreatedAt    time.Time     `json:"createdAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
}

func viewTenantField(f *store.TenantField) (*TenantField, error) {
	s, err := decodeSchema(f.Schema)
	if err != nil {
		return nil, err
	}
	return &TenantField{ID: f.ID, TenantID: f.TenantID, FieldGroupID: f.FieldGroupID, Key: f.Key, Label: f.Label, Schema: s, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}, nil
}

// SchemaField is one field of a tenant's effective schema.
type SchemaField struct {
	ID     string        `json:"id"`
	Key    string        `json:"key"`
	Label  string        `json:"label"`
	Schema fields.Schema `json:"schema"`
	Scope  fields.Scope  `json:"scope"`
}

// EntityValues is an entity's values and version.
type EntityValues struct {
	Data    map[string]any `json:"data"`
	Version int64          `json:"version"`
}

// FieldValueRow is one search result.
type FieldValueRow struct {
	TenantID       string    `json:"tenantId"`
	FieldGroupID   string    `json:"fieldGroupId"`
	FieldGroupKey  string    `json:"fieldGroupKey"`
	FieldGroupName string    `json:"fieldGroupName"`
	EntityID       string    `json:"entityId"`
	FieldKey       string    `json:"fieldKey"`
	Value          any       `json:"value"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

func decodeValues(raw map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, len(raw))
	for k, v := range raw {
		x, err := events.Decode(v)
		if err != nil {
			return nil, err
		}
		out[k] = x
	}
	return out, nil
}
