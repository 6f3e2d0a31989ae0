package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// The tenant portal. A vendor's backend (admin key) mints a link for one
// tenant with POST /api/portal-sessions and puts it in an iframe of its own
// app. The link's token sits in the URL's fragment, which browsers never
// send to a server or in a Referer; the portal page trades it, once, for a
// portal session cookie that acts as that tenant, for the sections the link
// names, until the link's expiry. Nothing about the session can be widened:
// it holds no key, it is a tenant principal (admin-only routes are 403), and
// routes of sections it was not given are 403 too.

const (
	tagPortal    = "Tenant portal"
	portalCookie = "fieldflow_portal"
	// portalHeader marks the portal page's own requests: only they act
	// with the portal cookie, so a dashboard open in the same browser
	// keeps acting as its own login.
	portalHeader = "X-Fieldflow-Portal"
	// portalMaxTTL bounds a portal link's life: a working day.
	portalMaxTTL = 24 * time.Hour
)

// Portal sections, as features of a portal link.
const (
	featureFields      = "fields"
	featureRecords     = "records"
	featureWebhooks    = "webhooks"
	featureAutomations = "automations"
	featureSettings    = "settings"
)

var allFeatures = []string{featureFields, featureRecords, featureWebhooks, featureAutomations, featureSettings}

// PortalTheme is the vendor's branding of the portal.
type PortalTheme struct {
	Name        string `json:"name,omitempty" maxLength:"100" doc:"Shown in the portal's header instead of fieldflow."`
	AccentColor string `json:"accentColor,omitempty" pattern:"^#[0-9A-Fa-f]{6}$" doc:"The accent colour, as #rrggbb."`
	Logo        string `json:"logo,omitempty" maxLength:"65536" pattern:"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$" doc:"A data: URL of a PNG, JPEG, GIF or WebP image (at most 64 KiB): the portal fetches nothing from elsewhere."`
	Mode        string `json:"mode,omitempty" enum:"light,dark,auto" doc:"light, dark, or auto (the viewer's system setting, the default)."`
}

// PortalLinkInput asks for a portal link.
type PortalLinkInput struct {
	TenantID  string       `json:"tenantId" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"The tenant whose portal this is."`
	ExpiresIn int          `json:"expiresIn,omitempty" minimum:"5" maximum:"86400" doc:"Seconds until the link, and the session opened with it, end. Default 3600."`
	Features  []string     `json:"features,omitempty" nullable:"true" maxItems:"5" doc:"The sections the portal shows and may use: fields, records, webhooks, automations, settings. Default all."`
	Theme     *PortalTheme `json:"theme,omitempty"`
}

// PortalLink is a minted portal link.
type PortalLink struct {
	URL       string    `json:"url" doc:"The portal's address with the one-time token in its fragment: put it in an iframe's src, or open it."`
	Path      string    `json:"path" doc:"The same, relative to this server, for a server behind a proxy under another name."`
	ExpiresAt time.Time `json:"expiresAt"`
}

// PortalRedeemInput trades a link's token for a session.
type PortalRedeemInput struct {
	Token string `json:"token" minLength:"1" maxLength:"128" doc:"The token from the link's fragment (#token=…)."`
}

// PortalView is what a portal session may do and show.
type PortalView struct {
	TenantID  string      `json:"tenantId"`
	Features  []string    `json:"features"`
	Theme     PortalTheme `json:"theme"`
	CSRFToken string      `json:"csrfToken" doc:"Send it as X-CSRF-Token on every write."`
	ExpiresAt time.Time   `json:"expiresAt"`
}

type portalRedeemIn struct {
	Body PortalRedeemInput
	tls  bool
}

func (in *portalRedeemIn) Resolve(ctx huma.Context) []error {
	in.tls = ctx.TLS() != nil
	return nil
}

type portalLinkIn struct {
	Body PortalLinkInput
	base string
}

// Resolve notes the address the vendor's backend reached this server at,
// for the link's absolute URL.
func (in *portalLinkIn) Resolve(ctx huma.Context) []error {
	scheme := "http"
	if ctx.TLS() != nil {
		scheme = "https"
	}
	in.base = scheme + "://" + ctx.Host()
	return nil
}

