package automations

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

const (
	// maxRefreshMargin is how long before its expiry a token is replaced,
	// at most. A token is replaced a quarter of its lifetime before expiry
	// when that is shorter, so one living 2 s is replaced after 1.5 s
	// rather than being refreshed on every call. A token read from the
	// store, whose lifetime is unknown, gets the full margin.
	maxRefreshMargin = 10 * time.Second
	// DefaultTokenRecheck is how long a token cached in memory is handed
	// out before the store is read again, so that a connection's new
	// credentials (UpdateOAuth2 drops its stored token) or a token another
	// instance fetched take effect.
	DefaultTokenRecheck = 10 * time.Second
	// tokenRequestTimeout bounds one fetch from a token server.
	tokenRequestTimeout = 30 * time.Second
	// tokenErrorBodyLimit caps how much of a token server's answer an
	// error quotes.
	tokenErrorBodyLimit = 300
)

// TokensConfig configures Tokens.
type TokensConfig struct {
	// Store holds the connections; fetched tokens are kept there, sealed.
	Store store.Store
	// Box seals and opens the connections' secrets.
	Box *secretbox.Box
	// Client makes token requests: the executor's client, with its SSRF
	// guard. Required.
	Client *http.Client
	// Recheck is how long a token cached in memory is used before the
	// store is read again; default DefaultTokenRecheck.
	Recheck time.Duration
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Tokens hands out OAuth2 access tokens of connections: the cached token
// while it is valid, else a new one from the token server (client
// credentials or refresh token grant), kept sealed in the store so that a
// restart reuses it. Only one fetch per connection runs at a time;
// concurrent callers share its result. It is safe for concurrent use.
type Tokens struct {
	store   store.Store
	box     *secretbox.Box
	client  *http.Client
	recheck time.Duration
	now     func() time.Time

	mu       sync.Mutex
	cached   map[string]*cachedToken // by connection; guarded by mu
	flights  map[string]*tokenFlight // the fetch under way, by connection; guarded by mu
	rejected map[string]string       // the token an API last rejected, by connection; guarded by mu
}

// cachedToken is a connection's current token.
type cachedToken struct {
	token     string
	issued    time.Time // zero when read from the store
	expiry    time.Time // zero: none given
	refreshAt time.Time // zero: never
	checked   time.Time // last read from, or written to, the store
}

func newCachedToken(token string, issued, expiry, now time.Time) *cachedToken {
	c := &cachedToken{token: token, issued: issued, expiry: expiry, checked: now}
	if !expiry.IsZero() {
		margin := maxRefreshMargin
		if !issued.IsZero() {
			margin = min(margin, expiry.Sub(issued)/4)
		}
		c.refreshAt = expiry.Add(-margin)
	}
	return c
}

// valid reports whether the token may still be handed out at now.
func (c *cachedToken) valid(now time.Time) bool {
	return c.refreshAt.IsZero() || now.Before(c.refreshAt)
}

// tokenFlight is one fetch of a connection's token; done closes when
// token and err are set.
type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// NewTokens returns Tokens over a store.
func NewTokens(cfg TokensConfig) *Tokens {
	t := &Tokens{store: cfg.Store, box: cfg.Box, client: cfg.Client, recheck: cfg.Recheck, now: cfg.Now,
		cached: map[string]*cachedToken{}, flights: map[string]*tokenFlight{}, rejected: map[string]string{}}
	if t.recheck <= 0 {
		t.recheck = DefaultTokenRecheck
	}
	if t.now == nil {
		t.now = time.Now
	}
	return t
}

// Token returns a valid access token of the connection.
func (t *Tokens) Token(ctx context.Context, connectionID string) (string, error) {
	// A fetch that began before an Invalidate may bring back the rejected
	// token (it read the store first); then wait for a fresh fetch.
	for range 3 {
		t.mu.Lock()
		if c := t.cached[connectionID]; c != nil && c.valid(t.now()) && t.now().Sub(c.checked) < t.recheck {
			t.mu.Unlock()
			return c.token, nil
		}
		f := t.flights[connectionID]
		if f == nil {
			f = &tokenFlight{done: make(chan struct{})}
			t.flights[connectionID] = f
			// The fetch outlives a caller that gives up: the others
			// waiting for it, and the next caller, still want it.
			go t.fly(context.WithoutCancel(ctx), connectionID, f)
		}
		t.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("OAuth2 connection %s: wait for a token: %w", connectionID, ctx.Err())
		}
		if f.err != nil {
			return "", f.err
		}
		t.mu.Lock()
		stale := f.token == t.rejected[connectionID]
		t.mu.Unlock()
		if !stale {
			return f.token, nil
		}
	}
	return "", fmt.Errorf("OAuth2 connection %s: the token server keeps handing out the token the API rejected", connectionID)
}

