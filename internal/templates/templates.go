// Package templates renders the {{path}} templates of automation requests and
// webhook body templates: logic-less mustache over a scope, typed in JSON
// bodies, percent-encoded in URLs, never HTML-escaped, secrets redacted in
// the logged form.
package templates

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cbroglie/mustache"

	"github.com/fieldflow/fieldflow/internal/outbound"
)

// Scope is what templates (and conditions) read.
type Scope struct {
	Event   map[string]any    // the event payload
	Entity  map[string]any    // {"values": {...}} current values of the event's entity
	Tenant  map[string]any    // {"id": "..."}
	Vars    map[string]string // non-secret variables
	Secrets map[string]string // secret variables
	Steps   map[string]any    // step name → {"response": {"status": int, "headers": map, "body": any}}
}

// templateRoots are the first segments a template path may have.
var templateRoots = []string{"event", "entity", "tenant", "vars", "secrets", "steps"}

// DefaultTemplateCacheSize is how many parsed templates a Templates keeps
// when NewTemplates is given no size.
const DefaultTemplateCacheSize = 4096

// CheckTemplate reports whether s is a template the engine renders: it
// parses, uses only {{path}} tags (raw {{{path}}} and {{&path}} too; no
// sections, partials or delimiter changes: templates are logic-less), and
// every path starts with event, entity, tenant, vars, secrets or steps. Use
// it when an automation is saved.
func CheckTemplate(s string) error {
	if !strings.Contains(s, "{{") {
		return nil
	}
	_, err := compileTemplate(s, escapeNone)
	return err
}

// Paths checks s as CheckTemplate does and returns the distinct paths its
// tags read, in order of appearance; none for a string without tags.
func Paths(s string) ([]string, error) {
	if !strings.Contains(s, "{{") {
		return nil, nil
	}
	c, err := compileTemplate(s, escapeNone)
	if err != nil {
		return nil, err
	}
	return c.paths, nil
}

// escapeKind is how a rendered value is escaped where it lands. A parsed
// template carries its escape function, so the cache keys on it.
type escapeKind uint8

const (
	escapeNone escapeKind = iota // text: headers, query and form values, raw and JSON bodies
	escapeURL                    // percent-encoded: the URL
)

// compiled is a parsed template and what rendering it needs.
type compiled struct {
	tmpl *mustache.Template
	// paths are the distinct variable tags' paths, in order of appearance.
	paths []string
	// single is the path when the whole string is exactly one {{path}}
	// (spaces inside the braces allowed): in a JSON body it keeps the
	// value's JSON type.
	single string
	// secret says some path reads secrets, so the redacted text differs.
	secret bool
}

var (
	delimiterRe = regexp.MustCompile(`\{\{\s*=`)
	singleRe    = regexp.MustCompile(`^\{\{\s*([^\s{}!#^/>=&][^\s{}]*)\s*\}\}$`)
)

func compileTemplate(s string, esc escapeKind) (*compiled, error) {
	if delimiterRe.MatchString(s) {
		return nil, fmt.Errorf("template %q: changing delimiters ({{=…=}}) is not supported", s)
	}
	// No partials: the package's default provider would read files.
	tmpl, err := mustache.ParseStringPartials(s, &mustache.StaticProvider{})
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", s, err)
	}
	c := &compiled{tmpl: tmpl}
	for _, tag := range tmpl.Tags() {
		if tag.Type() != mustache.Variable {
			return nil, fmt.Errorf("template %q: %s tags such as %q are not supported: templates are logic-less, use {{path}}",
				s, strings.ToLower(tag.Type().String()), tag.Name())
		}
		if err := checkPath(tag.Name()); err != nil {
			return nil, fmt.Errorf("template %q: %w", s, err)
		}
		if !slices.Contains(c.paths, tag.Name()) {
			c.paths = append(c.paths, tag.Name())
		}
		c.secret = c.secret || rootOf(tag.Name()) == "secrets"
	}
	if m := singleRe.FindStringSubmatch(s); m != nil {
		c.single = m[1]
	}
	switch esc {
	case escapeURL:
		tmpl.Escape(EscapeURLValue)
	default:
		tmpl.Escape(func(s string) string { return s })
	}
	return c, nil
}

