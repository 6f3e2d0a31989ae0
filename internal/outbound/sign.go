package outbound

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
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

// Signatures are the signature header values of one request.
type Signatures struct {
	// Hex is the X-Fieldflow-Signature value: lowercase hex HMAC-SHA256
	// keyed with the whole secret string, one per active secret,
	// space-separated, newest first.
	Hex string
	// Standard is the webhook-signature value: "v1,<base64>" per active
	// secret, space-separated.
	Standard string
}

// Sign signs body for each secret (newest first) as API.md describes.
func Sign(secrets []string, msgID string, timestamp int64, body []byte) (Signatures, error) {
	var hexes, std []string
	ts := strconv.FormatInt(timestamp, 10)
	for _, secret := range secrets {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		hexes = append(hexes, hex.EncodeToString(m.Sum(nil)))

		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return Signatures{}, errors.New("outbound: secret is not whsec_ + base64")
		}
		m = hmac.New(sha256.New, key)
		m.Write([]byte(msgID))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		std = append(std, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return Signatures{Hex: strings.Join(hexes, " "), Standard: strings.Join(std, " ")}, nil
}

// Redacted stands in for a secret wherever one would be shown: a signature
// in a delivery attempt's logged headers, a secret in an automation's run
// log.
const Redacted = "••••"
