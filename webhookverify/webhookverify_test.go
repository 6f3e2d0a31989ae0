package webhookverify_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/webhookverify"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

func headers(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func randomBody(t *testing.T) []byte {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(2000))
	require.NoError(t, err)
	b := make([]byte, n.Int64())
	_, err = rand.Read(b)
	require.NoError(t, err)
	return b
}

// TestVerifyAgreesWithTheOfficialStandardWebhooksLibrary signs with the
// official library and checks that both verifiers accept the same
// requests and refuse the same tampered ones.
func TestVerifyAgreesWithTheOfficialStandardWebhooksLibrary(t *testing.T) {
	for i := 0; i < 200; i++ {
		secret, other := newSecret(t), newSecret(t)
		oracle, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		ours, err := webhookverify.New([]string{secret})
		require.NoError(t, err)

		body := randomBody(t)
		id := fmt.Sprintf("evt_%d", i)
		now := time.Now()
		sig, err := oracle.Sign(id, now, body)
		require.NoError(t, err)
		wrongKey, err := standardwebhooks.NewWebhook(other)
		require.NoError(t, err)
		otherSig, err := wrongKey.Sign(id, now, body)
		require.NoError(t, err)

		cases := map[string]struct {
			body []byte
			h    http.Header
		}{
			"as signed":              {body, headers(id, now, sig)},
			"after a rotation":       {body, headers(id, now, otherSig+" "+sig)},
			"another secret":         {body, headers(id, now, otherSig)},
			"body changed":           {append([]byte{'x'}, body...), headers(id, now, sig)},
			"id changed":             {body, headers(id+"x", now, sig)},
			"timestamp changed":      {body, headers(id, now.Add(time.Second), sig)},
			"unknown version":        {body, headers(id, now, "v2,"+strings.TrimPrefix(sig, "v1,"))},
			"signature not base64":   {body, headers(id, now, "v1,@@@@")},
			"an hour old":            {body, headers(id, now.Add(-time.Hour), sig)},
			"missing signature part": {body, headers(id, now, "v1")},
		}
		for name, c := range cases {
			want := oracle.Verify(c.body, c.h) == nil
			got := ours.Verify(c.body, c.h) == nil
			require.Equal(t, want, got, "%s: the official library says %v", name, want)
		}
	}
}

func TestVerifyRefusesStaleAndFutureTimestampsWithinTheTolerance(t *testing.T) {
	secret := newSecret(t)
	oracle, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	v, err := webhookverify.New([]string{secret}, webhookverify.WithClock(func() time.Time { return now }),
		webhookverify.WithTolerance(30*time.Second))
	require.NoError(t, err)
	body := []byte(`{"event":"TASK_COMPLETED"}`)
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{{0, true}, {-29 * time.Second, true}, {29 * time.Second, true}, {-31 * time.Second, false}, {31 * time.Second, false}} {
		ts := now.Add(c.offset)
		sig, err := oracle.Sign("evt_1", ts, body)
		require.NoError(t, err)
		err = v.Verify(body, headers("evt_1", ts, sig))
		if c.ok {
			require.NoError(t, err, "offset %s", c.offset)
		} else {
			require.ErrorIs(t, err, webhookverify.ErrTimestamp, "offset %s", c.offset)
		}
	}
	h := headers("evt_1", now, "v1,x")
	h.Set("webhook-timestamp", "soon")
	require.ErrorIs(t, v.Verify(body, h), webhookverify.ErrTimestamp)
	h.Del("webhook-id")
	require.ErrorIs(t, v.Verify(body, h), webhookverify.ErrMissingHeader)
}