func checkPath(p string) error {
	root := rootOf(p)
	if !slices.Contains(templateRoots, root) {
		return fmt.Errorf("unknown template path {{%s}}: paths start with %s", p, strings.Join(templateRoots, ", "))
	}
	if slices.Contains(strings.Split(p, "."), "") {
		return fmt.Errorf("template path {{%s}} has an empty segment", p)
	}
	return nil
}

func rootOf(p string) string {
	root, _, _ := strings.Cut(p, ".")
	return root
}

// EscapeURLValue percent-encodes all but RFC 3986's unreserved characters,
// so a value is one path segment, or one query value, whichever side of the
// ? it lands on: "/", "?", "#", "&", "=" and "+" cannot change the URL's
// shape.
func EscapeURLValue(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

type templateKey struct {
	esc escapeKind
	s   string
}

// Templates parses each template string once and renders it over scopes.
// It keeps at most its size of parsed templates; it is safe for concurrent
// use.
type Templates struct {
	half int // each generation's capacity

	mu sync.Mutex
	// Two generations: lookups hit recent, or promote from older; when
	// recent fills up it becomes older and the former older is dropped. So
	// templates in use stay, and the cache never holds more than 2·half.
	recent map[templateKey]*compiled // guarded by mu
	older  map[templateKey]*compiled // guarded by mu
}

// NewTemplates returns an empty cache that holds up to size parsed
// templates (DefaultTemplateCacheSize when size < 2).
func NewTemplates(size int) *Templates {
	if size < 2 {
		size = DefaultTemplateCacheSize
	}
	return &Templates{half: size / 2, recent: map[templateKey]*compiled{}, older: map[templateKey]*compiled{}}
}

// Len is how many parsed templates the cache holds.
func (t *Templates) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent) + len(t.older)
}

func (t *Templates) get(s string, esc escapeKind) (*compiled, error) {
	key := templateKey{esc, s}
	t.mu.Lock()
	c, ok := t.recent[key]
	if !ok {
		if c, ok = t.older[key]; ok {
			delete(t.older, key)
			t.putLocked(key, c)
		}
	}
	t.mu.Unlock()
	if ok {
		return c, nil
	}
	// Two callers may parse the same string at once; both results are
	// equal, and the later one stays.
	c, err := compileTemplate(s, esc)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.putLocked(key, c)
	t.mu.Unlock()
	return c, nil
}

func (t *Templates) putLocked(key templateKey, c *compiled) {
	if len(t.recent) >= t.half {
		t.older, t.recent = t.recent, make(map[templateKey]*compiled, t.half)
	}
	t.recent[key] = c
}

// Rendered is a rendered template: Text is what is sent, Redacted what the
// run log shows (each secret's value replaced by outbound.Redacted).
type Rendered struct {
	Text     string
	Redacted string
}

// Renderer renders one step's templates over one scope and collects the
// step's notes. It is not safe for concurrent use; make one per step.
type Renderer struct {
	t     *Templates
	sc    *Scope
	notes []string
}

// Renderer returns a renderer over sc.
func (t *Templates) Renderer(sc *Scope) *Renderer {
	if sc == nil {
		sc = &Scope{}
	}
	return &Renderer{t: t, sc: sc}
}

// Notes are the remarks so far, each once: a missing template path renders
// empty (null as a JSON single-path value) and is noted.
func (r *Renderer) Notes() []string { return r.notes }

func (r *Renderer) note(s string) {
	if !slices.Contains(r.notes, s) {
		r.notes = append(r.notes, s)
	}
}

// Text renders s as is: for query and form values (url.Values encodes
// them), raw bodies and anything else that is not escaped. Nothing is ever
// HTML-escaped.
func (r *Renderer) Text(s string) (Rendered, error) { return r.render(s, escapeNone) }

