package automations

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
	"github.com/fieldflow/fieldflow/internal/templates"
)

const (
	testClientID     = "client-1"
	testClientSecret = "secret-1"
)

// tokenServerOpts configures a test token server.
type tokenServerOpts struct {
	// expiresIn is the tokens' lifetime; 0 leaves expires_in out.
	expiresIn time.Duration
	// delay holds each answer back.
	delay time.Duration
	// rotate issues a new refresh token with each refresh and refuses the
	// old one, as servers with refresh token rotation do.
	rotate bool
	// refuse answers every request with this status and body.
	refuseStatus int
	refuseBody   string
	refuseType   string
}

// tokenServer is a real OAuth2 token server on 127.0.0.1 that also judges
// the tokens it issued.
type tokenServer struct {
	URL  string
	opts tokenServerOpts

	mu       sync.Mutex
	forms    []url.Values         // guarded by mu
	secrets  []string             // client secrets presented; guarded by mu
	issued   map[string]time.Time // token → expiry (zero: none); guarded by mu
	revoked  map[string]bool      // guarded by mu
	refresh  string               // the refresh token it accepts; guarded by mu
	sequence int                  // guarded by mu
}

func startTokenServer(t *testing.T, opts tokenServerOpts) *tokenServer {
	t.Helper()
	ts := &tokenServer{opts: opts, issued: map[string]time.Time{}, revoked: map[string]bool{}, refresh: "rt-0"}
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL + "/oauth/token"
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if ts.opts.delay > 0 {
		time.Sleep(ts.opts.delay)
	}
	_ = r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.forms = append(ts.forms, r.PostForm)
	ts.secrets = append(ts.secrets, secret)

	fail := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, body)
	}
	if ts.opts.refuseStatus != 0 {
		w.Header().Set("Content-Type", ts.opts.refuseType)
		w.WriteHeader(ts.opts.refuseStatus)
		_, _ = fmt.Fprint(w, ts.opts.refuseBody)
		return
	}
	if id != testClientID || !strings.HasPrefix(secret, "secret-") {
		fail(http.StatusUnauthorized, `{"error":"invalid_client"}`)
		return
	}
	answer := map[string]any{"token_type": "Bearer"}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != ts.refresh {
			fail(http.StatusBadRequest, `{"error":"invalid_grant","error_description":"refresh token is not valid"}`)
			return
		}
		if ts.opts.rotate {
			var i int
			_, _ = fmt.Sscanf(ts.refresh, "rt-%d", &i)
			ts.refresh = fmt.Sprintf("rt-%d", i+1)
			answer["refresh_token"] = ts.refresh
		}
	default:
		fail(http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
		return
	}
	ts.sequence++
	token := fmt.Sprintf("at-%d", ts.sequence)
	var expiry time.Time
	if ts.opts.expiresIn > 0 {
		expiry = time.Now().Add(ts.opts.expiresIn)
		answer["expires_in"] = int(ts.opts.expiresIn / time.Second)
	}
	ts.issued[token] = expiry
	answer["access_token"] = token
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// valid reports whether the server would accept token now.
func (ts *tokenServer) valid(token string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	expiry, ok := ts.issued[token]
	return ok && !ts.revoked[token] && (expiry.IsZero() || time.Now().Before(expiry))
}

func (ts *tokenServer) revoke(token string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.revoked[token] = true
}

func (ts *tokenServer) requests() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.forms)
}

func (ts *tokenServer) lastForm() url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[len(ts.forms)-1]
}

type tokensBundle struct {
	store  store.Store
	box    *secretbox.Box
	client *http.Client
	ts     *tokenServer
	tokens *Tokens
	exec   *Executor
	// api answers 200 to a token the token server accepts, else 401.
	api *testServer
}

func setupTokens(t *testing.T, dialect string, opts tokenServerOpts) *tokensBundle {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	require.NoError(t, err)
	b := &tokensBundle{store: storetest.Open(t, dialect), box: box, client: outbound.NewHTTPClient(true), ts: startTokenServer(t, opts)}
	b.tokens = b.newTokens(0)
	b.exec = NewExecutor(ExecutorConfig{Client: b.client, Version: "test", Tokens: b.tokens})
	b.api = startServer(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
		if !b.ts.valid(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}})
	return b
}

