package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/automations"
)

const tagSettings = "Automation settings"

// VariablePath names a variable in a path.
type VariablePath struct {
	Name string `path:"name" pattern:"^[A-Za-z_][A-Za-z0-9_]{0,63}$" doc:"Variable name: letters, digits and _, not starting with a digit."`
}

type variableList struct {
	Data []*automations.Variable `json:"data"`
}

func (s *Server) registerSettings() {
	if s.cfg.Automations == nil {
		return
	}
	s.registerVariables()
	s.registerOAuth2()
	s.registerRequestTemplates()
}

func (s *Server) registerVariables() {
	as := s.cfg.Automations
	listOut := func(vs []*automations.Variable, err error) (*out[*variableList], error) {
		if vs == nil {
			vs = []*automations.Variable{}
		}
		return &out[*variableList]{&variableList{Data: vs}}, fail(err)
	}

	huma.Register(s.api, huma.Operation{OperationID: "put-variable", Method: http.MethodPut, Path: "/api/variables/{name}",
		Summary: "Set a global variable", Description: "A secret variable is stored sealed and its value is never returned.",
		Tags: []string{tagSettings}, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			VariablePath
			Body automations.VariableInput
		}) (*out[*automations.Variable], error) {
			v, err := as.PutVariable(ctx, scopeOf(ctx), "", in.Name, &in.Body)
			return &out[*automations.Variable]{v}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-variables", Method: http.MethodGet, Path: "/api/variables",
		Summary: "List the global variables", Tags: []string{tagSettings}, Metadata: adminOnly},
		func(ctx context.Context, _ *struct{}) (*out[*variableList], error) {
			return listOut(as.ListVariables(ctx, scopeOf(ctx), ""))
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-variable", Method: http.MethodGet, Path: "/api/variables/{name}",
		Summary: "Get a global variable", Tags: []string{tagSettings}, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ VariablePath }) (*out[*automations.Variable], error) {
			v, err := as.GetVariable(ctx, scopeOf(ctx), "", in.Name)
			return &out[*automations.Variable]{v}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-variable", Method: http.MethodDelete, Path: "/api/variables/{name}",
		Summary: "Delete a global variable", Tags: []string{tagSettings}, DefaultStatus: http.StatusNoContent, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ VariablePath }) (*struct{}, error) {
			return nil, fail(as.DeleteVariable(ctx, scopeOf(ctx), "", in.Name))
		})

	huma.Register(s.api, huma.Operation{OperationID: "put-tenant-variable", Method: http.MethodPut, Path: "/api/tenants/{tenantId}/variables/{name}",
		Summary: "Set a tenant's variable", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			TenantPath
			VariablePath
			Body automations.VariableInput
		}) (*out[*automations.Variable], error) {
			v, err := as.PutVariable(ctx, scopeOf(ctx), in.TenantID, in.Name, &in.Body)
			return &out[*automations.Variable]{v}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-tenant-variables", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/variables",
		Summary: "List a tenant's variables", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct{ TenantPath }) (*out[*variableList], error) {
			return listOut(as.ListVariables(ctx, scopeOf(ctx), in.TenantID))
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-tenant-variable", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/variables/{name}",
		Summary: "Get a tenant's variable", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			TenantPath
			VariablePath
		}) (*out[*automations.Variable], error) {
			v, err := as.GetVariable(ctx, scopeOf(ctx), in.TenantID, in.Name)
			return &out[*automations.Variable]{v}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-tenant-variable", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}/variables/{name}",
		Summary: "Delete a tenant's variable", Tags: []string{tagSettings}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct {
			TenantPath
			VariablePath
		}) (*struct{}, error) {
			return nil, fail(as.DeleteVariable(ctx, scopeOf(ctx), in.TenantID, in.Name))
		})
}

