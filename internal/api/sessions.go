package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Dashboard sessions. The browser logs in once with an API key and then
// holds only a random session token in an HttpOnly cookie, which script
// cannot read: the key is never kept in localStorage. Only the token's hash
// is stored. A cookie is sent by the browser on its own, so every write
// made with it must also carry X-CSRF-Token, a value derived from the token
// that only the app's own pages can learn (from the login answer or GET
// /api/sessions/current) and that another site cannot make a browser send.

const (
	tagSessions   = "Sessions"
	sessionCookie = "fieldflow_session"
	// sessionTTL is how long a login lasts: a working day.
	sessionTTL = 12 * time.Hour
	csrfHeader = "X-CSRF-Token"
)

// SessionView says who a request acts as.
type SessionView struct {
	Role      string     `json:"role" enum:"admin,tenant" doc:"The role of the key the request acts as."`
	TenantID  string     `json:"tenantId,omitempty" doc:"The tenant of a tenant key."`
	KeyID     string     `json:"keyId" doc:"The id of the API key the request acts as."`
	Via       string     `json:"via" enum:"session,key,portal" doc:"How the request authenticated: a dashboard session cookie, an API key header, or a tenant portal session."`
	CSRFToken string     `json:"csrfToken,omitempty" doc:"For a session: send it as X-CSRF-Token on every write (POST, PUT, PATCH, DELETE)."`
	ExpiresAt *time.Time `json:"expiresAt,omitempty" doc:"For a session: when it ends."`
}

// sessionLogin is the login request; Resolve notes whether it came over TLS
// so the cookie can be Secure.
type sessionLogin struct {
	Body struct {
		Key string `json:"key" minLength:"1" maxLength:"512" doc:"An API key (admin or tenant). It is checked and not kept by the browser."`
	}
	tls bool
}

func (in *sessionLogin) Resolve(ctx huma.Context) []error {
	in.tls = ctx.TLS() != nil
	return nil
}

// sessionTLS notes whether a request came over TLS.
type sessionTLS struct{ tls bool }

func (in *sessionTLS) Resolve(ctx huma.Context) []error {
	in.tls = ctx.TLS() != nil
	return nil
}

type sessionOut struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      *SessionView
}

type sessionLogoutOut struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
}

// sessionCtx is the session a request authenticated with.
type sessionCtx struct {
	hash      string
	csrf      string
	expiresAt time.Time
}

type sessionCtxKey struct{}

// csrfFor derives a session's CSRF token from its secret token, so nothing
// more needs storing and only the holder of the cookie can know it.
func csrfFor(token string) string {
	sum := sha256.Sum256([]byte("fieldflow csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newSessionToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "ffs_" + base64.RawURLEncoding.EncodeToString(b)
}

func newSessionCookie(value string, expires time.Time, secure bool) http.Cookie {
	c := http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires.UTC()
		c.MaxAge = int(time.Until(expires).Seconds())
	}
	return c
}

// cookieValue is the value of the named cookie in a Cookie header, if any.
func cookieValue(header, name string) string {
	if header == "" {
		return ""
	}
	cookies, err := http.ParseCookie(header)
	if err != nil {
		return ""
	}
	for _, c := range cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// serveSession authenticates a request that sent no API key by its session
// cookie. It reports whether the request carried one (and so was answered
// or passed on); false leaves the request to the API key checks.
func (s *Server) serveSession(ctx huma.Context, next func(huma.Context)) bool {
	token := cookieValue(ctx.Header("Cookie"), sessionCookie)
	if token == "" {
		return false
	}
	sess, err := s.cfg.Store.SessionGetByHash(ctx.Context(), HashKey(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !time.Now().Before(sess.ExpiresAt)) {
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "the session has ended: log in again")
		return true
	}
	if err != nil {
		_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "cannot check the session now")
		return true
	}
	csrf := csrfFor(token)
	switch ctx.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if subtle.ConstantTimeCompare([]byte(ctx.Header(csrfHeader)), []byte(csrf)) != 1 {
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "a write with a session cookie needs the session's X-CSRF-Token header")
			return true
		}
	}
	p := newPrincipal(sess.KeyID, sess.Role, sess.TenantID)
	if op := ctx.Operation(); op != nil && op.Metadata["admin"] == true && !p.Admin() {
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this operation needs an admin key")
		return true
	}
	ctx = huma.WithValue(ctx, principalKey{}, p)
	next(huma.WithValue(ctx, sessionCtxKey{}, &sessionCtx{hash: sess.Hash, csrf: csrf, expiresAt: sess.ExpiresAt}))
	return true
}