// Invalidate drops a token an API rejected, if it is still the
// connection's current one: the next Token call fetches a new one.
func (t *Tokens) Invalidate(connectionID, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.cached[connectionID]; c != nil && c.token != token {
		return // already replaced
	}
	delete(t.cached, connectionID)
	t.rejected[connectionID] = token
}

func (t *Tokens) fly(ctx context.Context, connectionID string, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, tokenRequestTimeout)
	defer cancel()
	c, err := t.load(ctx, connectionID)
	t.mu.Lock()
	if err == nil {
		f.token = c.token
		if c.token != t.rejected[connectionID] {
			t.cached[connectionID] = c
		}
	}
	f.err = err
	delete(t.flights, connectionID)
	t.mu.Unlock()
	close(f.done)
}

// load returns the stored token when it is still valid and not rejected,
// else fetches, stores and returns a new one.
func (t *Tokens) load(ctx context.Context, id string) (*cachedToken, error) {
	conn, err := t.store.OAuth2ConnectionGet(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("OAuth2 connection %s: %w", id, err)
	}
	t.mu.Lock()
	rejected, prev := t.rejected[id], t.cached[id]
	t.mu.Unlock()

	if conn.AccessToken != "" {
		tok, err := t.box.Open(conn.AccessToken)
		if err != nil {
			return nil, fmt.Errorf("OAuth2 connection %s: open stored access token: %w", describeConn(conn), err)
		}
		var issued time.Time
		if prev != nil && prev.token == tok {
			issued = prev.issued
		}
		c := newCachedToken(tok, issued, conn.TokenExpiresAt, t.now())
		if tok != rejected && c.valid(t.now()) {
			return c, nil
		}
	}

	requested := t.now()
	tok, err := t.fetch(ctx, conn)
	if err != nil {
		return nil, err
	}
	c := newCachedToken(tok.AccessToken, requested, expiryOf(tok, requested), t.now())
	saved, err := t.save(ctx, conn, tok, c.expiry)
	if err != nil {
		return nil, err
	}
	if !saved {
		// The connection changed meanwhile: read it again next time.
		c.checked = time.Time{}
	}
	t.mu.Lock()
	if t.rejected[id] == tok.AccessToken {
		// The token server just handed it out: trust it again.
		delete(t.rejected, id)
	}
	t.mu.Unlock()
	return c, nil
}

// expiryOf is when a token requested at requested (on our clock) expires:
// expires_in counted from the request, which errs on the early side. Zero
// when the server gave no lifetime.
func expiryOf(tok *oauth2.Token, requested time.Time) time.Time {
	var lifetime time.Duration
	switch {
	case tok.ExpiresIn > 0:
		lifetime = time.Duration(tok.ExpiresIn) * time.Second
	case !tok.Expiry.IsZero():
		lifetime = time.Until(tok.Expiry)
	default:
		return time.Time{}
	}
	// The stores keep microseconds.
	return events.StoredTime(requested.Add(lifetime))
}

