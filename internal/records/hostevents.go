package records

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// PublishInput is a host-published event.
type PublishInput struct {
	Type     string         `json:"type" minLength:"1" maxLength:"128" doc:"Any event type name the host chooses, such as TASK_COMPLETED, except under fieldflow's own prefixes (field_group., global_field., tenant_field., field_value., entity., webhook., automation.): those are refused with 422."`
	TenantID string         `json:"tenantId,omitempty" maxLength:"128" doc:"The tenant the event belongs to (an id matching ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$); a tenant key's own tenant when left out."`
	Data     map[string]any `json:"data"`
	Previous map[string]any `json:"previous,omitempty"`
	ID       string         `json:"id,omitempty" maxLength:"128" doc:"The host's own id (matching ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$): a second publish with the same id (and tenant) returns the first event and fans out nothing."`
}

// Published is the answer to a publish.
type Published struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty" doc:"True when id was already used: nothing new was stored."`
}

// Publish stores a host event, deduplicated by its id.
func (s *Service) Publish(ctx context.Context, in *PublishInput) (*Published, error) {
	if !events.ValidType(in.Type) {
		return nil, invalid("body.type", "must be 1-128 printable ASCII characters without spaces", in.Type)
	}
	if events.Reserved(in.Type) {
		return nil, invalid("body.type", "is reserved: names starting with "+strings.Join(events.ReservedPrefixes(), ", ")+" are fieldflow's own events", in.Type)
	}
	var ps []Problem
	for _, id := range []struct{ location, id string }{{"body.tenantId", in.TenantID}, {"body.id", in.ID}} {
		var ve *ValidationError
		if errors.As(CheckID(id.location, id.id), &ve) {
			ps = append(ps, ve.Problems...)
		}
	}
	if ps != nil {
		return nil, &ValidationError{Problems: ps}
	}
	if in.ID != "" {
		if ev, err := s.store.EventGetByDedupKey(ctx, in.TenantID, in.ID); err == nil {
			return &Published{ID: ev.ID, Duplicate: true}, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("publish event: %w", err)
		}
	}
	members := []events.Member{{Key: "data", Value: orEmpty(in.Data)}}
	if in.Previous != nil {
		members = append(members, events.Member{Key: "previous", Value: in.Previous})
	}
	ev, err := newEvent(in.Type, in.TenantID, s.Now(), members...)
	if err != nil {
		return nil, err
	}
	ev.DedupKey = in.ID
	err = s.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if in.ID != "" {
			// Checked again inside the transaction: two publishes with one
			// id may race.
			if first, err := tx.EventGetByDedupKey(ctx, in.TenantID, in.ID); err == nil {
				ev = first
				return errDuplicate
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return s.emit(ctx, tx, []*events.Event{ev})
	})
	switch {
	case errors.Is(err, errDuplicate):
		return &Published{ID: ev.ID, Duplicate: true}, nil
	case errors.Is(err, store.ErrConflict) && in.ID != "":
		first, gerr := s.store.EventGetByDedupKey(ctx, in.TenantID, in.ID)
		if gerr != nil {
			return nil, fmt.Errorf("publish event: %w", errors.Join(err, gerr))
		}
		return &Published{ID: first.ID, Duplicate: true}, nil
	case err != nil:
		return nil, fmt.Errorf("publish event: %w", err)
	}
	return &Published{ID: ev.ID}, nil
}

var errDuplicate = errors.New("records: duplicate event id")

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Event is a stored event as clients see it.
type Event struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	TenantID   string    `json:"tenantId,omitempty"`
	OccurredAt time.Time `json:"occurredAt"`
	// Payload is exactly what webhook receivers get.
	Payload json.RawMessage `json:"payload"`
}

// ViewEvent converts a stored event.
func ViewEvent(e *events.Event) *Event {
	return &Event{ID: e.ID, Type: e.Type, TenantID: e.TenantID, OccurredAt: e.OccurredAt, Payload: json.RawMessage(e.Payload)}
}

// ListEventsParams filters events, newest first.
type ListEventsParams struct {
	Type     string
	TenantID *string
	Since    time.Time
	Cursor   string
	Limit    int
}

// ListEvents returns a page of events and the cursor of the next page
// (empty at the end).
func (s *Service) ListEvents(ctx context.Context, p *ListEventsParams) ([]*Event, string, error) {
	before, err := DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", invalid("query.cursor", "is not a cursor this server gave out", p.Cursor)
	}
	evs, err := s.store.EventList(ctx, &store.EventListParams{Type: p.Type, TenantID: p.TenantID, Since: p.Since, BeforeSeq: before, Limit: p.Limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(evs) > p.Limit {
		evs = evs[:p.Limit]
		next = EncodeCursor(evs[len(evs)-1].Seq)
	}
	out := make([]*Event, len(evs))
	for i, e := range evs {
		out[i] = ViewEvent(e)
	}
	return out, next, nil
}

// EncodeCursor makes an opaque cursor of a sequence number.
func EncodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

// DecodeCursor reads a cursor; the empty cursor is the start.
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 's' {
		return 0, errors.New("bad cursor")
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("bad cursor")
	}
	return n, nil
}
