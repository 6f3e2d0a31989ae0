package records

import (
	"context"
	"fmt"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// FieldGroupInput creates a field group.
type FieldGroupInput struct {
	Key         string `json:"key"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// FieldGroupPatch changes some properties of a field group.
type FieldGroupPatch struct {
	Key         *string `json:"key,omitempty"`
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
}

// CreateFieldGroup stores a new field group and its field_group.created event.
func (s *Service) CreateFieldGroup(ctx context.Context, sc scope.Scope, in *FieldGroupInput) (*FieldGroup, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, fmt.Errorf("create field group: %w", err)
	}
	if ps := checkKey("body.key", in.Key); ps != nil {
		return nil, &problem.ValidationError{Problems: ps}
	}
	now := s.Now()
	g := &store.FieldGroup{ID: events.NewID("fg_"), Key: in.Key, Name: in.Name, Description: in.Description, CreatedAt: now, UpdatedAt: now}
	view := viewFieldGroup(g)
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.FieldGroupCreate(ctx, g); err != nil {
			return err
		}
		ev, err := newEvent(events.FieldGroupCreated, "", now, groupMembers(view, nil)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("create field group %q: %w", in.Key, err)
	}
	return view, nil
}

// GetFieldGroup returns a field group by id or key.
func (s *Service) GetFieldGroup(ctx context.Context, sc scope.Scope, idOrKey string) (*FieldGroup, error) {
	if err := sc.CheckRead(); err != nil {
		return nil, fmt.Errorf("get field group: %w", err)
	}
	g, err := s.store.FieldGroupGet(ctx, idOrKey)
	if err != nil {
		return nil, err
	}
	return viewFieldGroup(g), nil
}

// ListFieldGroups returns one page of field groups, ordered by key.
func (s *Service) ListFieldGroups(ctx context.Context, sc scope.Scope, p store.Page) ([]*FieldGroup, int, error) {
	if err := sc.CheckRead(); err != nil {
		return nil, 0, fmt.Errorf("list field groups: %w", err)
	}
	gs, total, err := s.store.FieldGroupList(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*FieldGroup, len(gs))
	for i, g := range gs {
		out[i] = viewFieldGroup(g)
	}
	return out, total, nil
}

// UpdateFieldGroup applies a patch; a patch that changes nothing writes
// nothing.
func (s *Service) UpdateFieldGroup(ctx context.Context, sc scope.Scope, idOrKey string, p *FieldGroupPatch) (*FieldGroup, error) {
	if err := sc.CheckAdmin(); err != nil {
		return nil, fmt.Errorf("update field group: %w", err)
	}
	if p.Key != nil {
		if ps := checkKey("body.key", *p.Key); ps != nil {
			return nil, &problem.ValidationError{Problems: ps}
		}
	}
	var view *FieldGroup
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		g, err := tx.FieldGroupGet(ctx, idOrKey)
		if err != nil {
			return err
		}
		prev := viewFieldGroup(g)
		next := *g
		if p.Key != nil {
			next.Key = *p.Key
		}
		if p.Name != nil {
			next.Name = *p.Name
		}
		if p.Description != nil {
			next.Description = *p.Description
		}
		if next.Key == g.Key && next.Name == g.Name && next.Description == g.Description {
			view = prev
			return nil
		}
		next.UpdatedAt = s.Now()
		if err := tx.FieldGroupUpdate(ctx, &next); err != nil {
			return err
		}
		view = viewFieldGroup(&next)
		ev, err := newEvent(events.FieldGroupUpdated, "", next.UpdatedAt, groupMembers(view, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("update field group %q: %w", idOrKey, err)
	}
	return view, nil
}

// DeleteFieldGroup removes a field group with its fields and values.
func (s *Service) DeleteFieldGroup(ctx context.Context, sc scope.Scope, idOrKey string) error {
	if err := sc.CheckAdmin(); err != nil {
		return fmt.Errorf("delete field group: %w", err)
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		g, err := tx.FieldGroupGet(ctx, idOrKey)
		if err != nil {
			return err
		}
		if err := tx.FieldGroupDelete(ctx, g.ID); err != nil {
			return err
		}
		prev := viewFieldGroup(g)
		ev, err := newEvent(events.FieldGroupDeleted, "", s.Now(), groupMembers(prev, prev)...)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	if err != nil {
		return fmt.Errorf("delete field group %q: %w", idOrKey, err)
	}
	return nil
}
