package automations

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/templates"
)

// TokenSource hands out OAuth2 access tokens by connection id; *Tokens is
// the real one.
type TokenSource interface {
	Token(ctx context.Context, connectionID string) (string, error)
	// Invalidate drops token if it is still the connection's current one.
	Invalidate(connectionID, token string)
}

var _ TokenSource = (*Tokens)(nil)

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	// Client sends every request. Use the shared client from
	// outbound.NewHTTPClient: it carries the SSRF guard and follows no
	// redirects. Required.
	Client *http.Client
	// Version goes into User-Agent: fieldflow/<Version>.
	Version string
	// Tokens serves oauth2 auth; nil fails oauth2 steps.
	Tokens TokenSource
	// Templates caches parsed templates; nil: a new cache of
	// DefaultTemplateCacheSize.
	Templates *templates.Templates
	// Now is the clock for signature timestamps; defaults to time.Now.
	Now func() time.Time
}

// Executor performs the http and webhook actions. It is safe for
// concurrent use.
type Executor struct {
	client    *http.Client
	userAgent string
	tokens    TokenSource
	templates *templates.Templates
	now       func() time.Time
}

// NewExecutor returns an Executor.
func NewExecutor(cfg ExecutorConfig) *Executor {
	e := &Executor{client: cfg.Client, userAgent: "fieldflow/" + cfg.Version, tokens: cfg.Tokens, templates: cfg.Templates, now: cfg.Now}
	if e.templates == nil {
		e.templates = templates.NewTemplates(0)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// Templates is the executor's template cache, for other steps' rendering.
func (e *Executor) Templates() *templates.Templates { return e.templates }

// StepOutcome is what one attempt of an http or webhook step did.
type StepOutcome struct {
	// Request is the request as the run log shows it, a JSON object
	// {method, url, headers, body}: secrets as ••••, and Authorization,
	// apiKey values, basic credentials, OAuth2 tokens and signatures
	// always as ••••. Nil when the request could not be built far enough.
	Request []byte
	// Status, Headers and Body are the response's; Body holds at most
	// outbound.ResponseBodyLimit bytes. Status is 0 when no response came.
	Status  int
	Headers map[string]string
	Body    string
	// Response is {"status": int, "headers": {name: value}, "body": the
	// parsed JSON when the response says it is JSON, else the text}, what
	// later steps read as steps.<name>.response when captured.
	Response map[string]any
	Duration time.Duration
	// Err is nil exactly when the step succeeded: a 2xx response.
	Err error
	// Notes are remarks for the run log, such as missing template paths.
	Notes []string
	// Retryable says a failure is worth retrying: network errors and
	// timeouts always are; a response status when the action's
	// Retry.OnStatus lists it (default: 408, 429 and 5xx). Errors in the
	// action itself (a bad template, a CR in a header) never are.
	Retryable bool
	// RetryAfter is the response's Retry-After, if it had one.
	RetryAfter time.Duration
}

// Succeeded reports whether the step succeeded (a 2xx response).
func (o *StepOutcome) Succeeded() bool { return o.Err == nil }

// loggedRequest is a request as the run log shows it.
type loggedRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body,omitempty"`
}

// outgoing is a built request: what is sent and what is logged.
type outgoing struct {
	method  string
	url     string
	header  http.Header
	body    []byte
	timeout time.Duration
	// connection is the OAuth2 connection whose token goes into
	// Authorization at send time; empty for other auth.
	connection string
	log        loggedRequest
}

// HTTP performs an http action over sc. idempotencyKey is sent as
// Idempotency-Key on every call (the same for each attempt of the step,
// so the receiver can deduplicate).
func (e *Executor) HTTP(ctx context.Context, a *Action, sc *templates.Scope, idempotencyKey string) *StepOutcome {
	r := e.templates.Renderer(sc)
	o, err := e.buildHTTP(r, a)
	out := &StepOutcome{Notes: r.Notes()}
	if o != nil {
		o.setHeader("Idempotency-Key", idempotencyKey, idempotencyKey)
		out.Request = o.logJSON()
	}
	if err != nil {
		out.Err = err
		return out
	}
	var onStatus []int
	if a.Retry != nil {
		onStatus = a.Retry.OnStatus
	}

	start := time.Now()
	var token string
	if o.connection != "" {
		if token, err = e.token(ctx, o.connection); err != nil {
			out.Err, out.Retryable, out.Duration = err, retryableTokenError(err), time.Since(start)
			return out
		}
	}
	resp, err := e.send(ctx, o, token)
	if o.connection != "" && err == nil && resp.Status == http.StatusUnauthorized {
		// The token may have been revoked before its expiry: fetch a
		// fresh one and try once more.
		e.tokens.Invalidate(o.connection, token)
		out.Notes = append(out.Notes, "the API answered 401 to the OAuth2 token: fetched a new token and sent again")
		if token, err = e.token(ctx, o.connection); err != nil {
			out.Err, out.Retryable, out.Duration = err, retryableTokenError(err), time.Since(start)
			return out
		}
		resp, err = e.send(ctx, o, token)
	}
	out.Duration = time.Since(start)
	judge(out, resp, err, onStatus)
	return out
}

func (e *Executor) token(ctx context.Context, connectionID string) (string, error) {
	if e.tokens == nil {
		return "", errors.New("oauth2 auth: no token source is configured")
	}
	return e.tokens.Token(ctx, connectionID)
}

// Webhook POSTs body to url signed exactly as webhook deliveries are (the
// X-Fieldflow-Signature hex HMAC and the Standard Webhooks headers, msgID
// as webhook-id), with the signatures redacted in the log.
func (e *Executor) Webhook(ctx context.Context, a *Action, secret, msgID string, body []byte, idempotencyKey string) *StepOutcome {
	out := &StepOutcome{}
	now := e.now()
	url := a.URL
	timeout := DefaultActionTimeout
	if a.TimeoutSeconds > 0 {
		timeout = time.Duration(a.TimeoutSeconds) * time.Second
	}
	var onStatus []int
	if a.Retry != nil {
		onStatus = a.Retry.OnStatus
	}
	o := &outgoing{method: http.MethodPost, url: url, header: http.Header{}, body: body, timeout: timeout,
		log: loggedRequest{Method: http.MethodPost, URL: url, Headers: map[string]string{}, Body: string(body)}}
	// The action's own headers go first, so none can replace what signs
	// and describes the body.
	for k, v := range a.Headers {
		o.setHeader(k, v, v)
	}
	o.setHeader("Content-Type", "application/json", "application/json")
	o.setHeader("User-Agent", e.userAgent, e.userAgent)
	if err := checkTarget(url); err != nil {
		out.Request, out.Err = o.logJSON(), err
		return out
	}
	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}}, msgID, now.Unix(), body)
	if err != nil {
		out.Request, out.Err = o.logJSON(), fmt.Errorf("sign webhook: %w", err)
		return out
	}
	o.setHeader("X-Fieldflow-Signature", sigs.Hex, outbound.Redacted)
	// Standard Webhooks names its headers in lower case; keep them so.
	o.setRawHeader("webhook-id", msgID, msgID)
	o.setRawHeader("webhook-timestamp", strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(now.Unix(), 10))
	o.setRawHeader("webhook-signature", sigs.Standard, outbound.Redacted)
	o.setHeader("Idempotency-Key", idempotencyKey, idempotencyKey)
	out.Request = o.logJSON()

	start := time.Now()
	resp, err := e.send(ctx, o, "")
	out.Duration = time.Since(start)
	judge(out, resp, err, onStatus)
	if len(onStatus) == 0 && err == nil && out.Err != nil {
		out.Retryable = true // any non-2xx, as webhook deliveries
	}
	return out
}

