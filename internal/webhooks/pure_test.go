package webhooks_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// The pure parts of webhooks: filters. No database, no network. Signing,
// retry timing, schedules and secrets are tested in internal/outbound, type
// patterns in internal/events.

// payload decodes JSON the way events reach filters.
func payload(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestCompileFilterMatchesBooleanExpressionsOnThePayload(t *testing.T) {
	t.Parallel()

	ev := payload(t, `{"event":"record.updated","data":{"id":"r1","name":"Alice","amount":150,"tags":["vip","eu"],"active":true}}`)

	tests := []struct {
		expr string
		want bool
	}{
		{`event.event == "record.updated"`, true},
		{`event.event == "record.created"`, false},
		{`event.event.startsWith("record.")`, true},
		{`event.data.amount > 100`, true}, // JSON numbers are doubles; int literals still compare
		{`event.data.amount > 200.0`, false},
		{`event.data.amount == 150`, true},
		{`"vip" in event.data.tags`, true},
		{`"us" in event.data.tags`, false},
		{`event.data.active && event.data.name == "Alice"`, true},
		{`has(event.data.name)`, true},
		{`has(event.data.missing)`, false},
		{`event.data.tags.exists(t, t == "eu")`, true},
	}
	for _, tt := range tests {
		f, err := webhooks.CompileFilter(tt.expr)
		require.NoError(t, err, "filter %s", tt.expr)
		got, err := f.Eval(ev)
		require.NoError(t, err, "filter %s", tt.expr)
		require.Equal(t, tt.want, got, "filter %s", tt.expr)
	}
}

// The README's endpoint takes field_value.* and TASK_COMPLETED with the
// filter event.fieldKey != "internal_note". A host event has no fieldKey;
// read as null, the filter says what its reader expects instead of failing.
func TestFilterReadsPayloadKeysTheEventDoesNotCarryAsNull(t *testing.T) {
	t.Parallel()

	host := payload(t, `{"event":"TASK_COMPLETED","eventId":"evt_1","timestamp":"2026-04-04T10:00:00Z","data":{"task":"t1"}}`)
	note := payload(t, `{"event":"field_value.saved","eventId":"evt_2","timestamp":"2026-04-04T10:00:00Z","fieldKey":"internal_note","value":"x","previousValue":null}`)
	other := payload(t, `{"event":"field_value.saved","eventId":"evt_3","timestamp":"2026-04-04T10:00:00Z","fieldKey":"stage","value":"won","previousValue":null}`)

	tests := []struct {
		expr string
		ev   map[string]any
		want bool
	}{
		{`event.fieldKey != "internal_note"`, host, true},
		{`event.fieldKey != "internal_note"`, note, false},
		{`event.fieldKey != "internal_note"`, other, true},
		{`event.fieldKey == "internal_note"`, host, false},
		{`event.fieldKey == null`, host, true},
		{`event.fieldKey == null`, other, false},
		{`event.data == null`, other, true},
		{`event.value == "won" || event.data.task == "t1"`, host, true},
		{`event.previousValue == null`, other, true},
	}
	for _, tt := range tests {
		f, err := webhooks.CompileFilter(tt.expr)
		require.NoError(t, err, "filter %s", tt.expr)
		got, err := f.Eval(tt.ev)
		require.NoError(t, err, "filter %s on %s", tt.expr, tt.ev["event"])
		require.Equal(t, tt.want, got, "filter %s on %s", tt.expr, tt.ev["event"])
	}
}

func TestCompileFilterRefusesInvalidExpressions(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, expr, wantErr string
	}{
		{"syntax error", `event.event ==`, "Syntax error"},
		{"undeclared variable", `payload.event == "x"`, "undeclared reference"},
		{"arithmetic", `1 + 2`, "boolean expression"},
		{"string", `"record.updated"`, "boolean expression"},
		{"map field", `event.data.tags.map(t, t + "!")`, "boolean expression"},
		{"bad regex, global", `matches(event.event, '(')`, "missing closing )"},
		{"bad regex, member", `event.data.name.matches('[a-')`, "missing closing ]"},
		{"nested loops over literals", `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, ` +
			`[1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, true))))))`, "too expensive"},
		{"nested loops over the payload", `event.data.tags.all(a, event.data.tags.all(b, event.data.tags.all(c, true)))`, "too expensive"},
	}
	for _, tt := range tests {
		f, err := webhooks.CompileFilter(tt.expr)
		require.Error(t, err, "%s: %s", tt.name, tt.expr)
		require.Nil(t, f)
		require.Contains(t, err.Error(), tt.wantErr, "%s: the error says what is wrong", tt.name)
	}
}

func TestFilterRuntimeErrorIsReturned(t *testing.T) {
	t.Parallel()

	ev := payload(t, `{"event":"record.updated","data":{"name":"Alice"}}`)

	for _, expr := range []string{
		`event.data.missing == "x"`,    // no such key
		`event.nodata.name == "Alice"`, // no such key on the way down
		`event.data.name > 5`,          // no overload for string > int
		`!(event.data.missing == "x")`, // negating an error is still an error
		`event.data.name`,              // dynamic, so it compiles, but is a string
	} {
		f, err := webhooks.CompileFilter(expr)
		require.NoError(t, err, "filter %s compiles: the payload is dynamic", expr)
		got, err := f.Eval(ev)
		require.Error(t, err, "filter %s fails at runtime, and says so", expr)
		require.False(t, got, "filter %s fails at runtime, so the event does not go out", expr)
	}
}

// The check at save assumes payload lists of up to 100 items; a longer one
// can still reach the limit at run time, which stops the filter (an error)
// instead of stalling fan-out.
func TestFilterOverItsCostLimitAtRunTimeIsAnError(t *testing.T) {
	t.Parallel()

	f, err := webhooks.CompileFilter(`event.data.tags.all(a, a.startsWith("t"))`)
	require.NoError(t, err, "at 100 tags the filter is well within the limit")

	tags := make([]any, 100)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	got, err := f.Eval(map[string]any{"data": map[string]any{"tags": tags}})
	require.NoError(t, err)
	require.True(t, got)

	tags = make([]any, 10_000)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	got, err = f.Eval(map[string]any{"data": map[string]any{"tags": tags}})
	require.ErrorContains(t, err, "cost limit exceeded")
	require.False(t, got)
}
