package templates

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/outbound"
)

// tricky holds what escaping gets wrong: quotes, a newline, & and =,
// HTML's specials, unicode and an emoji.
const tricky = "He said \"hi\"\nthen a&b=c <tag> ünïcødé 🎉"

func testScope() *Scope {
	return &Scope{
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

func TestCheckTemplateRefusesUnknownRootsAndLogic(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{in: "plain text"},
		{in: "{{event.value}} and {{ entity.values.company_size }}"},
		{in: "{{tenant.id}}{{vars.x}}{{secrets.y}}{{steps.a.response.body.id}}"},
		{in: "{{{vars.base}}}/x and {{&vars.base}}"},
		{in: "{{! a comment }}"},
		{in: "{{event}}"},
		{in: "{{foo.bar}}", wantErr: "unknown template path {{foo.bar}}: paths start with event, entity, tenant, vars, secrets, steps"},
		{in: "{{.}}", wantErr: "unknown template path {{.}}"},
		{in: "{{event..value}}", wantErr: "empty segment"},
		{in: "{{#event.flag}}yes{{/event.flag}}", wantErr: "section tags such as \"event.flag\" are not supported"},
		{in: "{{^event.flag}}no{{/event.flag}}", wantErr: "invertedsection tags"},
		{in: "{{> /etc/passwd}}", wantErr: "partial tags"},
		{in: "{{=<% %>=}}<%event.value%>", wantErr: "changing delimiters"},
		{in: "{{event.value", wantErr: "unmatched open tag"},
		{in: "{{}}", wantErr: "empty tag"},
	} {
		err := CheckTemplate(tc.in)
		if tc.wantErr == "" {
			require.NoError(t, err, tc.in)
			continue
		}
		require.ErrorContains(t, err, tc.wantErr, tc.in)
	}
}

func TestRenderTextPrintsValuesAsJSONTextWithoutHTMLEscaping(t *testing.T) {
	t.Parallel()
	r := NewTemplates(0).Renderer(testScope())

	for in, want := range map[string]string{
		"{{event.value}}":                             "1200000",
		"{{event.ratio}}":                             "0.5",
		"{{event.flag}}":                              "true",
		"{{event.nothing}}":                           "",
		"{{event.obj}}":                               `{"a":"<b>&","n":1}`,
		"{{event.list}}":                              `["x",2]`,
		"{{event.list.1}}":                            "2",
		"{{event.text}}":                              tricky,
		"{{{event.text}}}":                            tricky,
		"<{{event.obj.a}}>":                           "<<b>&>",
		"{{ entity.values.company_size }}!":           "51-200!",
		"{{steps.lookup.response.body.items.0.name}}": "first",
		"{{steps.lookup.response.status}}":            "200",
		"no tags at all":                              "no tags at all",
	} {
		got, err := r.Text(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got.Text, in)
		require.Equal(t, want, got.Redacted, "%s: no secrets, so the log shows the same", in)
	}
	require.Empty(t, r.Notes())
}

func TestRenderPathThatIsAlsoAnotherPathsPrefix(t *testing.T) {
	t.Parallel()
	r := NewTemplates(0).Renderer(testScope())

	got, err := r.Text("{{event.obj}} / {{event.obj.a}} / {{event.obj.n}}")
	require.NoError(t, err)
	require.Equal(t, `{"a":"<b>&","n":1} / <b>& / 1`, got.Text)
}

func TestRenderURLPercentEncodesValuesButNotRawTags(t *testing.T) {
	t.Parallel()
	sc := testScope()
	sc.Event["id"] = "a b/c?d&e=f#g+h"
	r := NewTemplates(0).Renderer(sc)

	got, err := r.URL("{{{vars.base}}}/items/{{event.id}}?q={{event.id}}&t={{event.text}}")
	require.NoError(t, err)
	require.Equal(t, "https://api.example.com/v1/items/a%20b%2Fc%3Fd%26e%3Df%23g%2Bh?q=a%20b%2Fc%3Fd%26e%3Df%23g%2Bh"+
		"&t=He%20said%20%22hi%22%0Athen%20a%26b%3Dc%20%3Ctag%3E%20%C3%BCn%C3%AFc%C3%B8d%C3%A9%20%F0%9F%8E%89", got.Text)

	// A {{path}} value cannot change the URL's host or path.
	got, err = r.URL("https://api.example.com/{{vars.base}}/x")
	require.NoError(t, err)
	require.Equal(t, "https://api.example.com/https%3A%2F%2Fapi.example.com%2Fv1/x", got.Text)
}

func TestRenderURLLeadingTagFillsSchemeAndHost(t *testing.T) {
	t.Parallel()
	sc := testScope()
	sc.Event["id"] = "a b/c?d"
	sc.Secrets["host"] = "https://secret.example"
	r := NewTemplates(0).Renderer(sc)

	// A base URL kept in a variable is inserted as a URL; the tags after it
	// are still encoded, so they cannot change its path.
	got, err := r.URL("{{vars.base}}/items/{{event.id}}")
	require.NoError(t, err)
	require.Equal(t, "https://api.example.com/v1/items/a%20b%2Fc%3Fd", got.Text)
	require.Equal(t, got.Text, got.Redacted)

	got, err = r.URL("{{ secrets.host }}/x?q={{event.id}}")
	require.NoError(t, err)
	require.Equal(t, "https://secret.example/x?q=a%20b%2Fc%3Fd", got.Text)
	require.Equal(t, outbound.Redacted+"/x?q=a%20b%2Fc%3Fd", got.Redacted)

	got, err = r.URL("{{{vars.base}}}/{{event.id}}")
	require.NoError(t, err)
	require.Equal(t, "https://api.example.com/v1/a%20b%2Fc%3Fd", got.Text)
}

func TestRenderHeaderRefusesCRAndLF(t *testing.T) {
	t.Parallel()
	sc := testScope()
	sc.Vars["crlf"] = "ok\r\nX-Injected: yes"
	sc.Vars["cr"] = "ok\rmore"
	r := NewTemplates(0).Renderer(sc)

	_, err := r.Header("X-Note", "{{event.text}}")
	require.EqualError(t, err, "header X-Note: the rendered value contains CR, LF or NUL, which a header cannot hold")
	_, err = r.Header("X-Note", "a {{vars.crlf}}")
	require.ErrorContains(t, err, "header X-Note")
	_, err = r.Header("X-Other", "{{vars.cr}}")
	require.ErrorContains(t, err, "header X-Other")

	got, err := r.Header("X-Note", "{{tenant.id}} ünï 🎉 a&b=c")
	require.NoError(t, err)
	require.Equal(t, "sunrise-dental ünï 🎉 a&b=c", got.Text)
}

func TestRenderJSONSinglePathKeepsTheValuesType(t *testing.T) {
	t.Parallel()
	r := NewTemplates(0).Renderer(testScope())

	body := map[string]any{
		"size":    "{{event.value}}",
		"spaced":  "{{ event.ratio }}",
		"flag":    "{{event.flag}}",
		"obj":     "{{event.obj}}",
		"list":    "{{event.list}}",
		"null":    "{{event.nothing}}",
		"missing": "{{entity.values.foo}}",
		"text":    "{{event.entityId}} grew to {{event.value}}",
		"tricky":  "{{event.text}}",
		"nested":  []any{"{{steps.lookup.response.body.id}}", float64(7), true, nil, map[string]any{"t": "{{tenant.id}}"}},
		"number":  float64(3),
	}
	v, red, err := r.JSON(body)
	require.NoError(t, err)
	require.Equal(t, v, red, "no secrets, so the log shows the same")

	b, err := EncodeJSON(v)
	require.NoError(t, err)
	require.JSONEq(t, `{"size":1200000,"spaced":0.5,"flag":true,"obj":{"a":"<b>&","n":1},"list":["x",2],"null":null,"missing":null,
		"text":"booking-1042 grew to 1200000","tricky":"He said \"hi\"\nthen a&b=c <tag> ünïcødé 🎉",
		"nested":[42,7,true,null,{"t":"sunrise-dental"}],"number":3}`, string(b))
	require.Contains(t, string(b), `"size":1200000,`)
	require.Contains(t, string(b), `"<b>&"`, "never HTML-escaped")
	require.Contains(t, string(b), `"tricky":"He said \"hi\"\nthen a&b=c <tag> ünïcødé 🎉"`)
	require.Equal(t, []string{"missing template path: entity.values.foo"}, r.Notes())
}

func TestRenderNotesMissingPathsOnceAndRendersThemEmpty(t *testing.T) {
	t.Parallel()
	r := NewTemplates(0).Renderer(testScope())

	got, err := r.Text("[{{entity.values.foo}}][{{secrets.nope}}][{{steps.later.response.status}}][{{event.list.9}}][{{event.value.x}}]")
	require.NoError(t, err)
	require.Equal(t, "[][][][][]", got.Text)
	_, err = r.Text("again: {{entity.values.foo}}")
	require.NoError(t, err)
	require.Equal(t, []string{
		"missing template path: entity.values.foo",
		"missing template path: secrets.nope",
		"missing template path: steps.later.response.status",
		"missing template path: event.list.9",
		"missing template path: event.value.x",
	}, r.Notes())

	r = NewTemplates(0).Renderer(&Scope{})
	got, err = r.Text("{{event.value}}{{tenant.id}}")
	require.NoError(t, err)
	require.Equal(t, "", got.Text)
	require.Len(t, r.Notes(), 2)
}

func TestRenderRedactsSecretsInTheLogForm(t *testing.T) {
	t.Parallel()
	r := NewTemplates(0).Renderer(testScope())

	got, err := r.Text("Bearer {{secrets.token}} for {{tenant.id}}")
	require.NoError(t, err)
	require.Equal(t, "Bearer s3cr3t-t0ken for sunrise-dental", got.Text)
	require.Equal(t, "Bearer •••• for sunrise-dental", got.Redacted)

	got, err = r.URL("https://x.example/{{secrets.token}}")
	require.NoError(t, err)
	require.Equal(t, "https://x.example/s3cr3t-t0ken", got.Text)
	require.Equal(t, "https://x.example/"+EscapeURLValue(outbound.Redacted), got.Redacted)

	got, err = r.Text("{{secrets}}")
	require.NoError(t, err)
	require.JSONEq(t, `{"token":"s3cr3t-t0ken","other":"another-secret"}`, got.Text)
	require.JSONEq(t, `{"token":"••••","other":"••••"}`, got.Redacted)

	v, red, err := r.JSON(map[string]any{"key": "{{secrets.token}}", "msg": "key={{secrets.other}}", "t": "{{tenant.id}}"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"key": "s3cr3t-t0ken", "msg": "key=another-secret", "t": "sunrise-dental"}, v)
	require.Equal(t, map[string]any{"key": outbound.Redacted, "msg": "key=" + outbound.Redacted, "t": "sunrise-dental"}, red)
}

func TestTemplatesParseOnceAndStayBounded(t *testing.T) {
	t.Parallel()
	tm := NewTemplates(8)
	r := tm.Renderer(testScope())

	for range 3 {
		_, err := r.Text("{{tenant.id}}")
		require.NoError(t, err)
	}
	_, err := r.URL("/p/{{tenant.id}}")
	require.NoError(t, err)
	require.Equal(t, 2, tm.Len(), "one parse per string and escaping")
	_, err = r.URL("/p/{{tenant.id}}")
	require.NoError(t, err)
	require.Equal(t, 2, tm.Len(), "one parse per string and escaping")
	c1, err := tm.get("{{tenant.id}}", escapeNone)
	require.NoError(t, err)
	c2, err := tm.get("{{tenant.id}}", escapeNone)
	require.NoError(t, err)
	require.Same(t, c1, c2)

	for i := range 100 {
		got, err := r.Text(fmt.Sprintf("%d {{tenant.id}}", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d sunrise-dental", i), got.Text)
		require.LessOrEqual(t, tm.Len(), 8)
	}

	_, err = r.Text("{{nope}}")
	require.ErrorContains(t, err, "unknown template path {{nope}}", "rendering checks too")
}

func TestTemplatesServeConcurrentRenderers(t *testing.T) {
	t.Parallel()
	tm := NewTemplates(16)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			sc := testScope()
			sc.Tenant["id"] = fmt.Sprint("tenant-", g)
			for i := range 200 {
				r := tm.Renderer(sc)
				got, err := r.Text(fmt.Sprintf("{{tenant.id}}/%d", i%40))
				if err != nil || got.Text != fmt.Sprintf("tenant-%d/%d", g, i%40) {
					t.Errorf("render: %q, %v", got.Text, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkRenderJSONBodyAndHeaders renders what a typical http step
// renders: a JSON body of six fields (two single-path values) and three
// headers, one with a secret.
func BenchmarkRenderJSONBodyAndHeaders(b *testing.B) {
	tm := NewTemplates(0)
	sc := testScope()
	var body any
	if err := json.Unmarshal([]byte(`{"text":"{{event.entityId}} grew to {{event.value}}","size":"{{event.value}}",
		"tenant":"{{tenant.id}}","company":{"size":"{{entity.values.company_size}}","obj":"{{event.obj}}"},"source":"fieldflow"}`), &body); err != nil {
		b.Fatal(err)
	}
	headers := map[string]string{"Authorization": "Bearer {{secrets.token}}", "X-Tenant": "{{tenant.id}}", "X-App-Version": "2024-11-01"}
	b.ReportAllocs()
	for b.Loop() {
		r := tm.Renderer(sc)
		v, _, err := r.JSON(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeJSON(v); err != nil {
			b.Fatal(err)
		}
		for k, h := range headers {
			if _, err := r.Header(k, h); err != nil {
				b.Fatal(err)
			}
		}
	}
}
