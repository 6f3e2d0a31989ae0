package store

import (
	"context"
	"time"
)

// SettingsReader holds the reads of automation settings: variables and
// OAuth2 connections.
type SettingsReader interface {
	VariableGet(ctx context.Context, tenantID, name string) (*Variable, error)
	VariableList(ctx context.Context, tenantID string) ([]*Variable, error)
	OAuth2ConnectionGet(ctx context.Context, id string) (*OAuth2Connection, error)
	OAuth2ConnectionList(ctx context.Context, p *OAuth2ConnectionListParams) ([]*OAuth2Connection, int, error)
}

// SettingsWriter holds their writes.
type SettingsWriter interface {
	// VariablePut creates or replaces a variable; CreatedAt is kept on
	// replace.
	VariablePut(ctx context.Context, v *Variable) error
	VariableDelete(ctx context.Context, tenantID, name string) error
	OAuth2ConnectionCreate(ctx context.Context, c *OAuth2Connection) error
	OAuth2ConnectionUpdate(ctx context.Context, c *OAuth2Connection) error
	OAuth2ConnectionDelete(ctx context.Context, id string) error
}

// Variable is a named value for automation templates, global (TenantID
// empty) or per tenant. A secret one's Value is sealed with the master key.
type Variable struct {
	TenantID  string
	Name      string
	Value     string
	Secret    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// OAuth2Connection holds what fetching a token needs. ClientSecret,
// RefreshToken and AccessToken are sealed with the master key.
type OAuth2Connection struct {
	ID             string
	Name           string
	TenantID       string
	TokenURL       string
	ClientID       string
	ClientSecret   string
	Scopes         []string
	GrantType      string
	RefreshToken   string
	AccessToken    string
	TokenExpiresAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// OAuth2ConnectionListParams filters connections.
type OAuth2ConnectionListParams struct {
	Page
	TenantID *string
}
