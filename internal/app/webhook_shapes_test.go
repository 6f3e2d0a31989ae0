package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/webhookverify"
)

// TestWebhookSignatureFormats registers one endpoint per signature form
// and checks each delivery with the verifier kit and the official
// Standard Webhooks library, through a rotation.
func TestWebhookSignatureFormats(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		type target struct {
			rc *receiver
			ep endpoint
		}
		forms := map[string]*target{}
		for _, form := range []string{"hex", "prefixed", "timestamped"} {
			rc := startReceiver(t, receiverOpts{})
			forms[form] = &target{rc, b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "signatureFormat": form})}
			require.Equal(t, form, forms[form].ep.SignatureFormat)
		}
		rcKey := startReceiver(t, receiverOpts{})
		keyed := b.createEndpoint(t, map[string]any{"url": rcKey.URL, "events": []string{"*"}, "asymmetricSignature": true})
		require.Equal(t, "hex", keyed.SignatureFormat, "the default form")
		require.True(t, strings.HasPrefix(keyed.PublicKey, "whpk_"), "public key %q", keyed.PublicKey)

		b.publish(t, "order.paid", "", tricky())
		for form, tg := range forms {
			r := tg.rc.wait(t, 1, 5*time.Second)[0]
			v, err := webhookverify.New([]string{tg.ep.Secret})
			require.NoError(t, err)
			h := r.Header.Get("X-Fieldflow-Signature")
			switch form {
			case "hex":
				require.Regexp(t, hexSig, h)
				require.NoError(t, v.VerifyHex(r.Body, h))
			case "prefixed":
				require.Regexp(t, `^sha256=[0-9a-f]{64}$`, h)
				require.NoError(t, v.VerifyHex(r.Body, h))
				res := nodeHMAC(t, [2]string{tg.ep.Secret, string(r.Body)})
				require.Equal(t, "sha256="+res[0].Hex, h, "a GitHub-style receiver compares sha256=<hex> whole")
			case "timestamped":
				require.Regexp(t, `^t=\d+,v1=[0-9a-f]{64}$`, h)
				require.Equal(t, "t="+r.Header.Get("webhook-timestamp"), strings.Split(h, ",")[0])
				require.NoError(t, v.VerifyTimestamped(r.Body, h))
				require.ErrorIs(t, v.VerifyTimestamped([]byte(`{}`), h), webhookverify.ErrNoMatch)
			}
			verifyStandard(t, tg.ep.Secret, r)
		}

		// The key pair: a v1a entry the public key alone verifies, beside
		// the v1 entry the official library checks.
		r := rcKey.wait(t, 1, 5*time.Second)[0]
		entries := strings.Fields(r.Header.Get("webhook-signature"))
		require.Len(t, entries, 2, "%q", entries)
		require.True(t, strings.HasPrefix(entries[1], "v1a,"))
		byKey, err := webhookverify.New(nil, webhookverify.WithPublicKey(keyed.PublicKey))
		require.NoError(t, err)
		require.NoError(t, byKey.Verify(r.Body, r.Header))
		require.ErrorIs(t, byKey.Verify([]byte(`{"forged":true}`), r.Header), webhookverify.ErrNoMatch)
		verifyStandard(t, keyed.Secret, r)

		// Rotation: the old key and secret sign beside the new ones in
		// webhook-signature; the hex header is by the newest secret alone.
		var rot struct{ Secret string }
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+keyed.ID+"/rotate-secret", map[string]any{"graceHours": 1}, &rot)
		var after endpoint
		b.must(t, http.StatusOK, http.MethodGet, "/api/webhooks/"+keyed.ID, nil, &after)
		require.NotEqual(t, keyed.PublicKey, after.PublicKey, "the key pair rotates with the secret")
		b.publish(t, "order.paid", "", map[string]any{"n": 2})
		r = rcKey.wait(t, 2, 5*time.Second)[1]
		require.Len(t, strings.Fields(r.Header.Get("webhook-signature")), 4, "v1 and v1a for each of the new and old")
		for _, pub := range []string{keyed.PublicKey, after.PublicKey} {
			v, err := webhookverify.New(nil, webhookverify.WithPublicKey(pub))
			require.NoError(t, err)
			require.NoError(t, v.Verify(r.Body, r.Header))
		}
		newest, err := webhookverify.New([]string{rot.Secret})
		require.NoError(t, err)
		require.NoError(t, newest.VerifyHex(r.Body, r.Header.Get("X-Fieldflow-Signature")))
		require.NotContains(t, r.Header.Get("X-Fieldflow-Signature"), " ")

		// Turning the key pair off drops the v1a entries.
		var off endpoint
		b.must(t, http.StatusOK, http.MethodPatch, "/api/webhooks/"+keyed.ID, map[string]any{"asymmetricSignature": false}, &off)
		require.Empty(t, off.PublicKey)

		res := b.call(t, adminKey, http.MethodPost, "/api/webhooks", map[string]any{"url": rcKey.URL, "events": []string{"*"}, "signatureFormat": "base64"})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res.body)
	})
}

