package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/templates"
)

// maxBodyTemplate bounds an endpoint's body template, as the JSON text
// stored.
const maxBodyTemplate = 64 << 10

// templatePathError locates a refused part of a body template: at is the
// JSON path below bodyTemplate (".data.id", "[2]").
type templatePathError struct {
	at, msg string
	value   any
}

func (e *templatePathError) Error() string { return "bodyTemplate" + e.at + ": " + e.msg }

// setBodyTemplate stores raw on ep: JSON null or nothing removes the
// template. It is checked with the rest of the endpoint.
func setBodyTemplate(ep *store.Endpoint, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		ep.BodyTemplate = ""
		return nil
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return &problem.ValidationError{Problems: []problem.Problem{{Location: "body.bodyTemplate", Message: "must be JSON"}}}
	}
	ep.BodyTemplate = compact.String()
	return nil
}

// parseBodyTemplate decodes a stored body template: a JSON object or
// array whose strings may hold {{event.…}} tags. Numbers keep their text,
// so a literal 12345678901234567890 is sent as written.
func parseBodyTemplate(s string) (any, error) {
	if len(s) > maxBodyTemplate {
		return nil, &templatePathError{msg: fmt.Sprintf("must be at most %d bytes of JSON", maxBodyTemplate)}
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &templatePathError{msg: "must be JSON"}
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		return nil, &templatePathError{msg: "must be a JSON object or array"}
	}
	if err := checkTemplateValue(v, ""); err != nil {
		return nil, err
	}
	return v, nil
}

// checkTemplateValue checks each string of a body template: it must parse
// as a template and read only event.… paths, the payload being all a
// delivery has.
func checkTemplateValue(v any, at string) error {
	switch x := v.(type) {
	case string:
		paths, err := templates.Paths(x)
		if err != nil {
			return &templatePathError{at: at, msg: err.Error(), value: x}
		}
		for _, p := range paths {
			if p != "event" && !strings.HasPrefix(p, "event.") {
				return &templatePathError{at: at, msg: fmt.Sprintf("{{%s}}: a body template reads the event only ({{event.…}})", p), value: x}
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := checkTemplateValue(e, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkTemplateValue(e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// renderBody renders a parsed body template over a delivery's payload:
// a string that is exactly one {{path}} takes the value with its JSON
// type, other strings are text. The payload's numbers keep their text.
func renderBody(t *templates.Templates, tmpl any, payload []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("render body template: decode payload: %w", err)
	}
	v, _, err := t.Renderer(&templates.Scope{Event: ev}).JSON(tmpl)
	if err != nil {
		return nil, fmt.Errorf("render body template: %w", err)
	}
	b, err := templates.EncodeJSON(v)
	if err != nil {
		return nil, fmt.Errorf("render body template: %w", err)
	}
	return b, nil
}
