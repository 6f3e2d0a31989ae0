package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/api/contract"
)

// finishDocument writes into the OpenAPI document what every operation
// shares and huma cannot know from the Go types: the error statuses the
// middleware and the services answer, the Idempotency-Key header, who may
// call the operation, the servers and the license. It is called once every
// route is registered, so a new route gets it too; it changes only the
// document, never how a request is handled.
func (s *Server) finishDocument() {
	doc := s.api.OpenAPI()
	doc.Servers = []*huma.Server{{URL: "http://127.0.0.1:8080", Description: "fieldflow serve on its default address; use your deployment's URL."}}
	doc.Info.License = &huma.License{Name: "Apache 2.0", Identifier: "Apache-2.0"}
	for _, item := range doc.Paths {
		for method, op := range map[string]*huma.Operation{http.MethodGet: item.Get, http.MethodPost: item.Post,
			http.MethodPut: item.Put, http.MethodPatch: item.Patch, http.MethodDelete: item.Delete} {
			if op != nil {
				finishOperation(method, op)
			}
		}
	}
}

// The error statuses an operation may answer, with what each means here.
var errorStatuses = map[int]string{
	http.StatusBadRequest:            "The request cannot be read: a body that is not JSON, invalid UTF-8 or a NUL byte in the body, path or query, or an Idempotency-Key over 255 characters.",
	http.StatusUnauthorized:          "No valid credentials: the API key (or session) is missing, unknown, revoked or expired.",
	http.StatusForbidden:             "The key may not do this: a tenant key on another tenant's data or on vendor-wide settings, or a write without its X-CSRF-Token in a session.",
	http.StatusNotFound:              "Nothing with this id or key, or nothing this key may see.",
	http.StatusConflict:              "The request conflicts with what is stored: a key or name already taken, a state that does not allow it, or a request with the same Idempotency-Key still in progress.",
	http.StatusPreconditionFailed:    "The entity is no longer at the version If-Match names: read it again and retry.",
	http.StatusRequestEntityTooLarge: "The body is larger than the server's request body limit.",
	http.StatusUnprocessableEntity:   "The request is well-formed but invalid: `errors` names each location and why. Also: an Idempotency-Key reused with a different request.",
	http.StatusTooManyRequests:       "Over the key's rate limit (or, for failed authentications, the client address's): retry after `Retry-After` seconds.",
}

func finishOperation(method string, op *huma.Operation) {
	public := op.Metadata["public"] == true
	admin := op.Metadata["admin"] == true
	write := method != http.MethodGet
	var path, query, ifMatch bool
	for _, p := range op.Parameters {
		switch {
		case p.In == "path":
			path = true
		case p.In == "query":
			query = true
		case p.In == "header" && strings.EqualFold(p.Name, "If-Match"):
			ifMatch = true
		}
	}
	body := op.RequestBody != nil

	statuses := []int{http.StatusBadRequest}
	if !public {
		statuses = append(statuses, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests)
	}
	if path {
		statuses = append(statuses, http.StatusNotFound)
	}
	if write && !public {
		statuses = append(statuses, http.StatusConflict)
	}
	if ifMatch {
		statuses = append(statuses, http.StatusPreconditionFailed)
	}
	if body {
		statuses = append(statuses, http.StatusRequestEntityTooLarge)
	}
	if body || path || query || write {
		statuses = append(statuses, http.StatusUnprocessableEntity)
	}
	slices.Sort(statuses)
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	for _, code := range statuses {
		key := strconv.Itoa(code)
		if op.Responses[key] != nil {
			continue
		}
		r := &huma.Response{Description: errorStatuses[code], Content: map[string]*huma.MediaType{
			"application/problem+json": {Schema: &huma.Schema{Ref: "#/components/schemas/ErrorModel"}},
		}}
		if code == http.StatusTooManyRequests {
			r.Headers = map[string]*huma.Param{"Retry-After": {Description: "Seconds to wait before the next request.",
				Schema: &huma.Schema{Type: "integer"}}}
		}
		op.Responses[key] = r
	}

	if write && !public {
		op.Parameters = append(op.Parameters, &huma.Param{Name: "Idempotency-Key", In: "header",
			Description: "Makes a retried write safe: a second request with the same key (per API key, for 24 hours) " +
				"gets the first one's answer, with `Idempotent-Replayed: true`, and changes nothing again. " +
				"The same key with a different request is a 422.",
			Schema: &huma.Schema{Type: "string", MaxLength: ptr(255)}})
	}

	access := "Needs an admin key, or a tenant key for its own tenant's data."
	switch {
	case public:
		access = "Needs no credentials."
	case admin && op.Metadata["metricsToken"] == true:
		access = "Needs an admin key, or the metrics token (FIELDFLOW_METRICS_TOKEN) as a bearer token."
	case admin:
		access = "Needs an admin key."
	}
	if op.Description == "" {
		op.Description = op.Summary + "."
	}
	op.Description = fmt.Sprintf("%s\n\n%s", op.Description, access)
}

