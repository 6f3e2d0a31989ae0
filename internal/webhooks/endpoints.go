package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Defaults of an endpoint.
const (
	DefaultSignatureHeader = "X-Fieldflow-Signature"
	DefaultTimeoutSeconds  = 30
	DefaultMaxInFlight     = 10
	DefaultGraceHours      = 24
)

// EndpointInput registers an endpoint.
type EndpointInput struct {
	URL             string            `json:"url"`
	Events          []string          `json:"events"`
	TenantID        *string           `json:"tenantId,omitempty"`
	Description     string            `json:"description,omitempty"`
	Filter          string            `json:"filter,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	SignatureHeader string            `json:"signatureHeader,omitempty"`
	SignatureFormat string            `json:"signatureFormat,omitempty"`
	// AsymmetricSignature adds a "v1a" (ed25519) entry to
	// webhook-signature, checked with the endpoint's public key.
	AsymmetricSignature bool            `json:"asymmetricSignature,omitempty"`
	BodyTemplate        json.RawMessage `json:"bodyTemplate,omitempty"`
	RetrySchedule       []string        `json:"retrySchedule,omitempty"`
	TimeoutSeconds      int             `json:"timeoutSeconds,omitempty"`
	MaxInFlight         int             `json:"maxInFlight,omitempty"`
	Active              *bool           `json:"active,omitempty"`
}

// EndpointPatch changes an endpoint; absent fields keep their values.
type EndpointPatch struct {
	URL             *string           `json:"url,omitempty"`
	Events          []string          `json:"events,omitempty"`
	Description     *string           `json:"description,omitempty"`
	Filter          *string           `json:"filter,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	SignatureHeader *string           `json:"signatureHeader,omitempty"`
	SignatureFormat *string           `json:"signatureFormat,omitempty"`
	// AsymmetricSignature true makes a key pair when the endpoint has
	// none; false drops it.
	AsymmetricSignature *bool `json:"asymmetricSignature,omitempty"`
	// BodyTemplate replaces the template; null removes it.
	BodyTemplate   json.RawMessage `json:"bodyTemplate,omitempty"`
	RetrySchedule  []string        `json:"retrySchedule,omitempty"`
	TimeoutSeconds *int            `json:"timeoutSeconds,omitempty"`
	MaxInFlight    *int            `json:"maxInFlight,omitempty"`
	Active         *bool           `json:"active,omitempty"`

	// eventsNull is set when the body sent "events": null, which a nil
	// Events cannot tell from an absent key.
	eventsNull bool
}

// UnmarshalJSON decodes a patch, noting an explicit "events": null.
func (p *EndpointPatch) UnmarshalJSON(b []byte) error {
	type plain EndpointPatch
	if err := json.Unmarshal(b, (*plain)(p)); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	if v, ok := keys["events"]; ok && string(bytes.TrimSpace(v)) == "null" {
		p.eventsNull = true
	}
	return nil
}

// Health states of an endpoint.
const (
	// HealthHealthy: the last delivery succeeded, or none has failed yet.
	HealthHealthy = "healthy"
	// HealthFailing: deliveries have failed since failingSince; after five
	// days of that the endpoint is disabled.
	HealthFailing = "failing"
	// HealthDisabled: the endpoint is inactive (by a client, 410 Gone or
	// five days of failures).
	HealthDisabled = "disabled"
	// HealthBroken: the stored endpoint cannot be used (its filter no
	// longer compiles, its secret cannot be opened with the master key);
	// it gets no new deliveries until fixed.
	HealthBroken = "broken"
)

// EndpointHealth is how an endpoint is doing.
type EndpointHealth struct {
	State        string     `json:"state"`
	Error        string     `json:"error,omitempty"`
	FailingSince *time.Time `json:"failingSince,omitempty"`
	// Recent sums up the latest deliveries' attempts; shown by reads
	// (get and list), not by the answers to writes.
	Recent *RecentAttempts `json:"recent,omitempty"`
}

// RecentDeliveries is how many of an endpoint's latest deliveries its
// health sums up.
const RecentDeliveries = 100

