// Package webhookverify checks the signatures fieldflow puts on the
// webhooks it sends, for receivers written in Go.
//
// fieldflow signs every delivery twice (docs/receiving-webhooks.md):
//
//   - webhook-signature, as Standard Webhooks defines it: space-separated
//     entries "v1,<base64 HMAC-SHA256>" keyed with the secret, or
//     "v1a,<base64 ed25519 signature>" by an endpoint that signs with a key
//     pair, over "<webhook-id>.<webhook-timestamp>.<body>";
//   - X-Fieldflow-Signature (or the endpoint's signatureHeader): one
//     signature, by the newest secret, in the endpoint's signatureFormat:
//     the lowercase hex HMAC-SHA256 of the body alone keyed with the whole
//     secret string ("hex"), the same written "sha256=<hex>" ("prefixed"),
//     or "t=<unix>,v1=<hex>" over "<unix>.<body>" ("timestamped").
//
// A Verifier holds every secret and public key the receiver accepts, so
// that a secret rotation needs no code change: add the new secret, then
// drop the old one after the grace period. Verify checks the Standard
// Webhooks header and the timestamp; VerifyHex checks the hex and prefixed
// forms of the hex header, VerifyTimestamped the timestamped one;
// Middleware does the first for an http.Handler.
package webhookverify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock: five minutes, as Standard Webhooks recommends.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody is the largest body Middleware reads: 1 MiB, fieldflow's
// own limit on an event body.
const DefaultMaxBody = 1 << 20

// The errors a check returns; test for them with errors.Is.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or the signature
	// header is absent.
	ErrMissingHeader = errors.New("webhookverify: missing signature header")
	// ErrTimestamp: webhook-timestamp is not a number, or is further from
	// now than the tolerance (a replayed or delayed request).
	ErrTimestamp = errors.New("webhookverify: timestamp outside the tolerance")
	// ErrNoMatch: no signature in the header matches any secret or key.
	ErrNoMatch = errors.New("webhookverify: no matching signature")
)

// Verifier checks signatures against a set of secrets and public keys. Its
// zero value accepts nothing; make one with New. It is safe for concurrent
// use.
type Verifier struct {
	// raw are the whole secret strings, which key the hex header.
	raw [][]byte
	// keys are the decoded secrets, which key "v1" entries.
	keys [][]byte
	// public are the ed25519 keys that check "v1a" entries.
	public []ed25519.PublicKey
	// tolerance is DefaultTolerance unless WithTolerance says otherwise.
	tolerance time.Duration
	// now is time.Now unless WithClock says otherwise.
	now func() time.Time
}

// Option changes a Verifier made by New.
type Option func(*Verifier) error

// WithTolerance sets how far webhook-timestamp may be from now, in either
// direction (DefaultTolerance when not given). It must be positive.
func WithTolerance(d time.Duration) Option {
	return func(v *Verifier) error {
		if d <= 0 {
			return errors.New("webhookverify: tolerance must be positive")
		}
		v.tolerance = d
		return nil
	}
}

// WithPublicKey accepts "v1a" entries signed by the private half of key:
// "whpk_<base64>" as fieldflow shows an endpoint's public key, or plain
// base64 of the 32 key bytes.
func WithPublicKey(key string) Option {
	return func(v *Verifier) error {
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "whpk_"))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fmt.Errorf("webhookverify: public key is not whpk_ and the base64 of %d bytes", ed25519.PublicKeySize)
		}
		v.public = append(v.public, ed25519.PublicKey(b))
		return nil
	}
}

// WithClock makes the verifier read the time from now, for tests.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error {
		v.now = now
		return nil
	}
}