func (o *outgoing) setHeader(name, value, logged string) {
	if value == "" {
		return
	}
	o.header.Set(name, value)
	o.log.Headers[http.CanonicalHeaderKey(name)] = logged
}

func (o *outgoing) setRawHeader(name, value, logged string) {
	o.header[name] = []string{value}
	o.log.Headers[name] = logged
}

func (o *outgoing) logJSON() []byte {
	b, err := templates.EncodeJSON(o.log)
	if err != nil {
		return nil
	}
	return b
}

// send makes one call and reads at most outbound.ResponseBodyLimit of the
// response, through outbound.Send.
func (e *Executor) send(ctx context.Context, o *outgoing, token string) (*outbound.Response, error) {
	var body io.Reader
	if o.body != nil {
		body = bytes.NewReader(o.body)
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.url, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = o.header.Clone()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	callCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	resp, err := outbound.Send(callCtx, e.client, req, o.timeout)
	if err != nil && ctx.Err() == nil && callCtx.Err() != nil {
		err = fmt.Errorf("timeout: no complete response within %s", o.timeout)
	}
	// Transport errors quote the URL, which may hold secrets: quote the
	// logged one instead.
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = o.log.URL
	}
	return resp, err
}

// errStatus is a response outside 2xx.
type errStatus struct{ status int }

