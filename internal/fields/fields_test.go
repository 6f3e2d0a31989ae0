package fields_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/fields"
)

func ptr[T any](v T) *T { return &v }

// schema decodes a schema from JSON, as the API receives it.
func schema(t *testing.T, text string) fields.Schema {
	t.Helper()
	var s fields.Schema
	require.NoError(t, json.Unmarshal([]byte(text), &s), text)
	return s
}

// value decodes a value from JSON, as the API receives it.
func value(t *testing.T, text string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(text), &v), text)
	return v
}

func paths(ps []fields.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Path
	}
	return out
}

func TestCheckAcceptsEveryTypeWithItsRules(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		`{"type":"string","validation":{"required":true,"minLength":1,"maxLength":10,"pattern":"^[a-z]+$","unique":true},"ui":{"placeholder":"p","helpText":"h"}}`,
		`{"type":"textarea","validation":{"minLength":0,"maxLength":0}}`,
		`{"type":"number","validation":{"min":-1.5,"max":-1.5,"unique":true}}`,
		`{"type":"number","validation":{"min":0}}`,
		`{"type":"boolean","validation":{"required":true}}`,
		`{"type":"date","validation":{"unique":true}}`,
		`{"type":"datetime"}`,
		`{"type":"select","validation":{"options":["a"],"unique":true}}`,
		`{"type":"multiselect","validation":{"options":["a","b"],"minLength":1,"maxLength":2}}`,
		`{"type":"email","validation":{"pattern":"@example\\.com$","unique":true}}`,
		`{"type":"url","validation":{"maxLength":2000}}`,
		`{"type":"phone","validation":{"pattern":"^\\+49"}}`,
		`{"type":"json","validation":{"required":true}}`,
	} {
		s := schema(t, text)
		require.Empty(t, s.Check(), text)
	}
	require.Len(t, fields.Types, 12)
	for _, typ := range fields.Types {
		s := fields.Schema{Type: typ}
		if typ == fields.Select || typ == fields.MultiSelect {
			s.Validation.Options = []string{"x"}
		}
		require.Empty(t, s.Check(), typ)
	}
}

func TestCheckRefusesBadSchemas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		schema string
		paths  []string
	}{
		{"UnknownType", `{"type":"money"}`, []string{"type"}},
		{"NoType", `{}`, []string{"type"}},
		{"TypeInCapitals", `{"type":"String"}`, []string{"type"}},
		{"LengthOnNumber", `{"type":"number","validation":{"minLength":1}}`, []string{"validation.minLength"}},
		{"LengthOnBoolean", `{"type":"boolean","validation":{"maxLength":1}}`, []string{"validation.minLength"}},
		{"LengthOnDate", `{"type":"date","validation":{"maxLength":10}}`, []string{"validation.minLength"}},
		{"LengthOnSelect", `{"type":"select","validation":{"options":["a"],"maxLength":1}}`, []string{"validation.minLength"}},
		{"LengthOnJSON", `{"type":"json","validation":{"maxLength":100}}`, []string{"validation.minLength"}},
		{"MinLengthAboveMaxLength", `{"type":"string","validation":{"minLength":5,"maxLength":4}}`, []string{"validation.minLength"}},
		{"MinOnString", `{"type":"string","validation":{"min":1}}`, []string{"validation.min"}},
		{"MaxOnDate", `{"type":"date","validation":{"max":1}}`, []string{"validation.min"}},
		{"MinAboveMax", `{"type":"number","validation":{"min":2,"max":1}}`, []string{"validation.min"}},
		{"PatternOnNumber", `{"type":"number","validation":{"pattern":"1"}}`, []string{"validation.pattern"}},
		{"PatternOnSelect", `{"type":"select","validation":{"options":["a"],"pattern":"a"}}`, []string{"validation.pattern"}},
		{"PatternNotRE2", `{"type":"string","validation":{"pattern":"(?=a)"}}`, []string{"validation.pattern"}},
		{"PatternUnbalanced", `{"type":"textarea","validation":{"pattern":"("}}`, []string{"validation.pattern"}},
		{"SelectWithoutOptions", `{"type":"select"}`, []string{"validation.options"}},
		{"MultiselectWithoutOptions", `{"type":"multiselect","validation":{"options":[]}}`, []string{"validation.options"}},
		{"OptionTwice", `{"type":"select","validation":{"options":["a","b","a"]}}`, []string{"validation.options"}},
		{"OptionsOnString", `{"type":"string","validation":{"options":["a"]}}`, []string{"validation.options"}},
		{"UniqueJSON", `{"type":"json","validation":{"unique":true}}`, []string{"validation.unique"}},
		{"UniqueMultiselect", `{"type":"multiselect","validation":{"options":["a"],"unique":true}}`, []string{"validation.unique"}},
		{"UniqueBoolean", `{"type":"boolean","validation":{"unique":true}}`, []string{"validation.unique"}},
		{"SeveralProblems", `{"type":"number","validation":{"min":3,"max":1,"pattern":"x","options":["a"]}}`, []string{"validation.min", "validation.pattern", "validation.options"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := schema(t, c.schema)
			ps := s.Check()
			require.Equal(t, c.paths, paths(ps))
			for _, p := range ps {
				require.NotEmpty(t, p.Message)
				require.Equal(t, p.Path+": "+p.Message, p.Error())
			}
		})
	}
}

func TestValidateValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		schema string
		valid  []string // JSON values
		bad    []string
	}{
		{"String", `{"type":"string"}`,
			[]string{`""`, `"Acme"`, `"ü 😀 <&>"`, `"tab\tinside"`},
			[]string{`1`, `true`, `["a"]`, `{"a":"b"}`, `"two\nlines"`, `"carriage\rreturn"`}},
		{"StringLength", `{"type":"string","validation":{"minLength":2,"maxLength":3}}`,
			[]string{`"ab"`, `"abc"`, `"üü"`, `"😀😀😀"`},
			[]string{`""`, `"a"`, `"abcd"`, `"😀"`, `"üüüü"`}},
		{"StringPattern", `{"type":"string","validation":{"pattern":"^INS-[0-9]+$"}}`,
			[]string{`"INS-1"`, `"INS-2231"`},
			[]string{`"ins-1"`, `"INS-"`, `"xINS-1"`, `"INS-1 "`}},
		{"StringUnanchoredPattern", `{"type":"string","validation":{"pattern":"[0-9]"}}`,
			[]string{`"a1b"`},
			[]string{`"abc"`}},
		{"Textarea", `{"type":"textarea","validation":{"maxLength":12}}`,
			[]string{`"one\ntwo\r\n"`, `""`},
			[]string{`"thirteen char"`, `5`, `null`}},
		{"Number", `{"type":"number"}`,
			[]string{`0`, `-1.5`, `1e300`, `42`},
			[]string{`"42"`, `true`, `[1]`, `{}`}},
		{"NumberRange", `{"type":"number","validation":{"min":1,"max":10}}`,
			[]string{`1`, `10`, `5.5`},
			[]string{`0.999`, `10.001`, `-1`, `1e3`}},
		{"Boolean", `{"type":"boolean"}`,
			[]string{`true`, `false`},
			[]string{`"true"`, `0`, `1`, `[]`}},
		{"Date", `{"type":"date"}`,
			[]string{`"2026-04-04"`, `"2024-02-29"`, `"0001-01-01"`},
			[]string{`"2026-4-4"`, `"2025-02-29"`, `"2026-13-01"`, `"2026-04-04T10:00:00Z"`, `"04/04/2026"`, `20260404`, `""`}},
		{"DateTime", `{"type":"datetime"}`,
			[]string{`"2026-04-04T10:00:00Z"`, `"2026-04-04T10:00:00.123456+02:00"`, `"2026-04-04T10:00:00-08:00"`},
			[]string{`"2026-04-04"`, `"2026-04-04T10:00:00"`, `"2026-04-04 10:00:00Z"`, `"2026-04-04T25:00:00Z"`, `1712224800`, `""`}},
		{"Select", `{"type":"select","validation":{"options":["1-10","51-200"]}}`,
			[]string{`"1-10"`, `"51-200"`},
			[]string{`"11-50"`, `""`, `"1-10 "`, `["1-10"]`, `1`}},
		{"Multiselect", `{"type":"multiselect","validation":{"options":["a","b","c"]}}`,
			[]string{`[]`, `["a"]`, `["c","a"]`, `["a","b","c"]`},
			[]string{`"a"`, `["d"]`, `["a","a"]`, `[1]`, `[null]`, `[["a"]]`, `{"a":true}`}},
		{"MultiselectCount", `{"type":"multiselect","validation":{"options":["a","b","c"],"minLength":1,"maxLength":2}}`,
			[]string{`["a"]`, `["a","b"]`},
			[]string{`[]`, `["a","b","c"]`}},
		{"Email", `{"type":"email"}`,
			[]string{`"ops@example.com"`, `"first.last+tag@sub.example.co.uk"`},
			[]string{`"ops.example.com"`, `"Ops <ops@example.com>"`, `"ops@"`, `"@example.com"`, `" ops@example.com"`, `""`, `1`}},
		{"EmailPattern", `{"type":"email","validation":{"pattern":"@example\\.com$"}}`,
			[]string{`"a@example.com"`},
			[]string{`"a@example.org"`}},
		{"URL", `{"type":"url"}`,
			[]string{`"https://example.com"`, `"http://localhost:8080/a?b=c#d"`, `"https://例え.jp/パス"`},
			[]string{`"ftp://example.com/x"`, `"example.com"`, `"/relative/path"`, `"https://"`, `"mailto:a@example.com"`, `"javascript:alert(1)"`, `""`, `true`}},
		{"Phone", `{"type":"phone"}`,
			[]string{`"+14155550123"`, `"+491701234567"`, `"+12"`, `"+123456789012345"`},
			[]string{`"14155550123"`, `"+0415550123"`, `"+1 415 555 0123"`, `"+1-415-555-0123"`, `"+1"`, `"+1234567890123456"`, `"+1415555012a"`, `""`, `14155550123`}},
		{"PhonePattern", `{"type":"phone","validation":{"pattern":"^\\+49"}}`,
			[]string{`"+491701234567"`},
			[]string{`"+14155550123"`}},
		{"JSON", `{"type":"json"}`,
			[]string{`{"a":[1,{"b":null}]}`, `[]`, `"text"`, `0`, `false`},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := schema(t, c.schema)
			require.Empty(t, s.Check(), "the case's schema is valid")
			for _, v := range c.valid {
				require.Empty(t, s.ValidateValue(value(t, v)), "%s should accept %s", c.schema, v)
			}
			for _, v := range c.bad {
				ps := s.ValidateValue(value(t, v))
				require.NotEmpty(t, ps, "%s should refuse %s", c.schema, v)
				for _, p := range ps {
					require.Empty(t, p.Path, "value problems are about the value itself")
					require.NotEmpty(t, p.Message)
					require.Equal(t, p.Message, p.Error())
				}
			}
		})
	}
}

func TestValidateValueExplainsTheRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		schema fields.Schema
		value  any
		want   string
	}{
		{fields.Schema{Type: fields.Number}, "42", "must be a number, got a string"},
		{fields.Schema{Type: fields.String}, 1.0, "must be a string, got a number"},
		{fields.Schema{Type: fields.Boolean}, []any{}, "must be true or false, got an array"},
		{fields.Schema{Type: fields.Select, Validation: fields.Validation{Options: []string{"a", "b"}}}, map[string]any{}, "must be one of the options, got an object"},
		{fields.Schema{Type: fields.Select, Validation: fields.Validation{Options: []string{"a", "b"}}}, "c", "must be one of a, b"},
		{fields.Schema{Type: fields.Number, Validation: fields.Validation{Min: ptr(1.5)}}, 1.0, "must be at least 1.5"},
		{fields.Schema{Type: fields.Number, Validation: fields.Validation{Max: ptr(10.0)}}, 11.0, "must be at most 10"},
		{fields.Schema{Type: fields.Textarea, Validation: fields.Validation{MinLength: ptr(3)}}, "ab", "must be at least 3 characters"},
		{fields.Schema{Type: fields.Textarea, Validation: fields.Validation{MaxLength: ptr(1)}}, "ab", "must be at most 1 characters"},
		{fields.Schema{Type: fields.MultiSelect, Validation: fields.Validation{Options: []string{"a"}, MaxLength: ptr(0)}}, []any{"a"}, "must have at most 0 items"},
		{fields.Schema{Type: fields.MultiSelect, Validation: fields.Validation{Options: []string{"a"}}}, []any{"a", "a"}, `option "a" is chosen twice`},
		{fields.Schema{Type: fields.Phone}, "0415", "must be a phone number in E.164 form, like +14155550123"},
		{fields.Schema{Type: fields.Date}, true, "must be a date string YYYY-MM-DD, got a boolean"},
		{fields.Schema{Type: fields.DateTime}, nil, "must be an RFC 3339 date-time string, got null"},
	}
	for _, c := range cases {
		ps := c.schema.ValidateValue(c.value)
		require.NotEmpty(t, ps, "%v", c.value)
		var msgs []string
		for _, p := range ps {
			msgs = append(msgs, p.Message)
		}
		require.Contains(t, msgs, c.want)
	}
}

