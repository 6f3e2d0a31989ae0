package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAutomationOAuth2TokensStayFresh runs an http action with OAuth2 auth
// ten times over five seconds against a token server whose tokens live
// 2 s: every call carries a token that is still valid, tokens are reused
// rather than fetched per call, and a 401 from the API (a token revoked
// early) costs exactly one new token and one more call.
func TestAutomationOAuth2TokensStayFresh(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)

		const lifetime = 2 * time.Second
		var mu sync.Mutex
		issuedAt := map[string]time.Time{} // guarded by mu
		var log []string                   // token issues and API answers in order; guarded by mu
		tokens := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			user, pass, ok := basicAuth(c)
			if c.Method != http.MethodPost || !ok || user != "fieldflow" || pass != "client-secret-1" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = fmt.Fprintf(w, `{"error":"invalid_client"}`)
				return
			}
			mu.Lock()
			tok := fmt.Sprintf("tok-%d", len(issuedAt)+1)
			issuedAt[tok] = time.Now()
			log = append(log, "issue "+tok)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":%d}`, tok, int(lifetime.Seconds()))
		})
		revoked := false
		api := startAPI(t, func(w http.ResponseWriter, c *apiCall) {
			tok, _ := strings.CutPrefix(c.Header.Get("Authorization"), "Bearer ")
			mu.Lock()
			defer mu.Unlock()
			at, known := issuedAt[tok]
			status := http.StatusOK
			switch {
			case !known || time.Since(at) >= lifetime:
				status = http.StatusUnauthorized
			case c.N == 4 && !revoked: // the 4th call's token was revoked early
				revoked = true
				status = http.StatusUnauthorized
			}
			log = append(log, fmt.Sprintf("call %d %s %d", c.N, tok, status))
			w.WriteHeader(status)
		})

		var conn struct{ ID string }
		b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Orders API",
			"tokenUrl": tokens.URL + "/token", "clientId": "fieldflow", "clientSecret": "client-secret-1", "grantType": "client_credentials"}, &conn)
		a := b.createAutomation(t, map[string]any{
			"name":    "Push orders",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "counter"},
			"actions": []map[string]any{{"name": "push", "type": "http", "url": api.URL + "/orders",
				"auth": map[string]any{"type": "oauth2", "connectionId": conn.ID},
				"body": map[string]any{"type": "json", "json": map[string]any{"n": "{{event.value}}"}}}},
		})

		const runs = 10
		for i := range runs {
			b.save(t, "acme", "cust-1", map[string]any{"counter": i})
			b.waitRuns(t, a.ID, i+1, 5*time.Second)
			time.Sleep(500 * time.Millisecond)
		}
		rs := b.waitRuns(t, a.ID, runs, 5*time.Second)
		require.Len(t, rs, runs)
		for _, r := range rs {
			require.Equal(t, "succeeded", r.State, "%+v", r)
		}

		mu.Lock()
		defer mu.Unlock()
		calls := api.all()
		require.Len(t, calls, runs+1, "one call per run and one retry: %v", log)
		var answers []string
		for _, l := range log {
			if strings.HasPrefix(l, "call ") {
				answers = append(answers, l)
			}
		}
		unauthorized := 0
		for i, l := range answers {
			if strings.HasSuffix(l, " 401") {
				unauthorized++
				require.Equal(t, 3, i, "only the revoked token is refused: %v", log)
			}
		}
		require.Equal(t, 1, unauthorized, "%v", log)

		// After the 401: exactly one new token, then the same step's call
		// again with it.
		at := indexOf(log, answers[3])
		require.Less(t, at+2, len(log), "%v", log)
		require.True(t, strings.HasPrefix(log[at+1], "issue "), "a new token right after the 401: %v", log)
		newTok := strings.TrimPrefix(log[at+1], "issue ")
		require.Equal(t, fmt.Sprintf("call 5 %s 200", newTok), log[at+2], "%v", log)
		require.Equal(t, calls[3].Header.Get("Idempotency-Key"), calls[4].Header.Get("Idempotency-Key"), "the retry is the same step")
		require.Equal(t, calls[3].Body, calls[4].Body)
		refused, _ := strings.CutPrefix(calls[3].Header.Get("Authorization"), "Bearer ")
		for _, c := range calls[4:] {
			require.NotEqual(t, "Bearer "+refused, c.Header.Get("Authorization"), "a refused token is not used again")
		}

		// Tokens are reused while valid: one per 1.5 s or so (replaced a
		// quarter of their life before expiry) and one for the 401, not one
		// per call.
		elapsed := calls[len(calls)-1].At.Sub(calls[0].At)
		require.GreaterOrEqual(t, len(issuedAt), 3, "tokens were refreshed before expiry: %v", log)
		require.LessOrEqual(t, len(issuedAt), int(elapsed/(1500*time.Millisecond))+3, "over %s: %v", elapsed, log)
		require.Less(t, len(issuedAt), len(calls), "%v", log)

		// The run whose call was refused says so, in one step attempt, and
		// no run log shows a token.
		var retried run
		for _, r := range rs {
			if r.Steps[0].Response != nil && len(r.Steps[0].Notes) > 0 {
				retried = r
			}
			require.Len(t, r.Steps, 1)
			require.Equal(t, "succeeded", r.Steps[0].State)
			res := b.call(t, adminKey, http.MethodGet, "/api/runs/"+r.ID, nil)
			require.NotContains(t, string(res.body), "tok-")
			require.NotContains(t, string(res.body), "client-secret-1")
		}
		require.NotEmpty(t, retried.ID, "a run notes the 401")
		require.Contains(t, retried.Steps[0].Notes[0], "401")
		require.Equal(t, retried.ID+"-push", calls[3].Header.Get("Idempotency-Key"))
	})
}

// basicAuth reads a token request's client credentials, sent as HTTP Basic
// or in the form.
func basicAuth(c *apiCall) (user, pass string, ok bool) {
	r := &http.Request{Header: c.Header}
	if user, pass, ok = r.BasicAuth(); ok {
		return user, pass, true
	}
	form, err := url.ParseQuery(string(c.Body))
	if err != nil || form.Get("client_id") == "" {
		return "", "", false
	}
	return form.Get("client_id"), form.Get("client_secret"), true
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