// URL renders a URL: values of {{path}} tags are percent-encoded (all but
// letters, digits and -._~), so they cannot add segments, a query or a
// fragment; {{{path}}} and {{&path}} insert a value as is. A tag at the very
// start of the URL fills its scheme and host, e.g. a base URL kept in a
// variable ({{vars.base_url}}/hook): it is inserted as is too, since
// encoding it could never give a URL. The caller checks the result is an
// absolute http or https URL, and the client's SSRF guard checks where it
// leads.
func (r *Renderer) URL(s string) (Rendered, error) {
	lead, rest := leadingTag(s)
	if lead == "" {
		return r.render(s, escapeURL)
	}
	base, err := r.render(lead, escapeNone)
	if err != nil {
		return Rendered{}, err
	}
	tail, err := r.render(rest, escapeURL)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Text: base.Text + tail.Text, Redacted: base.Redacted + tail.Redacted}, nil
}

// leadingTag splits off the tag s starts with ({{path}}, {{{path}}} or
// {{&path}}); lead is "" when s does not start with one.
func leadingTag(s string) (lead, rest string) {
	closer := "}}"
	if strings.HasPrefix(s, "{{{") {
		closer = "}}}"
	} else if !strings.HasPrefix(s, "{{") {
		return "", s
	}
	end := strings.Index(s, closer)
	if end < 0 {
		return "", s // unclosed: render reports it
	}
	end += len(closer)
	return s[:end], s[end:]
}

// Header renders the value of header name and refuses a result holding CR,
// LF or NUL, which would end the header early.
func (r *Renderer) Header(name, s string) (Rendered, error) {
	out, err := r.render(s, escapeNone)
	if err != nil {
		return Rendered{}, fmt.Errorf("header %s: %w", name, err)
	}
	if strings.ContainsAny(out.Text, "\r\n\x00") {
		return Rendered{}, fmt.Errorf("header %s: the rendered value contains CR, LF or NUL, which a header cannot hold", name)
	}
	return out, nil
}

func (r *Renderer) render(s string, esc escapeKind) (Rendered, error) {
	if !strings.Contains(s, "{{") {
		return Rendered{s, s}, nil
	}
	c, err := r.t.get(s, esc)
	if err != nil {
		return Rendered{}, err
	}
	view, redacted := r.views(c)
	text, err := c.tmpl.Render(view)
	if err != nil {
		return Rendered{}, fmt.Errorf("render template %q: %w", s, err)
	}
	out := Rendered{Text: text, Redacted: text}
	if redacted != nil {
		if out.Redacted, err = c.tmpl.Render(redacted); err != nil {
			return Rendered{}, fmt.Errorf("render template %q: %w", s, err)
		}
	}
	return out, nil
}

// views resolves the template's paths against the scope and returns what
// mustache renders from: nested maps holding, at each path, the value's
// text. So values print as JSON text (1200000, not 1.2e+06) and every path
// is present whatever mustache.AllowMissingVariables says. The redacted
// view is nil when no path reads secrets.
func (r *Renderer) views(c *compiled) (view, redacted map[string]any) {
	view = make(map[string]any, len(c.paths))
	if c.secret {
		redacted = make(map[string]any, len(c.paths))
	}
	for _, p := range c.paths {
		v, red, ok := r.lookup(p)
		text := ""
		if ok {
			text = textOf(v)
		}
		putPath(view, p, text)
		if redacted != nil {
			if ok {
				text = textOf(red)
			}
			putPath(redacted, p, text)
		}
	}
	return view, redacted
}

// lookup resolves a path; red is the value the run log shows. A missing
// path is noted.
func (r *Renderer) lookup(p string) (v, red any, ok bool) {
	root, rest, _ := strings.Cut(p, ".")
	switch root {
	case "event":
		v, ok = descend(r.sc.Event, rest)
	case "entity":
		v, ok = descend(r.sc.Entity, rest)
	case "tenant":
		v, ok = descend(r.sc.Tenant, rest)
	case "vars":
		v, ok = descend(r.sc.Vars, rest)
	case "steps":
		v, ok = descend(r.sc.Steps, rest)
	case "secrets":
		v, ok = descend(r.sc.Secrets, rest)
		if ok {
			red = redactSecrets(v)
		}
	}
	if !ok {
		r.note("missing template path: " + p)
		return nil, nil, false
	}
	if root != "secrets" {
		red = v
	}
	return v, red, true
}

func redactSecrets(v any) any {
	m, ok := v.(map[string]string)
	if !ok {
		return outbound.Redacted
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = outbound.Redacted
	}
	return out
}