type portalSessionOut struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      *PortalView
}

// portalCtx is the portal session a request authenticated with.
type portalCtx struct {
	view *PortalView
	hash string
}

type portalCtxKey struct{}

func newPortalToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newPortalCookie is the portal session's cookie. The portal lives in an
// iframe of the vendor's app: over TLS the cookie is SameSite=None and
// Partitioned (CHIPS), so a browser sends it inside that iframe and only
// there; over plain HTTP (a vendor app on the same site) it is Lax.
func newPortalCookie(value string, expires time.Time, tls bool) http.Cookie {
	c := http.Cookie{Name: portalCookie, Value: value, Path: "/", HttpOnly: true, Secure: tls, SameSite: http.SameSiteLaxMode}
	if tls {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires.UTC()
		c.MaxAge = int(time.Until(expires).Seconds())
	}
	return c
}

// featureOf is the portal section an operation belongs to; "" for those
// every portal session may use (who am I, the event log, event types).
func featureOf(op *huma.Operation) string {
	if op == nil || len(op.Tags) == 0 {
		return ""
	}
	switch op.Tags[0] {
	case tagFields:
		if strings.Contains(op.Path, "/entities/") || strings.Contains(op.Path, "/field-values") {
			return featureRecords
		}
		return featureFields
	case tagWebhooks:
		return featureWebhooks
	case tagAutomations:
		return featureAutomations
	case tagSettings:
		return featureSettings
	case tagEvents, tagSessions, tagPortal, tagExpressions:
		return ""
	}
	return "admin" // no portal session has it
}

// servePortal authenticates a request by its portal cookie, as serveSession
// does by the dashboard's. It reports whether the request carried one.
func (s *Server) servePortal(ctx huma.Context, next func(huma.Context)) bool {
	token := cookieValue(ctx.Header("Cookie"), portalCookie)
	if token == "" {
		return false
	}
	sess, err := s.cfg.Store.PortalSessionGetByHash(ctx.Context(), HashKey(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !time.Now().Before(sess.ExpiresAt)) {
		_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "the portal session has ended: ask for a new link")
		return true
	}
	if err != nil {
		_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "cannot check the portal session now")
		return true
	}
	csrf := csrfFor(token)
	switch ctx.Method() {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if subtle.ConstantTimeCompare([]byte(ctx.Header(csrfHeader)), []byte(csrf)) != 1 {
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "a write with a portal session needs its X-CSRF-Token header")
			return true
		}
	}
	op := ctx.Operation()
	if op != nil && op.Metadata["admin"] == true {
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this operation needs an admin key")
		return true
	}
	if f := featureOf(op); f != "" && !slices.Contains(sess.Features, f) {
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this portal does not include "+f)
		return true
	}
	// A portal session has no key: its rate limit is its own.
	p := newPrincipal("portal:"+sess.Hash[:16], store.RoleTenant, sess.TenantID)
	if wait := s.limits.keys.take(p.KeyID, routeCost(op), s.now()); wait > 0 {
		s.tooMany(ctx, wait, "rate limit of this portal session exceeded")
		return true
	}
	view := portalView(sess, csrf)
	ctx = huma.WithValue(ctx, principalKey{}, p)
	next(huma.WithValue(ctx, portalCtxKey{}, &portalCtx{view: view, hash: sess.Hash}))
	return true
}

func portalView(p *store.Portal, csrf string) *PortalView {
	v := &PortalView{TenantID: p.TenantID, Features: p.Features, CSRFToken: csrf, ExpiresAt: p.ExpiresAt}
	_ = json.Unmarshal(p.Theme, &v.Theme) // written by this package from a checked PortalTheme
	return v
}

