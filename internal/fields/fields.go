// Package fields holds the custom-field model: field types, validation rules,
// value validation and the merge of global and tenant fields into one
// effective schema. It is pure logic with no I/O and imports nothing of
// fieldflow's own.
package fields

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is a field type.
type Type string

// The field types.
const (
	String      Type = "string"
	Textarea    Type = "textarea"
	Number      Type = "number"
	Boolean     Type = "boolean"
	Date        Type = "date"
	DateTime    Type = "datetime"
	Select      Type = "select"
	MultiSelect Type = "multiselect"
	Email       Type = "email"
	URL         Type = "url"
	Phone       Type = "phone"
	JSON        Type = "json"
)

// Types lists every field type in documentation order.
var Types = []Type{String, Textarea, Number, Boolean, Date, DateTime, Select, MultiSelect, Email, URL, Phone, JSON}

// Schema describes one field's type, its validation rules and UI hints.
type Schema struct {
	Type       Type       `json:"type"`
	Validation Validation `json:"validation,omitzero"`
	UI         UI         `json:"ui,omitzero"`
}

// Validation holds the rules a value must satisfy.
type Validation struct {
	Required  bool     `json:"required,omitempty"`
	MinLength *int     `json:"minLength,omitempty"`
	MaxLength *int     `json:"maxLength,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	Pattern   string   `json:"pattern,omitempty"`
	Options   []string `json:"options,omitempty"`
	Unique    bool     `json:"unique,omitempty"`
}

// UI holds presentation hints.
type UI struct {
	Placeholder string `json:"placeholder,omitempty"`
	HelpText    string `json:"helpText,omitempty"`
}

// Problem is one reason a schema or value is refused. Path names the part
// at fault relative to what was checked ("validation.pattern", or "" for the
// value itself).
type Problem struct {
	Path    string
	Message string
}

func (p Problem) Error() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

func isStringType(t Type) bool {
	switch t {
	case String, Textarea, Email, URL, Phone:
		return true
	}
	return false
}

// Check reports what is wrong with a schema definition.
func (s *Schema) Check() []Problem {
	var ps []Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if !slices.Contains(Types, s.Type) {
		add("type", "unknown field type %q", s.Type)
		return ps
	}
	v := s.Validation
	if (v.MinLength != nil || v.MaxLength != nil) && !isStringType(s.Type) && s.Type != MultiSelect {
		add("validation.minLength", "length rules apply only to text fields and multiselect, not %s", s.Type)
	}
	if v.MinLength != nil && v.MaxLength != nil && *v.MinLength > *v.MaxLength {
		add("validation.minLength", "minLength %d is greater than maxLength %d", *v.MinLength, *v.MaxLength)
	}
	if (v.Min != nil || v.Max != nil) && s.Type != Number {
		add("validation.min", "min and max apply only to number fields, not %s", s.Type)
	}
	if v.Min != nil && v.Max != nil && *v.Min > *v.Max {
		add("validation.min", "min %v is greater than max %v", *v.Min, *v.Max)
	}
	if v.Pattern != "" {
		if !isStringType(s.Type) {
			add("validation.pattern", "pattern applies only to text fields, not %s", s.Type)
		} else if _, err := regexp.Compile(v.Pattern); err != nil {
			add("validation.pattern", "invalid RE2 pattern: %v", err)
		}
	}
	switch s.Type {
	case Select, MultiSelect:
		if len(v.Options) == 0 {
			add("validation.options", "%s fields need at least one option", s.Type)
		}
		seen := map[string]bool{}
		for _, o := range v.Options {
			if seen[o] {
				add("validation.options", "option %q is listed twice", o)
			}
			seen[o] = true
		}
	default:
		if len(v.Options) > 0 {
			add("validation.options", "options apply only to select and multiselect fields")
		}
	}
	if v.Unique && (s.Type == JSON || s.Type == MultiSelect || s.Type == Boolean) {
		add("validation.unique", "unique is not supported for %s fields", s.Type)
	}
	return ps
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// ValidateValue reports why v (decoded from JSON: string, float64 or
// json.Number, bool, []any, map[string]any) is not a valid value for the schema. A nil v is
// not checked here: removing a value is judged by the caller (required).
func (s *Schema) ValidateValue(v any) []Problem {
	rules := &s.Validation
	if isStringType(s.Type) {
		return validateText(s.Type, rules, v)
	}
	switch s.Type {
	case Number:
		return validateNumber(rules, v)
	case Boolean:
		if _, ok := v.(bool); !ok {
			return problemf(nil, "must be true or false, got %s", kind(v))
		}
	case Date:
		return validateTime(v, time.DateOnly, "must be a date string YYYY-MM-DD, got %s", "must be a date YYYY-MM-DD")
	case DateTime:
		return validateTime(v, time.RFC3339, "must be an RFC 3339 date-time string, got %s", "must be an RFC 3339 date-time like 2026-04-04T10:00:00Z")
	case Select:
		str, ok := v.(string)
		if !ok {
			return problemf(nil, "must be one of the options, got %s", kind(v))
		}
		if !slices.Contains(rules.Options, str) {
			return problemf(nil, "must be one of %s", strings.Join(rules.Options, ", "))
		}
	case MultiSelect:
		return validateMultiSelect(rules, v)
	case JSON:
		// Any JSON value is accepted.
	}
	return nil
}

// problemf appends a problem with a formatted message to ps.
func problemf(ps []Problem, format string, args ...any) []Problem {
	return append(ps, Problem{Message: fmt.Sprintf(format, args...)})
}

// validateText checks a value of one of the string types.
func validateText(t Type, rules *Validation, v any) []Problem {
	str, ok := v.(string)
	if !ok {
		return problemf(nil, "must be a string, got %s", kind(v))
	}
	var ps []Problem
	n := utf8.RuneCountInString(str)
	if rules.MinLength != nil && n < *rules.MinLength {
		ps = problemf(ps, "must be at least %d characters", *rules.MinLength)
	}
	if rules.MaxLength != nil && n > *rules.MaxLength {
		ps = problemf(ps, "must be at most %d characters", *rules.MaxLength)
	}
	if rules.Pattern != "" {
		if re, err := regexp.Compile(rules.Pattern); err == nil && !re.MatchString(str) {
			ps = problemf(ps, "must match pattern %s", rules.Pattern)
		}
	}
	switch t {
	case String:
		if strings.ContainsAny(str, "\r\n") {
			ps = problemf(ps, "must be a single line (use textarea for several)")
		}
	case Email:
		if a, err := mail.ParseAddress(str); err != nil || a.Address != str {
			ps = problemf(ps, "must be an email address like name@example.com")
		}
	case URL:
		if u, err := url.Parse(str); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps = problemf(ps, "must be an absolute http or https URL")
		}
	case Phone:
		if !e164.MatchString(str) {
			ps = problemf(ps, "must be a phone number in E.164 form, like +14155550123")
		}
	}
	return ps
}

func validateNumber(rules *Validation, v any) []Problem {
	f, ok := v.(float64)
	if n, isNumber := v.(json.Number); isNumber {
		var err error
		f, err = n.Float64()
		ok = err == nil
	}
	if !ok {
		return problemf(nil, "must be a number, got %s", kind(v))
	}
	var ps []Problem
	if rules.Min != nil && f < *rules.Min {
		ps = problemf(ps, "must be at least %v", *rules.Min)
	}
	if rules.Max != nil && f > *rules.Max {
		ps = problemf(ps, "must be at most %v", *rules.Max)
	}
	return ps
}

// validateTime checks a date or date-time string in layout; notString
// takes the kind of a value that is not a string.
func validateTime(v any, layout, notString, badLayout string) []Problem {
	str, ok := v.(string)
	if !ok {
		return problemf(nil, notString, kind(v))
	}
	if _, err := time.Parse(layout, str); err != nil {
		return problemf(nil, "%s", badLayout)
	}
	return nil
}

func validateMultiSelect(rules *Validation, v any) []Problem {
	arr, ok := v.([]any)
	if !ok {
		return problemf(nil, "must be an array of options, got %s", kind(v))
	}
	var ps []Problem
	seen := map[string]bool{}
	for _, e := range arr {
		str, ok := e.(string)
		if !ok || !slices.Contains(rules.Options, str) {
			ps = problemf(ps, "every item must be one of %s", strings.Join(rules.Options, ", "))
			break
		}
		if seen[str] {
			ps = problemf(ps, "option %q is chosen twice", str)
			break
		}
		seen[str] = true
	}
	if rules.MinLength != nil && len(arr) < *rules.MinLength {
		ps = problemf(ps, "must have at least %d items", *rules.MinLength)
	}
	if rules.MaxLength != nil && len(arr) > *rules.MaxLength {
		ps = problemf(ps, "must have at most %d items", *rules.MaxLength)
	}
	return ps
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Scope tells where an effective field comes from.
type Scope string

// The scopes of an effective field.
const (
	ScopeGlobal Scope = "global"
	ScopeTenant Scope = "tenant"
)

// Field is one field of an effective schema.
type Field struct {
	ID     string
	Key    string
	Label  string
	Schema Schema
	Scope  Scope
}

// Merge returns the effective fields of a group for one tenant: global
// fields first, then tenant fields whose keys do not clash (a clash cannot be
// stored, but a global field wins if one ever appears).
func Merge(global, tenant []Field) []Field {
	out := make([]Field, 0, len(global)+len(tenant))
	keys := make(map[string]bool, len(global))
	for _, f := range global {
		f.Scope = ScopeGlobal
		keys[f.Key] = true
		out = append(out, f)
	}
	for _, f := range tenant {
		if keys[f.Key] {
			continue
		}
		f.Scope = ScopeTenant
		out = append(out, f)
	}
	return out
}

// keyPattern admits snake_case (company_size) and camelCase (dealValue)
// alike, as the host's other products name their properties, so a host
// can keep its names. Keys stay identifiers (a letter, then letters, digits
// and _): they appear unquoted in CEL (entity.values.dealValue) and in
// template paths ({{entity.values.dealValue}}). They are case-sensitive, as
// JSON member names are: dealValue and dealvalue are two keys.
var keyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// ValidKey reports whether k is acceptable as a field or field group key:
// letters, digits and underscores, starting with a letter, at most 64
// characters.
func ValidKey(k string) bool { return keyPattern.MatchString(k) }

// KeyRule describes ValidKey for error messages and documentation.
const KeyRule = "must start with a letter and hold only letters, digits and _, at most 64 characters"
