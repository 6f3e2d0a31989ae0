package events_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
)

// stringifyInNode returns, for each JSON text, what
// JSON.stringify(JSON.parse(text)) prints in Node.js.
func stringifyInNode(t *testing.T, texts []string) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node (Node.js) must be on PATH: these tests compare events.Encode with JavaScript's JSON.stringify byte for byte")
	in, err := json.Marshal(texts)
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), node, "-e", `
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => { input += c; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((s) => JSON.stringify(JSON.parse(s)));
  process.stdout.write(JSON.stringify(out));
});`)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node: %s", stderr.String())
	var got []string
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, len(texts))
	return got
}

// encodeJSON decodes a JSON text as the API does and encodes it.
func encodeJSON(t *testing.T, text string) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(text), &v), text)
	b, err := events.Encode(v)
	require.NoError(t, err, text)
	return string(b)
}

// JavaScript keeps the insertion order of keys that are not array indexes,
// which a Go map has lost; Encode sorts them. The inputs list such keys in
// sorted order, so both orders agree.
var encodeInputs = []string{
	`"plain"`,
	`"<script>alert('x')</script> & friends"`,
	`"line\u2028separator\u2029paragraph"`,
	"\"raw\u2028and\u2029\"",
	`"\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f\u007f"`,
	`"quote \" backslash \\ slash \/ /"`,
	`"emoji 😀 \ud83d\ude00 flag 🇩🇪 family 👨‍👩‍👧"`,
	`"é ü ß 中文 עברית العربية ﷽"`,
	`"\u00e9\u4e2d\uffff\ufeff"`,
	`""`,
	`0`, `-0`, `1`, `-1`, `0.1`, `0.2`, `0.30000000000000004`, `1.5`, `-2.5e-3`,
	`100`, `1e2`, `123456789`, `1e20`, `1e21`, `1.5e21`, `1e-6`, `1e-7`, `0.000001`, `0.0000001`,
	`1.23e-18`, `5e-324`, `-5e-324`, `2.2250738585072014e-308`, `1.7976931348623157e308`,
	`12345678901234567890`, `9007199254740993`, `-9007199254740991`, `4294967296`, `1e300`, `123.456e5`,
	`true`, `false`, `null`,
	`[]`, `{}`, `[[]]`, `[{}]`,
	`[1,"two",3.5,true,null,{"a":[{"b":{"c":[]}}]}]`,
	`{"a":{"b":{"c":{"d":{"e":[1,[2,[3,[4]]]]}}}}}`,
	`{"10":"ten","2":"two","01":"zero-one","a":"A"}`,
	`{"a":2,"b":1,"1":3,"0":4}`,
	`{"4294967294":"max index","4294967295":"not an index","1":"one"}`,
	`{" 1":"space","-1":"neg","1":"int","1.0":"float","1e3":"exp"}`,
	`{"9007199254740993":"big","3":"three"}`,
	`{"<b>":"&amp;","é":"ü","\u2028":"sep","😀":"emoji"}`,
	`{"nested":{"a":null,"10":{"2":[{"1":true,"0":false}]},"z":1}}`,
	`{"x":[0.1,1e21,1e-7,-0,5e-324,12345678901234567890]}`,
	`  { "spaced" :  [ 1 , 2 ]  }  `,
}

// unsortedInputs have keys out of order: Encode's bytes differ from
// stringifying the input, but stringifying Encode's output keeps it.
var unsortedInputs = []string{
	`{"10":"ten","2":"two","a":"A","01":"zero-one"}`,
	`{"b":1,"a":2,"1":3,"0":4}`,
	`{"z":{"y":1,"x":2},"é":0,"e":1}`,
}

func TestEncodeMatchesJSONStringify(t *testing.T) {
	t.Parallel()
	want := stringifyInNode(t, encodeInputs)
	var encoded []string
	for i, in := range encodeInputs {
		got := encodeJSON(t, in)
		require.Equal(t, want[i], got, "input %s", in)
		encoded = append(encoded, got)
	}
	for _, in := range unsortedInputs {
		encoded = append(encoded, encodeJSON(t, in))
	}
	// A receiver that parses and re-stringifies a body gets the same bytes.
	require.Equal(t, encoded, stringifyInNode(t, encoded))
	require.Equal(t, `{"2":"two","10":"ten","01":"zero-one","a":"A"}`, encoded[len(encodeInputs)])
}

