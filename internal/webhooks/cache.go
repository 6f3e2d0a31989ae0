package webhooks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// endpointConf is an endpoint ready for fan-out and sending: filter
// compiled, schedule parsed, secrets opened.
type endpointConf struct {
	ep       *store.Endpoint
	filter   *Filter
	schedule []time.Duration
	secrets  []string // newest first
	timeout  time.Duration
}

func (c *endpointConf) signingSecrets(now time.Time) []string {
	if len(c.secrets) > 1 && now.After(c.ep.PrevSecretUntil) {
		return c.secrets[:1]
	}
	return c.secrets
}

// endpointCache keeps every endpoint in memory, because fan-out runs inside
// write transactions and must not query per event. Local changes
// invalidate it at once; changes made by other instances are picked up
// within refreshEvery.
type endpointCache struct {
	box          *secretbox.Box
	refreshEvery time.Duration

	mu       sync.Mutex
	byID     map[string]*endpointConf // guarded by mu
	loadedAt time.Time                // guarded by mu
	stale    bool                     // guarded by mu
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
		conf, err := c.prepare(ep)
		if err != nil {
			return nil, err
		}
		byID[ep.ID] = conf
	}
	c.byID, c.loadedAt, c.stale = byID, time.Now(), false
	return byID, nil
}

func (c *endpointCache) get(ctx context.Context, r store.Reader, id string) (*endpointConf, bool) {
	m, err := c.snapshot(ctx, r)
	if err != nil {
		return nil, false
	}
	conf, ok := m[id]
	return conf, ok
}

// peek returns the endpoint as last loaded, without reloading.
func (c *endpointCache) peek(id string) (*endpointConf, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conf, ok := c.byID[id]
	return conf, ok
}

func (c *endpointCache) prepare(ep *store.Endpoint) (*endpointConf, error) {
	conf := &endpointConf{ep: ep, timeout: time.Duration(ep.TimeoutSeconds) * time.Second}
	var err error
	if ep.Filter != "" {
		if conf.filter, err = CompileFilter(ep.Filter); err != nil {
			return nil, fmt.Errorf("endpoint %s filter: %w", ep.ID, err)
		}
	}
	if conf.schedule, err = ParseSchedule(ep.RetrySchedule); err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", ep.ID, err)
	}
	secret, err := c.box.Open(ep.Secret)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s secret: %w", ep.ID, err)
	}
	conf.secrets = []string{secret}
	if ep.PrevSecret != "" {
		prev, err := c.box.Open(ep.PrevSecret)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s previous secret: %w", ep.ID, err)
		}
		conf.secrets = append(conf.secrets, prev)
	}
	return conf, nil
}