// fetch asks the connection's token server for a new token.
func (t *Tokens) fetch(ctx context.Context, conn *store.OAuth2Connection) (*oauth2.Token, error) {
	secret, err := t.box.Open(conn.ClientSecret)
	if err != nil {
		return nil, fmt.Errorf("OAuth2 connection %s: open client secret: %w", describeConn(conn), err)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, t.client)
	var tok *oauth2.Token
	switch conn.GrantType {
	case GrantClientCredentials:
		cfg := clientcredentials.Config{ClientID: conn.ClientID, ClientSecret: secret, TokenURL: conn.TokenURL, Scopes: conn.Scopes}
		tok, err = cfg.Token(ctx)
	case GrantRefreshToken:
		refresh, oerr := t.box.Open(conn.RefreshToken)
		if oerr != nil {
			return nil, fmt.Errorf("OAuth2 connection %s: open refresh token: %w", describeConn(conn), oerr)
		}
		if refresh == "" {
			return nil, &tokenError{conn: describeConn(conn), msg: "has no refresh token"}
		}
		cfg := oauth2.Config{ClientID: conn.ClientID, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: conn.TokenURL}, Scopes: conn.Scopes}
		tok, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	default:
		return nil, &tokenError{conn: describeConn(conn), msg: fmt.Sprintf("grant type %q is not supported", conn.GrantType)}
	}
	if err != nil {
		return nil, describeTokenError(conn, err)
	}
	if tok.AccessToken == "" {
		return nil, &tokenError{conn: describeConn(conn), msg: "the token server answered without an access_token", status: http.StatusOK}
	}
	return tok, nil
}

// save keeps a fetched token, and a rotated refresh token, sealed in the
// store, unless the connection changed since it was read (then its new
// credentials decide the next token, and saved is false).
func (t *Tokens) save(ctx context.Context, read *store.OAuth2Connection, tok *oauth2.Token, expiry time.Time) (saved bool, err error) {
	err = t.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		saved = false
		conn, err := tx.OAuth2ConnectionGet(ctx, read.ID)
		if err != nil {
			return err
		}
		if !conn.UpdatedAt.Equal(read.UpdatedAt) {
			return nil
		}
		saved = true
		conn.AccessToken, conn.TokenExpiresAt = t.box.Seal(tok.AccessToken), expiry
		if conn.GrantType == GrantRefreshToken && tok.RefreshToken != "" {
			old, err := t.box.Open(conn.RefreshToken)
			if err != nil || old != tok.RefreshToken {
				conn.RefreshToken = t.box.Seal(tok.RefreshToken)
			}
		}
		return tx.OAuth2ConnectionUpdate(ctx, conn)
	})
	if err != nil {
		// A rotated refresh token that is not kept may be lost for good.
		return false, fmt.Errorf("OAuth2 connection %s: keep the new token: %w", describeConn(read), err)
	}
	return saved, nil
}

func describeConn(c *store.OAuth2Connection) string {
	return fmt.Sprintf("%s (%q)", c.ID, c.Name)
}

// tokenError is a token server refusing, or answering nonsense.
type tokenError struct {
	conn   string
	status int // the token server's status; 0 when it did not answer
	msg    string
}

func (e *tokenError) Error() string { return "OAuth2 connection " + e.conn + ": " + e.msg }

// retryableTokenError reports whether getting a token may work later: not
// when the connection is gone or the token server refused the request
// (4xx other than 408 and 429), which new credentials fix, not time.
func retryableTokenError(err error) bool {
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	var te *tokenError
	if errors.As(err, &te) {
		return te.status == 0 || RetryableStatus(te.status, nil)
	}
	return true
}

// describeTokenError says what the token server answered.
func describeTokenError(conn *store.OAuth2Connection, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("OAuth2 connection %s: token request to %s: %w", describeConn(conn), conn.TokenURL, err)
	}
	answer := re.ErrorCode
	if re.ErrorDescription != "" {
		answer += ": " + re.ErrorDescription
	}
	if answer == "" {
		body := strings.Join(strings.Fields(string(re.Body)), " ")
		if len(body) > tokenErrorBodyLimit {
			body = body[:tokenErrorBodyLimit] + "…"
		}
		answer = cmp.Or(body, "(empty body)")
	}
	return &tokenError{conn: describeConn(conn), status: re.Response.StatusCode,
		msg: fmt.Sprintf("the token server %s answered %d: %s", conn.TokenURL, re.Response.StatusCode, answer)}
}
