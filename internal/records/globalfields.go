package records

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// GlobalFieldInput creates a global field.
type GlobalFieldInput struct {
	Key           string        `json:"key"`
	Label         string        `json:"label"`
	Schema        fields.Schema `json:"schema"`
	FieldGroupIDs []string      `json:"fieldGroupIds"`
}

// GlobalFieldPatch changes a global field. The key cannot change: values
// are stored under it.
type GlobalFieldPatch struct {
	Label         *string        `json:"label,omitempty"`
	Schema        *fields.Schema `json:"schema,omitempty"`
	FieldGroupIDs []string       `json:"fieldGroupIds,omitempty"`
}

// resolveGroups maps ids or keys to ids, refusing unknown ones and keys
// already used by a tenant field in a group.
func resolveGroups(ctx context.Context, tx store.Tx, refs []string, key string) ([]string, error) {
	var ids []string
	var ps []problem.Problem
	for i, ref := range refs {
		g, err := tx.FieldGroupGet(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			ps = append(ps, problem.Problem{Location: fmt.Sprintf("body.fieldGroupIds[%d]", i), Message: "unknown field group", Value: ref})
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	if ps != nil {
		return nil, &problem.ValidationError{Problems: ps}
	}
	taken, err := tx.TenantFieldKeyTaken(ctx, ids, key)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, fmt.Errorf("%w: a tenant field with key %q exists in one of the groups", store.ErrConflict, key)
	}
	return ids, nil
}

// CreateGlobalField stores a global field in its groups.
func (s *Service) CreateGlobalField(ctx context.Context, sc scope.Scope, in *GlobalFieldInput) (*GlobalField, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, fmt.Errorf("create global field: %w", err)
	}
	schema, err := checkNewField(in.Key, &in.Schema)
	if err != nil {
		return nil, err
	}
	var view *GlobalField
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ids, err := resolveGroups(ctx, tx, in.FieldGroupIDs, in.Key)
		if err != nil {
			return err
		}
		now := s.Now()
		f := &store.GlobalField{ID: events.NewID("gf_"), Key: in.Key, Label: in.Label, Schema: schema, FieldGroupIDs: ids, CreatedAt: now, UpdatedAt: now}
		if err := tx.GlobalFieldCreate(ctx, f); err != nil {
			return err
		}
		if view, err = viewGlobalField(f); err != nil {
			return err
		}
		ev, err := newEvent(events.GlobalFieldCreated, "", now, globalFieldMembers(view, nil)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("create global field %q: %w", in.Key, err)
	}
	return view, nil
}

// GetGlobalField returns one global field.
func (s *Service) GetGlobalField(ctx context.Context, sc scope.Scope, id string) (*GlobalField, error) {
	if err := sc.CheckRead(); err != nil {
		return nil, fmt.Errorf("get global field: %w", err)
	}
	f, err := s.store.GlobalFieldGet(ctx, id)
	if err != nil {
		return nil, err
	}
	return viewGlobalField(f)
}

// ListGlobalFields returns a page of global fields, optionally of one group
// (id or key).
func (s *Service) ListGlobalFields(ctx context.Context, sc scope.Scope, group string, p store.Page) ([]*GlobalField, int, error) {
	if err := sc.CheckRead(); err != nil {
		return nil, 0, fmt.Errorf("list global fields: %w", err)
	}
	params := &store.GlobalFieldListParams{Page: p}
	if group != "" {
		g, err := s.store.FieldGroupGet(ctx, group)
		if err != nil {
			return nil, 0, err
		}
		params.FieldGroupID = g.ID
	}
	fs, total, err := s.store.GlobalFieldList(ctx, params)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*GlobalField, len(fs))
	for i, f := range fs {
		if out[i], err = viewGlobalField(f); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// UpdateGlobalField applies a patch.
func (s *Service) UpdateGlobalField(ctx context.Context, sc scope.Scope, id string, p *GlobalFieldPatch) (*GlobalField, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, fmt.Errorf("update global field: %w", err)
	}
	if p.Schema != nil {
		if ps := checkSchema("body.schema", p.Schema); ps != nil {
			return nil, &problem.ValidationError{Problems: ps}
		}
	}
	var view *GlobalField
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := tx.GlobalFieldGet(ctx, id)
		if err != nil {
			return err
		}
		prev, err := viewGlobalField(f)
		if err != nil {
			return err
		}
		next := *f
		if err := patchField(&next.Label, &next.Schema, p.Label, p.Schema); err != nil {
			return err
		}
		if p.FieldGroupIDs != nil {
			ids, err := resolveGroups(ctx, tx, p.FieldGroupIDs, f.Key)
			if err != nil {
				return err
			}
			next.FieldGroupIDs = ids
		}
		if next.Label == f.Label && string(next.Schema) == string(f.Schema) && slices.Equal(next.FieldGroupIDs, f.FieldGroupIDs) {
			view = prev
			return nil
		}
		next.UpdatedAt = s.Now()
		if err := tx.GlobalFieldUpdate(ctx, &next); err != nil {
			return err
		}
		if view, err = viewGlobalField(&next); err != nil {
			return err
		}
		ev, err := newEvent(events.GlobalFieldUpdated, "", next.UpdatedAt, globalFieldMembers(view, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("update global field %q: %w", id, err)
	}
	return view, nil
}

// DeleteGlobalField removes a global field. Stored values under its key are
// kept (they leave the schema, and a later field with the key sees them).
func (s *Service) DeleteGlobalField(ctx context.Context, sc scope.Scope, id string) error {
	if err := sc.CheckAdmin(); err != nil {
		return fmt.Errorf("delete global field: %w", err)
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		f, err := tx.GlobalFieldGet(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.GlobalFieldDelete(ctx, f.ID); err != nil {
			return err
		}
		prev, err := viewGlobalField(f)
		if err != nil {
			return err
		}
		ev, err := newEvent(events.GlobalFieldDeleted, "", s.Now(), globalFieldMembers(prev, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("delete global field %q: %w", id, err)
	}
	return nil
}
