package templates

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzTemplates renders any template string, over a scope that holds any
// text, in every place a template lands: as text, in a URL, in a header
// and inside a JSON body. Nothing may panic; a refusal is an error value;
// a rendered header never holds CR, LF or NUL; and a JSON body that
// renders always encodes to valid JSON, whatever the template and the
// values it reads.
func FuzzTemplates(f *testing.F) {
	for _, s := range []struct{ tmpl, text string }{
		{"{{event.entityId}} grew to {{event.value}}", "plain"},
		{"{{event.text}}", tricky},
		{"{{{event.text}}} and {{&event.text}}", "<b>&amp;</b>"},
		{"{{event.obj}}", `"quoted" \ backslash`},
		{"{{event.list}}{{event.nothing}}{{event.flag}}", "\u2028\u2029"},
		{"{{steps.lookup.response.body.items.0.name}}", "x"},
		{"{{secrets.token}}-{{vars.base}}", "\r\nX-Injected: 1"},
		{"{{entity.values.missing}}", "\x00"},
		{"{{! comment }}{{tenant.id}}", "é"},
		{"{{#event.flag}}x{{/event.flag}}", ""},
		{"{{=<% %>=}}", ""},
		{"{{event.value", ""},
		{"{{}}", ""},
		{"}}{{", "\xff\xfe"},
	} {
		f.Add(s.tmpl, s.text)
	}
	tm := NewTemplates(64)
	f.Fuzz(func(t *testing.T, tmpl, text string) {
		sc := testScope()
		sc.Event["text"] = text
		sc.Event["obj"] = map[string]any{"a": text, "n": float64(len(text))}
		sc.Vars["base"] = text
		sc.Secrets["token"] = text

		checkErr := CheckTemplate(tmpl)
		r := tm.Renderer(sc)
		// CheckTemplate, run when an automation is saved, promises what
		// rendering does: it accepts exactly what renders.
		_, textErr := r.Text(tmpl)
		require.Equal(t, checkErr == nil, textErr == nil, "CheckTemplate(%q) = %v but Text gives %v", tmpl, checkErr, textErr)
		_, _ = r.URL(tmpl)
		if h, err := r.Header("X-Test", tmpl); err == nil {
			require.False(t, strings.ContainsAny(h.Text, "\r\n\x00"), "header value %q holds CR, LF or NUL", h.Text)
		}

		body := map[string]any{"whole": tmpl, "inner": "<" + tmpl + ">", "list": []any{tmpl, float64(1), nil},
			"nested": map[string]any{"t": tmpl}}
		v, red, err := r.JSON(body)
		if err != nil {
			return // a template the engine does not render: refused when the automation is saved
		}
		for _, x := range []any{v, red} {
			b, err := EncodeJSON(x)
			require.NoError(t, err, "a rendered JSON body does not encode: template %q", tmpl)
			require.True(t, json.Valid(b), "a rendered JSON body is not JSON: %s", b)
			require.True(t, utf8.Valid(b) || !utf8.ValidString(text), "a rendered JSON body is not UTF-8: %q", b)
		}
	})
}
