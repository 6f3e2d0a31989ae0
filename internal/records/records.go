// Package records applies changes to field groups, global and tenant fields
// and entity values. Each change is validated against the fields package's
// rules and written together with its events in one store transaction, so
// an accepted change always has its events and a refused one has none.
package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/store"
)

var (
	// ErrVersionMismatch means If-Match named a version that is not the
	// entity's current one.
	ErrVersionMismatch = errors.New("records: version mismatch")
	// ErrNotFound means a resource does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrConflict means a key is already taken.
	ErrConflict = store.ErrConflict
)

// Subscriber reacts to events inside the transaction that writes them:
// webhook fan-out adds deliveries, automations add runs and timers. A row
// a subscriber cannot use (an endpoint or automation that does not load)
// is its own to skip; an error it returns fails the whole write.
type Subscriber interface {
	Handle(ctx context.Context, tx store.Tx, evs []*events.Event) error
}

// WriteEvents stores events and hands them to each subscriber in order,
// all in tx. Every writer of events (records, webhooks' webhook.disabled,
// automations' automation.run_failed) goes through it with the one list
// the app builds, so each subscriber sees every event.
func WriteEvents(ctx context.Context, tx store.Tx, subs []Subscriber, evs []*events.Event) error {
	if err := tx.EventInsert(ctx, evs); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	for _, sub := range subs {
		if err := sub.Handle(ctx, tx, evs); err != nil {
			return err
		}
	}
	return nil
}

// Service applies changes.
type Service struct {
	store   store.Store
	subs    []Subscriber
	now     func() time.Time
	schemas *schemaCache
}

// Config configures a Service.
type Config struct {
	Store store.Store
	// Subscribers get every event this service writes, in order, in the
	// writing transaction. None means the events are only stored.
	Subscribers []Subscriber
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// SchemaTTL is how long a value save may validate against a schema
	// read earlier. Changes made through this process are seen at once;
	// this bounds how late another process's changes are seen. Defaults
	// to 1 second; negative reads the schema for every save.
	SchemaTTL time.Duration
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.SchemaTTL == 0 {
		cfg.SchemaTTL = time.Second
	}
	s := &Service{store: cfg.Store, subs: cfg.Subscribers, now: cfg.Now, schemas: newSchemaCache(cfg.SchemaTTL)}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Now is the service clock, truncated to what both databases keep.
func (s *Service) Now() time.Time { return events.StoredTime(s.now()) }

// emit writes the service's events. Every change of groups and fields goes
// out as an event, so this is the one place that sees them all.
func (s *Service) emit(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	if changesSchema(evs) {
		tx.AfterCommit(s.schemas.clear)
	}
	return WriteEvents(ctx, tx, s.subs, evs)
}

// newEvent builds an event whose subject is its tenant; value events add
// their entity (see valueEvents).
func newEvent(typ, tenantID string, at time.Time, members ...events.Member) (*events.Event, error) {
	ev, err := events.New(typ, tenantID, at, members...)
	if err != nil {
		return nil, fmt.Errorf("build %s event: %w", typ, err)
	}
	ev.Subject = &events.Subject{TenantID: tenantID}
	return ev, nil
}

func decodeSchema(raw json.RawMessage) (fields.Schema, error) {
	var s fields.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("decode stored schema: %w", err)
	}
	return s, nil
}

func checkSchema(location string, s *fields.Schema) []problem.Problem {
	var ps []problem.Problem
	for _, p := range s.Check() {
		ps = append(ps, problem.Problem{Location: location + "." + p.Path, Message: p.Message})
	}
	return ps
}

// checkNewField validates a new field's key and schema and returns the
// schema as stored.
func checkNewField(key string, schema *fields.Schema) (json.RawMessage, error) {
	ps := checkKey("body.key", key)
	ps = append(ps, checkSchema("body.schema", schema)...)
	if ps != nil {
		return nil, &problem.ValidationError{Problems: ps}
	}
	raw, err := json.Marshal(schema)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return raw, nil
}

// patchField applies a patch's label and schema (each when set) to a
// stored field's.
func patchField(label *string, schema *json.RawMessage, newLabel *string, newSchema *fields.Schema) error {
	if newLabel != nil {
		*label = *newLabel
	}
	if newSchema != nil {
		raw, err := json.Marshal(newSchema)
		if err != nil {
			return fmt.Errorf("encode schema: %w", err)
		}
		*schema = raw
	}
	return nil
}

func checkKey(location, key string) []problem.Problem {
	if fields.ValidKey(key) {
		return nil
	}
	return []problem.Problem{{Location: location, Message: fields.KeyRule, Value: key}}
}
