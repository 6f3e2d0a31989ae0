package automations

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// ErrTemplateInUse refuses deleting a request template that automations
// reference; the error names them.
var ErrTemplateInUse = fmt.Errorf("%w: the request template is used by automations", store.ErrConflict)

// RequestTemplateInput creates a request template: an HTTP request built
// once and referenced by http actions ("template": its id), which override
// it in part. Every string takes templates, as an http action's do.
type RequestTemplateInput struct {
	Name           string            `json:"name"`
	TenantID       *string           `json:"tenantId,omitempty"`
	Method         string            `json:"method,omitempty"`
	URL            string            `json:"url"`
	Auth           *Auth             `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	Body           *Body             `json:"body,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty"`
}

// RequestTemplatePatch changes a request template; absent fields keep
// their values. Each change counts a version.
type RequestTemplatePatch struct {
	Name           *string           `json:"name,omitempty"`
	Method         *string           `json:"method,omitempty"`
	URL            *string           `json:"url,omitempty"`
	Auth           *Auth             `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Query          map[string]string `json:"query,omitempty"`
	Body           *Body             `json:"body,omitempty"`
	TimeoutSeconds *int              `json:"timeoutSeconds,omitempty"`
}

// RequestTemplate is a request template as clients see it.
type RequestTemplate struct {
	ID             string            `json:"id"`
	TenantID       *string           `json:"tenantId"`
	Name           string            `json:"name"`
	Version        int64             `json:"version"`
	Method         string            `json:"method"`
	URL            string            `json:"url"`
	Auth           *Auth             `json:"auth,omitempty"`
	Headers        map[string]string `json:"headers"`
	Query          map[string]string `json:"query"`
	Body           *Body             `json:"body,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

// requestOf is the stored request of a template: the fields of an http
// action it holds.
func requestOf(rt *store.RequestTemplate) (*Action, error) {
	a := &Action{}
	if err := json.Unmarshal(rt.Request, a); err != nil {
		return nil, fmt.Errorf("decode request template %s: %w", rt.ID, err)
	}
	a.Type = ActionHTTP
	return a, nil
}

func viewRequestTemplate(rt *store.RequestTemplate) (*RequestTemplate, error) {
	a, err := requestOf(rt)
	if err != nil {
		return nil, err
	}
	v := &RequestTemplate{ID: rt.ID, Name: rt.Name, Version: rt.Version, Method: a.Method, URL: a.URL, Auth: a.Auth,
		Headers: a.Headers, Query: a.Query, Body: a.Body, TimeoutSeconds: a.TimeoutSeconds,
		CreatedAt: rt.CreatedAt, UpdatedAt: rt.UpdatedAt}
	if v.Method == "" {
		v.Method = "POST"
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	if v.Query == nil {
		v.Query = map[string]string{}
	}
	if rt.TenantID != "" {
		t := rt.TenantID
		v.TenantID = &t
	}
	return v, nil
}

// withTemplate is the http action a runs as: its template's request with
// a's own fields on top. Headers and query merge key by key, a's winning;
// method, URL, auth, body and timeout replace the template's when a sets
// them.
func withTemplate(tmpl, a *Action) *Action {
	out := *a
	out.Template = ""
	if out.Method == "" {
		out.Method = tmpl.Method
	}
	if out.URL == "" {
		out.URL = tmpl.URL
	}
	if out.Auth == nil {
		out.Auth = tmpl.Auth
	}
	if out.Body == nil {
		out.Body = tmpl.Body
	}
	if out.TimeoutSeconds == 0 {
		out.TimeoutSeconds = tmpl.TimeoutSeconds
	}
	merge := func(base, over map[string]string) map[string]string {
		if len(base) == 0 {
			return over
		}
		m := maps.Clone(base)
		maps.Copy(m, over)
		return m
	}
	out.Headers = merge(tmpl.Headers, a.Headers)
	out.Query = merge(tmpl.Query, a.Query)
	return &out
}

// resolveTemplate loads the template an http action references, for an
// automation of tenantID: only the automation's own owner's templates
// (the vendor's for a vendor-wide one, the tenant's for a tenant's) may be
// used, as with OAuth2 connections, so that a tenant never sends a
// vendor's headers to a URL of its own.
func resolveTemplate(ctx context.Context, r store.Reader, tenantID string, a *Action) (*Action, *store.RequestTemplate, error) {
	rt, err := r.RequestTemplateGet(ctx, a.Template)
	if err == nil && rt.TenantID != tenantID {
		err = fmt.Errorf("get request template: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := requestOf(rt)
	if err != nil {
		return nil, nil, err
	}
	return withTemplate(tmpl, a), rt, nil
}

// checkRequestTemplate validates a template's request as an http action
// of its owner would be.
func checkRequestTemplate(ctx context.Context, r store.Reader, rt *store.RequestTemplate, a *Action) error {
	var ps problems
	if strings.TrimSpace(rt.Name) == "" || len(rt.Name) > 200 {
		ps.add("body.name", "must be 1-200 characters, not blank", rt.Name)
	}
	a.Name, a.Type = "template", ActionHTTP
	checkHTTPAction(ctx, r, &ps, "body", rt.TenantID, a)
	a.Name, a.Type = "", ""
	return ps.err()
}

func (s *Service) storeRequest(a *Action) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode request template: %w", err)
	}
	return b, nil
}

// CreateRequestTemplate stores a request template at version 1.
func (s *Service) CreateRequestTemplate(ctx context.Context, sc scope.Scope, in *RequestTemplateInput) (*RequestTemplate, error) {
	owner, err := records.ClaimTenant(sc, in.TenantID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	rt := &store.RequestTemplate{ID: events.NewID("rt_"), Name: in.Name, Version: 1, CreatedAt: now, UpdatedAt: now}
	if owner != nil {
		rt.TenantID = *owner
	}
	a := &Action{Method: in.Method, URL: in.URL, Auth: in.Auth, Headers: in.Headers, Query: in.Query, Body: in.Body, TimeoutSeconds: in.TimeoutSeconds}
	if err := checkRequestTemplate(ctx, s.store, rt, a); err != nil {
		return nil, err
	}
	if rt.Request, err = s.storeRequest(a); err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.RequestTemplateCreate(ctx, rt) })
	if err != nil {
		return nil, fmt.Errorf("create request template: %w", err)
	}
	return viewRequestTemplate(rt)
}

func ownedTemplate(ctx context.Context, sc scope.Scope, r store.Reader, id string) (*store.RequestTemplate, error) {
	rt, err := r.RequestTemplateGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.Allows(rt.TenantID) {
		return nil, fmt.Errorf("get request template: %w", store.ErrNotFound)
	}
	return rt, nil
}

// GetRequestTemplate returns a request template the scope allows.
func (s *Service) GetRequestTemplate(ctx context.Context, sc scope.Scope, id string) (*RequestTemplate, error) {
	rt, err := ownedTemplate(ctx, sc, s.store, id)
	if err != nil {
		return nil, err
	}
	return viewRequestTemplate(rt)
}

// ListRequestTemplates returns a page of request templates.
func (s *Service) ListRequestTemplates(ctx context.Context, sc scope.Scope, tenantID string, p store.Page) ([]*RequestTemplate, int, error) {
	tenant, err := sc.Filter(tenantID)
	if err != nil {
		return nil, 0, err
	}
	rts, total, err := s.store.RequestTemplateList(ctx, &store.RequestTemplateListParams{Page: p, TenantID: tenant})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*RequestTemplate, len(rts))
	for i, rt := range rts {
		if out[i], err = viewRequestTemplate(rt); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// UpdateRequestTemplate applies a patch as a new version. Every
// automation that references the template sends the new version from its
// next step on.
func (s *Service) UpdateRequestTemplate(ctx context.Context, sc scope.Scope, id string, p *RequestTemplatePatch) (*RequestTemplate, error) {
	var out *RequestTemplate
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		rt, err := ownedTemplate(ctx, sc, tx, id)
		if err != nil {
			return err
		}
		a, err := requestOf(rt)
		if err != nil {
			return err
		}
		a.Type = ""
		if p.Name != nil {
			rt.Name = *p.Name
		}
		if p.Method != nil {
			a.Method = *p.Method
		}
		if p.URL != nil {
			a.URL = *p.URL
		}
		if p.Auth != nil {
			a.Auth = p.Auth
		}
		if p.Headers != nil {
			a.Headers = p.Headers
		}
		if p.Query != nil {
			a.Query = p.Query
		}
		if p.Body != nil {
			a.Body = p.Body
		}
		if p.TimeoutSeconds != nil {
			a.TimeoutSeconds = *p.TimeoutSeconds
		}
		if err := checkRequestTemplate(ctx, tx, rt, a); err != nil {
			return err
		}
		if rt.Request, err = s.storeRequest(a); err != nil {
			return err
		}
		rt.Version++
		rt.UpdatedAt = s.clock()
		if err := tx.RequestTemplateUpdate(ctx, rt); err != nil {
			return err
		}
		out, err = viewRequestTemplate(rt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update request template: %w", err)
	}
	return out, nil
}

// DeleteRequestTemplate removes a template no automation references; one
// in use is refused with ErrTemplateInUse, naming the automations.
func (s *Service) DeleteRequestTemplate(ctx context.Context, sc scope.Scope, id string) error {
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := ownedTemplate(ctx, sc, tx, id); err != nil {
			return err
		}
		all, err := tx.AutomationListAll(ctx)
		if err != nil {
			return err
		}
		var users []string
		for _, a := range all {
			var def Definition
			if json.Unmarshal(a.Definition, &def) != nil {
				continue
			}
			if slices.ContainsFunc(def.Actions, func(act Action) bool { return act.Template == id }) {
				users = append(users, a.ID)
			}
		}
		if users != nil {
			return fmt.Errorf("%w: %s; remove it from them first", ErrTemplateInUse, strings.Join(users, ", "))
		}
		return tx.RequestTemplateDelete(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete request template: %w", err)
	}
	return nil
}