// RecentAttempts sums up the attempts of an endpoint's latest deliveries
// (at most RecentDeliveries). An attempt succeeded when the receiver
// answered 2xx.
type RecentAttempts struct {
	Deliveries    int        `json:"deliveries"`
	Attempts      int        `json:"attempts"`
	Succeeded     int        `json:"succeeded"`
	SuccessRate   *float64   `json:"successRate"`
	LastSuccessAt *time.Time `json:"lastSuccessAt"`
	LastErrorAt   *time.Time `json:"lastErrorAt"`
	LastStatus    int        `json:"lastStatus,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
}

func recentAttempts(r *store.EndpointRecent) *RecentAttempts {
	out := &RecentAttempts{}
	if r == nil {
		return out
	}
	out.Deliveries, out.Attempts, out.Succeeded, out.LastStatus, out.LastError = r.Deliveries, r.Attempts, r.Succeeded, r.LastStatus, r.LastError
	if r.Attempts > 0 {
		rate := float64(r.Succeeded) / float64(r.Attempts)
		out.SuccessRate = &rate
	}
	if !r.LastSuccessAt.IsZero() {
		t := r.LastSuccessAt
		out.LastSuccessAt = &t
	}
	if !r.LastErrorAt.IsZero() {
		t := r.LastErrorAt
		out.LastErrorAt = &t
	}
	return out
}

// withRecent fills in the endpoints' recent attempts, with one read for
// them all.
func (s *Service) withRecent(ctx context.Context, eps ...*Endpoint) error {
	ids := make([]string, len(eps))
	for i, ep := range eps {
		ids[i] = ep.ID
	}
	recent, err := s.store.EndpointRecentRead(ctx, &store.EndpointRecentReadParams{EndpointIDs: ids, Deliveries: RecentDeliveries})
	if err != nil {
		return fmt.Errorf("read endpoint health: %w", err)
	}
	for _, ep := range eps {
		ep.Health.Recent = recentAttempts(recent[ep.ID])
	}
	return nil
}

func health(ep *store.Endpoint, broken string) *EndpointHealth {
	switch {
	case broken != "":
		return &EndpointHealth{State: HealthBroken, Error: broken}
	case !ep.Active:
		return &EndpointHealth{State: HealthDisabled, Error: ep.DisabledReason}
	case !ep.FailingSince.IsZero():
		t := ep.FailingSince
		return &EndpointHealth{State: HealthFailing, FailingSince: &t}
	}
	return &EndpointHealth{State: HealthHealthy}
}

// Endpoint is an endpoint as clients see it. Secret is shown only when
// created or rotated.
type Endpoint struct {
	ID              string            `json:"id"`
	URL             string            `json:"url"`
	TenantID        *string           `json:"tenantId"`
	Description     string            `json:"description"`
	Events          []string          `json:"events"`
	Filter          string            `json:"filter,omitempty"`
	Headers         map[string]string `json:"headers"`
	SignatureHeader string            `json:"signatureHeader"`
	SignatureFormat string            `json:"signatureFormat"`
	// PublicKey checks the "v1a" entries; empty unless
	// asymmetricSignature.
	PublicKey      string          `json:"publicKey,omitempty"`
	BodyTemplate   json.RawMessage `json:"bodyTemplate,omitempty"`
	RetrySchedule  []string        `json:"retrySchedule"`
	TimeoutSeconds int             `json:"timeoutSeconds"`
	MaxInFlight    int             `json:"maxInFlight"`
	Active         bool            `json:"active"`
	DisabledReason string          `json:"disabledReason,omitempty"`
	Health         *EndpointHealth `json:"health"`
	Secret         string          `json:"secret,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
}

// view shows an endpoint whose row was just checked (created, updated):
// it cannot be broken. Stored rows go through viewStored.
func view(ep *store.Endpoint) *Endpoint {
	return viewBroken(ep, "")
}

