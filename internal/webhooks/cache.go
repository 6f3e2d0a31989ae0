package webhooks

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// endpointConf is an endpoint ready for fan-out and sending: filter
// compiled, schedule parsed, secrets opened. When any of that fails the
// endpoint is broken: broken says why, and the endpoint is left out of
// fan-out and sends nothing until it is fixed.
type endpointConf struct {
	ep       *store.Endpoint
	filter   *Filter
	schedule []time.Duration
	secrets  []string             // newest first
	keys     []ed25519.PrivateKey // newest first; none without asymmetricSignature
	// body is the parsed body template; nil sends the payload as it is.
	body    any
	timeout time.Duration
	// broken is why the endpoint cannot be used; empty when it can. It
	// never holds a secret.
	broken string
}

// signing is what signs a request sent at now: the previous secret and
// key only until the rotation's grace period ends.
func (c *endpointConf) signing(now time.Time) *outbound.Signing {
	sg := &outbound.Signing{Secrets: c.secrets, Keys: c.keys, Format: c.ep.SignatureFormat}
	if now.After(c.ep.PrevSecretUntil) {
		sg.Secrets = sg.Secrets[:min(1, len(sg.Secrets))]
		sg.Keys = sg.Keys[:min(1, len(sg.Keys))]
	}
	return sg
}

// endpointCache keeps every endpoint in memory, because fan-out runs inside
// write transactions and must not query per event. Local changes
// invalidate it at once; changes made by other instances are picked up
// within refreshEvery.
type endpointCache struct {
	box          *secretbox.Box
	refreshEvery time.Duration
	log          *slog.Logger
	// brokenGauge counts the broken endpoints of the last load.
	brokenGauge prometheus.Gauge

	mu       sync.Mutex
	byID     map[string]*endpointConf // guarded by mu
	loadedAt time.Time                // guarded by mu
	stale    bool                     // guarded by mu
	// reported holds the broken endpoints already logged, with the reason
	// logged, so a reload every few seconds logs each breakage once.
	reported map[string]string // guarded by mu
}

func (c *endpointCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

// snapshot returns the current endpoints, reloading through r when stale.
// Inside a transaction r must be that transaction: a PostgreSQL pool whose
// connections are all held by transactions waiting on this reload would
// never hand out another. The map must not be modified.
func (c *endpointCache) snapshot(ctx context.Context, r store.Reader) (map[string]*endpointConf, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID != nil && !c.stale && time.Since(c.loadedAt) < c.refreshEvery {
		return c.byID, nil
	}
	eps, err := r.EndpointListAll(ctx)
	if err != nil {
		if c.byID != nil {
			return c.byID, nil // serve the last good copy rather than fail writes
		}
		return nil, fmt.Errorf("load endpoints: %w", err)
	}
	byID := make(map[string]*endpointConf, len(eps))
	for _, ep := range eps {
		byID[ep.ID] = c.prepare(ep)
	}
	c.reportBrokenLocked(byID)
	c.byID, c.loadedAt, c.stale = byID, time.Now(), false
	return byID, nil
}

// reportBrokenLocked logs each newly broken endpoint once (and once more
// when the reason changes) and sets the gauge. One broken row must not
// stop every write, so it is set aside here instead of failing the load;
// this is where the operator hears of it.
func (c *endpointCache) reportBrokenLocked(byID map[string]*endpointConf) {
	reported := make(map[string]string)
	for id, conf := range byID {
		if conf.broken == "" {
			continue
		}
		reported[id] = conf.broken
		if c.reported[id] != conf.broken && c.log != nil {
			c.log.Error("webhook endpoint is broken and left out of fan-out", "endpoint", id, "err", conf.broken)
		}
	}
	for id := range c.reported {
		if _, still := reported[id]; !still && byID[id] != nil && c.log != nil {
			c.log.Info("webhook endpoint is no longer broken", "endpoint", id)
		}
	}
	c.reported = reported
	if c.brokenGauge != nil {
		c.brokenGauge.Set(float64(len(reported)))
	}
}

func (c *endpointCache) get(ctx context.Context, r store.Reader, id string) (*endpointConf, bool) {
	c.mu.Lock()
	before := c.loadedAt
	c.mu.Unlock()
	m, err := c.snapshot(ctx, r)
	if err != nil {
		return nil, false
	}
	conf, ok := m[id]
	c.mu.Lock()
	reloaded := !c.loadedAt.Equal(before)
	c.mu.Unlock()
	if !ok && !reloaded {
		// Not in a copy loaded earlier: deleted, or created by another
		// instance since, whose first deliveries can reach this one before
		// the refresh does. Look again rather than leave them waiting for
		// their lease to run out.
		c.invalidate()
		if m, err = c.snapshot(ctx, r); err != nil {
			return nil, false
		}
		conf, ok = m[id]
	}
	return conf, ok
}

// peek returns the endpoint as last loaded, without reloading.
func (c *endpointCache) peek(id string) (*endpointConf, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conf, ok := c.byID[id]
	return conf, ok
}

// prepare makes an endpoint ready; what fails marks it broken (the first
// failure is the reason given).
func (c *endpointCache) prepare(ep *store.Endpoint) *endpointConf {
	conf := &endpointConf{ep: ep, timeout: time.Duration(ep.TimeoutSeconds) * time.Second}
	if err := c.prepareParts(conf); err != nil {
		conf.broken = err.Error()
	}
	return conf
}

func (c *endpointCache) prepareParts(conf *endpointConf) error {
	ep := conf.ep
	var err error
	// The schedule comes first: deliveries already written to a broken
	// endpoint are retried on it (see attempt).
	if conf.schedule, err = outbound.ParseSchedule(ep.RetrySchedule); err != nil {
		conf.schedule = outbound.DefaultRetrySchedule
		return fmt.Errorf("retry schedule: %w", err)
	}
	if ep.Filter != "" {
		if conf.filter, err = CompileFilter(ep.Filter); err != nil {
			return fmt.Errorf("filter does not compile: %w", err)
		}
	}
	// The box's error names neither the secret nor the key, so it may go
	// into the reason, which clients and logs see.
	secret, err := c.box.Open(ep.Secret)
	if err != nil {
		return fmt.Errorf("secret cannot be opened with the master key (sealed with another key?): %w", err)
	}
	conf.secrets = []string{secret}
	if ep.PrevSecret != "" {
		prev, err := c.box.Open(ep.PrevSecret)
		if err != nil {
			return fmt.Errorf("previous secret cannot be opened with the master key (rotate with graceHours 0 to drop it): %w", err)
		}
		conf.secrets = append(conf.secrets, prev)
	}
	for i, sealed := range []string{ep.SigningKey, ep.PrevSigningKey} {
		if sealed == "" || (i == 1 && ep.SigningKey == "") {
			continue
		}
		opened, err := c.box.Open(sealed)
		if err != nil {
			return fmt.Errorf("signing key cannot be opened with the master key (rotate to replace it): %w", err)
		}
		key, err := outbound.ParseSigningKey(opened)
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		conf.keys = append(conf.keys, key)
	}
	if ep.BodyTemplate != "" {
		if conf.body, err = parseBodyTemplate(ep.BodyTemplate); err != nil {
			return fmt.Errorf("body template: %w", err)
		}
	}
	return nil
}
