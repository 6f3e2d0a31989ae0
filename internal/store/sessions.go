package store

import (
	"context"
	"encoding/json"
	"time"
)

// Session is a dashboard login opened with an API key: the browser keeps a
// random token, the database only its hash. Role and TenantID are the
// key's, read through KeyID, so a session can never outgrow its key.
type Session struct {
	Hash      string
	KeyID     string
	Role      string // read only: the key's role
	TenantID  string // read only: the key's tenant
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SessionReader reads sessions.
type SessionReader interface {
	// SessionGetByHash returns the session with the token hash and its
	// key's role and tenant, or ErrNotFound (also when the key is gone).
	// An expired session is still returned: the caller compares ExpiresAt
	// with its own clock.
	SessionGetByHash(ctx context.Context, hash string) (*Session, error)
}

// SessionWriter writes sessions.
type SessionWriter interface {
	SessionCreate(ctx context.Context, s *Session) error
	// SessionDelete removes the session; deleting a missing one is not an
	// error (logging out twice is fine).
	SessionDelete(ctx context.Context, hash string) error
	// SessionDeleteExpired removes the sessions that expired before t and
	// counts them.
	SessionDeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// Portal is what a portal link grants and its session holds: one tenant,
// the portal's sections and the vendor's theme, until ExpiresAt.
type Portal struct {
	Hash     string
	TenantID string
	// Features are the sections the portal shows (and the routes it may
	// use); never empty.
	Features []string
	// Theme is the vendor's branding, a JSON object.
	Theme     json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PortalReader reads portal sessions.
type PortalReader interface {
	// PortalSessionGetByHash returns the portal session with the token
	// hash, or ErrNotFound. An expired one is still returned: the caller
	// compares ExpiresAt with its own clock.
	PortalSessionGetByHash(ctx context.Context, hash string) (*Portal, error)
}

// PortalWriter writes portal links and sessions.
type PortalWriter interface {
	PortalLinkCreate(ctx context.Context, l *Portal) error
	// PortalLinkRedeem removes the link and returns it, once: a second
	// redeem, an unknown hash or a link expired at now is ErrNotFound.
	PortalLinkRedeem(ctx context.Context, hash string, now time.Time) (*Portal, error)
	PortalSessionCreate(ctx context.Context, s *Portal) error
	// PortalSessionDelete ends the session; a missing one is not an error.
	PortalSessionDelete(ctx context.Context, hash string) error
	// PortalDeleteExpired removes the links and sessions that expired
	// before t and counts them.
	PortalDeleteExpired(ctx context.Context, before time.Time) (int, error)
}
