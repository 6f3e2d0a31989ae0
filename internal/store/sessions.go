package store

import (
	"context"
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
