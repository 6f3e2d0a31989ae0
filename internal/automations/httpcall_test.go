package automations

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/templates"
)

// received is one request a test server got.
type received struct {
	Method  string
	Path    string // as sent, still percent-encoded
	Query   url.Values
	Header  http.Header
	Body    []byte
	RawURI  string
	BasicOK bool
	User    string
	Pass    string
}

// serverOpts configures a test server; the zero value answers 200 with
// {"ok":true}.
type serverOpts struct {
	// handle answers a request; the request's body is already read into
	// rec.
	handle func(w http.ResponseWriter, r *http.Request, rec *received)
}

// testServer is a real HTTP server on 127.0.0.1 that records requests.
type testServer struct {
	URL  string
	mu   sync.Mutex
	reqs []*received // guarded by mu
}

func startServer(t *testing.T, opts serverOpts) *testServer {
	t.Helper()
	s := &testServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := &received{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, RawURI: r.RequestURI}
		rec.User, rec.Pass, rec.BasicOK = r.BasicAuth()
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.mu.Unlock()
		if opts.handle != nil {
			opts.handle(w, r, rec)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *testServer) requests() []*received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*received(nil), s.reqs...)
}

func (s *testServer) last(t *testing.T) *received {
	t.Helper()
	reqs := s.requests()
	require.NotEmpty(t, reqs, "the server got no request")
	return reqs[len(reqs)-1]
}

type httpBundle struct {
	exec *Executor
	srv  *testServer
}

func setupHTTP(t *testing.T, opts serverOpts) *httpBundle {
	t.Helper()
	return &httpBundle{
		exec: NewExecutor(ExecutorConfig{Client: outbound.NewHTTPClient(true), Version: "1.2.3"}),
		srv:  startServer(t, opts),
	}
}

// logged decodes an outcome's logged request.
func logged(t *testing.T, o *StepOutcome) loggedRequest {
	t.Helper()
	var l loggedRequest
	require.NoError(t, json.Unmarshal(o.Request, &l), "logged request %s", o.Request)
	return l
}

func TestHTTPAuthSendsWhatEachTypeNeedsAndLogsItRedacted(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name  string
		auth  *Auth
		check func(t *testing.T, rec *received)
	}{
		{name: "none", auth: &Auth{Type: AuthNone}, check: func(t *testing.T, rec *received) {
			require.Empty(t, rec.Header.Get("Authorization"))
		}},
		{name: "absent", auth: nil, check: func(t *testing.T, rec *received) {
			require.Empty(t, rec.Header.Get("Authorization"))
		}},
		{name: "bearer", auth: &Auth{Type: AuthBearer, Token: "{{secrets.token}}"}, check: func(t *testing.T, rec *received) {
			require.Equal(t, "Bearer s3cr3t-t0ken", rec.Header.Get("Authorization"))
		}},
		{name: "apiKey header", auth: &Auth{Type: AuthAPIKey, In: "header", Name: "X-Api-Key", Value: "{{secrets.token}}"}, check: func(t *testing.T, rec *received) {
			require.Equal(t, "s3cr3t-t0ken", rec.Header.Get("X-Api-Key"))
		}},
		{name: "apiKey header by default", auth: &Auth{Type: AuthAPIKey, Name: "X-Api-Key", Value: "literal-key"}, check: func(t *testing.T, rec *received) {
			require.Equal(t, "literal-key", rec.Header.Get("X-Api-Key"))
		}},
		{name: "apiKey query", auth: &Auth{Type: AuthAPIKey, In: "query", Name: "api_key", Value: "{{secrets.token}}&x=1"}, check: func(t *testing.T, rec *received) {
			require.Equal(t, []string{"s3cr3t-t0ken&x=1"}, rec.Query["api_key"])
			require.Equal(t, []string{"workflow"}, rec.Query["source"])
			require.Equal(t, []string{"1"}, rec.Query["own"], "the URL's own query stays")
			require.Empty(t, rec.Query["x"])
		}},
		{name: "basic", auth: &Auth{Type: AuthBasic, Username: "{{tenant.id}}", Password: "{{secrets.token}}:with colon"}, check: func(t *testing.T, rec *received) {
			require.True(t, rec.BasicOK)
			require.Equal(t, "sunrise-dental", rec.User)
			require.Equal(t, "s3cr3t-t0ken:with colon", rec.Pass)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupHTTP(t, serverOpts{})

			out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL + "/hook?own=1",
				Auth: tc.auth, Query: map[string]string{"source": "workflow"}}, testScope(), "run_1-call")
			require.NoError(t, out.Err)
			require.Equal(t, 200, out.Status)
			rec := b.srv.last(t)
			require.Equal(t, http.MethodPost, rec.Method, "POST by default")
			tc.check(t, rec)

			l := logged(t, out)
			require.NotContains(t, string(out.Request), "s3cr3t-t0ken")
			require.NotContains(t, string(out.Request), "sunrise-dental:", "basic credentials are not logged")
			if tc.auth != nil && tc.auth.Type != AuthNone {
				if tc.auth.Type == AuthAPIKey && tc.auth.In == "query" {
					require.Contains(t, l.URL, "api_key="+outbound.Redacted)
				} else {
					name := "Authorization"
					if tc.auth.Type == AuthAPIKey {
						name = tc.auth.Name
					}
					require.Equal(t, outbound.Redacted, l.Headers[name], "%s is logged as ••••: %s", name, out.Request)
				}
			}
		})
	}
}