func TestValidateValueReportsEveryBrokenRule(t *testing.T) {
	t.Parallel()
	s := fields.Schema{Type: fields.String, Validation: fields.Validation{MinLength: ptr(5), Pattern: "^[0-9]+$"}}
	require.Len(t, s.ValidateValue("ab\n"), 3, "too short, not matching, not one line")
}

func TestSchemaJSONOmitsEmptyParts(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(fields.Schema{Type: fields.String})
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"string"}`, string(b))
	in := `{"type":"number","validation":{"required":true,"min":0,"max":0,"unique":true},"ui":{"placeholder":"0","helpText":"h"}}`
	b, err = json.Marshal(schema(t, in))
	require.NoError(t, err)
	require.JSONEq(t, in, string(b), "zero bounds are kept")
}

func TestMergePutsGlobalFieldsFirstAndGlobalKeysWin(t *testing.T) {
	t.Parallel()
	global := []fields.Field{{ID: "gf_1", Key: "b"}, {ID: "gf_2", Key: "a"}}
	tenant := []fields.Field{{ID: "tf_1", Key: "c"}, {ID: "tf_2", Key: "a"}, {ID: "tf_3", Key: "d"}}
	got := fields.Merge(global, tenant)
	require.Equal(t, []fields.Field{
		{ID: "gf_1", Key: "b", Scope: fields.ScopeGlobal},
		{ID: "gf_2", Key: "a", Scope: fields.ScopeGlobal},
		{ID: "tf_1", Key: "c", Scope: fields.ScopeTenant},
		{ID: "tf_3", Key: "d", Scope: fields.ScopeTenant},
	}, got)
	require.Empty(t, fields.Merge(nil, nil))
	require.Empty(t, global[0].Scope, "the inputs are not modified")
	require.Empty(t, tenant[0].Scope, "the inputs are not modified")
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"a", "company_size", "x1", "a_b_c_", strings.Repeat("a", 64), "dealValue", "Company", "HTTPStatus2"} {
		require.True(t, fields.ValidKey(k), k)
	}
	for _, k := range []string{"", "1a", "_a", "company-size", "deal.value", "company size", "ä", strings.Repeat("a", 65), "a\n"} {
		require.False(t, fields.ValidKey(k), "%q", k)
	}
}
