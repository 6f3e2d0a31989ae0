package automations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/fields"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/templates"
)

var (
	stepNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	headerNameRe = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
	tenantIDRe   = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)
	// Headers the HTTP client manages; an action cannot set them.
	reservedActionHeaders = map[string]bool{"content-length": true, "host": true, "transfer-encoding": true,
		"connection": true, "idempotency-key": true}
)

// problems collects what is wrong with an automation, each at its
// location, and the templates it holds, for the checks that look at all of
// them at once (which secrets they name).
type problems struct {
	list      []problem.Problem
	templates []placedTemplate
}

// placedTemplate is a template that parsed, with its location.
type placedTemplate struct {
	loc, s string
	paths  []string
}

func (ps *problems) add(loc, msg string, v any) {
	ps.list = append(ps.list, problem.Problem{Location: loc, Message: msg, Value: v})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &problem.ValidationError{Problems: ps.list}
}

// checkAutomation validates everything that can be checked at save: the
// trigger, every condition (compiled and type-checked), every template
// (parsed), each action's fields, and that referenced field groups and
// OAuth2 connections exist and are visible to the automation's tenant.
func checkAutomation(ctx context.Context, r store.Reader, tenantID, name string, def *Definition) error {
	var ps problems
	if strings.TrimSpace(name) == "" {
		ps.add("body.name", "must not be blank", name)
	}
	if tenantID != "" && !tenantIDRe.MatchString(tenantID) {
		ps.add("body.tenantId", "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -", tenantID)
	}
	groupOK := func(loc, g string) {
		if g == "" {
			return
		}
		if _, err := r.FieldGroupGet(ctx, g); errors.Is(err, store.ErrNotFound) {
			ps.add(loc, "no such field group", g)
		} else if err != nil {
			ps.add(loc, "could not be checked: "+err.Error(), g)
		}
	}
	checkTrigger(&ps, &def.Trigger, groupOK)
	entityFromEvent := triggerHasEntity(&def.Trigger)
	seen := map[string]bool{}
	for i := range def.Actions {
		a := &def.Actions[i]
		loc := fmt.Sprintf("body.actions[%d]", i)
		if !stepNameRe.MatchString(a.Name) {
			ps.add(loc+".name", "must start with a letter or _ and hold only letters, digits and _ (it is used as steps.<name>)", a.Name)
		} else if seen[a.Name] {
			ps.add(loc+".name", "is used by another action of this automation", a.Name)
		}
		seen[a.Name] = true
		if a.If != "" {
			if err := CheckCondition(a.If); err != nil {
				ps.add(loc+".if", err.Error(), a.If)
			}
		}
		if a.Template != "" && a.Type != ActionHTTP {
			ps.add(loc+".template", "only http actions take a request template", a.Template)
		}
		switch a.Type {
		case ActionWebhook:
			checkWebhookAction(&ps, loc, a)
		case ActionHTTP:
			if a.Template == "" {
				checkHTTPAction(ctx, r, &ps, loc, tenantID, a)
				break
			}
			merged, _, err := resolveTemplate(ctx, r, tenantID, a)
			switch {
			case errors.Is(err, store.ErrNotFound):
				ps.add(loc+".template", "no such request template of this automation's owner (the vendor's for a vendor-wide automation, the tenant's own for a tenant's)", a.Template)
			case err != nil:
				ps.add(loc+".template", "could not be checked: "+err.Error(), a.Template)
			default:
				merged.Template = a.Template // checkHTTPAction reads only the request
				checkHTTPAction(ctx, r, &ps, loc, tenantID, merged)
			}
		case ActionSetField:
			checkSetField(&ps, loc, a, entityFromEvent, groupOK)
		default:
			ps.add(loc+".type", "must be webhook, http or set_field", a.Type)
		}
	}
	if d := def.Trigger.Date; d != nil && d.FieldGroup != "" && d.FieldKey != "" {
		checkDateField(ctx, r, &ps, tenantID, d)
	}
	checkSecrets(ctx, r, &ps, tenantID)
	return ps.err()
}