func TestHTTPBodiesJSONFormRawAndNone(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name     string
		method   string
		body     *Body
		wantType string
		wantBody string
	}{
		{name: "json", body: &Body{Type: BodyJSON, JSON: map[string]any{"text": "{{event.entityId}} grew to {{event.value}}", "size": "{{event.value}}", "html": "<a>&</a>"}},
			wantType: "application/json", wantBody: `{"html":"<a>&</a>","size":1200000,"text":"booking-1042 grew to 1200000"}`},
		{name: "form", body: &Body{Type: BodyForm, Form: map[string]string{"b": "{{event.value}}", "a": "x y&z=1"}},
			wantType: "application/x-www-form-urlencoded", wantBody: "a=x+y%26z%3D1&b=1200000"},
		{name: "raw", body: &Body{Type: BodyRaw, Raw: "<xml>{{tenant.id}} & {{event.text}}</xml>"},
			wantType: "text/plain; charset=utf-8", wantBody: "<xml>sunrise-dental & " + tricky + "</xml>"},
		{name: "raw with content type", body: &Body{Type: BodyRaw, Raw: "<x>{{event.value}}</x>", ContentType: "application/xml"},
			wantType: "application/xml", wantBody: "<x>1200000</x>"},
		{name: "none", method: http.MethodGet, body: &Body{Type: BodyNone}},
		{name: "absent", method: http.MethodDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupHTTP(t, serverOpts{})

			out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, Method: tc.method, URL: b.srv.URL, Body: tc.body}, testScope(), "k")
			require.NoError(t, out.Err)
			rec := b.srv.last(t)
			if tc.method != "" {
				require.Equal(t, tc.method, rec.Method)
			}
			require.Equal(t, tc.wantType, rec.Header.Get("Content-Type"))
			require.Equal(t, tc.wantBody, string(rec.Body))
			require.Equal(t, tc.wantBody, logged(t, out).Body)
		})
	}
}

func TestHTTPTemplateValuesReachTheServerIntact(t *testing.T) {
	t.Parallel()
	type testBundle struct{ *httpBundle }
	setup := func(t *testing.T) *testBundle { return &testBundle{setupHTTP(t, serverOpts{})} }

	t.Run("url path and query", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, Method: http.MethodPut,
			URL:   b.srv.URL + "/items/{{event.text}}?inline={{event.text}}",
			Query: map[string]string{"q": "{{event.text}}", "n": "{{event.value}}", "literal": "a&b=c"}}, testScope(), "k")
		require.NoError(t, out.Err)
		rec := b.srv.last(t)
		require.Equal(t, "/items/"+templates.EscapeURLValue(tricky), rec.Path)
		p, err := url.PathUnescape(strings.TrimPrefix(rec.Path, "/items/"))
		require.NoError(t, err)
		require.Equal(t, tricky, p, "one path segment, decoded back to the value")
		require.Equal(t, []string{tricky}, rec.Query["inline"])
		require.Equal(t, []string{tricky}, rec.Query["q"])
		require.Equal(t, []string{"1200000"}, rec.Query["n"])
		require.Equal(t, []string{"a&b=c"}, rec.Query["literal"])
		require.Len(t, rec.Query, 4, "no value added a parameter")
	})

	t.Run("json body", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
			Body: &Body{Type: BodyJSON, JSON: map[string]any{"text": "said: {{event.text}}", "single": "{{event.text}}",
				"flag": "{{ event.flag }}", "obj": "{{event.obj}}", "ratio": "{{event.ratio}}", "missing": "{{entity.values.nope}}"}}}, testScope(), "k")
		require.NoError(t, out.Err)
		rec := b.srv.last(t)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body, &got))
		require.Equal(t, map[string]any{"text": "said: " + tricky, "single": tricky, "flag": true,
			"obj": map[string]any{"a": "<b>&", "n": float64(1)}, "ratio": 0.5, "missing": nil}, got)
		require.Contains(t, string(rec.Body), `<b>&`, "never HTML-escaped")
		require.Contains(t, string(rec.Body), `🎉`)
		require.Equal(t, []string{"missing template path: entity.values.nope"}, out.Notes)
	})

	t.Run("form body", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
			Body: &Body{Type: BodyForm, Form: map[string]string{"text": "{{event.text}}", "obj": "{{event.obj}}"}}}, testScope(), "k")
		require.NoError(t, out.Err)
		form, err := url.ParseQuery(string(b.srv.last(t).Body))
		require.NoError(t, err)
		require.Equal(t, url.Values{"text": {tricky}, "obj": {`{"a":"<b>&","n":1}`}}, form)
	})

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
			Headers: map[string]string{"X-Tenant": "{{tenant.id}}", "X-Note": "ünï 🎉 \"q\" a&b=c", "Content-Type": "application/vnd.api+json"},
			Body:    &Body{Type: BodyJSON, JSON: map[string]any{}}}, testScope(), "k")
		require.NoError(t, out.Err)
		rec := b.srv.last(t)
		require.Equal(t, "sunrise-dental", rec.Header.Get("X-Tenant"))
		require.Equal(t, "ünï 🎉 \"q\" a&b=c", rec.Header.Get("X-Note"))
		require.Equal(t, "application/vnd.api+json", rec.Header.Get("Content-Type"), "the action's Content-Type wins")
	})
}

