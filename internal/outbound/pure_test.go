package outbound_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/outbound"
)

// The pure parts of outbound: signing, retry timing, schedules and
// secrets. No database, no network.

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

	secret := outbound.NewSecret()
	body := []byte(`{"event":"record.updated","data":{"id":"r1"}}`)

	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}}, "msg_1", 1_700_000_000, body)
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

	secret := outbound.NewSecret()
	body := []byte(`{"event":"record.updated","data":{"id":"r1"}}`)
	ts := time.Now().Unix()

	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}}, "msg_1", ts, body)
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

	secret := outbound.NewSecret()
	body := []byte(`{"a":1}`)

	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}}, "msg_1", 1_700_000_000, body)
	require.NoError(t, err)

	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("msg_1.1700000000." + string(body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)), sigs.Standard)
}

func TestSignTwoSecretsGiveTwoStandardEntriesAndOneHexByTheNewest(t *testing.T) {
	t.Parallel()

	newest, previous := outbound.NewSecret(), outbound.NewSecret()
	body := []byte(`{"event":"field.created"}`)
	ts := time.Now().Unix()

	both, err := outbound.Sign(&outbound.Signing{Secrets: []string{newest, previous}}, "msg_1", ts, body)
	require.NoError(t, err)
	onlyNewest, err := outbound.Sign(&outbound.Signing{Secrets: []string{newest}}, "msg_1", ts, body)
	require.NoError(t, err)
	onlyPrevious, err := outbound.Sign(&outbound.Signing{Secrets: []string{previous}}, "msg_1", ts, body)
	require.NoError(t, err)

	require.Equal(t, onlyNewest.Hex, both.Hex, "the hex header holds one signature, by the newest secret, so a receiver comparing it whole keeps working")
	require.NotEqual(t, onlyPrevious.Hex, both.Hex)
	require.Equal(t, onlyNewest.Standard+" "+onlyPrevious.Standard, both.Standard)

	// A receiver holding either secret accepts the request during rotation;
	// one holding neither does not.
	for _, secret := range []string{newest, previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, standardHeaders("msg_1", ts, both.Standard)))
	}
	other, err := standardwebhooks.NewWebhook(outbound.NewSecret())
	require.NoError(t, err)
	require.ErrorIs(t, other.Verify(body, standardHeaders("msg_1", ts, both.Standard)), standardwebhooks.ErrNoMatchingSignature)
}

func TestSignHexHeaderFormsHoldTheSameHMAC(t *testing.T) {
	t.Parallel()

	secret := outbound.NewSecret()
	body := []byte(`{"event":"field_value.saved"}`)
	mac := func(msg string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(msg))
		return hex.EncodeToString(m.Sum(nil))
	}
	for format, want := range map[string]string{
		"":                            mac(string(body)),
		outbound.SignatureHex:         mac(string(body)),
		outbound.SignaturePrefixed:    "sha256=" + mac(string(body)),
		outbound.SignatureTimestamped: "t=1700000000,v1=" + mac("1700000000."+string(body)),
	} {
		sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret, outbound.NewSecret()}, Format: format}, "msg_1", 1_700_000_000, body)
		require.NoError(t, err, format)
		require.Equal(t, want, sigs.Hex, "format %q", format)
	}
	_, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}, Format: "base64"}, "msg_1", 1, body)
	require.Error(t, err)
}

func TestSignKeysAddV1aEntriesThatVerifyWithThePublicKey(t *testing.T) {
	t.Parallel()

	newest, err := outbound.ParseSigningKey(outbound.NewSigningKey())
	require.NoError(t, err)
	previous, err := outbound.ParseSigningKey(outbound.NewSigningKey())
	require.NoError(t, err)
	secret := outbound.NewSecret()
	body := []byte(`{"event":"field_value.saved"}`)
	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}, Keys: []ed25519.PrivateKey{newest, previous}}, "msg_1", 1_700_000_000, body)
	require.NoError(t, err)

	entries := strings.Fields(sigs.Standard)
	require.Len(t, entries, 3, "one v1 per secret, one v1a per key: %q", sigs.Standard)
	require.True(t, strings.HasPrefix(entries[0], "v1,"))
	for i, k := range []ed25519.PrivateKey{newest, previous} {
		sig, ok := strings.CutPrefix(entries[1+i], "v1a,")
		require.True(t, ok, entries[1+i])
		raw, err := base64.StdEncoding.DecodeString(sig)
		require.NoError(t, err)
		pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(outbound.PublicKey(k), "whpk_"))
		require.NoError(t, err)
		require.True(t, ed25519.Verify(pub, []byte("msg_1.1700000000."+string(body)), raw), "key %d", i)
		require.False(t, ed25519.Verify(pub, []byte("msg_1.1700000001."+string(body)), raw), "the signature covers the timestamp")
	}
	_, err = outbound.ParseSigningKey("whsk_c2hvcnQ=")
	require.Error(t, err)
}