func TestVerifyAcceptsV1aSignaturesOfAGivenPublicKeyOnly(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	body := []byte(`{"event":"entity.updated"}`)
	now := time.Now()
	signed := fmt.Sprintf("%s.%d.%s", "evt_9", now.Unix(), body)
	v1a := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(signed)))

	v, err := webhookverify.New(nil, webhookverify.WithPublicKey("whpk_"+base64.StdEncoding.EncodeToString(pub)))
	require.NoError(t, err)
	require.NoError(t, v.Verify(body, headers("evt_9", now, v1a)))
	require.NoError(t, v.Verify(body, headers("evt_9", now, "v1,bm9wZQ== "+v1a)), "beside a v1 entry it cannot check")
	require.ErrorIs(t, v.Verify([]byte(`{"event":"entity.deleted"}`), headers("evt_9", now, v1a)), webhookverify.ErrNoMatch)

	other, err := webhookverify.New(nil, webhookverify.WithPublicKey(base64.StdEncoding.EncodeToString(otherPub)))
	require.NoError(t, err)
	require.ErrorIs(t, other.Verify(body, headers("evt_9", now, v1a)), webhookverify.ErrNoMatch)

	_, err = webhookverify.New(nil, webhookverify.WithPublicKey("whpk_c2hvcnQ="))
	require.ErrorContains(t, err, "public key")
}

func TestVerifyHexAcceptsEachFormFieldflowSends(t *testing.T) {
	oldSecret, newSecret := newSecret(t), newSecret(t)
	body := []byte(`{"event":"field_value.saved","eventId":"evt_1"}`)
	sum := func(secret string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	v, err := webhookverify.New([]string{newSecret, oldSecret})
	require.NoError(t, err)
	for _, header := range []string{
		sum(newSecret),
		sum(oldSecret),
		"sha256=" + sum(newSecret),
		sum(newSecret) + " " + sum(oldSecret),
	} {
		require.NoError(t, v.VerifyHex(body, header), header)
	}
	onlyNew, err := webhookverify.New([]string{newSecret})
	require.NoError(t, err)
	require.ErrorIs(t, onlyNew.VerifyHex(body, sum(oldSecret)), webhookverify.ErrNoMatch)
	require.ErrorIs(t, v.VerifyHex(append(body, ' '), sum(newSecret)), webhookverify.ErrNoMatch)
	require.ErrorIs(t, v.VerifyHex(body, ""), webhookverify.ErrMissingHeader)
	require.ErrorIs(t, v.VerifyHex(body, "zz"), webhookverify.ErrNoMatch)
}

func TestNewRefusesWhatCanNeverMatch(t *testing.T) {
	_, err := webhookverify.New(nil)
	require.Error(t, err)
	_, err = webhookverify.New([]string{"whsec_not base64!"})
	require.ErrorContains(t, err, "secret 0")
	_, err = webhookverify.New([]string{newSecret(t)}, webhookverify.WithTolerance(0))
	require.ErrorContains(t, err, "tolerance")
	var zero webhookverify.Verifier
	require.ErrorIs(t, zero.Verify(nil, headers("a", time.Now(), "v1,AAAA")), webhookverify.ErrNoMatch)
	require.ErrorIs(t, zero.VerifyHex(nil, "00"), webhookverify.ErrNoMatch)
}

func TestMiddlewarePassesTheBodyOnAndRefusesBadSignatures(t *testing.T) {
	secret := newSecret(t)
	v, err := webhookverify.New([]string{secret})
	require.NoError(t, err)
	var got []byte
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()
	oracle, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)

	post := func(body []byte, h http.Header) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(body)))
		require.NoError(t, err)
		for k, vs := range h {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"event":"TASK_COMPLETED","data":{"taskId":"t-7"}}`)
	now := time.Now()
	sig, err := oracle.Sign("evt_2", now, body)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, post(body, headers("evt_2", now, sig)))
	require.Equal(t, body, got, "the handler reads the body the signature covered")

	got = nil
	require.Equal(t, http.StatusUnauthorized, post(append(body, ' '), headers("evt_2", now, sig)))
	require.Nil(t, got, "a bad signature never reaches the handler")
	require.Equal(t, http.StatusUnauthorized, post(body, http.Header{}))

	big := make([]byte, webhookverify.DefaultMaxBody+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, post(big, headers("evt_2", now, sig)))
}