// newTokens is another Tokens over the same store, as after a restart.
func (b *tokensBundle) newTokens(recheck time.Duration) *Tokens {
	return NewTokens(TokensConfig{Store: b.store, Box: b.box, Client: b.client, Recheck: recheck})
}

// connection stores a connection to the token server, sealed as the
// Service seals it.
func (b *tokensBundle) connection(t *testing.T, grant string) *store.OAuth2Connection {
	t.Helper()
	return b.connectionTo(t, grant, b.ts.URL)
}

func (b *tokensBundle) connectionTo(t *testing.T, grant, tokenURL string) *store.OAuth2Connection {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := &store.OAuth2Connection{ID: events.NewID("oac_"), Name: "CRM", TokenURL: tokenURL, ClientID: testClientID,
		ClientSecret: b.box.Seal(testClientSecret), Scopes: []string{"contacts.write", "deals.read"}, GrantType: grant, CreatedAt: now, UpdatedAt: now}
	if grant == GrantRefreshToken {
		c.RefreshToken = b.box.Seal("rt-0")
	}
	require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error { return tx.OAuth2ConnectionCreate(ctx, c) }))
	return c
}

func (b *tokensBundle) stored(t *testing.T, id string) (conn *store.OAuth2Connection, access, refresh string) {
	t.Helper()
	conn, err := b.store.OAuth2ConnectionGet(context.Background(), id)
	require.NoError(t, err)
	access, err = b.box.Open(conn.AccessToken)
	require.NoError(t, err)
	refresh, err = b.box.Open(conn.RefreshToken)
	require.NoError(t, err)
	return conn, access, refresh
}

func (b *tokensBundle) callAPI(connectionID string) *StepOutcome {
	return b.exec.HTTP(context.Background(), &Action{Name: "crm", Type: ActionHTTP, URL: b.api.URL + "/contacts",
		Auth: &Auth{Type: AuthOAuth2, ConnectionID: connectionID}}, &templates.Scope{}, "k")
}

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// eachDialect runs f as a parallel subtest per database.
func eachDialect(t *testing.T, f func(t *testing.T, dialect string)) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			f(t, dialect)
		})
	}
}

func TestTokensClientCredentialsAreReplacedBeforeTheyExpire(t *testing.T) {
	t.Parallel()
	// Both databases in one test, side by side: the 5 s of calls then hold
	// one of the parallel test slots, not two.
	type run struct {
		b     *tokensBundle
		c     *store.OAuth2Connection
		calls int
		err   error
	}
	runs := make([]*run, len(storetest.Dialects))
	for i, dialect := range storetest.Dialects {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: 2 * time.Second})
		runs[i] = &run{b: b, c: b.connection(t, GrantClientCredentials)}
	}

	// Calls across 5 s of 2 s tokens: each must carry a token the server
	// still accepts, without any 401 and retry.
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			start := time.Now()
			for time.Since(start) < 5*time.Second {
				out := r.b.callAPI(r.c.ID)
				if out.Err != nil || len(out.Notes) > 0 {
					r.err = fmt.Errorf("call after %s: %v %v", time.Since(start), out.Err, out.Notes)
					return
				}
				r.calls++
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()

	for i, r := range runs {
		b := r.b
		require.NoError(t, r.err, storetest.Dialects[i])
		require.Len(t, b.api.requests(), r.calls, "no call was sent twice")
		// A 2 s token is replaced after 1.5 s: about 4 tokens in 5 s (fewer
		// when a loaded machine makes calls slow), not one per call. Every
		// call succeeding without a 401 proves none carried an expired one.
		require.GreaterOrEqual(t, b.ts.requests(), 2, "the first token was replaced")
		require.LessOrEqual(t, b.ts.requests(), 5)
		require.Greater(t, r.calls, 2*b.ts.requests())
		form := b.ts.lastForm()
		require.Equal(t, "client_credentials", form.Get("grant_type"))
		require.Equal(t, "contacts.write deals.read", form.Get("scope"))

		conn, access, _ := b.stored(t, r.c.ID)
		require.True(t, strings.HasPrefix(conn.AccessToken, "v1:"), "stored sealed")
		require.Equal(t, fmt.Sprintf("at-%d", b.ts.requests()), access)
		b.ts.mu.Lock()
		expiry := b.ts.issued[access]
		b.ts.mu.Unlock()
		require.WithinDuration(t, expiry, conn.TokenExpiresAt, time.Second, "its expiry is stored")
		require.False(t, conn.TokenExpiresAt.After(expiry), "and errs on the early side")
	}
}