func TestSignRefusesASecretThatIsNotBase64(t *testing.T) {
	t.Parallel()

	for _, secrets := range [][]string{
		{"whsec_not base64!"},
		{outbound.NewSecret(), "whsec_%%%"},
	} {
		sigs, err := outbound.Sign(&outbound.Signing{Secrets: secrets}, "msg_1", 1_700_000_000, []byte(`{}`))
		require.Error(t, err, "secrets %q", secrets)
		require.Contains(t, err.Error(), "base64")
		require.Equal(t, outbound.Signatures{}, sigs, "no partial signatures on error")
	}
}

func TestNextAttemptAtIsFalseOnceTheScheduleIsUsedUp(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	schedule := []time.Duration{time.Minute, time.Hour}

	for _, attempts := range []int{0, 3, 10} {
		_, ok := outbound.NextAttemptAt(now, schedule, attempts, 0, 0.5)
		require.False(t, ok, "attempts %d", attempts)
	}
	_, ok := outbound.NextAttemptAt(now, nil, 1, 0, 0.5)
	require.False(t, ok, "an empty schedule means no retries")

	next, ok := outbound.NextAttemptAt(now, schedule, 2, 0, 0.5)
	require.True(t, ok, "the last entry of the schedule is still used")
	require.Equal(t, now.Add(time.Hour), next)
}

func TestNextAttemptAtJittersWithinTenPercent(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	base := 10 * time.Minute
	schedule := []time.Duration{base}

	at := func(jitter float64) time.Duration {
		next, ok := outbound.NextAttemptAt(now, schedule, 1, 0, jitter)
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
			next, ok := outbound.NextAttemptAt(now, []time.Duration{base}, 1, tt.retryAfter, 0)
			require.True(t, ok)
			require.Equal(t, tt.want, next.Sub(now))
		})
	}
}

func TestParseScheduleAcceptsOneSecondToSevenDays(t *testing.T) {
	t.Parallel()

	got, err := outbound.ParseSchedule([]string{"1s", "5m", "2h30m", "168h"})
	require.NoError(t, err)
	require.Equal(t, []time.Duration{time.Second, 5 * time.Minute, 150 * time.Minute, 7 * 24 * time.Hour}, got)

	got, err = outbound.ParseSchedule(nil)
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
		_, err := outbound.ParseSchedule([]string{"1m", tt.in})
		require.Error(t, err, "schedule entry %q", tt.in)
		require.Contains(t, err.Error(), tt.wantErr)
		require.Contains(t, err.Error(), "retrySchedule[1]", "the error names the entry")
	}
}

func TestNewSecretIsWhsecAndBase64Of32RandomBytes(t *testing.T) {
	t.Parallel()

	a, b := outbound.NewSecret(), outbound.NewSecret()
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

func TestFormatScheduleWritesEachWaitAsItIsWritten(t *testing.T) {
	in := []string{"1s", "90s", "1m", "5m", "30m", "1h30m", "2h", "12h", "168h"}
	ds, err := outbound.ParseSchedule(in)
	require.NoError(t, err)
	require.Equal(t, []string{"1s", "1m30s", "1m", "5m", "30m", "1h30m", "2h", "12h", "168h"}, outbound.FormatSchedule(ds))
	require.Equal(t, []string{"1m", "5m", "30m", "2h", "12h"}, outbound.FormatSchedule(outbound.DefaultRetrySchedule))
	back, err := outbound.ParseSchedule(outbound.FormatSchedule(ds))
	require.NoError(t, err)
	require.Equal(t, ds, back)
}
