package records

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/scope"
	"github.com/fieldflow/fieldflow/internal/store"
)

// PublishInput is a host-published event.
type PublishInput struct {
	Type     string         `json:"type"`
	TenantID string         `json:"tenantId,omitempty"`
	Data     map[string]any `json:"data"`
	Previous map[string]any `json:"previous,omitempty"`
	ID       string         `json:"id,omitempty"`
}

// Published is the answer to a publish.
type Published struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Publish stores a host event, deduplicated by its id.
func (s *Service) Publish(ctx context.Context, sc scope.Scope, in *PublishInput) (*Published, error) {
	if t, ok := sc.TenantID(); ok && in.TenantID == "" {
		in.TenantID = t
	}
	if err := sc.Check(in.TenantID); err != nil {
		return nil, fmt.Errorf("publish event: %w", err)
	}
	if !events.ValidType(in.Type) {
		return nil, problem.Invalid("body.type", "must be 1-128 printable ASCII characters without spaces", in.Type)
	}
	if events.Reserved(in.Type) {
		return nil, problem.Invalid("body.type", "is reserved: names starting with "+strings.Join(events.ReservedPrefixes(), ", ")+" are fieldflow's own events", in.Type)
	}
	var ps []problem.Problem
	for _, id := range []struct{ location, id string }{{"body.tenantId", in.TenantID}, {"body.id", in.ID}} {
		var ve *problem.ValidationError
		if errors.As(CheckID(id.location, id.id), &ve) {
			ps = append(ps, ve.Problems...)
		}
	}
	if ps != nil {
		return nil, &problem.ValidationError{Problems: ps}
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
	TenantID string // narrowed by the scope, see scope.Filter
	Since    time.Time
	Cursor   string
	Limit    int
}

// ListEvents returns a page of events and the cursor of the next page
// (empty at the end).
func (s *Service) ListEvents(ctx context.Context, sc scope.Scope, p *ListEventsParams) ([]*Event, string, error) {
	tenant, err := sc.Filter(p.TenantID)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	before, err := DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", problem.Invalid("query.cursor", "is not a cursor this server gave out", p.Cursor)
	}
	evs, err := s.store.EventList(ctx, &store.EventListParams{Type: p.Type, TenantID: tenant, Since: p.Since, BeforeSeq: before, Limit: p.Limit + 1})
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

// FollowEventsParams follows the event log from a point on.
type FollowEventsParams struct {
	Type     string
	TenantID string // narrowed by the scope, see scope.Filter
	// After is the sequence number of the last event the follower has
	// (-1: none yet, from the first event on).
	After int64
	// FromNow ignores After and returns no events, only the After that
	// follows from the newest event stored now.
	FromNow bool
	Limit   int
}

// FollowedEvent is an event with its place in the log.
type FollowedEvent struct {
	Seq int64
	*Event
}

// FollowEvents returns the events stored after p.After that the scope may
// see, oldest first, with the sequence number to pass as After next time.
func (s *Service) FollowEvents(ctx context.Context, sc scope.Scope, p *FollowEventsParams) ([]FollowedEvent, int64, error) {
	tenant, err := sc.Filter(p.TenantID)
	if err != nil {
		return nil, 0, fmt.Errorf("follow events: %w", err)
	}
	if p.FromNow {
		// The newest event of all: one index probe, whatever the filters.
		latest, err := s.store.EventList(ctx, &store.EventListParams{Limit: 1})
		if err != nil {
			return nil, 0, err
		}
		if len(latest) == 0 {
			return nil, -1, nil
		}
		return nil, latest[0].Seq, nil
	}
	after := p.After
	if after == 0 {
		after = -1
	}
	evs, err := s.store.EventList(ctx, &store.EventListParams{Type: p.Type, TenantID: tenant, AfterSeq: after, Limit: p.Limit})
	if err != nil {
		return nil, after, err
	}
	out := make([]FollowedEvent, len(evs))
	for i, e := range evs {
		out[i] = FollowedEvent{Seq: e.Seq, Event: ViewEvent(e)}
		after = e.Seq
	}
	return out, after, nil
}

// HostEventTypes lists the host-published event types stored so far (within
// retention), sorted: every tenant's for an admin scope; for a tenant, those
// among its latest 10,000 events.
func (s *Service) HostEventTypes(ctx context.Context, sc scope.Scope) ([]string, error) {
	tenant, err := sc.Filter("")
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	types, err := s.store.EventTypes(ctx, &store.EventTypesParams{TenantID: tenant})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(types, events.Reserved), nil
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

// GetEvent returns a stored event the scope allows; another tenant's is
// not found.
func (s *Service) GetEvent(ctx context.Context, sc scope.Scope, id string) (*events.Event, error) {
	// Errors go out unwrapped: the API shows their text.
	ev, err := s.store.EventGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !sc.Allows(ev.TenantID) {
		return nil, store.ErrNotFound
	}
	return ev, nil
}
