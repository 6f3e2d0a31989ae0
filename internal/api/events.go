package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/api/contract"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/records"
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

// EventTypeInfo is one entry of GET /api/event-types.
type EventTypeInfo struct {
	Type        string `json:"type" example:"field_value.saved"`
	BuiltIn     bool   `json:"builtIn" doc:"fieldflow's own type; false for a type the host published."`
	Description string `json:"description,omitempty"`
	Schema      string `json:"schema,omitempty" doc:"For a built-in type: the OpenAPI schema of its body, a $ref into this server's document (whose webhooks section lists them too)."`
	RunsOnly    bool   `json:"runsOnly,omitempty" doc:"Seen by automation runs only (the time rules' events), never delivered to endpoints."`
}

// EventTypeList is the answer of GET /api/event-types.
type EventTypeList struct {
	Data []EventTypeInfo `json:"data"`
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
			res, err := rs.Publish(ctx, scopeOf(ctx), &in.Body)
			return &out[*records.Published]{res}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-event-types", Method: http.MethodGet, Path: "/api/event-types",
		Summary: "List event types: fieldflow's own, then those the host published",
		Description: "The built-in types with a description and the schema of their body, then the host-published types " +
			"stored so far (within retention), sorted: every tenant's for an admin key, for a tenant key those among its latest 10,000 events. " +
			"For event pickers and generated receiver types.",
		Tags: []string{tagEvents}},
		func(ctx context.Context, _ *struct{}) (*out[*EventTypeList], error) {
			host, err := rs.HostEventTypes(ctx, scopeOf(ctx))
			if err != nil {
				return nil, fail(err)
			}
			list := &EventTypeList{Data: []EventTypeInfo{}}
			for _, e := range contract.Events() {
				if e.Type == contract.HostEventType {
					continue
				}
				list.Data = append(list.Data, EventTypeInfo{Type: e.Type, BuiltIn: true, Description: e.Description,
					Schema: "#/components/schemas/" + e.Payload.Name(), RunsOnly: e.RunsOnly})
			}
			for _, t := range host {
				list.Data = append(list.Data, EventTypeInfo{Type: t})
			}
			return &out[*EventTypeList]{list}, nil
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
			evs, next, err := rs.ListEvents(ctx, scopeOf(ctx), &records.ListEventsParams{Type: in.Type, TenantID: in.TenantID, Since: in.Since, Cursor: in.Cursor, Limit: max(in.Limit, 1)})
			if err != nil {
				var ve *problem.ValidationError
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
			// Another tenant's event does not exist for a tenant key; of its
			// own event it sees what GET /api/deliveries/{id} and
			// GET /api/runs/{id} would show it.
			sc := scopeOf(ctx)
			ev, err := rs.GetEvent(ctx, sc, in.ID)
			if err != nil {
				return nil, fail(err)
			}
			d := &EventDetail{Event: records.ViewEvent(ev), Deliveries: []*webhooks.DeliveryView{}, Filtered: []*webhooks.FilteredOut{}, Runs: []*automations.Run{}}
			if s.cfg.Webhooks != nil {
				ds, err := s.cfg.Webhooks.EventDeliveries(ctx, sc, ev.ID)
				if err != nil {
					return nil, fail(err)
				}
				if ds != nil {
					d.Deliveries = ds
				}
				if d.Filtered, err = s.cfg.Webhooks.EventFilteredOut(ctx, sc, ev, d.Deliveries); err != nil {
					return nil, fail(err)
				}
			}
			if s.cfg.Automations != nil {
				rs, err := s.cfg.Automations.RunsForEvent(ctx, sc, ev.ID)
				if err != nil {
					return nil, fail(err)
				}
				d.Runs = rs
			}
			return &out[*EventDetail]{d}, nil
		})
}