func viewBroken(ep *store.Endpoint, broken string) *Endpoint {
	v := &Endpoint{ID: ep.ID, URL: ep.URL, Description: ep.Description, Events: ep.Events, Filter: ep.Filter, Headers: ep.Headers,
		SignatureHeader: ep.SignatureHeader, SignatureFormat: ep.SignatureFormat, PublicKey: ep.PublicKey,
		RetrySchedule: ep.RetrySchedule, TimeoutSeconds: ep.TimeoutSeconds, MaxInFlight: ep.MaxInFlight, Active: ep.Active, DisabledReason: ep.DisabledReason, Health: health(ep, broken), CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt}
	if ep.TenantID != "" {
		t := ep.TenantID
		v.TenantID = &t
	}
	if ep.BodyTemplate != "" {
		v.BodyTemplate = json.RawMessage(ep.BodyTemplate)
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	return v
}

var (
	headerName  = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
	eventFilter = regexp.MustCompile(`^(\*|[!-~]{1,128})$`)
	tenantIDRe  = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)
	// Headers fieldflow sets itself; an endpoint cannot override them.
	reservedHeaders = map[string]bool{"content-type": true, "content-length": true, "host": true, "user-agent": true,
		"x-fieldflow-event": true, "x-fieldflow-delivery": true, "webhook-id": true, "webhook-timestamp": true,
		"webhook-signature": true, "transfer-encoding": true, "connection": true}
)

