package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
)

// PageParams are the list parameters every paged list takes.
type PageParams struct {
	Page     int `query:"page" minimum:"1" default:"1" doc:"Page number, from 1."`
	PageSize int `query:"pageSize" minimum:"1" maximum:"500" default:"50" doc:"Items per page, at most 500."`
}

func (p PageParams) page() store.Page {
	return store.Page{Page: max(p.Page, 1), PageSize: min(max(p.PageSize, 1), 500)}
}

// Pagination describes where a page sits in the whole list.
type Pagination struct {
	Page       int `json:"page"`
	PageSize   int `json:"pageSize"`
	Total      int `json:"total"`
	TotalPages int `json:"totalPages"`
}

// List is a page of items.
type List[T any] struct {
	Data       []T        `json:"data"`
	Pagination Pagination `json:"pagination"`
}

func newList[T any](items []T, p store.Page, total int) *List[T] {
	if items == nil {
		items = []T{}
	}
	return &List[T]{Data: items, Pagination: Pagination{Page: p.Page, PageSize: p.PageSize, Total: total, TotalPages: (total + p.PageSize - 1) / p.PageSize}}
}

// out wraps a response body.
type out[T any] struct{ Body T }

type TenantPath struct {
	TenantID string `path:"tenantId" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"The host app's tenant id."`
}

type GroupPath struct {
	Group string `path:"fg" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"Field group id or key."`
}

const tagFields = "Custom fields"

// adminOnly marks an operation that only an admin key may call.
var adminOnly = map[string]any{"admin": true}

func (s *Server) registerFields() {
	s.registerFieldGroups()
	s.registerGlobalFields()
	s.registerTenantFields()
	s.registerValues()
}

func (s *Server) registerFieldGroups() {
	rs := s.cfg.Records
	huma.Register(s.api, huma.Operation{OperationID: "create-field-group", Method: http.MethodPost, Path: "/api/field-groups",
		Summary: "Create a field group", Tags: []string{tagFields}, DefaultStatus: http.StatusCreated, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ Body records.FieldGroupInput }) (*out[*records.FieldGroup], error) {
			g, err := rs.CreateFieldGroup(ctx, scopeOf(ctx), &in.Body)
			return &out[*records.FieldGroup]{g}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-field-groups", Method: http.MethodGet, Path: "/api/field-groups",
		Summary: "List field groups", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct{ PageParams }) (*out[*List[*records.FieldGroup]], error) {
			p := in.page()
			gs, total, err := rs.ListFieldGroups(ctx, scopeOf(ctx), p)
			return &out[*List[*records.FieldGroup]]{newList(gs, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-field-group", Method: http.MethodGet, Path: "/api/field-groups/{fg}",
		Summary: "Get a field group", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct{ GroupPath }) (*out[*records.FieldGroup], error) {
			g, err := rs.GetFieldGroup(ctx, scopeOf(ctx), in.Group)
			return &out[*records.FieldGroup]{g}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-field-group", Method: http.MethodPatch, Path: "/api/field-groups/{fg}",
		Summary: "Update a field group", Tags: []string{tagFields}, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			GroupPath
			Body records.FieldGroupPatch
		}) (*out[*records.FieldGroup], error) {
			g, err := rs.UpdateFieldGroup(ctx, scopeOf(ctx), in.Group, &in.Body)
			return &out[*records.FieldGroup]{g}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-field-group", Method: http.MethodDelete, Path: "/api/field-groups/{fg}",
		Summary: "Delete a field group with its fields and values", Tags: []string{tagFields}, DefaultStatus: http.StatusNoContent, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ GroupPath }) (*struct{}, error) {
			return nil, fail(rs.DeleteFieldGroup(ctx, scopeOf(ctx), in.Group))
		})
}

