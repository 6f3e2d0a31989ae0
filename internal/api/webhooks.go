package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/webhooks"
)

const tagWebhooks = "Webhooks"

// WebhookPath names an endpoint in a path.
type WebhookPath struct {
	ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"Webhook endpoint id."`
}

func (s *Server) registerWebhooks() {
	if s.cfg.Webhooks == nil {
		return
	}
	s.registerEndpoints()
	s.registerDeliveries()
}

func (s *Server) registerEndpoints() {
	wh := s.cfg.Webhooks
	huma.Register(s.api, huma.Operation{OperationID: "create-webhook", Method: http.MethodPost, Path: "/api/webhooks",
		Summary: "Register a webhook endpoint", Description: "The response holds the signing secret; it is not shown again.",
		Tags: []string{tagWebhooks}, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct{ Body webhooks.EndpointInput }) (*out[*webhooks.Endpoint], error) {
			ep, err := wh.CreateEndpoint(ctx, scopeOf(ctx), &in.Body)
			return &out[*webhooks.Endpoint]{ep}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-webhooks", Method: http.MethodGet, Path: "/api/webhooks",
		Summary: "List webhook endpoints", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct {
			PageParams
			TenantID string `query:"tenantId" maxLength:"128"`
		}) (*out[*List[*webhooks.Endpoint]], error) {
			p := in.page()
			eps, total, err := wh.ListEndpoints(ctx, scopeOf(ctx), in.TenantID, p)
			return &out[*List[*webhooks.Endpoint]]{newList(eps, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-webhook", Method: http.MethodGet, Path: "/api/webhooks/{id}",
		Summary: "Get a webhook endpoint", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct{ WebhookPath }) (*out[*webhooks.Endpoint], error) {
			ep, err := wh.GetEndpoint(ctx, scopeOf(ctx), in.ID)
			return &out[*webhooks.Endpoint]{ep}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-webhook", Method: http.MethodPatch, Path: "/api/webhooks/{id}",
		Summary: "Update a webhook endpoint", Description: "Setting active to true re-enables a disabled endpoint.", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct {
			WebhookPath
			Body webhooks.EndpointPatch
		}) (*out[*webhooks.Endpoint], error) {
			ep, err := wh.UpdateEndpoint(ctx, scopeOf(ctx), in.ID, &in.Body)
			return &out[*webhooks.Endpoint]{ep}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-webhook", Method: http.MethodDelete, Path: "/api/webhooks/{id}",
		Summary: "Delete a webhook endpoint with its delivery log", Tags: []string{tagWebhooks}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct{ WebhookPath }) (*struct{}, error) {
			return nil, fail(wh.DeleteEndpoint(ctx, scopeOf(ctx), in.ID))
		})
	huma.Register(s.api, huma.Operation{OperationID: "rotate-webhook-secret", Method: http.MethodPost, Path: "/api/webhooks/{id}/rotate-secret",
		Summary: "Rotate the signing secret", Description: "The old secret keeps signing beside the new one for graceHours (default 24).",
		Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct {
			WebhookPath
			Body *RotateSecretInput `required:"false"`
		}) (*out[*RotatedSecret], error) {
			var grace *int
			if in.Body != nil {
				grace = in.Body.GraceHours
			}
			secret, err := wh.RotateSecret(ctx, scopeOf(ctx), in.ID, grace)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*RotatedSecret]{&RotatedSecret{secret}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "test-webhook", Method: http.MethodPost, Path: "/api/webhooks/{id}/test",
		Summary: "Send a webhook.test event now and return the attempt", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct{ WebhookPath }) (*out[*webhooks.TestResult], error) {
			res, err := wh.SendTest(ctx, scopeOf(ctx), in.ID)
			return &out[*webhooks.TestResult]{res}, fail(err)
		})
}

func (s *Server) registerDeliveries() {
	wh := s.cfg.Webhooks
	huma.Register(s.api, huma.Operation{OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/api/webhooks/{id}/deliveries",
		Summary: "An endpoint's deliveries with every attempt, newest first", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct {
			WebhookPath
			Status string `query:"status" enum:"pending,succeeded,failed"`
			Cursor string `query:"cursor" maxLength:"64"`
			Limit  int    `query:"pageSize" minimum:"1" maximum:"500" default:"50" doc:"Deliveries per page, at most 500."`
		}) (*out[*DeliveryPage], error) {
			ds, next, err := wh.ListDeliveries(ctx, scopeOf(ctx), in.ID, in.Status, in.Cursor, max(in.Limit, 1))
			if err != nil {
				return nil, fail(err)
			}
			if ds == nil {
				ds = []*webhooks.DeliveryView{}
			}
			return &out[*DeliveryPage]{&DeliveryPage{Data: ds, NextCursor: next}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-delivery", Method: http.MethodGet, Path: "/api/deliveries/{id}",
		Summary: "A delivery with every attempt", Tags: []string{tagWebhooks}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*webhooks.DeliveryView], error) {
			d, err := wh.GetDelivery(ctx, scopeOf(ctx), in.ID)
			return &out[*webhooks.DeliveryView]{d}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "retry-delivery", Method: http.MethodPost, Path: "/api/deliveries/{id}/retry",
		Summary: "Send a delivery again now", Tags: []string{tagWebhooks}, DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*RetriedDelivery], error) {
			if err := wh.RetryDelivery(ctx, scopeOf(ctx), in.ID); err != nil {
				return nil, fail(err)
			}
			return &out[*RetriedDelivery]{&RetriedDelivery{in.ID}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "replay-webhook", Method: http.MethodPost, Path: "/api/webhooks/{id}/replay",
		Summary: "Send an endpoint's deliveries in a time range again", Description: "Each gets a new delivery (same event and webhook-id).",
		Tags: []string{tagWebhooks}, DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *struct {
			WebhookPath
			Body webhooks.ReplayInput
		}) (*out[*Replayed], error) {
			n, err := wh.Replay(ctx, scopeOf(ctx), in.ID, &in.Body)
			if err != nil {
				return nil, fail(err)
			}
			return &out[*Replayed]{&Replayed{n}}, nil
		})
}

// RotateSecretInput is the optional body of a secret rotation.
type RotateSecretInput struct {
	GraceHours *int `json:"graceHours,omitempty" minimum:"0" maximum:"720" doc:"How long the old secret keeps signing beside the new one. Default 24."`
}

// RotatedSecret is the answer to a rotation: the new secret, shown once.
type RotatedSecret struct {
	Secret string `json:"secret" doc:"The new signing secret (whsec_…). It is not shown again."`
}

// RetriedDelivery names the delivery a retry created.
type RetriedDelivery struct {
	ID string `json:"id" doc:"The new delivery's id."`
}

// Replayed counts the deliveries a replay created.
type Replayed struct {
	Count int `json:"count" doc:"How many deliveries the replay created."`
}

// DeliveryPage is a page of deliveries.
type DeliveryPage struct {
	Data       []*webhooks.DeliveryView `json:"data"`
	NextCursor string                   `json:"nextCursor,omitempty"`
}
