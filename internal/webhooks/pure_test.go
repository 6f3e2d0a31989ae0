package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/webhooks"
)

// The pure parts of webhooks: signing, retry timing, schedules, type
// patterns, filters and secrets. No database, no network.

// standardHeaders are the Standard Webhooks headers a receiver gets.
func standardHeaders(msgID string, ts int64, signature string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", signature)
	return h
}

func TestSignHexIsLowercaseHMACKeyedWithTheWholeSecretString(t *testing.T) {
	t.Parallel()

	secret := webhooks.NewSecret()
	body := []byte(`{"event":"record.updated","data":{"id":"r1"}}`)

	sigs, err := webhooks.Sign([]string{secret}, "msg_1", 1_700_000_000, body)
	require.NoError(t, err)

	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	require.Equal(t, hex.EncodeToString(m.Sum(nil)), sigs.Hex,
		"the hex signature is keyed with the secret string as given, whsec_ prefix included, over the body alone")
	require.Equal(t, strings.ToLower(sigs.Hex), sigs.Hex)
	require.Len(t, sigs.Hex, 64)
}

func TestSignStandardVerifiesWithTheOfficialLibrary(t *testing.T) {
	t.Parallel()

	secret := webhooks.NewSecret()
	body := []byte(`{"event":"record.updated","data":{"id":"r1"}}`)
	ts := time.Now().Unix()

	sigs, err := webhooks.Sign([]string{secret}, "msg_1", ts, body)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sigs.Standard, "v1,"), "signature %q", sigs.Standard)

	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(body, standardHeaders("msg_1", ts, sigs.Standard)))

	// The signature covers the id, the timestamp and the body.
	require.ErrorIs(t, wh.Verify(body, standardHeaders("msg_2", ts, sigs.Standard)), standardwebhooks.ErrNoMatchingSignature)
	require.ErrorIs(t, wh.Verify(body, standardHeaders("msg_1", ts-1, sigs.Standard)), standardwebhooks.ErrNoMatchingSignature)
	require.ErrorIs(t, wh.Verify([]byte(`{}`), standardHeaders("msg_1", ts, sigs.Standard)), standardwebhooks.ErrNoMatchingSignature)
}

func TestSignStandardIsKeyedWithTheDecodedSecret(t *testing.T) {
	t.Parallel()

	secret := webhooks.NewSecret()
	body := []byte(`{"a":1}`)

	sigs, err := webhooks.Sign([]string{secret}, "msg_1", 1_700_000_000, body)
	require.NoError(t, err)

	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("msg_1.1700000000." + string(body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)), sigs.Standard)
}

