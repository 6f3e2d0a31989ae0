package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/store"
)

const tagTenants = "Tenants"

// Erasure is a tenant erasure as the API shows it.
type Erasure struct {
	TenantID    string     `json:"tenantId"`
	State       string     `json:"state" enum:"pending,done" doc:"pending until every row of the tenant is gone, then done."`
	RequestedAt time.Time  `json:"requestedAt"`
	FinishedAt  *time.Time `json:"finishedAt" doc:"null while pending."`
	RowsRemoved int64      `json:"rowsRemoved" doc:"Rows deleted so far."`
	EventID     string     `json:"eventId,omitempty" doc:"The tenant.erased event (evt_…), once done."`
}

func erasureView(e *store.TenantErasure) *Erasure {
	return &Erasure{TenantID: e.TenantID, State: string(e.State), RequestedAt: e.RequestedAt, FinishedAt: optTime(e.FinishedAt),
		RowsRemoved: e.Removed, EventID: e.EventID}
}

// TenantRetentionInput sets a tenant's own history retention.
type TenantRetentionInput struct {
	Days int `json:"days" minimum:"1" maximum:"36500" doc:"Days to keep the tenant's events, deliveries and runs, instead of the server's defaults."`
}

// TenantRetention is a tenant's history retention as the API shows it.
type TenantRetention struct {
	TenantID string `json:"tenantId"`
	// Days is nil while the defaults apply.
	Days      *int       `json:"days" doc:"The tenant's own retention in days; null: the server's defaults apply (see defaults)."`
	UpdatedAt *time.Time `json:"updatedAt" doc:"When days was set; null while the defaults apply."`
	Defaults  Retentions `json:"defaults" doc:"The server's retentions, which apply where the tenant has none of its own."`
}

// Retentions are the server's retentions, as Go durations; "forever" where
// nothing is pruned.
type Retentions struct {
	Events     string `json:"events" example:"720h0m0s"`
	Deliveries string `json:"deliveries" example:"720h0m0s"`
	Runs       string `json:"runs" example:"720h0m0s"`
}

func forever(d time.Duration) string {
	if d < 0 {
		return "forever"
	}
	return d.String()
}

func (s *Server) retentionView(tenantID string, r *store.TenantRetention) *TenantRetention {
	d := s.cfg.Retention.Defaults()
	v := &TenantRetention{TenantID: tenantID, Defaults: Retentions{Events: forever(d.Events), Deliveries: forever(d.Deliveries), Runs: forever(d.Runs)}}
	if r != nil {
		v.Days, v.UpdatedAt = &r.Days, &r.UpdatedAt
	}
	return v
}

func (s *Server) registerTenants() {
	rs := s.cfg.Retention
	if rs == nil {
		return
	}
	huma.Register(s.api, huma.Operation{OperationID: "erase-tenant", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}",
		Summary: "Erase a tenant",
		Description: "Erases everything fieldflow holds of the tenant: its values, tenant fields, endpoints, automations, variables, " +
			"OAuth2 connections and their history (events, deliveries to any endpoint, runs, attempts). The tenant's API keys are revoked " +
			"at once (their records stay: who had access is kept on record). The erasure is a job: the answer (202) is the erasure, " +
			"pending; the server removes the data in batches in the background, and a restart resumes it, so it always finishes. " +
			"When it is done, a `tenant.erased` event is sent to vendor-wide endpoints. Asking again while it is pending changes nothing; " +
			"asking after it is done erases what was written since. Follow it with GET /api/tenants/{tenantId}/erasure. Admin keys only.",
		Tags: []string{tagTenants}, DefaultStatus: http.StatusAccepted, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ TenantPath }) (*out[*Erasure], error) {
			e, err := rs.RequestErasure(ctx, scopeOf(ctx), in.TenantID)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*Erasure]{erasureView(e)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-tenant-erasure", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/erasure",
		Summary: "Get a tenant's erasure", Description: "The latest erasure of the tenant: pending or done, with the rows removed so far. " +
			"404 if none was asked for. Admin keys only.",
		Tags: []string{tagTenants}, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ TenantPath }) (*out[*Erasure], error) {
			e, err := rs.Erasure(ctx, scopeOf(ctx), in.TenantID)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*Erasure]{erasureView(e)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-tenant-retention", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/retention",
		Summary: "Get a tenant's retention", Description: "How long the tenant's events, deliveries and runs are kept: its own `days`, " +
			"or null where the server's defaults apply. Admin keys only.",
		Tags: []string{tagTenants}, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ TenantPath }) (*out[*TenantRetention], error) {
			r, err := rs.TenantRetention(ctx, scopeOf(ctx), in.TenantID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fail(err)
			}
			return &out[*TenantRetention]{s.retentionView(in.TenantID, r)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "put-tenant-retention", Method: http.MethodPut, Path: "/api/tenants/{tenantId}/retention",
		Summary: "Set a tenant's retention", Description: "Keeps the tenant's events, deliveries and runs for `days` instead of the " +
			"server's defaults: longer for a tenant that pays for more history, or shorter. Pending deliveries and runs are never pruned. " +
			"Admin keys only.",
		Tags: []string{tagTenants}, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			TenantPath
			Body TenantRetentionInput
		}) (*out[*TenantRetention], error) {
			r, err := rs.SetTenantRetention(ctx, scopeOf(ctx), in.TenantID, in.Body.Days)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*TenantRetention]{s.retentionView(in.TenantID, r)}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "reset-tenant-retention", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}/retention",
		Summary: "Reset a tenant's retention", Description: "The server's defaults apply to the tenant again. Admin keys only.",
		Tags: []string{tagTenants}, DefaultStatus: http.StatusNoContent, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ TenantPath }) (*struct{}, error) {
			return nil, fail(rs.ResetTenantRetention(ctx, scopeOf(ctx), in.TenantID))
		})
}
