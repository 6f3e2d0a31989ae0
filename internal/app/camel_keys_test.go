package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCamelCaseFieldKeysWorkEverywhere: keys named the way other products
// name their properties (dealValue) are accepted for global and tenant
// fields and group keys, saved, searched, read by a webhook filter, and
// read by an automation's condition and template as entity.values.dealValue.
func TestCamelCaseFieldKeysWorkEverywhere(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		number := map[string]any{"type": "number"}
		b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "salesDeal", "name": "Deal"}, nil)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "lead", "name": "Lead"}, nil)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields",
			map[string]any{"key": "dealValue", "label": "Deal value", "schema": number, "fieldGroupIds": []string{"salesDeal"}}, nil)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/tenants/acme/field-groups/lead/fields",
			map[string]any{"key": "dealValue", "label": "Expected value", "schema": number}, nil)

		// The key is one key: a tenant field cannot shadow the global one,
		// and keys stay identifiers.
		res := b.call(t, adminKey, http.MethodPost, "/api/tenants/acme/field-groups/salesDeal/fields",
			map[string]any{"key": "dealValue", "label": "Shadow", "schema": number})
		require.Equal(t, http.StatusConflict, res.status, "%s", res.body)
		for _, bad := range []string{"deal-value", "1dealValue", "deal.value"} {
			res := b.call(t, adminKey, http.MethodPost, "/api/tenants/acme/field-groups/lead/fields",
				map[string]any{"key": bad, "label": "Bad", "schema": number})
			requireProblem(t, res, http.StatusUnprocessableEntity, "body.key")
		}

		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"entity.updated"},
			"filter": "event.values.dealValue > 1000"})
		hook := startReceiver(t, receiverOpts{})
		a := b.createAutomation(t, map[string]any{
			"name":    "big deals",
			"trigger": map[string]any{"event": "field_value.saved", "fieldGroup": "salesDeal", "fieldKey": "dealValue", "condition": "entity.values.dealValue > 1000"},
			"actions": []map[string]any{{"name": "notify", "type": "http", "method": "POST", "url": hook.URL,
				"body": map[string]any{"type": "json", "json": map[string]any{"value": "{{entity.values.dealValue}}", "text": "deal at {{entity.values.dealValue}}"}}}},
		})

		dealPath := "/api/tenants/acme/field-groups/salesDeal/entities/"
		b.must(t, http.StatusOK, http.MethodPost, dealPath+"small/values", map[string]any{"dealValue": 10}, nil)
		b.must(t, http.StatusOK, http.MethodPost, dealPath+"big/values", map[string]any{"dealValue": 5000}, nil)
		b.must(t, http.StatusOK, http.MethodPost, "/api/tenants/acme/field-groups/lead/entities/l1/values", map[string]any{"dealValue": 7}, nil)
		var vals struct {
			Data map[string]any `json:"data"`
		}
		b.must(t, http.StatusOK, http.MethodGet, dealPath+"big/values", nil, &vals)
		require.Equal(t, map[string]any{"dealValue": 5000.0}, vals.Data)

		var found struct {
			Data []struct {
				EntityID      string `json:"entityId"`
				FieldGroupKey string `json:"fieldGroupKey"`
				FieldKey      string `json:"fieldKey"`
				Value         any    `json:"value"`
			} `json:"data"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/field-values/search?tenantId=acme&fieldKey=dealValue&value=5000", nil, &found)
		require.Len(t, found.Data, 1)
		require.Equal(t, "big", found.Data[0].EntityID)
		require.Equal(t, "dealValue", found.Data[0].FieldKey)
		b.must(t, http.StatusOK, http.MethodGet, "/api/field-values/search?tenantId=acme&fieldKey=dealValue&pageSize=500", nil, &found)
		require.Len(t, found.Data, 3, "both groups' dealValue")

		// The filter passed only the big deal; the automation ran for it only.
		got := rc.wait(t, 1, 20*time.Second)
		require.Equal(t, "big", got[0].payload(t)["entityId"])
		runs := b.waitRuns(t, a.ID, 1, 20*time.Second)
		require.Len(t, runs, 1)
		require.Equal(t, "succeeded", runs[0].State)
		sent := hook.wait(t, 1, 20*time.Second)
		var body map[string]any
		require.NoError(t, json.Unmarshal(sent[0].Body, &body))
		require.Equal(t, map[string]any{"value": 5000.0, "text": "deal at 5000"}, body)
		// The small deal's event was filtered out and made no delivery.
		require.Len(t, b.deliveries(t, ep.ID, "").Data, 1)
	})
}
