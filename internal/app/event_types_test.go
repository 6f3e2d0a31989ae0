package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api/contract"
)

type eventTypeList struct {
	Data []struct {
		Type        string `json:"type"`
		BuiltIn     bool   `json:"builtIn"`
		Description string `json:"description"`
		Schema      string `json:"schema"`
		RunsOnly    bool   `json:"runsOnly"`
	} `json:"data"`
}

// TestEventTypesListTheCatalogThenWhatTheHostPublished lists the built-in
// types (each with a schema the served document holds, also in its webhooks
// section) and then the host's types: all of them for an admin key, a
// tenant's own for its key.
func TestEventTypesListTheCatalogThenWhatTheHostPublished(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		for _, ev := range []map[string]any{
			{"type": "TASK_COMPLETED", "tenantId": "acme", "data": map[string]any{}},
			{"type": "invoice.paid", "tenantId": "globex", "data": map[string]any{}},
			{"type": "TASK_COMPLETED", "tenantId": "globex", "data": map[string]any{}},
			{"type": "plan.changed", "data": map[string]any{}},
		} {
			b.must(t, http.StatusAccepted, http.MethodPost, "/api/events", ev, nil)
		}

		var doc struct {
			Webhooks   map[string]any `json:"webhooks"`
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/openapi.json", nil, &doc)

		var all eventTypeList
		b.must(t, http.StatusOK, http.MethodGet, "/api/event-types", nil, &all)
		var builtIn, host []string
		for _, e := range all.Data {
			if !e.BuiltIn {
				host = append(host, e.Type)
				require.Empty(t, e.Schema, "a host type has no schema of its own")
				continue
			}
			require.Empty(t, host, "built-in types come first")
			builtIn = append(builtIn, e.Type)
			require.NotEmpty(t, e.Description, e.Type)
			require.Contains(t, doc.Webhooks, e.Type, "the document's webhooks section has %s", e.Type)
			require.Contains(t, doc.Components.Schemas, e.Schema[len("#/components/schemas/"):], "%s's schema %s is in the document", e.Type, e.Schema)
		}
		var catalog []string
		for _, e := range contract.Events() {
			if e.Type != contract.HostEventType {
				catalog = append(catalog, e.Type)
			}
		}
		require.Equal(t, catalog, builtIn)
		require.Equal(t, []string{"TASK_COMPLETED", "invoice.paid", "plan.changed"}, host, "each once, sorted")

		res := b.call(t, b.tenantKey(t, "acme"), http.MethodGet, "/api/event-types", nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		var mine eventTypeList
		require.NoError(t, json.Unmarshal(res.body, &mine))
		host = host[:0]
		for _, e := range mine.Data {
			if !e.BuiltIn {
				host = append(host, e.Type)
			}
		}
		require.Equal(t, []string{"TASK_COMPLETED"}, host, "a tenant sees the types of its own events only")
		require.NotContains(t, string(res.body), "invoice.paid")

		requireProblem(t, b.call(t, "", http.MethodGet, "/api/event-types", nil), http.StatusUnauthorized)
	})
}