func (s *Server) registerGlobalFields() {
	rs := s.cfg.Records
	huma.Register(s.api, huma.Operation{OperationID: "create-global-field", Method: http.MethodPost, Path: "/api/global-fields",
		Summary: "Create a global field in one or more groups", Tags: []string{tagFields}, DefaultStatus: http.StatusCreated, Metadata: adminOnly},
		func(ctx context.Context, in *struct{ Body records.GlobalFieldInput }) (*out[*records.GlobalField], error) {
			f, err := rs.CreateGlobalField(ctx, scopeOf(ctx), &in.Body)
			return &out[*records.GlobalField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-global-fields", Method: http.MethodGet, Path: "/api/global-fields",
		Summary: "List global fields", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			PageParams
			FieldGroupID string `query:"fieldGroupId" maxLength:"128" doc:"Only fields of this group (id or key)."`
		}) (*out[*List[*records.GlobalField]], error) {
			p := in.page()
			fs, total, err := rs.ListGlobalFields(ctx, scopeOf(ctx), in.FieldGroupID, p)
			if errors.Is(err, store.ErrNotFound) {
				return &out[*List[*records.GlobalField]]{newList[*records.GlobalField](nil, p, 0)}, nil
			}
			return &out[*List[*records.GlobalField]]{newList(fs, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-global-field", Method: http.MethodGet, Path: "/api/global-fields/{id}",
		Summary: "Get a global field", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*records.GlobalField], error) {
			f, err := rs.GetGlobalField(ctx, scopeOf(ctx), in.ID)
			return &out[*records.GlobalField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-global-field", Method: http.MethodPatch, Path: "/api/global-fields/{id}",
		Summary: "Update a global field", Tags: []string{tagFields}, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
			Body records.GlobalFieldPatch
		}) (*out[*records.GlobalField], error) {
			f, err := rs.UpdateGlobalField(ctx, scopeOf(ctx), in.ID, &in.Body)
			return &out[*records.GlobalField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-global-field", Method: http.MethodDelete, Path: "/api/global-fields/{id}",
		Summary: "Delete a global field (stored values are kept)", Tags: []string{tagFields}, DefaultStatus: http.StatusNoContent, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*struct{}, error) {
			return nil, fail(rs.DeleteGlobalField(ctx, scopeOf(ctx), in.ID))
		})
}

func (s *Server) registerTenantFields() {
	rs := s.cfg.Records
	huma.Register(s.api, huma.Operation{OperationID: "create-tenant-field", Method: http.MethodPost, Path: "/api/tenants/{tenantId}/field-groups/{fg}/fields",
		Summary: "Add a tenant's own field to a group", Tags: []string{tagFields}, DefaultStatus: http.StatusCreated},
		func(ctx context.Context, in *struct {
			TenantPath
			GroupPath
			Body records.TenantFieldInput
		}) (*out[*records.TenantField], error) {
			f, err := rs.CreateTenantField(ctx, scopeOf(ctx), in.TenantID, in.Group, &in.Body)
			return &out[*records.TenantField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "list-tenant-fields", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/field-groups/{fg}/fields",
		Summary: "List a tenant's fields in a group", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			TenantPath
			GroupPath
			PageParams
		}) (*out[*List[*records.TenantField]], error) {
			p := in.page()
			fs, total, err := rs.ListTenantFields(ctx, scopeOf(ctx), in.TenantID, in.Group, p)
			return &out[*List[*records.TenantField]]{newList(fs, p, total)}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-tenant-field", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/fields/{id}",
		Summary: "Get a tenant field", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			TenantPath
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*out[*records.TenantField], error) {
			f, err := rs.GetTenantField(ctx, scopeOf(ctx), in.TenantID, in.ID)
			return &out[*records.TenantField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "update-tenant-field", Method: http.MethodPatch, Path: "/api/tenants/{tenantId}/fields/{id}",
		Summary: "Update a tenant field", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			TenantPath
			ID   string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
			Body records.TenantFieldPatch
		}) (*out[*records.TenantField], error) {
			f, err := rs.UpdateTenantField(ctx, scopeOf(ctx), in.TenantID, in.ID, &in.Body)
			return &out[*records.TenantField]{f}, fail(err)
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-tenant-field", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}/fields/{id}",
		Summary: "Delete a tenant field (stored values are kept)", Tags: []string{tagFields}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct {
			TenantPath
			ID string `path:"id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*struct{}, error) {
			return nil, fail(rs.DeleteTenantField(ctx, scopeOf(ctx), in.TenantID, in.ID))
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-schema", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/field-groups/{fg}/schema",
		Summary: "The effective fields of a group for a tenant (global and tenant)", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			TenantPath
			GroupPath
		}) (*out[*EffectiveSchema], error) {
			fs, err := rs.Schema(ctx, scopeOf(ctx), in.TenantID, in.Group)
			return &out[*EffectiveSchema]{&EffectiveSchema{fs}}, fail(err)
		})
}

// EffectiveSchema is the fields of a group a tenant sees: global and its own.
type EffectiveSchema struct {
	Data []*records.SchemaField `json:"data"`
}

type EntityPath struct {
	TenantPath
	GroupPath
	EntityID string `path:"entityId" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$" doc:"The host app's id of the entity."`
}

// valuesOut is an entity's values with its version in an ETag.
type valuesOut struct {
	ETag string `header:"ETag"`
	Body *records.EntityValues
}

func (s *Server) registerValues() {
	rs := s.cfg.Records
	objectBody := &huma.RequestBody{Required: true, Description: "Field keys and their new values; null removes a value.",
		Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: "object", AdditionalProperties: true}}}}

	huma.Register(s.api, huma.Operation{OperationID: "save-values", Method: http.MethodPost, Path: "/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
		Summary: "Save some of an entity's values", Description: "A partial update: keys not sent keep their values; null removes a key. " +
			"Send If-Match with the version you read to refuse lost updates (412).",
		Tags: []string{tagFields}, RequestBody: objectBody},
		func(ctx context.Context, in *struct {
			EntityPath
			IfMatch string `header:"If-Match" doc:"Refuse the save unless the entity is at this version."`
			RawBody []byte
		}) (*valuesOut, error) {
			sc := scopeOf(ctx)
			// The service checks the tenant too; checking it before the body
			// is read keeps another tenant's key from learning how it parses.
			if err := sc.Check(in.TenantID); err != nil {
				return nil, fail(err)
			}
			values, err := decodeObject(in.RawBody)
			if err != nil {
				return nil, err
			}
			p := &records.SaveValuesParams{TenantID: in.TenantID, Group: in.Group, EntityID: in.EntityID, Values: values}
			if in.IfMatch != "" {
				v, err := parseVersion(in.IfMatch)
				if err != nil {
					return nil, err
				}
				p.IfMatch = &v
			}
			res, err := rs.SaveValues(ctx, sc, p)
			if err != nil {
				return nil, fail(err)
			}
			return &valuesOut{ETag: strconv.Quote(strconv.FormatInt(res.Version, 10)), Body: res}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "get-values", Method: http.MethodGet, Path: "/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
		Summary: "Get an entity's values", Tags: []string{tagFields}},
		func(ctx context.Context, in *struct{ EntityPath }) (*valuesOut, error) {
			res, err := rs.GetValues(ctx, scopeOf(ctx), in.TenantID, in.Group, in.EntityID)
			if err != nil {
				return nil, fail(err)
			}
			return &valuesOut{ETag: strconv.Quote(strconv.FormatInt(res.Version, 10)), Body: res}, nil
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-values", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values",
		Summary: "Delete all of an entity's values", Tags: []string{tagFields}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct{ EntityPath }) (*struct{}, error) {
			return nil, fail(rs.DeleteValues(ctx, scopeOf(ctx), in.TenantID, in.Group, in.EntityID, ""))
		})
	huma.Register(s.api, huma.Operation{OperationID: "delete-value", Method: http.MethodDelete, Path: "/api/tenants/{tenantId}/field-groups/{fg}/entities/{entityId}/values/{fieldKey}",
		Summary: "Delete one value of an entity", Tags: []string{tagFields}, DefaultStatus: http.StatusNoContent},
		func(ctx context.Context, in *struct {
			EntityPath
			FieldKey string `path:"fieldKey" pattern:"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"`
		}) (*struct{}, error) {
			return nil, fail(rs.DeleteValues(ctx, scopeOf(ctx), in.TenantID, in.Group, in.EntityID, in.FieldKey))
		})
	huma.Register(s.api, huma.Operation{OperationID: "search-values", Method: http.MethodGet, Path: "/api/field-values/search",
		Summary: "Search stored values", Description: "value matches a string value's text, or the JSON of other values (42, true).",
		Tags: []string{tagFields}},
		func(ctx context.Context, in *struct {
			PageParams
			TenantID     string `query:"tenantId" maxLength:"128"`
			FieldGroupID string `query:"fieldGroupId" maxLength:"128" doc:"Group id or key."`
			EntityID     string `query:"entityId" maxLength:"256"`
			FieldKey     string `query:"fieldKey" maxLength:"64"`
			Value        string `query:"value" maxLength:"10000"`
		}) (*out[*List[*records.FieldValueRow]], error) {
			p := in.page()
			sp := &records.SearchParams{Page: p, TenantID: in.TenantID, Group: in.FieldGroupID, EntityID: in.EntityID, FieldKey: in.FieldKey}
			if in.Value != "" {
				sp.Value = &in.Value
			}
			rows, total, err := rs.Search(ctx, scopeOf(ctx), sp)
			return &out[*List[*records.FieldValueRow]]{newList(rows, p, total)}, fail(err)
		})
}

// decodeObject parses a JSON object body; anything else is a 400.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers keep their digits through storage and events
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, huma.Error400BadRequest("malformed JSON body", &huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	if m == nil {
		return nil, huma.Error400BadRequest("the body must be a JSON object", &huma.ErrorDetail{Location: "body", Message: "expected an object, got null"})
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, huma.Error400BadRequest("malformed JSON body", &huma.ErrorDetail{Location: "body", Message: "unexpected data after the JSON object"})
	}
	return m, nil
}

// parseVersion reads If-Match: a version number, optionally quoted as an
// ETag.
func parseVersion(h string) (int64, error) {
	h = strings.TrimPrefix(strings.TrimSpace(h), "W/")
	h = strings.Trim(h, `"`)
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 0 {
		return 0, huma.Error400BadRequest("If-Match must be an entity version", &huma.ErrorDetail{Location: "header.If-Match", Message: "must be a version number such as 3", Value: h})
	}
	return v, nil
}