func (s *Server) registerSessions() {
	huma.Register(s.api, huma.Operation{OperationID: "create-session", Method: http.MethodPost, Path: "/api/sessions",
		Summary: "Log in to the dashboard",
		Description: "Checks the API key and opens a server-side session of " + outbound.FormatDuration(sessionTTL) + ": an HttpOnly, " +
			"SameSite=Strict cookie (Secure over TLS) that acts as the key. Every write made with the cookie must send " +
			"the returned csrfToken as X-CSRF-Token; without it the answer is 403.",
		Tags: []string{tagSessions}, DefaultStatus: http.StatusCreated,
		Metadata: map[string]any{"public": true}, Security: []map[string][]string{}},
		func(ctx context.Context, in *sessionLogin) (*sessionOut, error) {
			p, err := s.auth.lookup(ctx, in.Body.Key)
			if errors.Is(err, errUnknownKey) {
				return nil, huma.Error401Unauthorized("unknown API key", &huma.ErrorDetail{Location: "body.key", Message: "no such API key"})
			}
			if err != nil {
				return nil, huma.Error503ServiceUnavailable("cannot check the API key now")
			}
			token := newSessionToken()
			now := events.StoredTime(time.Now())
			sess := &store.Session{Hash: HashKey(token), KeyID: p.KeyID, CreatedAt: now, ExpiresAt: now.Add(sessionTTL)}
			err = s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				// Logins are rare: sweeping the ended sessions here keeps the
				// table small without a worker of its own.
				if _, err := tx.SessionDeleteExpired(ctx, now); err != nil {
					return err
				}
				return tx.SessionCreate(ctx, sess)
			})
			if err != nil {
				return nil, fail(err)
			}
			return &sessionOut{SetCookie: newSessionCookie(token, sess.ExpiresAt, in.tls), Body: &SessionView{
				Role: p.Role, TenantID: p.TenantID, KeyID: p.KeyID, Via: "session", CSRFToken: csrfFor(token), ExpiresAt: &sess.ExpiresAt}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-current-session", Method: http.MethodGet, Path: "/api/sessions/current",
		Summary: "Who am I", Description: "The role and tenant the request acts as; for a session also its CSRF token and expiry.",
		Tags: []string{tagSessions}},
		func(ctx context.Context, _ *struct{}) (*out[*SessionView], error) {
			p := PrincipalFrom(ctx)
			v := &SessionView{Role: p.Role, TenantID: p.TenantID, KeyID: p.KeyID, Via: "key"}
			if sc, ok := ctx.Value(sessionCtxKey{}).(*sessionCtx); ok {
				v.Via, v.CSRFToken, v.ExpiresAt = "session", sc.csrf, &sc.expiresAt
			}
			if pc, ok := ctx.Value(portalCtxKey{}).(*portalCtx); ok {
				v.Via, v.CSRFToken, v.ExpiresAt = "portal", pc.view.CSRFToken, &pc.view.ExpiresAt
			}
			return &out[*SessionView]{v}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-current-session", Method: http.MethodDelete, Path: "/api/sessions/current",
		Summary: "Log out", Description: "Ends the session and clears its cookie (it needs X-CSRF-Token like every write). With an API key it changes nothing.",
		Tags: []string{tagSessions}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *sessionTLS) (*sessionLogoutOut, error) {
			if sc, ok := ctx.Value(sessionCtxKey{}).(*sessionCtx); ok {
				if err := s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SessionDelete(ctx, sc.hash) }); err != nil {
					return nil, fail(err)
				}
			}
			return &sessionLogoutOut{SetCookie: newSessionCookie("", time.Time{}, in.tls)}, nil
		})
}
