package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
)

const tagKeys = "API keys"

// keyPrefixLen is how much of a key's secret (after "ffk_") is kept in
// clear to tell keys apart: 8 base64url characters are 48 of its 256 bits.
const keyPrefixLen = 8

// maxKeyLifetime bounds expiresIn and expiresAt, so that a typo such as
// "87600000h" is refused rather than stored as a key that never ends.
const maxKeyLifetime = 10 * 366 * 24 * time.Hour

// ValidTenantID reports whether id is a tenant id the API accepts: the one
// id pattern (records.IDPattern) of every id in a path.
func ValidTenantID(id string) bool { return records.ValidID(id) }

// TenantIDRule says in words what ValidTenantID accepts, for error messages.
func TenantIDRule() string { return "must match " + records.IDPattern }

// KeyInput describes an API key to create.
type KeyInput struct {
	Role     string `json:"role" enum:"admin,tenant" doc:"admin: everything, including keys; tenant: only the data of tenantId."`
	TenantID string `json:"tenantId,omitempty" maxLength:"128" doc:"The tenant a tenant key belongs to; required for a tenant key, refused for an admin key."`
	Name     string `json:"name,omitempty" maxLength:"100" doc:"A label to tell keys apart, such as \"billing service\"."`
	// ExpiresAt and ExpiresIn are exclusive.
	ExpiresAt *time.Time `json:"expiresAt,omitempty" doc:"When the key stops working (RFC 3339). Default: never."`
	ExpiresIn string     `json:"expiresIn,omitempty" maxLength:"32" example:"720h" doc:"The key's lifetime as a Go duration (\"720h\" is 30 days), instead of expiresAt."`
}

// Key is a stored API key as the API shows it: never its secret.
type Key struct {
	ID       string `json:"id" example:"key_01J…"`
	Name     string `json:"name"`
	Role     string `json:"role" enum:"admin,tenant"`
	TenantID string `json:"tenantId,omitempty"`
	// Prefix is the start of the secret after "ffk_".
	Prefix     string     `json:"prefix" doc:"The first characters of the secret after ffk_, to recognise a key; empty for keys made before prefixes were kept."`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt" doc:"null: never expires."`
	LastUsedAt *time.Time `json:"lastUsedAt" doc:"When the key last authenticated a request, to within a minute; null: never."`
	RevokedAt  *time.Time `json:"revokedAt" doc:"null: not revoked."`
	Active     bool       `json:"active" doc:"Neither revoked nor expired."`
}

// CreatedKey is a new key with its secret, shown this once.
type CreatedKey struct {
	Key
	Secret string `json:"key" doc:"The API key itself. It is stored hashed and never shown again."`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// KeyView turns a stored key into what the API shows.
func KeyView(k *store.APIKey, now time.Time) *Key {
	return &Key{ID: k.ID, Name: k.Name, Role: k.Role, TenantID: k.TenantID, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
		ExpiresAt: optTime(k.ExpiresAt), LastUsedAt: optTime(k.LastUsedAt), RevokedAt: optTime(k.RevokedAt), Active: k.Active(now)}
}

// CreateKey checks in and stores a new key. Mistakes are a
// *problem.ValidationError naming the body field at fault.
func CreateKey(ctx context.Context, s store.Store, in *KeyInput, now time.Time) (*CreatedKey, error) {
	var ps []problem.Problem
	add := func(loc, msg string, v any) { ps = append(ps, problem.Problem{Location: loc, Message: msg, Value: v}) }
	switch in.Role {
	case store.RoleAdmin:
		if in.TenantID != "" {
			add("body.tenantId", "an admin key belongs to no tenant; leave tenantId out or use role tenant", in.TenantID)
		}
	case store.RoleTenant:
		if in.TenantID == "" {
			add("body.tenantId", "a tenant key needs the tenant it belongs to", nil)
		} else if !ValidTenantID(in.TenantID) {
			add("body.tenantId", TenantIDRule(), in.TenantID)
		}
	default:
		add("body.role", "must be admin or tenant", in.Role)
	}
	if strings.ContainsFunc(in.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		add("body.name", "must not hold control characters", in.Name)
	}
	var expires time.Time
	switch {
	case in.ExpiresAt != nil && in.ExpiresIn != "":
		add("body.expiresIn", "give expiresAt or expiresIn, not both", in.ExpiresIn)
	case in.ExpiresAt != nil:
		expires = in.ExpiresAt.UTC()
		if !expires.After(now) {
			add("body.expiresAt", "must be in the future", in.ExpiresAt.Format(time.RFC3339))
		} else if expires.Sub(now) > maxKeyLifetime {
			add("body.expiresAt", "must be within 10 years", in.ExpiresAt.Format(time.RFC3339))
		}
	case in.ExpiresIn != "":
		d, err := time.ParseDuration(in.ExpiresIn)
		switch {
		case err != nil:
			add("body.expiresIn", `must be a duration such as "720h" or "90m"`, in.ExpiresIn)
		case d <= 0:
			add("body.expiresIn", "must be positive", in.ExpiresIn)
		case d > maxKeyLifetime:
			add("body.expiresIn", "must be at most 10 years (87840h)", in.ExpiresIn)
		default:
			expires = now.Add(d)
		}
	}
	if len(ps) > 0 {
		return nil, &problem.ValidationError{Problems: ps}
	}
	secret, hash := NewKey()
	k := &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: in.Role, TenantID: in.TenantID, Name: in.Name,
		Prefix: secret[len("ffk_"):][:keyPrefixLen], CreatedAt: now.UTC(), ExpiresAt: expires}
	if err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) }); err != nil {
		return nil, fmt.Errorf("create API key: %w", err)
	}
	return &CreatedKey{Key: *KeyView(k, now), Secret: secret}, nil
}