// checkDateField refuses a date rule on a field whose type holds no date:
// its timer would never be set. A field the automation cannot see yet (a
// vendor-wide rule on a key only tenants define) is left to run time.
func checkDateField(ctx context.Context, r store.Reader, ps *problems, tenantID string, d *Date) {
	g, err := r.FieldGroupGet(ctx, d.FieldGroup)
	if err != nil {
		return // reported by the field group check
	}
	var schema json.RawMessage
	globals, err := r.GlobalFieldsInGroup(ctx, g.ID)
	if err != nil {
		ps.add("body.trigger.date.fieldKey", "could not be checked: "+err.Error(), d.FieldKey)
		return
	}
	for _, f := range globals {
		if f.Key == d.FieldKey {
			schema = f.Schema
		}
	}
	if schema == nil && tenantID != "" {
		own, _, err := r.TenantFieldList(ctx, &store.TenantFieldListParams{Page: store.Page{Page: 1, PageSize: 500}, TenantID: tenantID, FieldGroupID: g.ID})
		if err != nil {
			ps.add("body.trigger.date.fieldKey", "could not be checked: "+err.Error(), d.FieldKey)
			return
		}
		for _, f := range own {
			if f.Key == d.FieldKey {
				schema = f.Schema
			}
		}
	}
	if schema == nil {
		return
	}
	var sc struct {
		Type fields.Type `json:"type"`
	}
	if err := json.Unmarshal(schema, &sc); err != nil {
		return
	}
	if sc.Type != fields.Date && sc.Type != fields.DateTime {
		ps.add("body.trigger.date.fieldKey", fmt.Sprintf("is a %s field; a date rule needs a date or datetime field", sc.Type), d.FieldKey)
	}
}

// checkSecrets refuses a template naming a secret the automation can never
// see, which would otherwise render empty at every run. A tenant's
// automation sees only its own tenant's secrets; a vendor-wide one sees the
// global secrets and those of the event's tenant, so a name any scope holds
// will do.
func checkSecrets(ctx context.Context, r store.Reader, ps *problems, tenantID string) {
	known := map[string]string{} // name → "" when visible, else why not
	for _, t := range ps.templates {
		for _, p := range t.paths {
			root, rest, _ := strings.Cut(p, ".")
			if root != "secrets" || rest == "" {
				continue
			}
			name, _, _ := strings.Cut(rest, ".")
			why, ok := known[name]
			if !ok {
				why = secretVisibility(ctx, r, tenantID, name)
				known[name] = why
			}
			if why != "" {
				ps.add(t.loc, fmt.Sprintf("{{%s}}: %s", p, why), t.s)
			}
		}
	}
}

// secretVisibility says why the automation cannot see the secret name, or
// "" when it can.
func secretVisibility(ctx context.Context, r store.Reader, tenantID, name string) string {
	vs, err := r.VariableListByName(ctx, name)
	if err != nil {
		return "could not be checked: " + err.Error()
	}
	global := false
	for _, v := range vs {
		switch {
		case !v.Secret:
		case tenantID == "" || v.TenantID == tenantID:
			return ""
		case v.TenantID == "":
			global = true
		}
	}
	if global {
		return "is a global secret; a tenant's automation sees only its own tenant's secrets (set it as the tenant's variable)"
	}
	if tenantID != "" {
		return "no such secret: set it first as a secret variable of tenant " + tenantID
	}
	return "no such secret: set it first as a secret variable, global or per tenant"
}

func checkTrigger(ps *problems, t *Trigger, groupOK func(loc, g string)) {
	kinds := 0
	for _, set := range []bool{t.Event != "", t.SLA != nil, t.Date != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		ps.add("body.trigger", "must have exactly one of event, sla and date", nil)
	}
	if t.Event != "" && !validEventPattern(t.Event) {
		ps.add("body.trigger.event", "must be an event type, prefix.* or *", t.Event)
	}
	if t.Event == "" && (t.FieldGroup != "" || t.FieldKey != "" || t.From != nil || t.To != nil) {
		ps.add("body.trigger", "fieldGroup, fieldKey, from and to filter events; use them with event (time rules name their own field)", nil)
	}
	if (t.From != nil || t.To != nil) && t.Event != "" && !strings.HasPrefix(t.Event, "field_value.") {
		ps.add("body.trigger.event", "from and to compare field values: use them with field_value.saved or field_value.deleted", t.Event)
	}
	groupOK("body.trigger.fieldGroup", t.FieldGroup)
	if t.Condition != "" {
		if err := CheckCondition(t.Condition); err != nil {
			ps.add("body.trigger.condition", err.Error(), t.Condition)
		}
	}
	if s := t.SLA; s != nil {
		groupOK("body.trigger.sla.fieldGroup", s.FieldGroup)
		if d, err := time.ParseDuration(s.After); err != nil || d <= 0 {
			ps.add("body.trigger.sla.after", "must be a positive duration such as 72h or 30m", s.After)
		}
	}
	if d := t.Date; d != nil {
		groupOK("body.trigger.date.fieldGroup", d.FieldGroup)
		if d.Offset != "" {
			if _, err := time.ParseDuration(d.Offset); err != nil {
				ps.add("body.trigger.date.offset", "must be a duration such as -24h or 2h30m", d.Offset)
			}
		}
	}
}

func validEventPattern(e string) bool {
	if e == "*" {
		return true
	}
	base := strings.TrimSuffix(e, ".*")
	return events.ValidType(base) && !strings.Contains(base, "*")
}