// checkEndpoint validates an endpoint as it would be stored.
func checkEndpoint(ep *store.Endpoint) error {
	var ps []problem.Problem
	add := func(loc, msg string, v any) { ps = append(ps, problem.Problem{Location: loc, Message: msg, Value: v}) }
	// An endpoint without event types would match nothing and look
	// registered; null reaches here as no types at all.
	if len(ep.Events) == 0 {
		add("body.events", "must list at least one event type", nil)
	}
	if u, err := url.Parse(ep.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("body.url", "must be an absolute http or https URL", ep.URL)
	} else if u.User != nil {
		add("body.url", "must not contain credentials; send them in headers", nil)
	}
	for i, e := range ep.Events {
		if !eventFilter.MatchString(e) || (strings.Contains(e, "*") && e != "*" && !strings.HasSuffix(e, ".*")) || strings.Count(e, "*") > 1 {
			add(fmt.Sprintf("body.events[%d]", i), "must be an event type, prefix.* or *", e)
		}
	}
	if ep.TenantID != "" && !tenantIDRe.MatchString(ep.TenantID) {
		add("body.tenantId", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", ep.TenantID)
	}
	if ep.Filter != "" {
		if _, err := CompileFilter(ep.Filter); err != nil {
			add("body.filter", err.Error(), ep.Filter)
		}
	}
	for k, v := range ep.Headers {
		switch {
		case !headerName.MatchString(k):
			add("body.headers."+k, "is not a valid header name", k)
		case reservedHeaders[strings.ToLower(k)] || strings.EqualFold(k, ep.SignatureHeader):
			add("body.headers."+k, "is set by fieldflow and cannot be overridden", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			add("body.headers."+k, "must not contain CR, LF or NUL", nil)
		}
	}
	if !headerName.MatchString(ep.SignatureHeader) || reservedHeaders[strings.ToLower(ep.SignatureHeader)] {
		add("body.signatureHeader", "must be a header name fieldflow does not set itself", ep.SignatureHeader)
	}
	if !slices.Contains(outbound.SignatureFormats, ep.SignatureFormat) {
		add("body.signatureFormat", "must be one of "+strings.Join(outbound.SignatureFormats, ", "), ep.SignatureFormat)
	}
	if _, err := outbound.ParseSchedule(ep.RetrySchedule); err != nil {
		add("body.retrySchedule", err.Error(), ep.RetrySchedule)
	}
	if ep.BodyTemplate != "" {
		if _, err := parseBodyTemplate(ep.BodyTemplate); err != nil {
			var pe *templatePathError
			if errors.As(err, &pe) {
				add("body.bodyTemplate"+pe.at, pe.msg, pe.value)
			} else {
				add("body.bodyTemplate", err.Error(), nil)
			}
		}
	}
	if ps != nil {
		return &problem.ValidationError{Problems: ps}
	}
	return nil
}

// CreateEndpoint registers an endpoint and returns it with its secret.
func (s *Service) CreateEndpoint(ctx context.Context, sc scope.Scope, in *EndpointInput) (*Endpoint, error) {
	owner, err := records.ClaimTenant(sc, in.TenantID)
	if err != nil {
		return nil, err
	}
	in.TenantID = owner
	now := s.now()
	secret := outbound.NewSecret()
	ep := &store.Endpoint{ID: events.NewID("wh_"), URL: in.URL, Description: in.Description, Events: in.Events, Filter: in.Filter,
		Headers: in.Headers, SignatureHeader: in.SignatureHeader, SignatureFormat: in.SignatureFormat, RetrySchedule: in.RetrySchedule,
		TimeoutSeconds: in.TimeoutSeconds, MaxInFlight: in.MaxInFlight, Active: true, Secret: s.box.Seal(secret),
		CreatedAt: now, UpdatedAt: now}
	if ep.SignatureFormat == "" {
		ep.SignatureFormat = outbound.SignatureHex
	}
	if in.AsymmetricSignature {
		s.newSigningKey(ep)
	}
	if err := setBodyTemplate(ep, in.BodyTemplate); err != nil {
		return nil, err
	}
	if in.TenantID != nil {
		ep.TenantID = *in.TenantID
	}
	if in.Active != nil {
		ep.Active = *in.Active
	}
	if ep.Headers == nil {
		ep.Headers = map[string]string{}
	}
	if ep.SignatureHeader == "" {
		ep.SignatureHeader = DefaultSignatureHeader
	}
	if ep.RetrySchedule == nil {
		ep.RetrySchedule = outbound.FormatSchedule(outbound.DefaultRetrySchedule)
	}
	if ep.TimeoutSeconds == 0 {
		ep.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if ep.MaxInFlight == 0 {
		ep.MaxInFlight = DefaultMaxInFlight
	}
	if err := checkEndpoint(ep); err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		tx.AfterCommit(s.cache.invalidate)
		return tx.EndpointCreate(ctx, ep)
	})
	if err != nil {
		return nil, errorf("create endpoint", err)
	}
	v := view(ep)
	v.Secret = secret
	return v, nil
}

// GetEndpoint returns an endpoint the scope allows.
func (s *Service) GetEndpoint(ctx context.Context, sc scope.Scope, id string) (*Endpoint, error) {
	ep, err := s.owned(ctx, sc, s.store, id)
	if err != nil {
		return nil, err
	}
	v, err := s.viewStored(ctx, ep)
	if err != nil {
		return nil, err
	}
	if err := s.withRecent(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

// viewStored shows a stored endpoint with its health, broken or not as
// fan-out sees it.
func (s *Service) viewStored(ctx context.Context, ep *store.Endpoint) (*Endpoint, error) {
	broken, err := s.brokenReason(ctx, ep)
	if err != nil {
		return nil, err
	}
	return viewBroken(ep, broken), nil
}

// brokenReason says why an endpoint row cannot be used, empty when it can.
// The cache has prepared it already unless the row changed since (another
// instance wrote it within the refresh interval); then it is prepared
// here.
func (s *Service) brokenReason(ctx context.Context, ep *store.Endpoint) (string, error) {
	eps, err := s.cache.snapshot(ctx, s.store)
	if err != nil {
		return "", err
	}
	if conf, ok := eps[ep.ID]; ok && conf.ep.UpdatedAt.Equal(ep.UpdatedAt) {
		return conf.broken, nil
	}
	return s.cache.prepare(ep).broken, nil
}

// owned loads an endpoint, hiding other tenants' endpoints from a tenant.
func (s *Service) owned(ctx context.Context, sc scope.Scope, r store.Reader, id string) (*store.Endpoint, error) {
	ep, err := s.ownedOrDeleted(ctx, sc, r, id)
	if err != nil {
		return nil, err
	}
	if !ep.DeletedAt.IsZero() {
		return nil, fmt.Errorf("get endpoint: %w", store.ErrNotFound)
	}
	return ep, nil
}

// ownedOrDeleted is owned for reading history: a deleted endpoint's
// deliveries are kept until retention takes them, and stay readable.
func (s *Service) ownedOrDeleted(ctx context.Context, sc scope.Scope, r store.Reader, id string) (*store.Endpoint, error) {
	ep, err := r.EndpointGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.Allows(ep.TenantID) {
		return nil, fmt.Errorf("get endpoint: %w", store.ErrNotFound)
	}
	return ep, nil
}

// ListEndpoints returns a page of endpoints.
func (s *Service) ListEndpoints(ctx context.Context, sc scope.Scope, tenantID string, p store.Page) ([]*Endpoint, int, error) {
	tenant, err := sc.Filter(tenantID)
	if err != nil {
		return nil, 0, err
	}
	eps, total, err := s.store.EndpointList(ctx, &store.EndpointListParams{Page: p, TenantID: tenant})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*Endpoint, len(eps))
	for i, ep := range eps {
		if out[i], err = s.viewStored(ctx, ep); err != nil {
			return nil, 0, err
		}
	}
	if err := s.withRecent(ctx, out...); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// UpdateEndpoint applies a patch. Re-activating an endpoint clears its
// disabled reason and failure history.
func (s *Service) UpdateEndpoint(ctx context.Context, sc scope.Scope, id string, p *EndpointPatch) (*Endpoint, error) {
	var out *Endpoint
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ep, err := s.owned(ctx, sc, tx, id)
		if err != nil {
			return err
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&ep.URL, p.URL)
		set(&ep.Description, p.Description)
		set(&ep.Filter, p.Filter)
		set(&ep.SignatureHeader, p.SignatureHeader)
		set(&ep.SignatureFormat, p.SignatureFormat)
		if p.AsymmetricSignature != nil {
			switch {
			case *p.AsymmetricSignature && ep.SigningKey == "":
				s.newSigningKey(ep)
			case !*p.AsymmetricSignature:
				ep.SigningKey, ep.PrevSigningKey, ep.PublicKey = "", "", ""
			}
		}
		if p.BodyTemplate != nil {
			if err := setBodyTemplate(ep, p.BodyTemplate); err != nil {
				return err
			}
		}
		if p.Events != nil || p.eventsNull {
			ep.Events = p.Events
		}
		if p.Headers != nil {
			ep.Headers = p.Headers
		}
		if p.RetrySchedule != nil {
			ep.RetrySchedule = p.RetrySchedule
		}
		if p.TimeoutSeconds != nil {
			ep.TimeoutSeconds = *p.TimeoutSeconds
		}
		if p.MaxInFlight != nil {
			ep.MaxInFlight = *p.MaxInFlight
		}
		if p.Active != nil {
			if *p.Active && !ep.Active {
				ep.DisabledReason, ep.FailingSince = "", time.Time{}
			}
			ep.Active = *p.Active
		}
		if err := checkEndpoint(ep); err != nil {
			return err
		}
		ep.UpdatedAt = s.now()
		if err := tx.EndpointUpdate(ctx, ep); err != nil {
			return err
		}
		tx.AfterCommit(s.cache.invalidate)
		// The patch may leave it broken: a secret no master key here opens.
		out = viewBroken(ep, s.cache.prepare(ep).broken)
		return nil
	})
	if err != nil {
		return nil, errorf("update endpoint", err)
	}
	return out, nil
}

// DeleteEndpoint deletes an endpoint: it is gone from lists and fan-out
// at once and its pending deliveries fail, while its delivery history (each
// delivery with its attempts, by GetDelivery) stays until retention takes
// it, so an audit can still see what was sent.
func (s *Service) DeleteEndpoint(ctx context.Context, sc scope.Scope, id string) error {
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := s.owned(ctx, sc, tx, id); err != nil {
			return err
		}
		tx.AfterCommit(s.cache.invalidate)
		return tx.EndpointDelete(ctx, id, s.now())
	})
	return errorf("delete endpoint", err)
}

