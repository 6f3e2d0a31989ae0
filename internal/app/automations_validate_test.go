package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAutomationSaveRefusesInvalidDefinitions proves that everything an
// automation holds is checked when it is saved: each mistake is a 422
// problem naming where it is, and nothing is stored.
func TestAutomationSaveRefusesInvalidDefinitions(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		customerGroup(t, b)
		var other struct{ ID string }
		b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "Theirs", "tenantId": "globex",
			"tokenUrl": "https://auth.example/token", "clientId": "c", "clientSecret": "s", "grantType": "client_credentials"}, &other)

		onSave := map[string]any{"event": "field_value.saved", "fieldGroup": "customer", "fieldKey": "country"}
		call := func(extra map[string]any) map[string]any {
			a := map[string]any{"name": "call", "type": "http", "url": "https://api.example/x"}
			for k, v := range extra {
				if v == nil {
					delete(a, k)
				} else {
					a[k] = v
				}
			}
			return a
		}
		body := func(trigger map[string]any, actions ...map[string]any) map[string]any {
			if actions == nil {
				actions = []map[string]any{call(nil)}
			}
			return map[string]any{"name": "Invalid", "trigger": trigger, "actions": actions}
		}
		withCondition := func(c string) map[string]any {
			return map[string]any{"event": "field_value.saved", "condition": c}
		}
		sla := map[string]any{"fieldGroup": "customer", "fieldKey": "stage", "value": "waiting", "after": "2s"}

		for _, c := range []struct {
			name     string
			body     map[string]any
			location string
		}{
			{"CEL syntax error", body(withCondition("event.value ==")), "body.trigger.condition"},
			{"CEL not boolean", body(withCondition("'yes'")), "body.trigger.condition"},
			{"CEL unknown variable", body(withCondition("record.id == 'x'")), "body.trigger.condition"},
			{"CEL if syntax error", body(onSave, call(map[string]any{"if": "steps.x.response.status >"})), "body.actions[0].if"},
			{"CEL if not boolean", body(onSave, call(map[string]any{"if": "1 + 2"})), "body.actions[0].if"},
			{"section tag", body(onSave, call(map[string]any{"body": map[string]any{"type": "json", "json": map[string]any{"text": "{{#event.value}}x{{/event.value}}"}}})), "body.actions[0].body.json.text"},
			{"inverted section tag", body(onSave, call(map[string]any{"query": map[string]any{"q": "{{^event.value}}none{{/event.value}}"}})), "body.actions[0].query.q"},
			{"partial tag", body(onSave, call(map[string]any{"body": map[string]any{"type": "raw", "raw": "{{> header}}"}})), "body.actions[0].body.raw"},
			{"delimiter change", body(onSave, call(map[string]any{"headers": map[string]any{"X-A": "{{=<% %>=}}"}})), "body.actions[0].headers.X-A"},
			{"unclosed tag", body(onSave, call(map[string]any{"body": map[string]any{"type": "form", "form": map[string]any{"f": "{{event.value"}}})), "body.actions[0].body.form.f"},
			{"unknown root in url", body(onSave, call(map[string]any{"url": "https://api.example/{{foo.bar}}"})), "body.actions[0].url"},
			{"unknown root in body", body(onSave, call(map[string]any{"body": map[string]any{"type": "json", "json": map[string]any{"a": []any{"ok", "{{foo.bar}}"}}}})), "body.actions[0].body.json.a[1]"},
			{"unknown root in set_field", body(onSave, map[string]any{"name": "set", "type": "set_field", "values": map[string]any{"ref": "{{record.id}}"}}), "body.actions[0].values.ref"},
			{"unknown root in bearer token", body(onSave, call(map[string]any{"auth": map[string]any{"type": "bearer", "token": "{{secret.token}}"}})), "body.actions[0].auth.token"},
			{"unknown action type", body(onSave, map[string]any{"name": "mail", "type": "email"}), "body.actions[0].type"},
			{"http without url", body(onSave, call(map[string]any{"url": nil})), "body.actions[0].url"},
			{"webhook without url", body(onSave, map[string]any{"name": "hook", "type": "webhook"}), "body.actions[0].url"},
			{"url not http", body(onSave, call(map[string]any{"url": "ftp://api.example/x"})), "body.actions[0].url"},
			{"url with credentials", body(onSave, call(map[string]any{"url": "https://user:pw@api.example/x"})), "body.actions[0].url"},
			{"relative url", body(onSave, call(map[string]any{"url": "/x/{{event.value}}"})), "body.actions[0].url"},
			{"retry schedule not durations", body(onSave, call(map[string]any{"retry": map[string]any{"schedule": []string{"soon"}}})), "body.actions[0].retry.schedule"},
			{"retry schedule zero", body(onSave, call(map[string]any{"retry": map[string]any{"schedule": []string{"0s"}}})), "body.actions[0].retry.schedule"},
			{"retry onStatus", body(onSave, call(map[string]any{"retry": map[string]any{"schedule": []string{"1s"}, "onStatus": []int{42}}})), "body.actions[0].retry.onStatus[0]"},
			{"oauth2 unknown connection", body(onSave, call(map[string]any{"auth": map[string]any{"type": "oauth2", "connectionId": "oac_01hzzzzzzzzzzzzzzzzzzzzzzz"}})), "body.actions[0].auth.connectionId"},
			{"oauth2 without connection", body(onSave, call(map[string]any{"auth": map[string]any{"type": "oauth2"}})), "body.actions[0].auth.connectionId"},
			{"bearer without token", body(onSave, call(map[string]any{"auth": map[string]any{"type": "bearer"}})), "body.actions[0].auth.token"},
			{"set_field without values", body(onSave, map[string]any{"name": "set", "type": "set_field"}), "body.actions[0].values"},
			{"set_field on an event without entity", body(map[string]any{"event": "order.paid"}, map[string]any{"name": "set", "type": "set_field", "values": map[string]any{"ref": "x"}}), "body.actions[0]"},
			{"duplicate step names", body(onSave, call(nil), call(nil)), "body.actions[1].name"},
			{"step name not an identifier", body(onSave, call(map[string]any{"name": "send it"})), "body.actions[0].name"},
			{"GET with a body", body(onSave, call(map[string]any{"method": "GET", "body": map[string]any{"type": "json", "json": map[string]any{"a": 1}}})), "body.actions[0].body"},
			{"header with CR LF", body(onSave, call(map[string]any{"headers": map[string]any{"X-A": "a\r\nX-Injected: 1"}})), "body.actions[0].headers.X-A"},
			{"reserved header", body(onSave, call(map[string]any{"headers": map[string]any{"Host": "evil.example"}})), "body.actions[0].headers.Host"},
			{"trigger with event and sla", body(map[string]any{"event": "field_value.saved", "sla": sla}), "body.trigger"},
			{"trigger with sla and date", body(map[string]any{"sla": sla, "date": map[string]any{"fieldGroup": "customer", "fieldKey": "renewal"}}), "body.trigger"},
			{"trigger with nothing", body(map[string]any{}), "body.trigger"},
			{"bad event pattern", body(map[string]any{"event": "field_value.*.saved"}), "body.trigger.event"},
			{"from on a host event", body(map[string]any{"event": "order.paid", "from": "a"}), "body.trigger.event"},
			{"unknown field group", body(map[string]any{"event": "field_value.saved", "fieldGroup": "nope"}), "body.trigger.fieldGroup"},
			{"sla after not a duration", body(map[string]any{"sla": map[string]any{"fieldGroup": "customer", "fieldKey": "stage", "after": "soon"}}), "body.trigger.sla.after"},
			{"sla after negative", body(map[string]any{"sla": map[string]any{"fieldGroup": "customer", "fieldKey": "stage", "after": "-2s"}}), "body.trigger.sla.after"},
			{"sla unknown field group", body(map[string]any{"sla": map[string]any{"fieldGroup": "nope", "fieldKey": "stage", "after": "2s"}}), "body.trigger.sla.fieldGroup"},
			{"date offset not a duration", body(map[string]any{"date": map[string]any{"fieldGroup": "customer", "fieldKey": "renewal", "offset": "a day"}}), "body.trigger.date.offset"},
			{"blank name", map[string]any{"name": "  ", "trigger": onSave, "actions": []map[string]any{call(nil)}}, "body.name"},
			{"no actions", map[string]any{"name": "Empty", "trigger": onSave, "actions": []map[string]any{}}, "body.actions"},
			{"oauth2 connection of another tenant", map[string]any{"name": "Borrow", "tenantId": "acme", "trigger": onSave,
				"actions": []map[string]any{call(map[string]any{"auth": map[string]any{"type": "oauth2", "connectionId": other.ID}})}}, "body.actions[0].auth.connectionId"},
		} {
			res := b.call(t, adminKey, http.MethodPost, "/api/automations", c.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s: %s", c.name, res.body)
			requireProblem(t, res, http.StatusUnprocessableEntity, c.location)
		}
		var list struct {
			Data []automation `json:"data"`
		}
		b.must(t, http.StatusOK, http.MethodGet, "/api/automations", nil, &list)
		require.Empty(t, list.Data, "nothing invalid was stored")

		// A patch is checked as a whole too, and changes nothing when refused.
		a := b.createAutomation(t, body(onSave))
		before := b.call(t, adminKey, http.MethodGet, "/api/automations/"+a.ID, nil)
		for _, c := range []struct {
			patch    map[string]any
			location string
		}{
			{map[string]any{"trigger": withCondition("event.value ==")}, "body.trigger.condition"},
			{map[string]any{"actions": []map[string]any{call(nil), call(nil)}}, "body.actions[1].name"},
			{map[string]any{"actions": []map[string]any{call(map[string]any{"url": "https://api.example/{{foo.bar}}"})}}, "body.actions[0].url"},
			{map[string]any{"name": " "}, "body.name"},
			{map[string]any{"active": false, "trigger": map[string]any{"event": "x", "sla": sla}}, "body.trigger"},
		} {
			requireProblem(t, b.call(t, adminKey, http.MethodPatch, "/api/automations/"+a.ID, c.patch), http.StatusUnprocessableEntity, c.location)
		}
		require.Equal(t, string(before.body), string(b.call(t, adminKey, http.MethodGet, "/api/automations/"+a.ID, nil).body))
	})
}
