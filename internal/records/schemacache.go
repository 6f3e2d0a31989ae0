package records

import (
	"context"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/cache"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/store"
)

// schemaCache keeps the field groups and effective schemas that value saves
// validate against, so that a save reads nothing before its transaction.
// A change made through this process clears it when it commits; a change
// made by another process (PostgreSQL, several instances) is seen within
// ttl. A ttl of zero or less turns it off.
type schemaCache struct {
	ttl     time.Duration
	groups  cache.Map[string, *store.FieldGroup] // id or key → group
	schemas cache.Map[string, []fields.Field]    // tenant \x00 group id → fields
}

func newSchemaCache(ttl time.Duration) *schemaCache {
	c := &schemaCache{ttl: ttl}
	c.groups.TTL, c.schemas.TTL = ttl, ttl
	return c
}

func (c *schemaCache) clear() {
	c.groups.Clear()
	c.schemas.Clear()
}

// group returns a field group by id or key.
func (c *schemaCache) group(ctx context.Context, r store.Reader, idOrKey string) (*store.FieldGroup, error) {
	if c.ttl <= 0 {
		return r.FieldGroupGet(ctx, idOrKey)
	}
	if g, ok := c.groups.Get(idOrKey); ok {
		return g, nil
	}
	g, err := r.FieldGroupGet(ctx, idOrKey)
	if err != nil {
		return nil, err
	}
	c.groups.Set(idOrKey, g)
	return g, nil
}

// schema returns the effective fields of a group for a tenant.
func (c *schemaCache) schema(ctx context.Context, s *Service, tenantID, groupID string) ([]fields.Field, error) {
	if c.ttl <= 0 {
		return s.effective(ctx, s.store, tenantID, groupID)
	}
	key := tenantID + "\x00" + groupID
	if fs, ok := c.schemas.Get(key); ok {
		return fs, nil
	}
	fs, err := s.effective(ctx, s.store, tenantID, groupID)
	if err != nil {
		return nil, err
	}
	c.schemas.Set(key, fs)
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