func TestTokensAreReusedAfterARestart(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: time.Hour})
		c := b.connection(t, GrantClientCredentials)

		tok, err := b.tokens.Token(context.Background(), c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)

		restarted := b.newTokens(0)
		tok, err = restarted.Token(context.Background(), c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)
		require.Equal(t, 1, b.ts.requests(), "the stored token was reused")
	})
}

func TestTokensRefreshTokenGrantKeepsTheRotatedRefreshToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: 2 * time.Second, rotate: true})
		clock := &testClock{now: time.Now()}
		tokens := NewTokens(TokensConfig{Store: b.store, Box: b.box, Client: b.client, Now: clock.Now})
		c := b.connection(t, GrantRefreshToken)

		ctx := context.Background()
		tok, err := tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)
		require.Equal(t, "refresh_token", b.ts.lastForm().Get("grant_type"))
		require.Equal(t, "rt-0", b.ts.lastForm().Get("refresh_token"))
		_, access, refresh := b.stored(t, c.ID)
		require.Equal(t, "at-1", access)
		require.Equal(t, "rt-1", refresh, "the rotated refresh token is kept")

		clock.advance(1400 * time.Millisecond)
		tok, err = tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-1", tok, "still valid")
		require.Equal(t, 1, b.ts.requests())

		// Past three quarters of its 2 s life it is replaced, with the
		// rotated refresh token: the server refuses rt-0 by now.
		clock.advance(200 * time.Millisecond)
		tok, err = tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-2", tok)
		require.Equal(t, "rt-1", b.ts.lastForm().Get("refresh_token"))
		_, access, refresh = b.stored(t, c.ID)
		require.Equal(t, "at-2", access)
		require.Equal(t, "rt-2", refresh)

		// A restarted process knows the stored token expires within the
		// margin and refreshes with the stored, rotated refresh token.
		tok, err = b.newTokens(0).Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-3", tok)
		require.Equal(t, "rt-2", b.ts.lastForm().Get("refresh_token"))
		_, _, refresh = b.stored(t, c.ID)
		require.Equal(t, "rt-3", refresh)
		require.True(t, b.ts.valid(tok))
	})
}

func TestTokensConcurrentCallersShareOneTokenRequest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: time.Hour, delay: 200 * time.Millisecond})
		c := b.connection(t, GrantClientCredentials)

		var wg sync.WaitGroup
		got := make([]string, 20)
		errs := make([]error, 20)
		for i := range 20 {
			wg.Go(func() { got[i], errs[i] = b.tokens.Token(context.Background(), c.ID) })
		}
		wg.Wait()
		for i := range 20 {
			require.NoError(t, errs[i])
			require.Equal(t, "at-1", got[i])
		}
		require.Equal(t, 1, b.ts.requests())
	})
}

func TestTokensInvalidateDropsOnlyTheCurrentToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: time.Hour})
		c := b.connection(t, GrantClientCredentials)
		ctx := context.Background()

		tok, err := b.tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		b.tokens.Invalidate(c.ID, "at-old")
		again, err := b.tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, tok, again, "another token was rejected: the current one stays")
		require.Equal(t, 1, b.ts.requests())

		b.tokens.Invalidate(c.ID, tok)
		fresh, err := b.tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-2", fresh, "the stored copy of a rejected token is not reused")
		require.Equal(t, 2, b.ts.requests())

		b.tokens.Invalidate(c.ID, tok) // late news about the old token
		again, err = b.tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-2", again)
		require.Equal(t, 2, b.ts.requests())
	})
}