func TestHTTPRefusesCRLFInAHeaderAndSendsNothing(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{})

	out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
		Headers: map[string]string{"X-Note": "{{event.text}}"}}, testScope(), "k")
	require.EqualError(t, out.Err, "header X-Note: the rendered value contains CR, LF or NUL, which a header cannot hold")
	require.False(t, out.Retryable, "the same data fails the same way")
	require.Equal(t, 0, out.Status)

	out = b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
		Auth: &Auth{Type: AuthBearer, Token: "a\r\nX-Injected: 1"}}, testScope(), "k")
	require.ErrorContains(t, out.Err, "header Authorization")

	out = b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL,
		Headers: map[string]string{"Bad Name": "x"}}, testScope(), "k")
	require.ErrorContains(t, out.Err, `header "Bad Name": not a valid header name`)

	require.Empty(t, b.srv.requests())
}

func TestHTTPNotesMissingPathsAndSendsThemEmpty(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{})

	out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL + "/x/{{entity.values.foo}}",
		Headers: map[string]string{"X-Foo": "[{{entity.values.foo}}]"}, Query: map[string]string{"q": "{{steps.prev.response.body.id}}"},
		Body: &Body{Type: BodyRaw, Raw: "<{{vars.nope}}>"}}, testScope(), "k")
	require.NoError(t, out.Err)
	rec := b.srv.last(t)
	require.Equal(t, "/x/", rec.Path)
	require.Equal(t, "[]", rec.Header.Get("X-Foo"))
	require.Equal(t, []string{""}, rec.Query["q"])
	require.Equal(t, "<>", string(rec.Body))
	require.ElementsMatch(t, []string{
		"missing template path: entity.values.foo",
		"missing template path: steps.prev.response.body.id",
		"missing template path: vars.nope",
	}, out.Notes)
}

func TestHTTPRedactsSecretsInTheLogButSendsThem(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{})

	out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP,
		URL:     b.srv.URL + "/u/{{secrets.other}}",
		Query:   map[string]string{"sig": "{{secrets.token}}"},
		Headers: map[string]string{"X-Secret": "k={{secrets.token}}", "Authorization": "Token {{vars.region}}"},
		Body:    &Body{Type: BodyJSON, JSON: map[string]any{"key": "{{secrets.token}}", "msg": "with {{secrets.other}} inside", "t": "{{tenant.id}}"}}},
		testScope(), "k")
	require.NoError(t, out.Err)

	rec := b.srv.last(t)
	require.Equal(t, "/u/another-secret", rec.Path)
	require.Equal(t, []string{"s3cr3t-t0ken"}, rec.Query["sig"])
	require.Equal(t, "k=s3cr3t-t0ken", rec.Header.Get("X-Secret"))
	require.Equal(t, "Token eu", rec.Header.Get("Authorization"))
	require.JSONEq(t, `{"key":"s3cr3t-t0ken","msg":"with another-secret inside","t":"sunrise-dental"}`, string(rec.Body))

	require.NotContains(t, string(out.Request), "s3cr3t-t0ken")
	require.NotContains(t, string(out.Request), "another-secret")
	l := logged(t, out)
	require.Equal(t, b.srv.URL+"/u/••••?sig=••••", l.URL)
	require.Equal(t, "k=••••", l.Headers["X-Secret"])
	require.Equal(t, outbound.Redacted, l.Headers["Authorization"], "Authorization is always ••••")
	require.JSONEq(t, `{"key":"••••","msg":"with •••• inside","t":"sunrise-dental"}`, l.Body)
	require.Equal(t, http.MethodPost, l.Method)
}

