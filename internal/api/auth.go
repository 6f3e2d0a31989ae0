package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/store"
)

// Principal is who a request acts as.
type Principal struct {
	KeyID    string
	Role     string
	TenantID string // set for tenant keys
}

// Admin reports whether the principal may do everything.
func (p *Principal) Admin() bool { return p.Role == store.RoleAdmin }

type principalKey struct{}

// PrincipalFrom returns the authenticated principal of a request context.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
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

// authenticator looks keys up, caching hits briefly.
type authenticator struct {
	store store.Store
	mu    sync.Mutex
	cache map[string]cachedPrincipal // guarded by mu
}

type cachedPrincipal struct {
	p       *Principal
	expires time.Time
}

const authCacheTTL = time.Minute

func newAuthenticator(s store.Store) *authenticator {
	return &authenticator{store: s, cache: map[string]cachedPrincipal{}}
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

var errUnknownKey = errors.New("unknown API key")

func (a *authenticator) lookup(ctx context.Context, key string) (*Principal, error) {
	hash := HashKey(key)
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.p, nil
	}
	k, err := a.store.APIKeyGetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{KeyID: k.ID, Role: k.Role, TenantID: k.TenantID}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		clear(a.cache)
	}
	a.cache[hash] = cachedPrincipal{p: p, expires: now.Add(authCacheTTL)}
	a.mu.Unlock()
	return p, nil
}

// authMiddleware authenticates every operation except those marked public.
func (s *Server) authMiddleware(ctx huma.Context, next func(huma.Context)) {
	if op := ctx.Operation(); op != nil && op.Metadata["public"] == true {
		next(ctx)
		return
	}
	key := keyFromRequest(ctx.Header)
	if key == "" && s.serveSession(ctx, next) {
		return
	}
	if key == "" {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="fieldflow"`)
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "missing API key: send X-API-Key or Authorization: Bearer")
		return
	}
	p, err := s.auth.lookup(ctx.Context(), key)
	if errors.Is(err, errUnknownKey) {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="fieldflow"`)
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "unknown API key")
		return
	}
	if err != nil {
		_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "cannot check the API key now")
		return
	}
	if op := ctx.Operation(); op != nil && op.Metadata["admin"] == true && !p.Admin() {
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this operation needs an admin key")
		return
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// checkTenant refuses a tenant key acting on another tenant.
func checkTenant(ctx context.Context, tenantID string) error {
	p := PrincipalFrom(ctx)
	if p == nil || p.Admin() || p.TenantID == tenantID {
		return nil
	}
	return huma.Error403Forbidden("this key belongs to another tenant")
}

// tenantFilter narrows a list to the key's tenant: a tenant key may ask for
// its own tenant only.
func tenantFilter(ctx context.Context, requested string) (*string, error) {
	p := PrincipalFrom(ctx)
	if p != nil && !p.Admin() {
		if requested != "" && requested != p.TenantID {
			return nil, huma.Error403Forbidden("this key belongs to another tenant")
		}
		return &p.TenantID, nil
	}
	if requested == "" {
		return nil, nil
	}
	return &requested, nil
}
