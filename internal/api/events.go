package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/webhooks"
)

const tagEvents = "Events"

// EventDetail is an event with what it caused.
type EventDetail struct {
	*records.Event
	Deliveries []*webhooks.DeliveryView `json:"deliveries"`
	// Filtered are the endpoints the event's type and tenant select that
	// got no delivery, and why.
	Filtered []*webhooks.FilteredOut `json:"filtered" doc:"Endpoints whose event types and tenant match but that got no delivery: their filter said false or failed, or the endpoint is broken. Evaluated when read, with each endpoint as it is now."`
	// Runs are the automation runs the event started (for a time rule,
	// the runs of the change that set its timer).
	Runs []*automations.Run `json:"runs"`
}

// EventPage is a page of the event log.
type EventPage struct {
	Data       []*records.Event `json:"data"`
	NextCursor string           `json:"nextCursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

func (s *Server) registerEvents() {
	rs := s.cfg.Records
	huma.Register(s.api, huma.Operation{OperationID: "publish-event", Method: http.MethodPost, Path: "/api/events",
		Summary: "Publish a host event", Description: "Stores the event and fans it out to webhooks and automations in one transaction. " +
			"An id already used (for the same tenant) returns the first event and fans out nothing.",
		Tags: []string{tagEvents}, DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *struct{ Body records.PublishInput }) (*out[*records.Published], error) {
			p := PrincipalFrom(ctx)
			if p != nil && !p.Admin() {
				if in.Body.TenantID == "" {
					in.Body.TenantID = p.TenantID
				}
				if err := checkTenant(ctx, in.Body.TenantID); err != nil {
					return nil, err
				}
			}
			res, err := rs.Publish(ctx, &in.Body)
			return &out[*records.Published]{res}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-events", Method: http.MethodGet, Path: "/api/events",
		Summary: "List events, newest first", Tags: []string{tagEvents}},
		func(ctx context.Context, in *struct {
			Type     string    `query:"type" maxLength:"128"`
			TenantID string    `query:"tenantId" maxLength:"128"`
			Since    time.Time `query:"since" doc:"Only events at or after this time (RFC 3339)."`
			Cursor   string    `query:"cursor" maxLength:"64"`
			Limit    int       `query:"pageSize" minimum:"1" maximum:"500" default:"50" doc:"Events per page, at most 500."`
		}) (*out[*EventPage], error) {
			tenant, err := tenantFilter(ctx, in.TenantID)
			if err != nil {
				return nil, err
			}
			evs, next, err := rs.ListEvents(ctx, &records.ListEventsParams{Type: in.Type, TenantID: tenant, Since: in.Since, Cursor: in.Cursor, Limit: max(in.Limit, 1)})
			if err != nil {
				var ve *records.ValidationError
				if errors.As(err, &ve) {
					return nil, huma.Error400BadRequest("bad cursor", &huma.ErrorDetail{Location: "query.cursor", Message: ve.Problems[0].Message, Value: in.Cursor})
				}
				return nil, fail(err)
			}
			if evs == nil {
				evs = []*records.Event{}
			}
			return &out[*EventPage]{&EventPage{Data: evs, NextCursor: next}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-event", Method: http.MethodGet, Path: "/api/events/{id}",
		Summary: "Get an event with its deliveries and runs", Tags: []string{tagEvents}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*EventDetail], error) {
			ev, err := s.cfg.Store.EventGet(ctx, in.ID)
			if err != nil {
				return nil, fail(err)
			}
			// Another tenant's event does not exist for a tenant key; of its
			// own event it sees what GET /api/deliveries/{id} and
			// GET /api/runs/{id} would show it (scope).
			if t := scope(ctx); t != nil && ev.TenantID != *t {
				return nil, fail(store.ErrNotFound)
			}
			d := &EventDetail{Event: records.ViewEvent(ev), Deliveries: []*webhooks.DeliveryView{}, Filtered: []*webhooks.FilteredOut{}, Runs: []*automations.Run{}}
			if s.cfg.Webhooks != nil {
				ds, err := s.cfg.Webhooks.EventDeliveries(ctx, ev.ID, scope(ctx))
				if err != nil {
					return nil, fail(err)
				}
				if ds != nil {
					d.Deliveries = ds
				}
				if d.Filtered, err = s.cfg.Webhooks.EventFilteredOut(ctx, ev, d.Deliveries, scope(ctx)); err != nil {
					return nil, fail(err)
				}
			}
			if s.cfg.Automations != nil {
				rs, err := s.cfg.Automations.RunsForEvent(ctx, ev.ID, scope(ctx))
				if err != nil {
					return nil, fail(err)
				}
				d.Runs = rs
			}
			return &out[*EventDetail]{d}, nil
		})
}