func TestHTTPSendsIdempotencyKeyAndUserAgentOnEveryCall(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{})

	a := &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL, Headers: map[string]string{"User-Agent": "mine", "Idempotency-Key": "mine"}}
	for range 2 {
		out := b.exec.HTTP(context.Background(), a, testScope(), "run_7-call")
		require.NoError(t, out.Err)
		l := logged(t, out)
		require.Equal(t, "run_7-call", l.Headers["Idempotency-Key"])
		require.Equal(t, "fieldflow/1.2.3", l.Headers["User-Agent"])
	}
	reqs := b.srv.requests()
	require.Len(t, reqs, 2)
	for _, rec := range reqs {
		require.Equal(t, "run_7-call", rec.Header.Get("Idempotency-Key"))
		require.Equal(t, "fieldflow/1.2.3", rec.Header.Get("User-Agent"))
	}
}

func TestHTTPResponseIsCapturedWithJSONParsed(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name, contentType, body string
		want                    any
	}{
		{name: "json", contentType: "application/json; charset=utf-8", body: `{"id":42,"tags":["a"],"nested":{"ok":true}}`,
			want: map[string]any{"id": json.Number("42"), "tags": []any{"a"}, "nested": map[string]any{"ok": true}}},
		{name: "problem json", contentType: "application/problem+json", body: `{"title":"x"}`, want: map[string]any{"title": "x"}},
		{name: "text", contentType: "text/plain", body: `{"looks":"like json"}`, want: `{"looks":"like json"}`},
		{name: "broken json", contentType: "application/json", body: `{"id":`, want: `{"id":`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
				w.Header().Set("Content-Type", tc.contentType)
				w.Header().Set("X-Request-Id", "req-9")
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, tc.body)
			}})
			out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL, CaptureResponse: true}, testScope(), "k")
			require.NoError(t, out.Err)
			require.True(t, out.Succeeded())
			require.Equal(t, 201, out.Status)
			require.Equal(t, tc.body, out.Body)
			require.Equal(t, "req-9", out.Headers["X-Request-Id"])
			require.Equal(t, 201, out.Response["status"])
			require.Equal(t, "req-9", out.Response["headers"].(map[string]any)["X-Request-Id"])
			require.Equal(t, tc.want, out.Response["body"])
		})
	}

	t.Run("a later step reads it", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":1234567,"name":"Ann"}`)
		}})
		first := b.exec.HTTP(context.Background(), &Action{Name: "lookup", Type: ActionHTTP, URL: b.srv.URL, CaptureResponse: true}, testScope(), "k1")
		require.NoError(t, first.Err)
		sc := testScope()
		sc.Steps = map[string]any{"lookup": map[string]any{"response": first.Response}}
		second := b.exec.HTTP(context.Background(), &Action{Name: "use", Type: ActionHTTP, URL: b.srv.URL + "/people/{{steps.lookup.response.body.id}}",
			Body: &Body{Type: BodyJSON, JSON: map[string]any{"id": "{{steps.lookup.response.body.id}}", "who": "{{steps.lookup.response.body.name}} ({{steps.lookup.response.status}})"}}}, sc, "k2")
		require.NoError(t, second.Err)
		rec := b.srv.last(t)
		require.Equal(t, "/people/1234567", rec.Path)
		require.JSONEq(t, `{"id":1234567,"who":"Ann (200)"}`, string(rec.Body))
	})
}