// descend follows a dotted path (empty: v itself) through maps and, by
// index, arrays. A nil map is missing.
func descend(v any, path string) (any, bool) {
	if isNil(v) {
		return nil, false
	}
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, ".")
		var ok bool
		if v, ok = child(v, seg); !ok {
			return nil, false
		}
	}
	return v, true
}

func child(v any, seg string) (any, bool) {
	switch c := v.(type) {
	case map[string]any:
		x, ok := c[seg]
		return x, ok
	case map[string]string:
		x, ok := c[seg]
		return x, ok
	case []any:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(c) {
			return nil, false
		}
		return c[i], true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		x := rv.MapIndex(reflect.ValueOf(seg).Convert(rv.Type().Key()))
		if !x.IsValid() {
			return nil, false
		}
		return x.Interface(), true
	case reflect.Slice, reflect.Array:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= rv.Len() {
			return nil, false
		}
		return rv.Index(i).Interface(), true
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, false
		}
		return child(rv.Elem().Interface(), seg)
	}
	return nil, false
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer:
		return rv.IsNil()
	}
	return false
}

// textOf is a value as text: a string as is, null as nothing, anything
// else as its compact JSON without HTML escaping (numbers without an
// exponent where JSON has none: 1200000, 0.5).
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return formatFloat(x, 64)
	case float32:
		return formatFloat(float64(x), 32)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return x.String()
	}
	b, err := EncodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// formatFloat prints a number as encoding/json does: without an exponent
// from 1e-6 up to 1e21, with one outside that range.
func formatFloat(f float64, bits int) string {
	if abs := math.Abs(f); abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	if b, err := json.Marshal(f); err == nil {
		return string(b)
	}
	return strconv.FormatFloat(f, 'g', -1, bits) // NaN and ±Inf, which JSON cannot hold
}

// EncodeJSON is compact JSON without HTML escaping.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// textKey holds, in a textMap, the text of a path that is also the prefix
// of another path. Paths have no empty segments, so no path reaches it.
const textKey = ""

// textMap is a view node that is both a value ({{a}}) and a parent
// ({{a.b}}): mustache descends into it as a map and prints its String.
type textMap map[string]any

func (m textMap) String() string { s, _ := m[textKey].(string); return s }

// putPath sets the text at path p in the nested view.
func putPath(view map[string]any, p, text string) {
	m := view
	for {
		seg, rest, more := strings.Cut(p, ".")
		if !more {
			if existing, ok := m[seg].(map[string]any); ok {
				tm := textMap(existing)
				tm[textKey] = text
				m[seg] = tm
			} else if tm, ok := m[seg].(textMap); ok {
				tm[textKey] = text
			} else {
				m[seg] = text
			}
			return
		}
		switch next := m[seg].(type) {
		case map[string]any:
			m = next
		case textMap:
			m = next
		case string:
			tm := textMap{textKey: next}
			m[seg] = tm
			m = tm
		default:
			nm := map[string]any{}
			m[seg] = nm
			m = nm
		}
		p = rest
	}
}

// JSON renders a JSON value (as encoding/json decodes one: maps, slices,
// strings, numbers, booleans, nil): each string that is exactly one
// {{path}} becomes the path's value with its JSON type (a missing path:
// null); other strings render as text. It returns the value to send and
// the value the run log shows.
func (r *Renderer) JSON(v any) (value, redacted any, err error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "{{") {
			return x, x, nil
		}
		c, err := r.t.get(x, escapeNone)
		if err != nil {
			return nil, nil, err
		}
		if c.single != "" {
			v, red, ok := r.lookup(c.single)
			if !ok {
				return nil, nil, nil
			}
			return v, red, nil
		}
		out, err := r.render(x, escapeNone)
		if err != nil {
			return nil, nil, err
		}
		return out.Text, out.Redacted, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		red := make(map[string]any, len(x))
		for k, e := range x {
			if out[k], red[k], err = r.JSON(e); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		return out, red, nil
	case []any:
		out := make([]any, len(x))
		red := make([]any, len(x))
		for i, e := range x {
			if out[i], red[i], err = r.JSON(e); err != nil {
				return nil, nil, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return out, red, nil
	}
	return v, v, nil
}