func ptr[T any](v T) *T { return &v }

// serveDocument serves GET /api/openapi.json: the document huma built,
// finished, with two additions that are the document's alone. The
// automation Action is shown as a oneOf over its three kinds with a
// discriminator, while requests are still checked against the one object
// (the automations service names each misplaced member with its own
// message). And the event catalog fills the webhooks section.
func (s *Server) serveDocument() error {
	s.addEventCatalog()
	raw, err := json.Marshal(s.api.OpenAPI())
	if err != nil {
		return fmt.Errorf("encode the document: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("decode the document: %w", err)
	}
	if err := splitAction(doc); err != nil {
		return err
	}
	if s.doc, err = json.Marshal(doc); err != nil {
		return fmt.Errorf("encode the document: %w", err)
	}
	s.mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/openapi+json")
		_, _ = w.Write(s.doc)
	})
	return nil
}

// actionKinds lists the members each kind of action takes besides name,
// type and if, as the automations service checks them.
var actionKinds = []struct {
	kind, schema      string
	members, required []string
}{
	{"webhook", "WebhookAction", []string{"url", "headers", "timeoutSeconds", "retry", "captureResponse"}, []string{"url"}},
	// url or template: the service checks that the merged request has a URL.
	{"http", "HTTPAction", []string{"template", "url", "method", "auth", "headers", "query", "body", "timeoutSeconds", "retry", "captureResponse"}, nil},
	{"set_field", "SetFieldAction", []string{"values", "fieldGroup", "entityId"}, []string{"values"}},
}

// splitAction turns components.schemas.Action into a oneOf of one schema
// per kind, discriminated by type.
func splitAction(doc map[string]any) error {
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	action, ok := schemas["Action"].(map[string]any)
	if !ok {
		return nil // an ops-only server (--role worker) has no automation routes
	}
	props, _ := action["properties"].(map[string]any)
	oneOf := make([]any, 0, len(actionKinds))
	mapping := map[string]any{}
	for _, k := range actionKinds {
		kp := map[string]any{
			"name": props["name"],
			"type": map[string]any{"type": "string", "const": k.kind},
			"if":   props["if"],
		}
		for _, m := range k.members {
			p, ok := props[m]
			if !ok {
				return fmt.Errorf("the Action schema has no member %s", m)
			}
			kp[m] = p
		}
		schemas[k.schema] = map[string]any{
			"type": "object", "additionalProperties": false, "properties": kp,
			"required":    append([]string{"name", "type"}, k.required...),
			"description": fmt.Sprintf("An automation step of type %s.", k.kind),
		}
		ref := "#/components/schemas/" + k.schema
		oneOf = append(oneOf, map[string]any{"$ref": ref})
		mapping[k.kind] = ref
	}
	schemas["Action"] = map[string]any{
		"description":   "One step of an automation: a webhook call, an HTTP request or a field write, by type.",
		"oneOf":         oneOf,
		"discriminator": map[string]any{"propertyName": "type", "mapping": mapping},
	}
	return nil
}

// addEventCatalog writes every built-in event type (and host events) into
// the document's webhooks section: what an endpoint receives, as a POST.
func (s *Server) addEventCatalog() {
	doc := s.api.OpenAPI()
	reg := doc.Components.Schemas
	doc.Webhooks = map[string]*huma.PathItem{}
	for _, e := range contract.Events() {
		desc := e.Description
		if e.RunsOnly {
			desc += " Not delivered to endpoints."
		}
		doc.Webhooks[e.Type] = &huma.PathItem{Post: &huma.Operation{
			OperationID: "event-" + strings.NewReplacer(".", "-", "_", "-", "{", "", "}", "", " ", "-").Replace(e.Type),
			Summary:     e.Type, Description: desc, Tags: []string{tagEvents},
			RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
				"application/json": {Schema: reg.Schema(e.Payload, true, "")},
			}},
			Responses: map[string]*huma.Response{
				"200": {Description: "Any 2xx answer acknowledges the delivery; anything else (or no answer in time) is retried."},
			},
		}}
	}
}