func (s *Server) registerPortal() {
	huma.Register(s.api, huma.Operation{OperationID: "create-portal-link", Method: http.MethodPost, Path: "/api/portal-sessions",
		Summary: "Mint a tenant portal link",
		Description: "For the vendor's backend: a link to the portal of one tenant, to put in an iframe of the vendor's app " +
			"(its origin must be in --portal-origins) or to open. The token in the link's fragment works once, until expiresIn; " +
			"the session it opens ends then too, shows only the tenant's own data and the sections in features, and cannot be widened.",
		Tags: []string{tagPortal}, DefaultStatus: http.StatusCreated, Metadata: map[string]any{"admin": true}},
		func(ctx context.Context, in *portalLinkIn) (*out[*PortalLink], error) {
			features := allFeatures
			if in.Body.Features != nil {
				features = nil
				for i, f := range in.Body.Features {
					if !slices.Contains(allFeatures, f) {
						return nil, huma.Error422UnprocessableEntity("unknown portal section", &huma.ErrorDetail{
							Location: "body.features[" + strconv.Itoa(i) + "]", Message: "must be one of " + strings.Join(allFeatures, ", "), Value: f})
					}
					if !slices.Contains(features, f) {
						features = append(features, f)
					}
				}
				if len(features) == 0 {
					return nil, huma.Error422UnprocessableEntity("no portal section", &huma.ErrorDetail{
						Location: "body.features", Message: "needs at least one section (leave it out for all)"})
				}
			}
			theme := in.Body.Theme
			if theme == nil {
				theme = &PortalTheme{}
			}
			themeJSON, err := json.Marshal(theme)
			if err != nil {
				return nil, err
			}
			ttl := time.Duration(cmp.Or(in.Body.ExpiresIn, 3600)) * time.Second
			ttl = min(ttl, portalMaxTTL)
			now := events.StoredTime(time.Now())
			token := newPortalToken("ffp_")
			link := &store.Portal{Hash: HashKey(token), TenantID: in.Body.TenantID, Features: features, Theme: themeJSON,
				CreatedAt: now, ExpiresAt: now.Add(ttl)}
			err = s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				// Links are minted per page view: sweeping ended ones here
				// keeps both tables small without a worker of their own.
				if _, err := tx.PortalDeleteExpired(ctx, now); err != nil {
					return err
				}
				return tx.PortalLinkCreate(ctx, link)
			})
			if err != nil {
				return nil, fail(err)
			}
			path := "/portal#token=" + token
			return &out[*PortalLink]{&PortalLink{URL: in.base + path, Path: path, ExpiresAt: link.ExpiresAt}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "redeem-portal-link", Method: http.MethodPost, Path: "/api/portal-sessions/redeem",
		Summary: "Open a portal session with a link's token",
		Description: "Called by the portal page with the token from its fragment. The token works once: a second redeem, " +
			"or one after the link's expiry, is a 401. The answer sets the portal session cookie.",
		Tags: []string{tagPortal}, DefaultStatus: http.StatusCreated,
		Metadata: map[string]any{"public": true}, Security: []map[string][]string{}},
		func(ctx context.Context, in *portalRedeemIn) (*portalSessionOut, error) {
			now := events.StoredTime(time.Now())
			var sess *store.Portal
			token := newPortalToken("ffq_")
			err := s.cfg.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				link, err := tx.PortalLinkRedeem(ctx, HashKey(in.Body.Token), now)
				if err != nil {
					return err
				}
				sess = &store.Portal{Hash: HashKey(token), TenantID: link.TenantID, Features: link.Features, Theme: link.Theme,
					CreatedAt: now, ExpiresAt: link.ExpiresAt}
				return tx.PortalSessionCreate(ctx, sess)
			})
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error401Unauthorized("this portal link was used already or has expired: ask for a new one")
			}
			if err != nil {
				return nil, fail(err)
			}
			return &portalSessionOut{SetCookie: newPortalCookie(token, sess.ExpiresAt, in.tls), Body: portalView(sess, csrfFor(token))}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-current-portal", Method: http.MethodGet, Path: "/api/portal-sessions/current",
		Summary:     "The portal session a request acts with",
		Description: "Its tenant, sections, theme, CSRF token and expiry; 404 for a request made with an API key or a dashboard session.",
		Tags:        []string{tagPortal}},
		func(ctx context.Context, _ *struct{}) (*out[*PortalView], error) {
			pc, ok := ctx.Value(portalCtxKey{}).(*portalCtx)
			if !ok {
				return nil, huma.Error404NotFound("this request has no portal session")
			}
			return &out[*PortalView]{pc.view}, nil
		})
}
