package records

import (
	"context"
	"fmt"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// TenantFieldInput creates a tenant field.
type TenantFieldInput struct {
	Key    string        `json:"key"`
	Label  string        `json:"label"`
	Schema fields.Schema `json:"schema"`
}

// TenantFieldPatch changes a tenant field; its key cannot change.
type TenantFieldPatch struct {
	Label  *string        `json:"label,omitempty"`
	Schema *fields.Schema `json:"schema,omitempty"`
}

// CreateTenantField adds a tenant's own field to a group. Its key may not
// clash with a global field of the group or another of the tenant's fields.
func (s *Service) CreateTenantField(ctx context.Context, sc scope.Scope, tenantID, group string, in *TenantFieldInput) (*TenantField, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, fmt.Errorf("create tenant field: %w", err)
	}
	schema, err := checkNewField(in.Key, &in.Schema)
	if err != nil {
		return nil, err
	}
	var view *TenantField
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		g, err := tx.FieldGroupGet(ctx, group)
		if err != nil {
			return err
		}
		globals, err := tx.GlobalFieldsInGroup(ctx, g.ID)
		if err != nil {
			return err
		}
		for _, gf := range globals {
			if gf.Key == in.Key {
				return fmt.Errorf("%w: the group has a global field with key %q", store.ErrConflict, in.Key)
			}
		}
		now := s.Now()
		f := &store.TenantField{ID: events.NewID("tf_"), TenantID: tenantID, FieldGroupID: g.ID, Key: in.Key, Label: in.Label, Schema: schema, CreatedAt: now, UpdatedAt: now}
		if err := tx.TenantFieldCreate(ctx, f); err != nil {
			return err
		}
		if view, err = viewTenantField(f); err != nil {
			return err
		}
		ev, err := newEvent(events.TenantFieldCreated, tenantID, now, tenantFieldMembers(g.Key, view, nil)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("create tenant field %q: %w", in.Key, err)
	}
	return view, nil
}

// GetTenantField returns one of the tenant's fields; another tenant's field
// is reported as not found.
func (s *Service) GetTenantField(ctx context.Context, sc scope.Scope, tenantID, id string) (*TenantField, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, fmt.Errorf("get tenant field: %w", err)
	}
	f, err := s.store.TenantFieldGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if f.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return viewTenantField(f)
}

// ListTenantFields returns a page of the tenant's fields in a group.
func (s *Service) ListTenantFields(ctx context.Context, sc scope.Scope, tenantID, group string, p store.Page) ([]*TenantField, int, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, 0, fmt.Errorf("list tenant fields: %w", err)
	}
	g, err := s.store.FieldGroupGet(ctx, group)
	if err != nil {
		return nil, 0, err
	}
	fs, total, err := s.store.TenantFieldList(ctx, &store.TenantFieldListParams{Page: p, TenantID: tenantID, FieldGroupID: g.ID})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*TenantField, len(fs))
	for i, f := range fs {
		if out[i], err = viewTenantField(f); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// UpdateTenantField applies a patch.
func (s *Service) UpdateTenantField(ctx context.Context, sc scope.Scope, tenantID, id string, p *TenantFieldPatch) (*TenantField, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, fmt.Errorf("update tenant field: %w", err)
	}
	if p.Schema != nil {
		if ps := checkSchema("body.schema", p.Schema); ps != nil {
			return nil, &problem.ValidationError{Problems: ps}
		}
	}
	var view *TenantField
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := tx.TenantFieldGet(ctx, id)
		if err != nil {
			return err
		}
		if f.TenantID != tenantID {
			return store.ErrNotFound
		}
		prev, err := viewTenantField(f)
		if err != nil {
			return err
		}
		next := *f
		if err := patchField(&next.Label, &next.Schema, p.Label, p.Schema); err != nil {
			return err
		}
		if next.Label == f.Label && string(next.Schema) == string(f.Schema) {
			view = prev
			return nil
		}
		next.UpdatedAt = s.Now()
		if err := tx.TenantFieldUpdate(ctx, &next); err != nil {
			return err
		}
		if view, err = viewTenantField(&next); err != nil {
			return err
		}
		g, err := tx.FieldGroupGet(ctx, f.FieldGroupID)
		if err != nil {
			return err
		}
		ev, err := newEvent(events.TenantFieldUpdated, tenantID, next.UpdatedAt, tenantFieldMembers(g.Key, view, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("update tenant field %q: %w", id, err)
	}
	return view, nil
}

// DeleteTenantField removes a tenant field; stored values are kept.
func (s *Service) DeleteTenantField(ctx context.Context, sc scope.Scope, tenantID, id string) error {
	if err := sc.Check(tenantID); err != nil {
		return fmt.Errorf("delete tenant field: %w", err)
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := tx.TenantFieldGet(ctx, id)
		if err != nil {
			return err
		}
		if f.TenantID != tenantID {
			return store.ErrNotFound
		}
		g, err := tx.FieldGroupGet(ctx, f.FieldGroupID)
		if err != nil {
			return err
		}
		if err := tx.TenantFieldDelete(ctx, f.ID); err != nil {
			return err
		}
		prev, err := viewTenantField(f)
		if err != nil {
			return err
		}
		ev, err := newEvent(events.TenantFieldDeleted, tenantID, s.Now(), tenantFieldMembers(g.Key, prev, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("delete tenant field %q: %w", id, err)
	}
	return nil
}

// Schema returns the effective fields of a group for a tenant.
func (s *Service) Schema(ctx context.Context, sc scope.Scope, tenantID, group string) ([]*SchemaField, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, fmt.Errorf("get schema: %w", err)
	}
	g, err := s.store.FieldGroupGet(ctx, group)
	if err != nil {
		return nil, err
	}
	merged, err := s.effective(ctx, s.store, tenantID, g.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*SchemaField, len(merged))
	for i, f := range merged {
		out[i] = &SchemaField{ID: f.ID, Key: f.Key, Label: f.Label, Schema: f.Schema, Scope: f.Scope}
	}
	return out, nil
}

func (s *Service) effective(ctx context.Context, r store.Reader, tenantID, groupID string) ([]fields.Field, error) {
	globals, err := r.GlobalFieldsInGroup(ctx, groupID)
	if err != nil {
		return nil, err
	}
	tenants, _, err := r.TenantFieldList(ctx, &store.TenantFieldListParams{Page: store.Page{Page: 1, PageSize: 10000}, TenantID: tenantID, FieldGroupID: groupID})
	if err != nil {
		return nil, err
	}
	gs := make([]fields.Field, 0, len(globals))
	for _, f := range globals {
		sch, err := decodeSchema(f.Schema)
		if err != nil {
			return nil, err
		}
		gs = append(gs, fields.Field{ID: f.ID, Key: f.Key, Label: f.Label, Schema: sch})
	}
	ts := make([]fields.Field, 0, len(tenants))
	for _, f := range tenants {
		sch, err := decodeSchema(f.Schema)
		if err != nil {
			return nil, err
		}
		ts = append(ts, fields.Field{ID: f.ID, Key: f.Key, Label: f.Label, Schema: sch})
	}
	return fields.Merge(gs, ts), nil
}