func TestEncodeKeepsObjectOrderExceptIndexKeys(t *testing.T) {
	t.Parallel()
	obj := events.Object{
		{Key: "z", Value: 1},
		{Key: "10", Value: "ten"},
		{Key: "a", Value: events.Object{{Key: "y", Value: nil}, {Key: "x", Value: []string{"<&>"}}}},
		{Key: "2", Value: 2.5},
		{Key: "02", Value: true},
	}
	b, err := events.Encode(obj)
	require.NoError(t, err)
	require.Equal(t, `{"2":2.5,"10":"ten","z":1,"a":{"y":null,"x":["<&>"]},"02":true}`, string(b))
	require.Equal(t, []string{string(b)}, stringifyInNode(t, []string{string(b)}))
}

func TestEncodeRawMessageAndStructsAreCanonical(t *testing.T) {
	t.Parallel()
	b, err := events.Encode(events.Object{
		{Key: "raw", Value: json.RawMessage(` { "b" : 1e-7 , "a" : "<\u2028>" } `)},
		{Key: "struct", Value: struct {
			Name string  `json:"name"`
			N    float64 `json:"n"`
			Tag  string  `json:"tag,omitempty"`
		}{Name: "a&b", N: 1e21}},
		{Key: "ints", Value: []any{int64(1) << 53, 7, float32(0.5)}},
		{Key: "number", Value: json.Number("1e-7")},
	})
	require.NoError(t, err)
	require.Equal(t, `{"raw":{"a":"<`+"\u2028"+`>","b":1e-7},"struct":{"n":1e+21,"name":"a&b"},"ints":[9007199254740992,7,0.5],"number":1e-7}`, string(b))

	_, err = events.Encode(json.RawMessage(`{"a":`))
	require.Error(t, err)
	_, err = events.Encode(json.Number("x"))
	require.Error(t, err)
	_, err = events.Encode(func() {})
	require.Error(t, err)
}

func TestNewEventPayloadStartsWithEventEventIDTimestamp(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 4, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))
	ev, err := events.New("field_value.saved", "sunrise-dental", at,
		events.Member{Key: "fieldKey", Value: "insurance_number"},
		events.Member{Key: "value", Value: "INS-<2231>"},
		events.Member{Key: "previousValue", Value: nil},
	)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(ev.ID, "evt_"), ev.ID)
	require.Equal(t, "field_value.saved", ev.Type)
	require.Equal(t, "sunrise-dental", ev.TenantID)
	require.Equal(t, time.Date(2026, 4, 4, 10, 0, 0, 123456000, time.UTC), ev.OccurredAt, "UTC, microseconds")
	require.Equal(t, `{"event":"field_value.saved","eventId":"`+ev.ID+`","timestamp":"2026-04-04T10:00:00.123456Z","tenantId":"sunrise-dental",`+
		`"fieldKey":"insurance_number","value":"INS-<2231>","previousValue":null}`, string(ev.Payload))
	require.Equal(t, []string{string(ev.Payload)}, stringifyInNode(t, []string{string(ev.Payload)}))

	vendor, err := events.New("field_group.created", "", at, events.Member{Key: "fieldGroup", Value: map[string]any{"key": "booking"}})
	require.NoError(t, err)
	require.Equal(t, `{"event":"field_group.created","eventId":"`+vendor.ID+`","timestamp":"2026-04-04T10:00:00.123456Z","fieldGroup":{"key":"booking"}}`, string(vendor.Payload))
	require.NotEqual(t, ev.ID, vendor.ID)
	require.Less(t, ev.ID, vendor.ID, "ids sort by creation")
}

func TestValidType(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]bool{
		"TASK_COMPLETED": true, "client.updated": true, "a": true, "~!@#$%^&*()": true, strings.Repeat("x", 128): true,
		"": false, "with space": false, "tab\t": false, "é": false, "del\x7f": false, strings.Repeat("x", 129): false,
	} {
		require.Equal(t, want, events.ValidType(typ), "%q", typ)
	}
}