// triggerHasEntity reports whether every triggering event names an entity,
// so set_field may default to it.
func triggerHasEntity(t *Trigger) bool {
	if t.SLA != nil || t.Date != nil {
		return true
	}
	return strings.HasPrefix(t.Event, "field_value.") || t.Event == events.EntityUpdated
}

func checkTemplate(ps *problems, loc, s string) {
	if !strings.Contains(s, "{{") {
		return
	}
	paths, err := templates.Paths(s)
	if err != nil {
		ps.add(loc, err.Error(), s)
		return
	}
	ps.templates = append(ps.templates, placedTemplate{loc: loc, s: s, paths: paths})
}

func checkURL(ps *problems, loc, raw string, templated bool) {
	static := raw
	if templated && strings.Contains(raw, "{{") {
		checkTemplate(ps, loc, raw)
		if strings.HasPrefix(raw, "{{") {
			return // the scheme and host come from a value; checked when sent
		}
		// Check what precedes the first template, with a stand-in for the
		// rest: "1" keeps a host ("https://{{…}}") or a port
		// ("http://h:{{…}}") well formed.
		static = strings.SplitN(raw, "{{", 2)[0] + "1"
	}
	u, err := url.Parse(static)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		ps.add(loc, "must be an absolute http or https URL", raw)
	case u.User != nil:
		ps.add(loc, "must not contain credentials; use auth", nil)
	}
}

func checkWebhookAction(ps *problems, loc string, a *Action) {
	if a.URL == "" {
		ps.add(loc+".url", "is required", nil)
	} else {
		checkURL(ps, loc+".url", a.URL, false)
	}
	if a.Method != "" || a.Auth != nil || a.Body != nil || len(a.Query) > 0 || len(a.Values) > 0 {
		ps.add(loc, "a webhook action takes url, headers, timeoutSeconds and retry; it always POSTs {event, record} signed", nil)
	}
	checkHeaders(ps, loc, a.Headers)
	checkRetry(ps, loc, a.Retry)
}

func checkHTTPAction(ctx context.Context, r store.Reader, ps *problems, loc, tenantID string, a *Action) {
	if a.URL == "" {
		ps.add(loc+".url", "is required", nil)
	} else {
		checkURL(ps, loc+".url", a.URL, true)
	}
	if len(a.Values) > 0 || a.EntityID != "" || a.FieldGroup != "" {
		ps.add(loc, "values, fieldGroup and entityId belong to set_field actions", nil)
	}
	switch a.Method {
	case "", http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		ps.add(loc+".method", "must be GET, POST, PUT, PATCH or DELETE", a.Method)
	}
	checkHeaders(ps, loc, a.Headers)
	for k, v := range a.Query {
		if k == "" {
			ps.add(loc+".query", "names must not be empty", nil)
		}
		checkTemplate(ps, loc+".query."+k, v)
	}
	if au := a.Auth; au != nil {
		checkAuth(ctx, r, ps, loc+".auth", tenantID, au)
	}
	if b := a.Body; b != nil {
		checkBody(ps, loc+".body", a.Method, b)
	}
	checkRetry(ps, loc, a.Retry)
}

