package records

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/store"
)

// schemaCache keeps the field groups and effective schemas that value saves
// validate against, so that a save reads nothing before its transaction.
// A change made through this process clears it when it commits; a change
// made by another process (PostgreSQL, several instances) is seen within
// ttl.
type schemaCache struct {
	ttl time.Duration

	mu      sync.Mutex
	groups  map[string]cachedGroup  // id or key → group; guarded by mu
	schemas map[string]cachedSchema // tenant \x00 group id → fields; guarded by mu
}

type cachedGroup struct {
	g  *store.FieldGroup
	at time.Time
}

type cachedSchema struct {
	fields []fields.Field
	at     time.Time
}

func newSchemaCache(ttl time.Duration) *schemaCache {
	return &schemaCache{ttl: ttl, groups: map[string]cachedGroup{}, schemas: map[string]cachedSchema{}}
}

func (c *schemaCache) clear() {
	c.mu.Lock()
	clear(c.groups)
	clear(c.schemas)
	c.mu.Unlock()
}

// group returns a field group by id or key.
func (c *schemaCache) group(ctx context.Context, r store.Reader, idOrKey string) (*store.FieldGroup, error) {
	if c.ttl <= 0 {
		return r.FieldGroupGet(ctx, idOrKey)
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.groups[idOrKey]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.g, nil
	}
	g, err := r.FieldGroupGet(ctx, idOrKey)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.groups) > 10000 {
		clear(c.groups)
	}
	c.groups[idOrKey] = cachedGroup{g: g, at: now}
	c.mu.Unlock()
	return g, nil
}

// schema returns the effective fields of a group for a tenant.
func (c *schemaCache) schema(ctx context.Context, s *Service, tenantID, groupID string) ([]fields.Field, error) {
	if c.ttl <= 0 {
		return s.effective(ctx, s.store, tenantID, groupID)
	}
	key := tenantID + "\x00" + groupID
	now := time.Now()
	c.mu.Lock()
	e, ok := c.schemas[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.fields, nil
	}
	fs, err := s.effective(ctx, s.store, tenantID, groupID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.schemas) > 10000 {
		clear(c.schemas)
	}
	c.schemas[key] = cachedSchema{fields: fs, at: now}
	c.mu.Unlock()
	return fs, nil
}

// changesSchema reports whether events change groups or fields.
func changesSchema(evs []*events.Event) bool {
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "field_group.") || strings.HasPrefix(ev.Type, "global_field.") || strings.HasPrefix(ev.Type, "tenant_field.") {
			return true
		}
	}
	return false
}