// New returns a Verifier that accepts signatures by any of the secrets
// ("whsec_<base64>", as fieldflow shows them), newest first or in any
// order. With no secret it accepts only "v1a" entries of the public keys
// given as options.
func New(secrets []string, opts ...Option) (*Verifier, error) {
	v := &Verifier{tolerance: DefaultTolerance, now: time.Now}
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) == 0 {
			return nil, fmt.Errorf("webhookverify: secret %d is not whsec_ and base64", i)
		}
		v.raw = append(v.raw, []byte(s))
		v.keys = append(v.keys, key)
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	if len(v.keys) == 0 && len(v.public) == 0 {
		return nil, errors.New("webhookverify: give at least one secret or public key")
	}
	return v, nil
}

// Verify checks the webhook-signature header of a request with body and
// headers h: the timestamp must be within the tolerance and one entry must
// match one secret ("v1") or public key ("v1a"). Entries of other versions
// are ignored, as Standard Webhooks asks.
func (v *Verifier) Verify(body []byte, h http.Header) error {
	if v == nil || (len(v.keys) == 0 && len(v.public) == 0) {
		return ErrNoMatch
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeader
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}
	signed := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	signed = append(append(append(append(append(signed, id...), '.'), ts...), '.'), body...)
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		switch version {
		case "v1":
			for _, key := range v.keys {
				if hmac.Equal(raw, mac(key, signed)) {
					return nil
				}
			}
		case "v1a":
			for _, pub := range v.public {
				if len(raw) == ed25519.SignatureSize && ed25519.Verify(pub, signed, raw) {
					return nil
				}
			}
		}
	}
	return ErrNoMatch
}

// VerifyHex checks the hex signature header (X-Fieldflow-Signature, or the
// endpoint's signatureHeader) of body: one or more space-separated
// lowercase hex HMAC-SHA256 values, each optionally "sha256="-prefixed.
// The hex header carries no timestamp: pair it with TLS and the event's
// own timestamp, or prefer Verify.
func (v *Verifier) VerifyHex(body []byte, header string) error {
	if v == nil || len(v.raw) == 0 {
		return ErrNoMatch
	}
	if strings.TrimSpace(header) == "" {
		return ErrMissingHeader
	}
	for _, sig := range strings.Fields(header) {
		raw, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
		if err != nil {
			continue
		}
		for _, secret := range v.raw {
			if hmac.Equal(raw, mac(secret, body)) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// VerifyTimestamped checks the hex signature header of an endpoint whose
// signatureFormat is "timestamped": "t=<unix>,v1=<hex>", the hex
// HMAC-SHA256 of "<unix>.<body>" keyed with the whole secret string. The
// timestamp must be within the tolerance, so a request replayed later is
// refused.
func (v *Verifier) VerifyTimestamped(body []byte, header string) error {
	if v == nil || len(v.raw) == 0 {
		return ErrNoMatch
	}
	if strings.TrimSpace(header) == "" {
		return ErrMissingHeader
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			if raw, err := hex.DecodeString(val); err == nil {
				sigs = append(sigs, raw)
			}
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t= in %q", ErrTimestamp, header)
	}
	if err := v.checkTimestamp(ts); err != nil {
		return err
	}
	signed := append(append([]byte(ts), '.'), body...)
	for _, sig := range sigs {
		for _, secret := range v.raw {
			if hmac.Equal(sig, mac(secret, signed)) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

// checkTimestamp refuses a Unix-seconds timestamp further from now than
// the tolerance.
func (v *Verifier) checkTimestamp(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, ts)
	}
	if d := v.now().Sub(time.Unix(sec, 0)); d > v.tolerance || d < -v.tolerance {
		return fmt.Errorf("%w: %s off", ErrTimestamp, d.Round(time.Second))
	}
	return nil
}

// Middleware verifies each request's webhook-signature before next sees
// it, and answers 401 (bad or missing signature, stale timestamp) or 413
// (a body over DefaultMaxBody) itself. next reads the same body from
// r.Body. fieldflow retries a 401 like any other failure, so a receiver
// deployed before its new secret catches up once it is given it.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := v.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
