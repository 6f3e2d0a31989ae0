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

// Problem is one reason a request is refused: Location names the part
// ("body.company_size"), Value what was sent.
type Problem struct {
	Location string
	Message  string
	Value    any
}

// ValidationError lists every problem of a refused request.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "validation failed"
	}
	return fmt.Sprintf("validation failed: %s: %s", e.Problems[0].Location, e.Problems[0].Message)
}

func invalid(location, message string, value any) error {
	return &ValidationError{Problems: []Problem{{Location: location, Message: message, Value: value}}}
}

// Emitter writes events inside the transaction that caused them. The app
// chains fan-out (webhook deliveries, automation runs) after the insert.
type Emitter func(ctx context.Context, tx store.Tx, evs []*events.Event) error

// InsertEvents is the plain Emitter: it stores the events.
func InsertEvents(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	return tx.EventInsert(ctx, evs)
}

// Service applies changes.
type Service struct {
	store   store.Store
	emit    Emitter
	now     func() time.Time
	schemas *schemaCache
}

// Config configures a Service.
type Config struct {
	Store store.Store
	// Emit stores events; defaults to InsertEvents.
	Emit Emitter
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
	s := &Service{store: cfg.Store, now: cfg.Now, schemas: newSchemaCache(cfg.SchemaTTL)}
	emit := cfg.Emit
	if emit == nil {
		emit = InsertEvents
	}
	// Every change of groups and fields goes out as an event, so this is
	// the one place that sees them all.
	s.emit = func(ctx context.Context, tx store.Tx, evs []*events.Event) error {
		if changesSchema(evs) {
			tx.AfterCommit(s.schemas.clear)
		}
		return emit(ctx, tx, evs)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Now is the service clock, truncated to what both databases keep.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Emit exposes the service's emitter for other writers (host events).
func (s *Service) Emit(ctx context.Context, tx store.Tx, evs []*events.Event) error {
	return s.emit(ctx, tx, evs)
}

// Store is the service's store, for reads.
func (s *Service) Store() store.Store { return s.store }

func newEvent(typ, tenantID string, at time.Time, members ...events.Member) (*events.Event, error) {
	ev, err := events.New(typ, tenantID, at, members...)
	if err != nil {
		return nil, fmt.Errorf("build %s event: %w", typ, err)
	}
	return ev, nil
}

func decodeSchema(raw json.RawMessage) (fields.Schema, error) {
	var s fields.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("decode stored schema: %w", err)
	}
	return s, nil
}

func checkSchema(location string, s *fields.Schema) []Problem {
	var ps []Problem
	for _, p := range s.Check() {
		ps = append(ps, Problem{Location: location + "." + p.Path, Message: p.Message})
	}
	return ps
}

// checkNewField validates a new field's key and schema and returns the
// schema as stored.
func checkNewField(key string, schema *fields.Schema) (json.RawMessage, error) {
	ps := checkKey("body.key", key)
	ps = append(ps, checkSchema("body.schema", schema)...)
	if ps != nil {
		return nil, &ValidationError{Problems: ps}
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

func checkKey(location, key string) []Problem {
	if fields.ValidKey(key) {
		return nil
	}
	return []Problem{{Location: location, Message: fields.KeyRule, Value: key}}
}
