package automations

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// rule is an automation ready to match events and run: conditions
// compiled, durations parsed, the signing secret opened.
type rule struct {
	a   *store.Automation
	def Definition
	// cond is the trigger's condition; nil when there is none.
	cond *condition
	// from and to are the trigger's value filters as canonical JSON; nil
	// matches any value.
	from, to []byte
	// slaValue is the SLA's held value as canonical JSON; nil: any value.
	slaValue []byte
	slaAfter time.Duration
	offset   time.Duration
	// ifs and schedules are per action; nil when absent.
	ifs       []*condition
	schedules [][]time.Duration
	secret    string
}

func compile(a *store.Automation, box *secretbox.Box) (*rule, error) {
	c := &rule{a: a}
	if err := json.Unmarshal(a.Definition, &c.def); err != nil {
		return nil, fmt.Errorf("automation %s definition: %w", a.ID, err)
	}
	t := &c.def.Trigger
	var err error
	if t.Condition != "" {
		if c.cond, err = compileCondition(t.Condition); err != nil {
			return nil, fmt.Errorf("automation %s condition: %w", a.ID, err)
		}
	}
	if c.from, err = canonical(t.From); err != nil {
		return nil, err
	}
	if c.to, err = canonical(t.To); err != nil {
		return nil, err
	}
	if t.SLA != nil {
		if c.slaValue, err = canonical(t.SLA.Value); err != nil {
			return nil, err
		}
		if c.slaAfter, err = time.ParseDuration(t.SLA.After); err != nil {
			return nil, fmt.Errorf("automation %s sla: %w", a.ID, err)
		}
	}
	if t.Date != nil && t.Date.Offset != "" {
		if c.offset, err = time.ParseDuration(t.Date.Offset); err != nil {
			return nil, fmt.Errorf("automation %s date offset: %w", a.ID, err)
		}
	}
	c.ifs = make([]*condition, len(c.def.Actions))
	c.schedules = make([][]time.Duration, len(c.def.Actions))
	for i, act := range c.def.Actions {
		if act.If != "" {
			if c.ifs[i], err = compileCondition(act.If); err != nil {
				return nil, fmt.Errorf("automation %s action %s if: %w", a.ID, act.Name, err)
			}
		}
		switch {
		case act.Retry != nil && len(act.Retry.Schedule) > 0:
			if c.schedules[i], err = outbound.ParseSchedule(act.Retry.Schedule); err != nil {
				return nil, fmt.Errorf("automation %s action %s: %w", a.ID, act.Name, err)
			}
		case act.Type == ActionWebhook && (act.Retry == nil || act.Retry.Schedule == nil):
			// A "Call webhook" receiver is told that any status but 2xx
			// is retried, as webhook deliveries are: on their schedule.
			c.schedules[i] = outbound.DefaultRetrySchedule
		}
	}
	if a.Secret != "" {
		if c.secret, err = box.Open(a.Secret); err != nil {
			return nil, fmt.Errorf("automation %s secret: %w", a.ID, err)
		}
	}
	return c, nil
}

// canonical is v's JSON as events.Encode writes it, so that a value from a
// definition and one from a payload compare byte for byte; nil stays nil.
func canonical(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return events.Encode(v)
}

// automationCache keeps every automation compiled in memory, because
// triggers are matched inside the transaction that writes each event and
// must not query per event. Local changes invalidate it at once; other
// instances' changes are seen within refreshEvery.
//
// An automation that no longer compiles (a CEL upgrade, a secret the
// master key cannot open, a hand-edited row) is left out and kept in
// broken with its error, logged once and counted in a gauge: one bad row
// must not fail every value save and event publish that consults the
// cache.
type automationCache struct {
	box          *secretbox.Box
	refreshEvery time.Duration
	log          *slog.Logger
	brokenGauge  prometheus.Gauge

	mu       sync.Mutex
	byID     map[string]*rule  // guarded by mu
	list     []*rule           // guarded by mu
	broken   map[string]string // id → why it does not compile; guarded by mu
	loadedAt time.Time         // guarded by mu
	stale    bool              // guarded by mu
}

func (c *automationCache) invalidate() {
	c.mu.Lock()
	c.stale = true
	c.mu.Unlock()
}

// snapshot returns the automations that compile, reloading through r when
// stale. Inside a transaction r must be that transaction (see the webhook
// endpoint cache). The result must not be modified.
func (c *automationCache) snapshot(ctx context.Context, r store.Reader) ([]*rule, map[string]*rule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked(ctx, r)
}

func (c *automationCache) snapshotLocked(ctx context.Context, r store.Reader) ([]*rule, map[string]*rule, error) {
	if c.byID != nil && !c.stale && time.Since(c.loadedAt) < c.refreshEvery {
		return c.list, c.byID, nil
	}
	as, err := r.AutomationListAll(ctx)
	if err != nil {
		if c.byID != nil {
			return c.list, c.byID, nil // the last good copy rather than failing writes
		}
		return nil, nil, fmt.Errorf("load automations: %w", err)
	}
	byID := make(map[string]*rule, len(as))
	list := make([]*rule, 0, len(as))
	broken := map[string]string{}
	for _, a := range as {
		ca, err := compile(a, c.box)
		if err != nil {
			broken[a.ID] = err.Error()
			if c.broken[a.ID] != err.Error() {
				c.log.Error("automation is broken: it is left out of triggers until it is fixed or deleted",
					"automation", a.ID, "error", err)
			}
			continue
		}
		byID[a.ID] = ca
		list = append(list, ca)
	}
	c.byID, c.list, c.broken, c.loadedAt, c.stale = byID, list, broken, time.Now(), false
	if c.brokenGauge != nil {
		c.brokenGauge.Set(float64(len(broken)))
	}
	return list, byID, nil
}

// get returns a compiled automation, or why it is broken; ok is false
// when it does not exist.
func (c *automationCache) get(ctx context.Context, r store.Reader, id string) (ca *rule, broken string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.loadedAt
	_, m, err := c.snapshotLocked(ctx, r)
	if err != nil {
		return nil, "", false
	}
	if _, known := m[id]; !known && c.loadedAt.Equal(before) {
		// Not in a copy loaded earlier: deleted, or saved by another
		// instance since, whose first runs can reach this one before the
		// refresh does. Look again rather than drop such a run.
		c.stale = true
		if _, m, err = c.snapshotLocked(ctx, r); err != nil {
			return nil, "", false
		}
	}
	if why, isBroken := c.broken[id]; isBroken {
		return nil, why, true
	}
	ca, ok = m[id]
	return ca, "", ok
}

// health says whether a stored automation compiles: from the snapshot when
// it holds this version of it, else by compiling it now (it may have been
// saved by another instance since the last load).
func (c *automationCache) health(ctx context.Context, r store.Reader, a *store.Automation) *AutomationHealth {
	c.mu.Lock()
	_, m, err := c.snapshotLocked(ctx, r)
	why, isBroken := c.broken[a.ID]
	ca := m[a.ID]
	c.mu.Unlock()
	switch {
	case err == nil && isBroken:
		return &AutomationHealth{State: HealthBroken, Error: why}
	case err == nil && ca != nil && ca.a.UpdatedAt.Equal(a.UpdatedAt):
		return &AutomationHealth{State: HealthOK}
	}
	if _, err := compile(a, c.box); err != nil {
		return &AutomationHealth{State: HealthBroken, Error: err.Error()}
	}
	return &AutomationHealth{State: HealthOK}
}

// Health states of an automation.
const (
	HealthOK     = "ok"
	HealthBroken = "broken"
)

// AutomationHealth says whether an automation can run.
type AutomationHealth struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}
