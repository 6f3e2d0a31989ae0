// Package automations holds the no-code automation engine: rules (event
// triggers with structured filters and CEL conditions; the sla and date time
// rules and their timers), the runs they start (written in the event's
// transaction and executed on internal/queue under leases), the actions
// (http, webhook, set_field) with templates escaped per destination, and the
// settings they read: variables (secret ones sealed at rest) and OAuth2
// connections.
package automations

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

func (s *Service) clock() time.Time { return events.StoredTime(s.now()) }

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// VariableInput sets a variable.
type VariableInput struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret,omitempty"`
	Shared bool   `json:"shared,omitempty"`
}

// Variable is a variable as clients see it; a secret's value is absent.
type Variable struct {
	Name      string    `json:"name"`
	TenantID  string    `json:"tenantId,omitempty"`
	Value     *string   `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	Shared    bool      `json:"shared"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func viewVariable(v *store.Variable) *Variable {
	out := &Variable{Name: v.Name, TenantID: v.TenantID, Secret: v.Secret, Shared: v.Shared, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
	if !v.Secret {
		val := v.Value
		out.Value = &val
	}
	return out
}

func checkName(name string) error {
	if !nameRe.MatchString(name) {
		return &problem.ValidationError{Problems: []problem.Problem{{Location: "path.name",
			Message: "must start with a letter or _ and hold only letters, digits and _, at most 64 characters", Value: name}}}
	}
	return nil
}

// PutVariable creates or replaces a variable (tenantID empty: global).
func (s *Service) PutVariable(ctx context.Context, sc scope.Scope, tenantID, name string, in *VariableInput) (*Variable, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	switch {
	case in.Shared && in.Secret:
		return nil, &problem.ValidationError{Problems: []problem.Problem{{Location: "body.shared",
			Message: "a secret cannot be shared: tenants' automations never see the vendor's secrets", Value: true}}}
	case in.Shared && tenantID != "":
		return nil, &problem.ValidationError{Problems: []problem.Problem{{Location: "body.shared",
			Message: "only a global variable can be shared; a tenant's own variables reach its automations already", Value: true}}}
	}
	now := s.clock()
	v := &store.Variable{TenantID: tenantID, Name: name, Value: in.Value, Secret: in.Secret, Shared: in.Shared, CreatedAt: now, UpdatedAt: now}
	if in.Secret {
		v.Value = s.box.Seal(in.Value)
	}
	var out *Variable
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.VariablePut(ctx, v); err != nil {
			return err
		}
		tx.AfterCommit(s.vars.invalidate)
		stored, err := tx.VariableGet(ctx, tenantID, name)
		if err != nil {
			return err
		}
		out = viewVariable(stored)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put variable %s: %w", name, err)
	}
	return out, nil
}

// GetVariable returns a variable without a secret's value.
func (s *Service) GetVariable(ctx context.Context, sc scope.Scope, tenantID, name string) (*Variable, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, err
	}
	v, err := s.store.VariableGet(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	return viewVariable(v), nil
}

// ListVariables returns the global variables or one tenant's.
func (s *Service) ListVariables(ctx context.Context, sc scope.Scope, tenantID string) ([]*Variable, error) {
	if err := sc.Check(tenantID); err != nil {
		return nil, err
	}
	vs, err := s.store.VariableList(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]*Variable, len(vs))
	for i, v := range vs {
		out[i] = viewVariable(v)
	}
	return out, nil
}

// DeleteVariable removes a variable.
func (s *Service) DeleteVariable(ctx context.Context, sc scope.Scope, tenantID, name string) error {
	if err := sc.Check(tenantID); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		tx.AfterCommit(s.vars.invalidate)
		return tx.VariableDelete(ctx, tenantID, name)
	})
	if err != nil {
		return fmt.Errorf("delete variable %s: %w", name, err)
	}
	return nil
}

// Grant types of OAuth2 connections.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// OAuth2Input creates an OAuth2 connection.
type OAuth2Input struct {
	Name         string   `json:"name"`
	TenantID     *string  `json:"tenantId,omitempty"`
	TokenURL     string   `json:"tokenUrl"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"`
	Scopes       []string `json:"scopes,omitempty"`
	GrantType    string   `json:"grantType"`
	RefreshToken string   `json:"refreshToken,omitempty"`
}