func (e errStatus) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
}

// judge fills out from what a call got.
func judge(out *StepOutcome, resp *outbound.Response, err error, onStatus []int) {
	if resp != nil {
		out.Status, out.Headers, out.Body, out.RetryAfter = resp.Status, resp.Headers, resp.Body, resp.RetryAfter
		out.Response = responseValue(resp)
	}
	switch {
	case err != nil:
		// Network errors and timeouts: the next attempt may fare better.
		out.Err, out.Retryable = err, true
	case resp.Status < 200 || resp.Status > 299:
		out.Err, out.Retryable = errStatus{resp.Status}, RetryableStatus(resp.Status, onStatus)
	}
}

// RetryableStatus reports whether a response status is worth retrying:
// one that onStatus lists, or, when onStatus is empty, 408, 429 and 5xx.
func RetryableStatus(status int, onStatus []int) bool {
	if len(onStatus) > 0 {
		return slices.Contains(onStatus, status)
	}
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || (status >= 500 && status <= 599)
}

// responseValue is the response as templates read it.
func responseValue(resp *outbound.Response) map[string]any {
	headers := make(map[string]any, len(resp.Headers))
	for k, v := range resp.Headers {
		headers[k] = v
	}
	var body any = resp.Body
	if isJSONMedia(resp.Headers["Content-Type"]) {
		if v, err := events.Decode([]byte(resp.Body)); err == nil {
			body = v // numbers keep their digits for later steps
		}
	}
	return map[string]any{"status": resp.Status, "headers": headers, "body": body}
}

func isJSONMedia(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// credentialHeaders are always shown as •••• in the run log.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization"}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

// checkTarget refuses what is not an absolute http or https URL, or holds
// credentials (which belong in auth, where the run log hides them).
func checkTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: must be an absolute http or https URL", raw)
	}
	if u.User != nil {
		return errors.New("url: must not contain credentials; use auth")
	}
	return nil
}

// buildHTTP renders an http action into a request. On an error it returns
// what it built so far, for the log.
func (e *Executor) buildHTTP(r *templates.Renderer, a *Action) (*outgoing, error) {
	method := strings.ToUpper(cmp.Or(a.Method, http.MethodPost))
	o := &outgoing{method: method, header: http.Header{}, timeout: DefaultActionTimeout,
		log: loggedRequest{Method: method, Headers: map[string]string{}}}
	if a.TimeoutSeconds > 0 {
		o.timeout = time.Duration(a.TimeoutSeconds) * time.Second
	}
	if !slices.Contains(httpMethods, method) {
		return o, fmt.Errorf("method %q: must be one of %s", a.Method, strings.Join(httpMethods, ", "))
	}

	u, err := r.URL(a.URL)
	if err != nil {
		return o, fmt.Errorf("url: %w", err)
	}
	o.url, o.log.URL = u.Text, strings.ReplaceAll(u.Redacted, templates.EscapeURLValue(outbound.Redacted), outbound.Redacted)
	if err := checkTarget(o.url); err != nil {
		// Quote the logged URL: the one to send may hold secrets.
		return o, fmt.Errorf("url %q: must be an absolute http or https URL without credentials", o.log.URL)
	}

	// The query: the URL's own, then the action's, then an apiKey.
	query, logQuery := url.Values{}, url.Values{}
	for _, k := range slices.Sorted(maps.Keys(a.Query)) {
		v, err := r.Text(a.Query[k])
		if err != nil {
			return o, fmt.Errorf("query %s: %w", k, err)
		}
		query.Add(k, v.Text)
		logQuery.Add(k, v.Redacted)
	}

	if err := e.buildBody(r, a.Body, o); err != nil {
		return o, err
	}
	for _, k := range slices.Sorted(maps.Keys(a.Headers)) {
		if !validHeaderName(k) {
			return o, fmt.Errorf("header %q: not a valid header name", k)
		}
		v, err := r.Header(k, a.Headers[k])
		if err != nil {
			return o, err
		}
		logged := v.Redacted
		if slices.Contains(credentialHeaders, http.CanonicalHeaderKey(k)) {
			logged = outbound.Redacted
		}
		o.setHeader(k, v.Text, logged)
	}
	if err := e.buildAuth(r, a.Auth, o, query, logQuery); err != nil {
		return o, err
	}
	// Ours, whatever the action's headers say.
	o.setHeader("User-Agent", e.userAgent, e.userAgent)

	o.url = appendQuery(o.url, query.Encode())
	// The log shows •••• as it is, not percent-encoded.
	o.log.URL = strings.ReplaceAll(appendQuery(o.log.URL, logQuery.Encode()), templates.EscapeURLValue(outbound.Redacted), outbound.Redacted)
	return o, nil
}

