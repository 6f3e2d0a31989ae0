package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/automations"
)

const tagAutomations = "Automations"

// AutomationPath names an automation in a path.
type AutomationPath struct {
	ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"Automation id."`
}

// RunPage is a page of runs.
type RunPage struct {
	Data       []*automations.Run `json:"data"`
	NextCursor string             `json:"nextCursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

func (s *Server) registerAutomations() {
	as := s.cfg.Automations
	if as == nil {
		return
	}
	huma.Register(s.api, huma.Operation{OperationID: "create-automation", Method: http.MethodPost, Path: "/api/automations",
		Summary: "Create an automation", Description: "Everything is checked at save: the trigger, CEL conditions (compiled, type-checked, cost-limited), " +
			"templates, each action's fields and the OAuth2 connections referenced. The response holds the secret that signs the webhook action's requests; it is not shown again.",
		Tags: []string{tagAutomations}, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct{ Body automations.AutomationInput }) (*out[*automations.Automation], error) {
			a, err := as.CreateAutomation(ctx, scopeOf(ctx), &in.Body)
			return &out[*automations.Automation]{a}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "test-automation", Method: http.MethodPost, Path: "/api/automations/test",
		Summary: "Try an automation on one event before activating it",
		Description: "Runs the steps of an automation (saved or not: the body holds its definition) once against a past event " +
			"(eventId) or a sample payload (event), and answers what each step rendered and got back. http and webhook steps send " +
			"their requests for real; a set_field step shows the values it would write and writes nothing; no step is retried. " +
			"The definition is checked as a save checks it. Nothing is stored: a test run is not in any run log and starts nothing.",
		Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct{ Body automations.TestRunInput }) (*out[*automations.TestRunResult], error) {
			res, err := as.TestAutomation(ctx, scopeOf(ctx), &in.Body)
			return &out[*automations.TestRunResult]{res}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-automations", Method: http.MethodGet, Path: "/api/automations",
		Summary: "List automations", Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct {
			PageParams
			TenantID string `query:"tenantId" maxLength:"128"`
		}) (*out[*List[*automations.Automation]], error) {
			p := in.page()
			list, total, err := as.ListAutomations(ctx, scopeOf(ctx), in.TenantID, p)
			return &out[*List[*automations.Automation]]{newList(list, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-automation", Method: http.MethodGet, Path: "/api/automations/{id}",
		Summary: "Get an automation", Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct{ AutomationPath }) (*out[*automations.Automation], error) {
			a, err := as.GetAutomation(ctx, scopeOf(ctx), in.ID)
			return &out[*automations.Automation]{a}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-automation", Method: http.MethodPatch, Path: "/api/automations/{id}",
		Summary: "Update an automation", Description: "A trigger or actions given replace the old ones whole. Setting active to true sets activatedAt: only later events start runs.",
		Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct {
			AutomationPath
			Body automations.AutomationPatch
		}) (*out[*automations.Automation], error) {
			a, err := as.UpdateAutomation(ctx, scopeOf(ctx), in.ID, &in.Body)
			return &out[*automations.Automation]{a}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-automation", Method: http.MethodDelete, Path: "/api/automations/{id}",
		Summary: "Delete an automation with its runs", Tags: []string{tagAutomations}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct{ AutomationPath }) (*struct{}, error) {
			return nil, fail(as.DeleteAutomation(ctx, scopeOf(ctx), in.ID))
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-automation-runs", Method: http.MethodGet, Path: "/api/automations/{id}/runs",
		Summary: "An automation's runs with their steps, newest first", Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct {
			AutomationPath
			Status string `query:"status" enum:"pending,succeeded,failed"`
			Cursor string `query:"cursor" maxLength:"64"`
			Limit  int    `query:"pageSize" minimum:"1" maximum:"500" default:"50" doc:"Runs per page, at most 500."`
		}) (*out[*RunPage], error) {
			rs, next, err := as.ListRuns(ctx, scopeOf(ctx), in.ID, in.Status, in.Cursor, max(in.Limit, 1))
			if err != nil {
				return nil, fail(err)
			}
			return &out[*RunPage]{&RunPage{Data: rs, NextCursor: next}}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-run", Method: http.MethodGet, Path: "/api/runs/{id}",
		Summary: "A run with every step attempt", Tags: []string{tagAutomations}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*automations.Run], error) {
			r, err := as.GetRun(ctx, scopeOf(ctx), in.ID)
			return &out[*automations.Run]{r}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "retry-run", Method: http.MethodPost, Path: "/api/runs/{id}/retry",
		Summary: "Continue a failed run from its failed step", Description: "The run becomes pending and due now; steps before the failed one are not run again, and what they captured is kept. A run that has not failed is a 409.",
		Tags: []string{tagAutomations}, DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*automations.Run], error) {
			r, err := as.RetryRun(ctx, scopeOf(ctx), in.ID)
			return &out[*automations.Run]{r}, fail(err)
		})
}