func checkHeaders(ps *problems, loc string, hs map[string]string) {
	for k, v := range hs {
		switch {
		case !headerNameRe.MatchString(k):
			ps.add(loc+".headers."+k, "is not a valid header name", k)
		case reservedActionHeaders[strings.ToLower(k)]:
			ps.add(loc+".headers."+k, "is set by fieldflow and cannot be overridden", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			ps.add(loc+".headers."+k, "must not contain CR, LF or NUL", nil)
		default:
			checkTemplate(ps, loc+".headers."+k, v)
		}
	}
}

func checkAuth(ctx context.Context, r store.Reader, ps *problems, loc, tenantID string, au *Auth) {
	// Credentials go into a header (basic ones base64-encoded, but a
	// receiver splits them at face value too): CR, LF or NUL written into
	// one is a mistake, refused now. What a template renders is checked
	// when it is sent.
	literal := func(field, v string) {
		if strings.ContainsAny(v, "\r\n\x00") {
			ps.add(loc+"."+field, "must not contain CR, LF or NUL", nil)
		} else {
			checkTemplate(ps, loc+"."+field, v)
		}
	}
	need := func(field, v string) {
		if v == "" {
			ps.add(loc+"."+field, "is required for auth type "+au.Type, nil)
		} else {
			literal(field, v)
		}
	}
	switch au.Type {
	case AuthNone:
	case AuthBearer:
		need("token", au.Token)
	case AuthAPIKey:
		need("name", au.Name)
		need("value", au.Value)
		if au.In != "" && au.In != "header" && au.In != "query" {
			ps.add(loc+".in", "must be header or query", au.In)
		}
		if (au.In == "" || au.In == "header") && !headerNameRe.MatchString(au.Name) && au.Name != "" {
			ps.add(loc+".name", "is not a valid header name", au.Name)
		}
	case AuthBasic:
		need("username", au.Username)
		literal("password", au.Password)
	case AuthOAuth2:
		if au.ConnectionID == "" {
			ps.add(loc+".connectionId", "is required for auth type oauth2", nil)
			return
		}
		c, err := r.OAuth2ConnectionGet(ctx, au.ConnectionID)
		switch {
		// Another tenant's connection does not exist for a tenant's
		// automation, as it does not for the tenant's key.
		case errors.Is(err, store.ErrNotFound), err == nil && c.TenantID != "" && tenantID != "" && c.TenantID != tenantID:
			ps.add(loc+".connectionId", "no such OAuth2 connection", au.ConnectionID)
		case err != nil:
			ps.add(loc+".connectionId", "could not be checked: "+err.Error(), au.ConnectionID)
		case c.TenantID != "" && tenantID == "":
			ps.add(loc+".connectionId", "belongs to tenant "+c.TenantID+"; a vendor-wide automation runs for every tenant and can use only vendor-wide connections", au.ConnectionID)
		// The vendor's connection would hand the vendor's token to a URL the
		// tenant chose.
		case c.TenantID == "" && tenantID != "":
			ps.add(loc+".connectionId", "is a vendor-wide connection; a tenant's automation may use only its own tenant's connections", au.ConnectionID)
		}
	default:
		ps.add(loc+".type", "must be none, bearer, apiKey, basic or oauth2", au.Type)
	}
}

func checkBody(ps *problems, loc, method string, b *Body) {
	if b.Type != BodyNone && method == http.MethodGet {
		ps.add(loc, "a GET request has no body", nil)
	}
	switch b.Type {
	case BodyNone:
	case BodyJSON:
		if b.JSON == nil {
			ps.add(loc+".json", "is required for body type json", nil)
		}
		walkStrings(b.JSON, loc+".json", func(l, s string) { checkTemplate(ps, l, s) })
	case BodyForm:
		for k, v := range b.Form {
			checkTemplate(ps, loc+".form."+k, v)
		}
	case BodyRaw:
		checkTemplate(ps, loc+".raw", b.Raw)
		if strings.ContainsAny(b.ContentType, "\r\n") {
			ps.add(loc+".contentType", "must not contain CR or LF", nil)
		}
	default:
		ps.add(loc+".type", "must be none, json, form or raw", b.Type)
	}
	if b.Type != BodyJSON && b.JSON != nil || b.Type != BodyForm && len(b.Form) > 0 || b.Type != BodyRaw && (b.Raw != "" || b.ContentType != "") {
		ps.add(loc, "holds a field that does not belong to body type "+b.Type, nil)
	}
}

// walkStrings calls f for every string inside a JSON value, with its
// location.
func walkStrings(v any, loc string, f func(loc, s string)) {
	switch x := v.(type) {
	case string:
		f(loc, x)
	case map[string]any:
		for k, e := range x {
			walkStrings(e, loc+"."+k, f)
		}
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", loc, i), f)
		}
	}
}

func checkRetry(ps *problems, loc string, r *Retry) {
	if r == nil {
		return
	}
	if _, err := outbound.ParseSchedule(r.Schedule); err != nil {
		ps.add(loc+".retry.schedule", err.Error(), r.Schedule)
	}
	for i, s := range r.OnStatus {
		if s < 100 || s > 599 {
			ps.add(fmt.Sprintf("%s.retry.onStatus[%d]", loc, i), "must be an HTTP status between 100 and 599", s)
		}
	}
}

func checkSetField(ps *problems, loc string, a *Action, entityFromEvent bool, groupOK func(loc, g string)) {
	if len(a.Values) == 0 {
		ps.add(loc+".values", "is required: the field keys and values to write", nil)
	}
	for k, v := range a.Values {
		walkStrings(v, loc+".values."+k, func(l, s string) { checkTemplate(ps, l, s) })
	}
	if a.URL != "" || a.Method != "" || a.Auth != nil || a.Body != nil || len(a.Headers) > 0 || len(a.Query) > 0 || a.Retry != nil {
		ps.add(loc, "url, method, auth, body, headers, query and retry belong to http and webhook actions", nil)
	}
	groupOK(loc+".fieldGroup", a.FieldGroup)
	if a.EntityID != "" {
		checkTemplate(ps, loc+".entityId", a.EntityID)
	}
	if !entityFromEvent && (a.FieldGroup == "" || a.EntityID == "") {
		ps.add(loc, "needs fieldGroup and entityId: this trigger's events do not name an entity", nil)
	}
}