// appendQuery adds an encoded query to a URL, keeping the URL's own query
// as it is (same names are sent twice) and its fragment last.
func appendQuery(raw, query string) string {
	if query == "" {
		return raw
	}
	base, frag, hasFrag := strings.Cut(raw, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + query
	if hasFrag {
		out += "#" + frag
	}
	return out
}

func (e *Executor) buildBody(r *templates.Renderer, b *Body, o *outgoing) error {
	if b == nil {
		return nil
	}
	switch b.Type {
	case BodyNone, "":
		return nil
	case BodyJSON:
		v, red, err := r.JSON(b.JSON)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if o.body, err = templates.EncodeJSON(v); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		logged, err := templates.EncodeJSON(red)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		o.log.Body = string(logged)
		o.setHeader("Content-Type", "application/json", "application/json")
	case BodyForm:
		form, logForm := url.Values{}, url.Values{}
		for _, k := range slices.Sorted(maps.Keys(b.Form)) {
			v, err := r.Text(b.Form[k])
			if err != nil {
				return fmt.Errorf("body form %s: %w", k, err)
			}
			form.Add(k, v.Text)
			logForm.Add(k, v.Redacted)
		}
		o.body = []byte(form.Encode())
		o.log.Body = strings.ReplaceAll(logForm.Encode(), url.QueryEscape(outbound.Redacted), outbound.Redacted)
		o.setHeader("Content-Type", "application/x-www-form-urlencoded", "application/x-www-form-urlencoded")
	case BodyRaw:
		v, err := r.Text(b.Raw)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		o.body, o.log.Body = []byte(v.Text), v.Redacted
		ct := cmp.Or(b.ContentType, "text/plain; charset=utf-8")
		o.setHeader("Content-Type", ct, ct)
	default:
		return fmt.Errorf("body type %q: must be none, json, form or raw", b.Type)
	}
	return nil
}

func (e *Executor) buildAuth(r *templates.Renderer, a *Auth, o *outgoing, query, logQuery url.Values) error {
	if a == nil {
		return nil
	}
	switch a.Type {
	case AuthNone, "":
	case AuthBearer:
		tok, err := r.Header("Authorization", a.Token)
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		o.setHeader("Authorization", "Bearer "+tok.Text, outbound.Redacted)
	case AuthBasic:
		user, err := r.Text(a.Username)
		if err != nil {
			return fmt.Errorf("auth username: %w", err)
		}
		pass, err := r.Text(a.Password)
		if err != nil {
			return fmt.Errorf("auth password: %w", err)
		}
		o.setHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user.Text+":"+pass.Text)), outbound.Redacted)
	case AuthAPIKey:
		name, err := r.Text(a.Name)
		if err != nil {
			return fmt.Errorf("auth name: %w", err)
		}
		if name.Text == "" {
			return errors.New("auth: apiKey needs a name")
		}
		switch a.In {
		case "query":
			v, err := r.Text(a.Value)
			if err != nil {
				return fmt.Errorf("auth value: %w", err)
			}
			query.Add(name.Text, v.Text)
			logQuery.Add(name.Redacted, outbound.Redacted)
		case "header", "":
			if !validHeaderName(name.Text) {
				return fmt.Errorf("auth: apiKey header %q: not a valid header name", name.Text)
			}
			v, err := r.Header(name.Text, a.Value)
			if err != nil {
				return fmt.Errorf("auth: %w", err)
			}
			o.setHeader(name.Text, v.Text, outbound.Redacted)
		default:
			return fmt.Errorf("auth: apiKey in %q: must be header or query", a.In)
		}
	case AuthOAuth2:
		if a.ConnectionID == "" {
			return errors.New("auth: oauth2 needs a connectionId")
		}
		o.connection = a.ConnectionID
		o.log.Headers["Authorization"] = outbound.Redacted
	default:
		return fmt.Errorf("auth type %q: must be none, bearer, apiKey, basic or oauth2", a.Type)
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