// RevokeKey revokes the key with the id: it fails on its next request,
// on every instance. The last active admin key is refused
// (store.ErrLastAdminKey).
func RevokeKey(ctx context.Context, s store.Store, id string, now time.Time) error {
	return s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.APIKeyRevoke(ctx, &store.APIKeyRevokeParams{ID: id, At: now.UTC()})
	})
}

// KeyPath names a key in a path.
type KeyPath struct {
	ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"The key's id (key_…), not its secret."`
}

// KeyListParams filters the key list.
type KeyListParams struct {
	PageParams
	TenantID string `query:"tenantId" maxLength:"128" doc:"Only this tenant's keys."`
	Active   bool   `query:"active" doc:"Only keys that work now: neither revoked nor expired."`
}

func (s *Server) registerKeys() {
	admin := map[string]any{"admin": true}
	st := s.cfg.Store

	huma.Register(s.api, huma.Operation{OperationID: "create-key", Method: http.MethodPost, Path: "/api/keys",
		Summary: "Create an API key",
		Description: "Creates an admin key or a key scoped to one tenant. The answer holds the key itself (`key`), " +
			"shown only this once; it is stored hashed. Admin keys only.",
		Tags: []string{tagKeys}, DefaultStatus: http.StatusCreated, Metadata: admin},
		func(ctx context.Context, in *struct{ Body KeyInput }) (*out[*CreatedKey], error) {
			k, err := CreateKey(ctx, st, &in.Body, s.now())
			return &out[*CreatedKey]{k}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-keys", Method: http.MethodGet, Path: "/api/keys",
		Summary: "List API keys", Description: "Oldest first, revoked and expired keys too unless `active=true`. " +
			"Never shows a secret: only its prefix. Admin keys only.",
		Tags: []string{tagKeys}, Metadata: admin},
		func(ctx context.Context, in *KeyListParams) (*out[*List[*Key]], error) {
			p := in.page()
			params := &store.APIKeyListParams{Page: p}
			if in.TenantID != "" {
				params.TenantID = &in.TenantID
			}
			now := s.now()
			if in.Active {
				params.Active = now
			}
			ks, total, err := st.APIKeyList(ctx, params)
			if err != nil {
				return nil, fail(err)
			}
			views := make([]*Key, len(ks))
			for i, k := range ks {
				views[i] = KeyView(k, now)
			}
			return &out[*List[*Key]]{newList(views, p, total)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-key", Method: http.MethodGet, Path: "/api/keys/{id}",
		Summary: "Get an API key", Description: "Its record, never its secret. Admin keys only.",
		Tags: []string{tagKeys}, Metadata: admin},
		func(ctx context.Context, in *struct{ KeyPath }) (*out[*Key], error) {
			k, err := st.APIKeyGet(ctx, in.ID)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*Key]{KeyView(k, s.now())}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "revoke-key", Method: http.MethodDelete, Path: "/api/keys/{id}",
		Summary: "Revoke an API key",
		Description: "The key fails with 401 from its next request on, on every instance. Revoking a revoked key " +
			"changes nothing. The last active admin key cannot be revoked (409): create another admin key first. Admin keys only.",
		Tags: []string{tagKeys}, DefaultStatus: http.StatusNoContent, Metadata: admin},
		func(ctx context.Context, in *struct{ KeyPath }) (*struct{}, error) {
			return nil, fail(RevokeKey(ctx, st, in.ID, s.now()))
		})
}
