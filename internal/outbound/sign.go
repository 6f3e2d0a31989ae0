package outbound

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NewSecret returns a fresh endpoint secret: "whsec_" and the base64 of 32
// random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// The forms of the hex signature header an endpoint may ask for.
const (
	// SignatureHex is the lowercase hex HMAC-SHA256 of the body.
	SignatureHex = "hex"
	// SignaturePrefixed is "sha256=<hex>", as GitHub-style receivers expect.
	SignaturePrefixed = "prefixed"
	// SignatureTimestamped is "t=<unix>,v1=<hex>": the HMAC over
	// "<unix>.<body>", so a receiver can refuse an old request replayed.
	SignatureTimestamped = "timestamped"
)

// SignatureFormats lists the forms, the default first.
var SignatureFormats = []string{SignatureHex, SignaturePrefixed, SignatureTimestamped}

// Signing is what signs one request.
type Signing struct {
	// Secrets are the active secrets, newest first. The hex header is
	// signed by the newest alone; webhook-signature has a "v1" entry for
	// each.
	Secrets []string
	// Keys are the active ed25519 private keys, newest first, each giving
	// a "v1a" entry of webhook-signature; none for an endpoint that signs
	// with its secret only.
	Keys []ed25519.PrivateKey
	// Format is the form of the hex header (SignatureHex when empty).
	Format string
}

// Signatures are the signature header values of one request.
type Signatures struct {
	// Hex is the value of X-Fieldflow-Signature (or the endpoint's
	// signatureHeader): one signature, by the newest secret, in the
	// endpoint's form. One, not one per secret: receivers that compare the
	// header whole would reject every delivery of a rotation's grace
	// period; retries bridge the minutes until they hold the new secret.
	Hex string
	// Standard is the webhook-signature value: "v1,<base64>" per active
	// secret, then "v1a,<base64>" per active key, space-separated.
	Standard string
}

// Sign signs body as API.md and docs/receiving-webhooks.md describe.
func Sign(sg *Signing, msgID string, timestamp int64, body []byte) (Signatures, error) {
	if len(sg.Secrets) == 0 {
		return Signatures{}, errors.New("outbound: sign: no secret")
	}
	ts := strconv.FormatInt(timestamp, 10)
	msg := make([]byte, 0, len(msgID)+len(ts)+2+len(body))
	msg = append(append(append(append(append(msg, msgID...), '.'), ts...), '.'), body...)
	std := make([]string, 0, len(sg.Secrets)+len(sg.Keys))
	for _, secret := range sg.Secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return Signatures{}, errors.New("outbound: secret is not whsec_ + base64")
		}
		std = append(std, "v1,"+base64.StdEncoding.EncodeToString(hmacSHA256(key, msg)))
	}
	for _, k := range sg.Keys {
		std = append(std, "v1a,"+base64.StdEncoding.EncodeToString(ed25519.Sign(k, msg)))
	}
	newest := []byte(sg.Secrets[0])
	var h string
	switch sg.Format {
	case SignatureHex, "":
		h = hex.EncodeToString(hmacSHA256(newest, body))
	case SignaturePrefixed:
		h = "sha256=" + hex.EncodeToString(hmacSHA256(newest, body))
	case SignatureTimestamped:
		signed := append(append([]byte(ts), '.'), body...)
		h = "t=" + ts + ",v1=" + hex.EncodeToString(hmacSHA256(newest, signed))
	default:
		return Signatures{}, fmt.Errorf("outbound: sign: unknown signature format %q", sg.Format)
	}
	return Signatures{Hex: h, Standard: strings.Join(std, " ")}, nil
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// NewSigningKey returns a fresh ed25519 private key as Standard Webhooks
// writes one: "whsk_" and the base64 of its 64 bytes.
func NewSigningKey() string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return "whsk_" + base64.StdEncoding.EncodeToString(priv)
}

// ParseSigningKey reads a key NewSigningKey made.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsk_"))
	if err != nil || !strings.HasPrefix(s, "whsk_") || len(b) != ed25519.PrivateKeySize {
		return nil, errors.New("outbound: signing key is not whsk_ + base64 of an ed25519 private key")
	}
	return ed25519.PrivateKey(b), nil
}

// PublicKey is the public half of k as receivers are given it: "whpk_"
// and the base64 of its 32 bytes.
func PublicKey(k ed25519.PrivateKey) string {
	return "whpk_" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

// Redacted stands in for a secret wherever one would be shown: a signature
// in a delivery attempt's logged headers, a secret in an automation's run
// log.
const Redacted = "••••"