func TestHTTPFailuresAreRetryableByStatusPolicy(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		status    int
		onStatus  []int
		retryable bool
	}{
		{status: 500, retryable: true},
		{status: 503, retryable: true},
		{status: 599, retryable: true},
		{status: 408, retryable: true},
		{status: 429, retryable: true},
		{status: 400},
		{status: 401},
		{status: 404},
		{status: 409},
		{status: 422},
		{status: 302},
		{status: 409, onStatus: []int{409, 423}, retryable: true},
		{status: 500, onStatus: []int{409, 423}},
		{status: 429, onStatus: []int{503}},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
				w.WriteHeader(tc.status)
			}})
			a := &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL}
			if tc.onStatus != nil {
				a.Retry = &Retry{Schedule: []string{"10s"}, OnStatus: tc.onStatus}
			}
			out := b.exec.HTTP(context.Background(), a, testScope(), "k")
			require.Equal(t, tc.status, out.Status)
			require.Error(t, out.Err, "only 2xx succeeds")
			require.False(t, out.Succeeded())
			require.Contains(t, out.Err.Error(), http.StatusText(tc.status))
			require.Equal(t, tc.retryable, out.Retryable, "status %d on %v", tc.status, tc.onStatus)
		})
	}

	t.Run("Retry-After", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		}})
		out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL}, testScope(), "k")
		require.True(t, out.Retryable)
		require.Equal(t, 2*time.Minute, out.RetryAfter)
	})

	t.Run("network error", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		gone := srv.URL
		srv.Close()
		exec := NewExecutor(ExecutorConfig{Client: outbound.NewHTTPClient(true), Version: "1"})
		out := exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: gone}, testScope(), "k")
		require.Error(t, out.Err)
		require.True(t, out.Retryable, "network errors always are")
		require.Equal(t, 0, out.Status)
		require.Nil(t, out.Response)
	})

	t.Run("private target refused", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, serverOpts{})
		guarded := NewExecutor(ExecutorConfig{Client: outbound.NewHTTPClient(false), Version: "1"})
		out := guarded.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL}, testScope(), "k")
		require.ErrorContains(t, out.Err, "private, loopback or link-local")
		require.Empty(t, b.srv.requests())
	})

	t.Run("bad url", func(t *testing.T) {
		t.Parallel()
		exec := NewExecutor(ExecutorConfig{Client: outbound.NewHTTPClient(true), Version: "1"})
		out := exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: "{{vars.region}}/x"}, testScope(), "k")
		require.ErrorContains(t, out.Err, "must be an absolute http or https URL")
		require.False(t, out.Retryable)
	})
}

func TestHTTPTimesOutAfterTheActionsTimeout(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}})

	out := b.exec.HTTP(context.Background(), &Action{Name: "call", Type: ActionHTTP, URL: b.srv.URL, TimeoutSeconds: 1}, testScope(), "k")
	require.EqualError(t, out.Err, "timeout: no complete response within 1s")
	require.True(t, out.Retryable, "timeouts always are")
	require.GreaterOrEqual(t, out.Duration, time.Second)
	require.Less(t, out.Duration, 8*time.Second, "it gave up long before the server's 10 s")
}

func TestWebhookIsSignedLikeDeliveries(t *testing.T) {
	t.Parallel()
	b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) {
		w.WriteHeader(http.StatusNoContent)
	}})
	secret := outbound.NewSecret()
	body := []byte(`{"event":{"event":"field_value.saved","value":"<b>&"},"record":{"tenantId":"t1"}}`)

	out := b.exec.Webhook(context.Background(), &Action{URL: b.srv.URL + "/in"}, secret, "run_1-notify", body, "run_1-notify")
	require.NoError(t, out.Err)
	require.Equal(t, 204, out.Status)

	rec := b.srv.last(t)
	require.Equal(t, http.MethodPost, rec.Method)
	require.Equal(t, body, rec.Body)
	require.Equal(t, "application/json", rec.Header.Get("Content-Type"))
	require.Equal(t, "fieldflow/1.2.3", rec.Header.Get("User-Agent"))
	require.Equal(t, "run_1-notify", rec.Header.Get("Idempotency-Key"))
	require.Equal(t, "run_1-notify", rec.Header.Get("webhook-id"))

	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	require.Equal(t, hex.EncodeToString(m.Sum(nil)), rec.Header.Get("X-Fieldflow-Signature"))
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(rec.Body, rec.Header))

	l := logged(t, out)
	require.Equal(t, outbound.Redacted, l.Headers["X-Fieldflow-Signature"])
	require.Equal(t, outbound.Redacted, l.Headers["webhook-signature"])
	require.Equal(t, "run_1-notify", l.Headers["webhook-id"])
	require.Equal(t, string(body), l.Body)
	require.NotContains(t, string(out.Request), rec.Header.Get("X-Fieldflow-Signature"))

	t.Run("failure statuses retry by default policy", func(t *testing.T) {
		t.Parallel()
		b := setupHTTP(t, serverOpts{handle: func(w http.ResponseWriter, r *http.Request, rec *received) { w.WriteHeader(http.StatusBadGateway) }})
		out := b.exec.Webhook(context.Background(), &Action{URL: b.srv.URL}, outbound.NewSecret(), "m", []byte(`{}`), "k")
		require.Error(t, out.Err)
		require.True(t, out.Retryable)
	})
}