// newSigningKey gives ep a fresh ed25519 key pair and no previous key.
func (s *Service) newSigningKey(ep *store.Endpoint) {
	key := outbound.NewSigningKey()
	priv, _ := outbound.ParseSigningKey(key) // NewSigningKey's form parses
	ep.SigningKey, ep.PrevSigningKey, ep.PublicKey = s.box.Seal(key), "", outbound.PublicKey(priv)
}

// RotateSecret makes a new secret (and key pair, for an endpoint with
// asymmetricSignature); the old ones keep signing beside them for
// graceHours (default 24).
func (s *Service) RotateSecret(ctx context.Context, sc scope.Scope, id string, graceHours *int) (string, error) {
	grace := DefaultGraceHours
	if graceHours != nil {
		grace = *graceHours
	}
	secret := outbound.NewSecret()
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		ep, err := s.owned(ctx, sc, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		// A secret that cannot be opened (sealed with another master key)
		// cannot sign beside the new one; keeping it would leave the
		// endpoint broken through the grace period.
		_, openErr := s.box.Open(ep.Secret)
		if grace > 0 && openErr == nil {
			ep.PrevSecret = ep.Secret
			ep.PrevSecretUntil = now.Add(time.Duration(grace) * time.Hour)
		} else {
			ep.PrevSecret, ep.PrevSecretUntil = "", time.Time{}
		}
		ep.Secret = s.box.Seal(secret)
		// A key pair rotates with the secret, and its old key signs beside
		// the new one for the same grace period.
		if ep.SigningKey != "" {
			prev := ep.SigningKey
			s.newSigningKey(ep)
			if ep.PrevSecret != "" {
				if _, err := s.box.Open(prev); err == nil {
					ep.PrevSigningKey = prev
				}
			}
		}
		ep.UpdatedAt = now
		tx.AfterCommit(s.cache.invalidate)
		return tx.EndpointUpdate(ctx, ep)
	})
	if err != nil {
		return "", errorf("rotate secret", err)
	}
	return secret, nil
}

