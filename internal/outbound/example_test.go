package outbound_test

import (
	"fmt"

	"github.com/fieldflow/fieldflow/internal/outbound"
)

// Sign computes both signature headers of a delivery: the hex HMAC keyed
// with the whole secret string, and the Standard Webhooks v1 signature
// over id.timestamp.body keyed with the decoded secret. During a rotation
// it gets both secrets, newest first: webhook-signature holds an entry for
// each, the hex header the newest one's signature alone.
func ExampleSign() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"webhook.test","eventId":"evt_01","timestamp":"2026-04-04T10:00:00Z"}`)
	sigs, err := outbound.Sign(&outbound.Signing{Secrets: []string{secret}}, "evt_01", 1775296800, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("X-Fieldflow-Signature:", sigs.Hex)
	fmt.Println("webhook-signature:", sigs.Standard)
	// Output:
	// X-Fieldflow-Signature: aafa1e6b672b0502d0749cc2d90676b5959e88a648cb3179181c117ed262d6f9
	// webhook-signature: v1,CDludaLj5uAGVCgMDMm0mtbpgGrX+PL8b/skOsXk9Ok=
}