func TestHTTPOAuth2RefreshesAndRetriesOnceAfter401(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: time.Hour})
		c := b.connection(t, GrantClientCredentials)

		tok, err := b.tokens.Token(context.Background(), c.ID)
		require.NoError(t, err)
		b.ts.revoke(tok) // revoked before it expires: the API answers 401

		out := b.callAPI(c.ID)
		require.NoError(t, out.Err)
		require.Equal(t, 200, out.Status)
		require.Equal(t, 2, b.ts.requests(), "exactly one refresh")
		reqs := b.api.requests()
		require.Len(t, reqs, 2, "exactly one retry")
		require.Equal(t, "Bearer at-1", reqs[0].Header.Get("Authorization"))
		require.Equal(t, "Bearer at-2", reqs[1].Header.Get("Authorization"))
		require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
		require.Len(t, out.Notes, 1)
		require.Equal(t, outbound.Redacted, logged(t, out).Headers["Authorization"])
		require.NotContains(t, string(out.Request), "at-2")

		// A token the API rejects again is not retried a second time.
		b.ts.revoke("at-2")
		b.ts.mu.Lock()
		b.ts.sequence = 100 // at-101 next, which the API must also refuse
		b.ts.revoked["at-101"] = true
		b.ts.mu.Unlock()
		out = b.callAPI(c.ID)
		require.Equal(t, http.StatusUnauthorized, out.Status)
		require.False(t, out.Retryable)
		require.Equal(t, 3, b.ts.requests())
		require.Len(t, b.api.requests(), 4)
	})
}

func TestTokensErrorsNameTheConnectionAndWhatTheServerAnswered(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{})
		for _, tc := range []struct {
			name      string
			opts      tokenServerOpts
			want      string
			retryable bool
		}{
			{name: "oauth error", opts: tokenServerOpts{refuseStatus: 401, refuseType: "application/json",
				refuseBody: `{"error":"invalid_client","error_description":"client authentication failed"}`},
				want: "answered 401: invalid_client: client authentication failed"},
			{name: "plain text", opts: tokenServerOpts{refuseStatus: 503, refuseType: "text/plain", refuseBody: "down for\nmaintenance"},
				want: "answered 503: down for maintenance", retryable: true},
		} {
			ts := startTokenServer(t, tc.opts)
			c := b.connectionTo(t, GrantClientCredentials, ts.URL)

			_, err := b.tokens.Token(context.Background(), c.ID)
			require.ErrorContains(t, err, "OAuth2 connection "+c.ID+` ("CRM")`, tc.name)
			require.ErrorContains(t, err, "the token server "+ts.URL+" "+tc.want, tc.name)

			out := b.callAPI(c.ID)
			require.ErrorContains(t, out.Err, tc.want, tc.name)
			require.Equal(t, tc.retryable, out.Retryable, tc.name)
		}

		out := b.callAPI("oac_missing")
		require.ErrorIs(t, out.Err, store.ErrNotFound)
		require.ErrorContains(t, out.Err, "OAuth2 connection oac_missing")
		require.False(t, out.Retryable, "a missing connection stays missing")

		require.Empty(t, b.api.requests(), "nothing is sent without a token")
	})
}

func TestTokensFollowChangedCredentials(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupTokens(t, dialect, tokenServerOpts{expiresIn: time.Hour})
		tokens := b.newTokens(50 * time.Millisecond)
		c := b.connection(t, GrantClientCredentials)
		ctx := context.Background()

		tok, err := tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-1", tok)

		// What UpdateOAuth2 does with new credentials: drop the stored token.
		require.NoError(t, b.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			conn, err := tx.OAuth2ConnectionGet(ctx, c.ID)
			if err != nil {
				return err
			}
			conn.ClientSecret = b.box.Seal("secret-2")
			conn.AccessToken, conn.TokenExpiresAt = "", time.Time{}
			conn.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
			return tx.OAuth2ConnectionUpdate(ctx, conn)
		}))
		time.Sleep(60 * time.Millisecond)

		tok, err = tokens.Token(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "at-2", tok)
		b.ts.mu.Lock()
		require.Equal(t, []string{"secret-1", "secret-2"}, b.ts.secrets)
		b.ts.mu.Unlock()
	})
}