// TestWebhookBodyTemplateGivesEachReceiverItsShape renders the payload
// through endpoints' body templates into the shapes receivers written for
// other products expect, still signed over what is sent.
func TestWebhookBodyTemplateGivesEachReceiverItsShape(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		b.must(t, http.StatusCreated, http.MethodPost, "/api/field-groups", map[string]any{"key": "customer", "name": "Customer"}, nil)
		for _, f := range []map[string]any{
			{"key": "stage", "label": "Stage", "schema": map[string]any{"type": "string"}, "fieldGroupIds": []string{"customer"}},
			{"key": "budget", "label": "Budget", "schema": map[string]any{"type": "number"}, "fieldGroupIds": []string{"customer"}},
		} {
			b.must(t, http.StatusCreated, http.MethodPost, "/api/global-fields", f, nil)
		}
		portal, crm := startReceiver(t, receiverOpts{}), startReceiver(t, receiverOpts{})
		// A client-portal product's eventType/data/previousAttributes.
		portalTmpl := `{"eventType": "client.updated", "data": {"id": "{{event.entityId}}", "tenant": "{{event.tenantId}}", "attributes": "{{event.values}}"},
			"previousAttributes": "{{event.previousValues}}", "big": 12345678901234567890}`
		// An automation product's event/record.
		crmTmpl := `{"event": {"type": "{{event.event}}", "firedAt": "{{event.timestamp}}", "id": "{{event.eventId}}"},
			"record": {"id": "{{event.entityId}}", "stage": "{{event.values.stage}}", "label": "{{event.values.stage}} ({{event.tenantId}})"}}`
		epPortal := b.createEndpoint(t, map[string]any{"url": portal.URL, "events": []string{"entity.updated"}, "bodyTemplate": json.RawMessage(portalTmpl)})
		epCRM := b.createEndpoint(t, map[string]any{"url": crm.URL, "events": []string{"entity.updated"}, "bodyTemplate": json.RawMessage(crmTmpl), "signatureFormat": "prefixed"})
		require.JSONEq(t, portalTmpl, string(epPortal.BodyTemplate))

		b.save(t, "acme", "client-7", map[string]any{"stage": "lead", "budget": 10})
		b.save(t, "acme", "client-7", map[string]any{"stage": "won", "budget": 9007199254740993})

		// Deliveries of one endpoint may arrive in any order; the update
		// is the one carrying "won".
		r := withBody(t, portal.wait(t, 2, 5*time.Second), `"won"`)
		verifyStandard(t, epPortal.Secret, r)
		require.JSONEq(t, `{"eventType": "client.updated", "data": {"id": "client-7", "tenant": "acme", "attributes": {"stage": "won", "budget": 9007199254740993}},
			"previousAttributes": {"stage": "lead", "budget": 10}, "big": 12345678901234567890}`, string(r.Body))
		require.Contains(t, string(r.Body), `"budget":9007199254740993`, "an integer above 2^53 keeps its digits")
		require.Contains(t, string(r.Body), `"big":12345678901234567890`, "a literal number is sent as written")

		r = withBody(t, crm.wait(t, 2, 5*time.Second), `"won"`)
		var body struct {
			Event struct {
				Type, FiredAt, ID string
			}
			Record map[string]any
		}
		require.NoError(t, json.Unmarshal(r.Body, &body))
		require.Equal(t, "entity.updated", body.Event.Type)
		_, err := time.Parse(time.RFC3339Nano, body.Event.FiredAt)
		require.NoError(t, err)
		require.Equal(t, r.Header.Get("webhook-id"), body.Event.ID)
		require.Equal(t, map[string]any{"id": "client-7", "stage": "won", "label": "won (acme)"}, body.Record)
		v, err := webhookverify.New([]string{epCRM.Secret})
		require.NoError(t, err)
		require.NoError(t, v.VerifyHex(r.Body, r.Header.Get("X-Fieldflow-Signature")), "the rendered body is what is signed")
		wh, err := standardwebhooks.NewWebhook(epCRM.Secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(r.Body, r.Header))

		// Checked at save: a path outside the event, a tag with logic, a
		// template that is not a JSON object or array.
		for _, bad := range []struct{ tmpl, loc string }{
			{`{"a": {"b": "{{secrets.token}}"}}`, "body.bodyTemplate.a.b"},
			{`{"list": ["ok", "{{#event.values}}x{{/event.values}}"]}`, "body.bodyTemplate.list[1]"},
			{`"{{event.values}}"`, "body.bodyTemplate"},
			{`42`, "body.bodyTemplate"},
		} {
			res := b.call(t, adminKey, http.MethodPost, "/api/webhooks", map[string]any{"url": crm.URL, "events": []string{"*"}, "bodyTemplate": json.RawMessage(bad.tmpl)})
			require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s: %s", bad.tmpl, res.body)
			require.Contains(t, string(res.body), bad.loc, bad.tmpl)
		}

		// null removes the template: the payload is sent as it is.
		var after endpoint
		b.must(t, http.StatusOK, http.MethodPatch, "/api/webhooks/"+epPortal.ID, map[string]any{"bodyTemplate": nil}, &after)
		require.Empty(t, after.BodyTemplate)
		b.save(t, "acme", "client-7", map[string]any{"stage": "lost"})
		p := withBody(t, portal.wait(t, 3, 5*time.Second), `"lost"`).payload(t)
		require.Equal(t, "entity.updated", p["event"])
	})
}

// withBody returns the one request whose body contains part.
func withBody(t *testing.T, got []*received, part string) *received {
	t.Helper()
	var found []*received
	for _, r := range got {
		if strings.Contains(string(r.Body), part) {
			found = append(found, r)
		}
	}
	require.Len(t, found, 1, "requests whose body contains %s", part)
	return found[0]
}
