package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Principal is who a request acts as.
type Principal struct {
	KeyID    string
	Role     string
	TenantID string // set for tenant keys
	// Scope is what the principal's requests may touch, made once here
	// and passed to every service call.
	Scope scope.Scope
}

func newPrincipal(keyID, role, tenantID string) *Principal {
	p := &Principal{KeyID: keyID, Role: role, TenantID: tenantID, Scope: scope.Tenant(tenantID)}
	if p.Admin() {
		p.Scope = scope.Admin()
	}
	return p
}

// Admin reports whether the principal may do everything.
func (p *Principal) Admin() bool { return p.Role == store.RoleAdmin }

type principalKey struct{}

// PrincipalFrom returns the authenticated principal of a request context.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// scopeOf is the scope of a request's principal; without one it is the
// zero Scope, which allows nothing.
func scopeOf(ctx context.Context) scope.Scope {
	if p := PrincipalFrom(ctx); p != nil {
		return p.Scope
	}
	return scope.Scope{}
}

// NewKey returns a new random API key and the hash to store.
func NewKey() (key, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	key = "ffk_" + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key)
}

// HashKey is the stored form of a key. Keys carry 256 random bits, so a
// fast hash is as safe as a slow one and costs nothing per request.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// authenticator looks keys up.
//
// It caches nothing: every request reads its key's row through the unique
// index on the hash. That read is what makes a revocation (or an expiry)
// take effect on the very next request on every instance, with no
// invalidation protocol between instances. It is cheap: a primary-key-like
// lookup is a few microseconds on SQLite and one short round trip on
// PostgreSQL, next to the writes most requests make anyway. A cache would
// still have to ask the database on every request whether its entries
// were still good (a "keys generation" counter, say), which is the same
// round trip for less certainty.
type authenticator struct {
	store store.Store
	log   *slog.Logger
	now   func() time.Time
	// touchEvery is how stale a key's lastUsedAt may get.
	touchEvery time.Duration

	mu       sync.Mutex
	touching map[string]bool // guarded by mu: ids of keys whose use is being recorded now
}

func newAuthenticator(s store.Store, log *slog.Logger, now func() time.Time) *authenticator {
	return &authenticator{store: s, log: log, now: now, touchEvery: time.Minute, touching: map[string]bool{}}
}

func keyFromRequest(h func(string) string) string {
	if k := h("X-API-Key"); k != "" {
		return k
	}
	if a := h("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// Why a key was refused; each is a 401.
var (
	errUnknownKey = errors.New("unknown API key")
	errKeyRevoked = errors.New("API key revoked")
	errKeyExpired = errors.New("API key expired")
)

// authMemo carries a request's successful lookup from an outer handler
// (idempotency) to the auth middleware, so that one request reads its key
// once.
type authMemo struct {
	key string
	p   *Principal
}

type authMemoKey struct{}

func withAuthMemo(ctx context.Context, key string, p *Principal) context.Context {
	return context.WithValue(ctx, authMemoKey{}, &authMemo{key: key, p: p})
}

func (a *authenticator) lookup(ctx context.Context, key string) (*Principal, error) {
	if m, ok := ctx.Value(authMemoKey{}).(*authMemo); ok && m.key == key {
		return m.p, nil
	}
	k, err := a.store.APIKeyGetByHash(ctx, HashKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, err
	}
	now := a.now()
	switch {
	case !k.RevokedAt.IsZero():
		return nil, errKeyRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return nil, errKeyExpired
	}
	if now.Sub(k.LastUsedAt) >= a.touchEvery {
		a.touch(ctx, k.ID, now)
	}
	return newPrincipal(k.ID, k.Role, k.TenantID), nil
}

// touch records a use of the key. The row read says when it was last
// recorded, so a key is written at most once per touchEvery: the store
// writes only over an older value (other instances), and touching keeps
// this instance's concurrent requests from all trying at once. A failure
// is logged, not the request's: lastUsedAt is bookkeeping.
func (a *authenticator) touch(ctx context.Context, id string, now time.Time) {
	a.mu.Lock()
	if a.touching[id] {
		a.mu.Unlock()
		return
	}
	a.touching[id] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.touching, id)
		a.mu.Unlock()
	}()
	err := a.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.APIKeyTouch(ctx, &store.APIKeyTouchParams{ID: id, At: now.UTC(), Before: now.Add(-a.touchEvery).UTC()})
	})
	if err != nil {
		a.log.Warn("record API key use", "key", id, "err", err)
	}
}

// authMiddleware authenticates every operation except those marked public,
// and applies the rate limits: failed authentications per client address
// (checked before the key is looked up, so that an address that guesses
// keys learns nothing while it waits) and requests per key.
func (s *Server) authMiddleware(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	if op != nil && op.Metadata["public"] == true {
		next(ctx)
		return
	}
	addr := s.clientAddr(ctx)
	if wait := s.limits.failures.wait(addr, s.now()); wait > 0 {
		s.tooMany(ctx, wait, "too many failed authentications from this address")
		return
	}
	refuse := func(detail string) {
		s.limits.failures.take(addr, 1, s.now())
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="fieldflow"`)
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, detail)
	}
	key := keyFromRequest(ctx.Header)
	if key == "" && ctx.Header(portalHeader) != "" && s.servePortal(ctx, next) {
		return
	}
	if key == "" && s.serveSession(ctx, next) {
		return
	}
	if key == "" {
		refuse("missing API key: send X-API-Key or Authorization: Bearer")
		return
	}
	if op := ctx.Operation(); op != nil && op.Metadata["metricsToken"] == true && s.metricsTokenMatches(key) {
		next(ctx)
		return
	}
	p, err := s.auth.lookup(ctx.Context(), key)
	switch {
	case errors.Is(err, errUnknownKey), errors.Is(err, errKeyRevoked), errors.Is(err, errKeyExpired):
		refuse(err.Error())
		return
	case err != nil:
		_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "cannot check the API key now")
		return
	}
	if wait := s.limits.keys.take(p.KeyID, routeCost(op), s.now()); wait > 0 {
		s.tooMany(ctx, wait, "rate limit of this API key exceeded")
		return
	}
	if op != nil && op.Metadata["admin"] == true && !p.Admin() {
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this operation needs an admin key")
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}