func (s *Server) registerOAuth2() {
	as := s.cfg.Automations
	huma.Register(s.api, huma.Operation{OperationID: "create-oauth2-connection", Method: http.MethodPost, Path: "/api/oauth2-connections",
		Summary: "Create an OAuth2 connection", Description: "clientSecret and refreshToken are stored sealed and never returned.",
		Tags: []string{tagSettings}, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct{ Body automations.OAuth2Input }) (*out[*automations.OAuth2Connection], error) {
			c, err := as.CreateOAuth2(ctx, scopeOf(ctx), &in.Body)
			return &out[*automations.OAuth2Connection]{c}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-oauth2-connections", Method: http.MethodGet, Path: "/api/oauth2-connections",
		Summary: "List OAuth2 connections", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			PageParams
			TenantID string `query:"tenantId" maxLength:"128"`
		}) (*out[*List[*automations.OAuth2Connection]], error) {
			p := in.page()
			cs, total, err := as.ListOAuth2(ctx, scopeOf(ctx), in.TenantID, p)
			return &out[*List[*automations.OAuth2Connection]]{newList(cs, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-oauth2-connection", Method: http.MethodGet, Path: "/api/oauth2-connections/{id}",
		Summary: "Get an OAuth2 connection", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*automations.OAuth2Connection], error) {
			c, err := as.GetOAuth2(ctx, scopeOf(ctx), in.ID)
			return &out[*automations.OAuth2Connection]{c}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-oauth2-connection", Method: http.MethodPatch, Path: "/api/oauth2-connections/{id}",
		Summary: "Update an OAuth2 connection", Description: "Changing credentials drops the cached access token.", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
			Body automations.OAuth2Patch
		}) (*out[*automations.OAuth2Connection], error) {
			c, err := as.UpdateOAuth2(ctx, scopeOf(ctx), in.ID, &in.Body)
			return &out[*automations.OAuth2Connection]{c}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-oauth2-connection", Method: http.MethodDelete, Path: "/api/oauth2-connections/{id}",
		Summary: "Delete an OAuth2 connection", Tags: []string{tagSettings}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*struct{}, error) {
			return nil, fail(as.DeleteOAuth2(ctx, scopeOf(ctx), in.ID))
		})
}

func (s *Server) registerRequestTemplates() {
	as := s.cfg.Automations
	huma.Register(s.api, huma.Operation{OperationID: "create-request-template", Method: http.MethodPost, Path: "/api/request-templates",
		Summary:     "Create a request template",
		Description: "A named, versioned HTTP request that http actions reference by id (\"template\") and override in part. Editing it changes every automation that uses it; deleting one in use is refused.",
		Tags:        []string{tagSettings}, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct {
			Body automations.RequestTemplateInput
		}) (*out[*automations.RequestTemplate], error) {
			rt, err := as.CreateRequestTemplate(ctx, scopeOf(ctx), &in.Body)
			return &out[*automations.RequestTemplate]{rt}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-request-templates", Method: http.MethodGet, Path: "/api/request-templates",
		Summary: "List request templates", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			PageParams
			TenantID string `query:"tenantId" maxLength:"128"`
		}) (*out[*List[*automations.RequestTemplate]], error) {
			p := in.page()
			rts, total, err := as.ListRequestTemplates(ctx, scopeOf(ctx), in.TenantID, p)
			return &out[*List[*automations.RequestTemplate]]{newList(rts, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-request-template", Method: http.MethodGet, Path: "/api/request-templates/{id}",
		Summary: "Get a request template", Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*automations.RequestTemplate], error) {
			rt, err := as.GetRequestTemplate(ctx, scopeOf(ctx), in.ID)
			return &out[*automations.RequestTemplate]{rt}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-request-template", Method: http.MethodPatch, Path: "/api/request-templates/{id}",
		Summary: "Update a request template", Description: "Each update is a new version; automations that reference the template send it from their next step on.",
		Tags: []string{tagSettings}},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
			Body automations.RequestTemplatePatch
		}) (*out[*automations.RequestTemplate], error) {
			rt, err := as.UpdateRequestTemplate(ctx, scopeOf(ctx), in.ID, &in.Body)
			return &out[*automations.RequestTemplate]{rt}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-request-template", Method: http.MethodDelete, Path: "/api/request-templates/{id}",
		Summary: "Delete a request template", Description: "409 while any automation references it; the error names them.",
		Tags: []string{tagSettings}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*struct{}, error) {
			return nil, fail(as.DeleteRequestTemplate(ctx, scopeOf(ctx), in.ID))
		})
}