// OAuth2Patch changes a connection; absent fields keep their values.
type OAuth2Patch struct {
	Name         *string  `json:"name,omitempty"`
	TokenURL     *string  `json:"tokenUrl,omitempty"`
	ClientID     *string  `json:"clientId,omitempty"`
	ClientSecret *string  `json:"clientSecret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	GrantType    *string  `json:"grantType,omitempty"`
	RefreshToken *string  `json:"refreshToken,omitempty"`
}

// OAuth2Connection is a connection as clients see it: no secrets.
type OAuth2Connection struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	TenantID        *string   `json:"tenantId"`
	TokenURL        string    `json:"tokenUrl"`
	ClientID        string    `json:"clientId"`
	Scopes          []string  `json:"scopes"`
	GrantType       string    `json:"grantType"`
	HasRefreshToken bool      `json:"hasRefreshToken"`
	CreatedAt       time.Time `json:"createdAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

func viewOAuth2(c *store.OAuth2Connection) *OAuth2Connection {
	v := &OAuth2Connection{ID: c.ID, Name: c.Name, TokenURL: c.TokenURL, ClientID: c.ClientID, Scopes: c.Scopes, GrantType: c.GrantType,
		HasRefreshToken: c.RefreshToken != "", CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.TenantID != "" {
		t := c.TenantID
		v.TenantID = &t
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

// checkOAuth2 validates a connection with its secrets still open.
func checkOAuth2(c *store.OAuth2Connection, refreshToken string) error {
	var ps []problem.Problem
	if u, err := url.Parse(c.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		ps = append(ps, problem.Problem{Location: "body.tokenUrl", Message: "must be an absolute http or https URL without credentials", Value: c.TokenURL})
	}
	if c.GrantType == GrantRefreshToken && refreshToken == "" {
		ps = append(ps, problem.Problem{Location: "body.refreshToken", Message: "is required for the refresh_token grant"})
	}
	if ps != nil {
		return &problem.ValidationError{Problems: ps}
	}
	return nil
}

// CreateOAuth2 stores a connection with its secrets sealed.
func (s *Service) CreateOAuth2(ctx context.Context, sc scope.Scope, in *OAuth2Input) (*OAuth2Connection, error) {
	owner, err := records.ClaimTenant(sc, in.TenantID)
	if err != nil {
		return nil, err
	}
	in.TenantID = owner
	now := s.clock()
	c := &store.OAuth2Connection{ID: events.NewID("oac_"), Name: in.Name, TokenURL: in.TokenURL, ClientID: in.ClientID,
		ClientSecret: s.box.Seal(in.ClientSecret), Scopes: in.Scopes, GrantType: in.GrantType, RefreshToken: s.box.Seal(in.RefreshToken),
		CreatedAt: now, UpdatedAt: now}
	if in.TenantID != nil {
		c.TenantID = *in.TenantID
	}
	if err := checkOAuth2(c, in.RefreshToken); err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.OAuth2ConnectionCreate(ctx, c) })
	if err != nil {
		return nil, fmt.Errorf("create OAuth2 connection: %w", err)
	}
	return viewOAuth2(c), nil
}

// owned loads a connection the scope allows; another tenant's is not
// found.
func owned(ctx context.Context, sc scope.Scope, r store.Reader, id string) (*store.OAuth2Connection, error) {
	c, err := r.OAuth2ConnectionGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.Allows(c.TenantID) {
		return nil, fmt.Errorf("get OAuth2 connection: %w", store.ErrNotFound)
	}
	return c, nil
}

// GetOAuth2 returns a connection.
func (s *Service) GetOAuth2(ctx context.Context, sc scope.Scope, id string) (*OAuth2Connection, error) {
	c, err := owned(ctx, sc, s.store, id)
	if err != nil {
		return nil, err
	}
	return viewOAuth2(c), nil
}

// ListOAuth2 returns a page of connections.
func (s *Service) ListOAuth2(ctx context.Context, sc scope.Scope, tenantID string, p store.Page) ([]*OAuth2Connection, int, error) {
	tenant, err := sc.Filter(tenantID)
	if err != nil {
		return nil, 0, err
	}
	cs, total, err := s.store.OAuth2ConnectionList(ctx, &store.OAuth2ConnectionListParams{Page: p, TenantID: tenant})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*OAuth2Connection, len(cs))
	for i, c := range cs {
		out[i] = viewOAuth2(c)
	}
	return out, total, nil
}

// UpdateOAuth2 applies a patch. Changing credentials drops the cached
// access token.
func (s *Service) UpdateOAuth2(ctx context.Context, sc scope.Scope, id string, p *OAuth2Patch) (*OAuth2Connection, error) {
	var out *OAuth2Connection
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		c, err := owned(ctx, sc, tx, id)
		if err != nil {
			return err
		}
		refresh, err := s.box.Open(c.RefreshToken)
		if err != nil {
			return fmt.Errorf("open refresh token: %w", err)
		}
		credentials := p.TokenURL != nil || p.ClientID != nil || p.ClientSecret != nil || p.Scopes != nil || p.GrantType != nil || p.RefreshToken != nil
		if p.Name != nil {
			c.Name = *p.Name
		}
		if p.TokenURL != nil {
			c.TokenURL = *p.TokenURL
		}
		if p.ClientID != nil {
			c.ClientID = *p.ClientID
		}
		if p.ClientSecret != nil {
			c.ClientSecret = s.box.Seal(*p.ClientSecret)
		}
		if p.Scopes != nil {
			c.Scopes = p.Scopes
		}
		if p.GrantType != nil {
			c.GrantType = *p.GrantType
		}
		if p.RefreshToken != nil {
			refresh = *p.RefreshToken
			c.RefreshToken = s.box.Seal(refresh)
		}
		if err := checkOAuth2(c, refresh); err != nil {
			return err
		}
		if credentials {
			c.AccessToken, c.TokenExpiresAt = "", time.Time{}
		}
		c.UpdatedAt = s.clock()
		if err := tx.OAuth2ConnectionUpdate(ctx, c); err != nil {
			return err
		}
		out = viewOAuth2(c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update OAuth2 connection: %w", err)
	}
	return out, nil
}

// DeleteOAuth2 removes a connection.
func (s *Service) DeleteOAuth2(ctx context.Context, sc scope.Scope, id string) error {
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := owned(ctx, sc, tx, id); err != nil {
			return err
		}
		return tx.OAuth2ConnectionDelete(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete OAuth2 connection: %w", err)
	}
	return nil
}