func TestSignTwoSecretsGiveTwoEntriesNewestFirst(t *testing.T) {
	t.Parallel()

	newest, previous := webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"event":"field.created"}`)
	ts := time.Now().Unix()

	both, err := webhooks.Sign([]string{newest, previous}, "msg_1", ts, body)
	require.NoError(t, err)
	onlyNewest, err := webhooks.Sign([]string{newest}, "msg_1", ts, body)
	require.NoError(t, err)
	onlyPrevious, err := webhooks.Sign([]string{previous}, "msg_1", ts, body)
	require.NoError(t, err)

	require.Equal(t, onlyNewest.Hex+" "+onlyPrevious.Hex, both.Hex)
	require.Equal(t, onlyNewest.Standard+" "+onlyPrevious.Standard, both.Standard)

	// A receiver holding either secret accepts the request during rotation;
	// one holding neither does not.
	for _, secret := range []string{newest, previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, standardHeaders("msg_1", ts, both.Standard)))
	}
	other, err := standardwebhooks.NewWebhook(webhooks.NewSecret())
	require.NoError(t, err)
	require.ErrorIs(t, other.Verify(body, standardHeaders("msg_1", ts, both.Standard)), standardwebhooks.ErrNoMatchingSignature)
}

func TestSignRefusesASecretThatIsNotBase64(t *testing.T) {
	t.Parallel()

	for _, secrets := range [][]string{
		{"whsec_not base64!"},
		{webhooks.NewSecret(), "whsec_%%%"},
	} {
		sigs, err := webhooks.Sign(secrets, "msg_1", 1_700_000_000, []byte(`{}`))
		require.Error(t, err, "secrets %q", secrets)
		require.Contains(t, err.Error(), "base64")
		require.Equal(t, webhooks.Signatures{}, sigs, "no partial signatures on error")
	}
}

func TestNextAttemptAtIsFalseOnceTheScheduleIsUsedUp(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	schedule := []time.Duration{time.Minute, time.Hour}

	for _, attempts := range []int{0, 3, 10} {
		_, ok := webhooks.NextAttemptAt(now, schedule, attempts, 0, 0.5)
		require.False(t, ok, "attempts %d", attempts)
	}
	_, ok := webhooks.NextAttemptAt(now, nil, 1, 0, 0.5)
	require.False(t, ok, "an empty schedule means no retries")

	next, ok := webhooks.NextAttemptAt(now, schedule, 2, 0, 0.5)
	require.True(t, ok, "the last entry of the schedule is still used")
	require.Equal(t, now.Add(time.Hour), next)
}

func TestNextAttemptAtJittersWithinTenPercent(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	base := 10 * time.Minute
	schedule := []time.Duration{base}

	at := func(jitter float64) time.Duration {
		next, ok := webhooks.NextAttemptAt(now, schedule, 1, 0, jitter)
		require.True(t, ok)
		return next.Sub(now)
	}

	require.InDelta(t, float64(9*time.Minute), float64(at(0)), float64(time.Microsecond), "jitter 0 is 0.9× the scheduled wait")
	require.Equal(t, base, at(0.5), "jitter 0.5 is the scheduled wait itself")
	high := at(0.999)
	require.InDelta(t, float64(11*time.Minute), float64(high), float64(time.Second), "jitter near 1 is about 1.1× the scheduled wait")
	require.Less(t, high, 11*time.Minute, "jitter stays below 1.1×")
}

func TestNextAttemptAtHonoursRetryAfterWithinOneToTwoTimesTheSchedule(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	base := time.Minute

	tests := []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"below the scheduled wait is raised to it", 10 * time.Second, base},
		{"in between is honoured", 90 * time.Second, 90 * time.Second},
		{"exactly twice is honoured", 2 * base, 2 * base},
		{"above twice is capped at twice", time.Hour, 2 * base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			// Jitter 0 would give 0.9×: Retry-After replaces the jittered wait.
			next, ok := webhooks.NextAttemptAt(now, []time.Duration{base}, 1, tt.retryAfter, 0)
			require.True(t, ok)
			require.Equal(t, tt.want, next.Sub(now))
		})
	}
}

func TestParseScheduleAcceptsOneSecondToSevenDays(t *testing.T) {
	t.Parallel()

	got, err := webhooks.ParseSchedule([]string{"1s", "5m", "2h30m", "168h"})
	require.NoError(t, err)
	require.Equal(t, []time.Duration{time.Second, 5 * time.Minute, 150 * time.Minute, 7 * 24 * time.Hour}, got)

	got, err = webhooks.ParseSchedule(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestParseScheduleRefusesOutOfBoundsAndNonDurations(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in      string
		wantErr string
	}{
		{"999ms", "between 1s and 168h"},
		{"0s", "between 1s and 168h"},
		{"-1m", "between 1s and 168h"},
		{"168h0m1s", "between 1s and 168h"},
		{"soon", `"soon" is not a duration`},
		{"5", `"5" is not a duration`},
		{"", `"" is not a duration`},
	}
	for _, tt := range tests {
		_, err := webhooks.ParseSchedule([]string{"1m", tt.in})
		require.Error(t, err, "schedule entry %q", tt.in)
		require.Contains(t, err.Error(), tt.wantErr)
		require.Contains(t, err.Error(), "retrySchedule[1]", "the error names the entry")
	}
}

func TestMatchTypeSelectsExactPrefixAndWildcard(t *testing.T) {
	t.Parallel()

	tests := []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"field.created"}, "field.created", true},
		{[]string{"field.created"}, "field.updated", false},
		{[]string{"field.*"}, "field.created", true},
		{[]string{"field.*"}, "field.value.saved", true},
		{[]string{"field.*"}, "fieldx.y", false}, // no partial-word prefix match
		{[]string{"field.*"}, "field", false},
		{[]string{"field*"}, "fieldx", false}, // only ".*" is a wildcard
		{[]string{"*"}, "anything.at.all", true},
		{[]string{"record.updated", "field.*"}, "field.deleted", true},
		{[]string{"record.updated", "field.*"}, "record.created", false},
		{nil, "field.created", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, webhooks.MatchType(tt.patterns, tt.typ), "patterns %q, type %q", tt.patterns, tt.typ)
	}
}

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

func TestNewSecretIsWhsecAndBase64Of32RandomBytes(t *testing.T) {
	t.Parallel()

	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	require.NotEqual(t, a, b)
	for _, s := range []string{a, b} {
		require.True(t, strings.HasPrefix(s, "whsec_"), "secret %q", s)
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		require.NoError(t, err, "secret %q", s)
		require.Len(t, key, 32)

		_, err = standardwebhooks.NewWebhook(s)
		require.NoError(t, err, "the official library accepts the secret")
	}
}