// AttemptView is one attempt as clients see it.
type AttemptView struct {
	Attempt         int               `json:"attempt"`
	StartedAt       time.Time         `json:"startedAt"`
	DurationMS      int64             `json:"durationMs"`
	RequestHeaders  map[string]string `json:"requestHeaders"`
	ResponseStatus  int               `json:"responseStatus,omitempty"`
	ResponseHeaders map[string]string `json:"responseHeaders,omitempty"`
	ResponseBody    string            `json:"responseBody,omitempty"`
	Error           string            `json:"error,omitempty"`
}

func viewAttempt(a *store.Attempt) *AttemptView {
	return &AttemptView{Attempt: a.Attempt, StartedAt: a.StartedAt, DurationMS: a.DurationMS, RequestHeaders: a.RequestHeaders,
		ResponseStatus: a.ResponseStatus, ResponseHeaders: a.ResponseHeaders, ResponseBody: a.ResponseBody, Error: a.Error}
}

// DeliveryView is a delivery with its attempts.
type DeliveryView struct {
	ID            string         `json:"id"`
	EndpointID    string         `json:"endpointId"`
	EventID       string         `json:"eventId"`
	EventType     string         `json:"eventType"`
	TenantID      string         `json:"tenantId,omitempty"`
	Status        string         `json:"status"`
	AttemptCount  int            `json:"attemptCount"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt,omitempty"`
	LastStatus    int            `json:"lastStatus,omitempty"`
	LastError     string         `json:"lastError,omitempty"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	Attempts      []*AttemptView `json:"attempts"`
}

func (s *Service) viewDeliveries(ctx context.Context, ds []*store.Delivery) ([]*DeliveryView, error) {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	attempts, err := s.store.AttemptList(ctx, ids)
	if err != nil {
		return nil, err
	}
	by := map[string][]*AttemptView{}
	for _, a := range attempts {
		by[a.DeliveryID] = append(by[a.DeliveryID], viewAttempt(a))
	}
	out := make([]*DeliveryView, len(ds))
	for i, d := range ds {
		v := &DeliveryView{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID, EventType: d.EventType, TenantID: d.TenantID, Status: string(d.State),
			AttemptCount: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Attempts: by[d.ID]}
		if d.State == store.DeliveryPending {
			t := d.NextAttemptAt
			v.NextAttemptAt = &t
		}
		if v.Attempts == nil {
			v.Attempts = []*AttemptView{}
		}
		out[i] = v
	}
	return out, nil
}

// ListDeliveries returns an endpoint's deliveries, newest first, and the
// cursor of the next page.
func (s *Service) ListDeliveries(ctx context.Context, sc scope.Scope, endpointID string, status, cursor string, limit int) ([]*DeliveryView, string, error) {
	if _, err := s.owned(ctx, sc, s.store, endpointID); err != nil {
		return nil, "", err
	}
	before, err := records.DecodeCursor(cursor)
	if err != nil {
		return nil, "", &problem.ValidationError{Problems: []problem.Problem{{Location: "query.cursor", Message: "is not a cursor this server gave out", Value: cursor}}}
	}
	ds, err := s.store.DeliveryList(ctx, &store.DeliveryListParams{EndpointID: endpointID, State: store.DeliveryState(status), BeforeSeq: before, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ds) > limit {
		ds = ds[:limit]
		next = records.EncodeCursor(ds[len(ds)-1].Seq)
	}
	out, err := s.viewDeliveries(ctx, ds)
	return out, next, err
}

// EventDeliveries lists the deliveries of one event. With a tenant scope
// it lists only those GetDelivery would show that tenant: deliveries to its
// own endpoints, not to vendor-wide ones.
func (s *Service) EventDeliveries(ctx context.Context, sc scope.Scope, eventID string) ([]*DeliveryView, error) {
	ds, err := s.store.DeliveryList(ctx, &store.DeliveryListParams{EventID: eventID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	if !sc.IsAdmin() {
		visible := map[string]bool{}
		kept := ds[:0]
		for _, d := range ds {
			ok, seen := visible[d.EndpointID]
			if !seen {
				_, err := s.ownedOrDeleted(ctx, sc, s.store, d.EndpointID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return nil, fmt.Errorf("list deliveries of event %s: %w", eventID, err)
				}
				ok = err == nil
				visible[d.EndpointID] = ok
			}
			if ok {
				kept = append(kept, d)
			}
		}
		ds = kept
	}
	return s.viewDeliveries(ctx, ds)
}

// FilteredOut is an endpoint that an event's type and tenant select but
// that got no delivery of it.
type FilteredOut struct {
	EndpointID string `json:"endpointId"`
	Reason     string `json:"reason"`
}

// Reasons of FilteredOut.
const (
	reasonFilterFalse   = "filter false"
	reasonFilterError   = "filter error: "
	reasonEndpointBroke = "endpoint broken: "
)

// EventFilteredOut lists the endpoints that an event's type and tenant
// select but that have none of the deliveries given, with the reason: their
// filter said false or failed, or the endpoint is broken. The scope limits it
// to the endpoints it allows, as everywhere else.
//
// It is computed when asked, by evaluating each endpoint's filter again as
// it is now, so fan-out pays nothing for it; an endpoint changed since the
// event may answer differently than it did then, and endpoints created
// after the event are left out.
func (s *Service) EventFilteredOut(ctx context.Context, sc scope.Scope, ev *events.Event, delivered []*DeliveryView) ([]*FilteredOut, error) {
	eps, err := s.cache.snapshot(ctx, s.store)
	if err != nil {
		return nil, errorf("list filtered endpoints", err)
	}
	got := make(map[string]bool, len(delivered))
	for _, d := range delivered {
		got[d.EndpointID] = true
	}
	var input map[string]any
	out := []*FilteredOut{}
	for _, id := range slices.Sorted(maps.Keys(eps)) {
		conf := eps[id]
		ep := conf.ep
		if got[id] || !sc.Allows(ep.TenantID) || ep.CreatedAt.After(ev.OccurredAt) || !selects(ep, ev) {
			continue
		}
		reason := ""
		switch {
		case conf.broken != "":
			reason = reasonEndpointBroke + conf.broken
		case conf.filter != nil:
			if input == nil {
				input = decodeFilterInput(ev.Payload)
			}
			ok, err := conf.filter.eval(input)
			switch {
			case err != nil:
				reason = reasonFilterError + err.Error()
			case !ok:
				reason = reasonFilterFalse
			}
		}
		if reason != "" {
			out = append(out, &FilteredOut{EndpointID: id, Reason: reason})
		}
	}
	return out, nil
}

// GetDelivery returns one delivery with its attempts.
func (s *Service) GetDelivery(ctx context.Context, sc scope.Scope, id string) (*DeliveryView, error) {
	d, err := s.store.DeliveryGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.IsAdmin() {
		if _, err := s.ownedOrDeleted(ctx, sc, s.store, d.EndpointID); err != nil {
			return nil, fmt.Errorf("get delivery: %w", store.ErrNotFound)
		}
	}
	vs, err := s.viewDeliveries(ctx, []*store.Delivery{d})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// RetryDelivery makes a delivery due now, whatever its state.
func (s *Service) RetryDelivery(ctx context.Context, sc scope.Scope, id string) error {
	if _, err := s.GetDelivery(ctx, sc, id); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		d, err := tx.DeliveryGet(ctx, id)
		if err != nil {
			return err
		}
		// A delivery some process holds is queued or being attempted right
		// now; dropping its lease would send it twice.
		now := s.now()
		if d.State == store.DeliveryPending && d.LeaseOwner != "" && d.LeasedUntil.After(now) {
			return fmt.Errorf("%w: the delivery is queued or being attempted now", store.ErrConflict)
		}
		ep, err := tx.EndpointGet(ctx, d.EndpointID)
		if err != nil {
			return err
		}
		if !ep.DeletedAt.IsZero() {
			return fmt.Errorf("%w: its endpoint was deleted; the delivery is kept for the record only", store.ErrConflict)
		}
		return tx.DeliveryRetryNow(ctx, id, now)
	})
	if err != nil {
		return errorf("retry delivery", err)
	}
	s.disp.Poke()
	return nil
}

// ReplayInput selects deliveries to send again.
type ReplayInput struct {
	Since      time.Time  `json:"since"`
	Until      *time.Time `json:"until,omitempty"`
	OnlyFailed bool       `json:"onlyFailed,omitempty"`
}

// maxReplay bounds one replay call; call again with a later since for more.
const maxReplay = 10000

// Replay creates a new delivery (same event, new delivery id) for each of
// the endpoint's deliveries in the range, and returns how many.
func (s *Service) Replay(ctx context.Context, sc scope.Scope, endpointID string, in *ReplayInput) (int, error) {
	if in.Until != nil && !in.Until.After(in.Since) {
		return 0, &problem.ValidationError{Problems: []problem.Problem{{Location: "body.until", Message: "must be after since"}}}
	}
	count := 0
	err := s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := s.owned(ctx, sc, tx, endpointID); err != nil {
			return err
		}
		p := &store.DeliveryRangeParams{EndpointID: endpointID, Since: in.Since, OnlyFailed: in.OnlyFailed, Limit: maxReplay}
		if in.Until != nil {
			p.Until = *in.Until
		}
		old, err := tx.DeliveryEventsInRange(ctx, p)
		if err != nil {
			return err
		}
		now := s.now()
		ds := make([]*store.Delivery, 0, len(old))
		for _, o := range old {
			ev := &events.Event{ID: o.EventID, Type: o.EventType, TenantID: o.TenantID}
			// Unleased: the claimer takes them with their payloads.
			d := newDelivery(ev, endpointID, now, nil)
			ds = append(ds, d)
		}
		count = len(ds)
		return tx.DeliveryInsert(ctx, ds)
	})
	if err != nil {
		return 0, errorf("replay", err)
	}
	s.disp.Poke()
	return count, nil
}

// TestResult is the outcome of a test send.
type TestResult struct {
	EventID    string       `json:"eventId"`
	DeliveryID string       `json:"deliveryId"`
	Success    bool         `json:"success"`
	Attempt    *AttemptView `json:"attempt"`
}

// SendTest stores a webhook.test event with one delivery to this endpoint,
// sends it now and returns the attempt. A failed test is retried like any
// delivery.
func (s *Service) SendTest(ctx context.Context, sc scope.Scope, endpointID string) (*TestResult, error) {
	ep, err := s.owned(ctx, sc, s.store, endpointID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ev, err := events.New(events.WebhookTest, ep.TenantID, now,
		events.Member{Key: "data", Value: events.Object{{Key: "message", Value: "This is a test event from fieldflow."}, {Key: "webhookId", Value: ep.ID}}})
	if err != nil {
		return nil, err
	}
	d := &store.Delivery{ID: events.NewID("dlv_"), EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, TenantID: ev.TenantID,
		State: store.DeliveryPending, NextAttemptAt: now, LeaseOwner: s.cfg.Owner, LeasedUntil: now.Add(s.cfg.LeaseDuration), CreatedAt: now, UpdatedAt: now}
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.EventInsert(ctx, []*events.Event{ev}); err != nil {
			return err
		}
		return tx.DeliveryInsert(ctx, []*store.Delivery{d})
	})
	if err != nil {
		return nil, errorf("send test", err)
	}
	s.cache.invalidate()
	r := s.attempt(ctx, &deliveryTaskV1{d: d, payload: ev.Payload})
	if r == nil {
		return nil, errorf("send test", errors.New("cancelled"))
	}
	retryAt, err := s.writeResults(context.WithoutCancel(ctx), []*result{r})
	if err != nil {
		return nil, errorf("send test", err)
	}
	s.disp.WakeAt(retryAt...)
	out := &TestResult{EventID: ev.ID, DeliveryID: d.ID, Success: r.success}
	if r.attempt != nil {
		out.Attempt = viewAttempt(r.attempt)
	}
	return out, nil
}
