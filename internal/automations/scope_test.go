package automations

import "github.com/fieldflow/fieldflow/internal/templates"

// tricky holds what escaping gets wrong: quotes, a newline, & and =,
// HTML's specials, unicode and an emoji.
const tricky = "He said \"hi\"\nthen a&b=c <tag> ünïcødé 🎉"

func testScope() *templates.Scope {
	return &templates.Scope{
		Event: map[string]any{
			"entityId": "booking-1042",
			"value":    float64(1200000),
			"ratio":    0.5,
			"flag":     true,
			"nothing":  nil,
			"text":     tricky,
			"obj":      map[string]any{"a": "<b>&", "n": float64(1)},
			"list":     []any{"x", float64(2)},
		},
		Entity:  map[string]any{"values": map[string]any{"company_size": "51-200"}},
		Tenant:  map[string]any{"id": "sunrise-dental"},
		Vars:    map[string]string{"base": "https://api.example.com/v1", "region": "eu"},
		Secrets: map[string]string{"token": "s3cr3t-t0ken", "other": "another-secret"},
		Steps: map[string]any{"lookup": map[string]any{"response": map[string]any{
			"status": 200, "headers": map[string]any{"Content-Type": "application/json"},
			"body": map[string]any{"id": float64(42), "items": []any{map[string]any{"name": "first"}}}}}},
	}
}
