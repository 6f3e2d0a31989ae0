package webhookverify_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/fieldflow/fieldflow/webhookverify"
)

// A receiver checks one delivery: the body exactly as it arrived, and its
// headers.
func ExampleVerifier_Verify() {
	// The secret fieldflow showed when the endpoint was registered.
	v, err := webhookverify.New([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		// Only so that this example's fixed timestamp stays fresh.
		webhookverify.WithClock(func() time.Time { return time.Unix(1796299230, 0) }))
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"event":"TASK_COMPLETED","eventId":"evt_01JEXAMPLE","timestamp":"2026-12-03T12:00:00Z","data":{"taskId":"t-7"}}`)
	h := http.Header{}
	h.Set("webhook-id", "evt_01JEXAMPLE")
	h.Set("webhook-timestamp", "1796299200")
	h.Set("webhook-signature", "v1,sDKwLwKGJwF2v+GZK9zKtDhxjSoZqM2f01wUoAm8/vw=")
	fmt.Println(v.Verify(body, h))

	h.Set("webhook-timestamp", "1796290000") // replayed hours later
	fmt.Println(errors.Is(v.Verify(body, h), webhookverify.ErrTimestamp))

	fmt.Println(v.VerifyHex(body, "2102dcd645164356b60469536da570de965ead91a4a4350e9a022ab5482bf58f"))
	// Output:
	// <nil>
	// true
	// <nil>
}

// A receiver behind the middleware sees only verified requests. During a
// secret rotation, list the new secret first and keep the old one until
// the grace period ends.
func ExampleVerifier_Middleware() {
	secrets := []string{os.Getenv("FIELDFLOW_WEBHOOK_SECRET")}
	if old := os.Getenv("FIELDFLOW_WEBHOOK_OLD_SECRET"); old != "" {
		secrets = append(secrets, old)
	}
	v, err := webhookverify.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /hooks/fieldflow", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // the verified body
		log.Printf("event %s: %s", r.Header.Get("webhook-id"), body)
		w.WriteHeader(http.StatusNoContent)
	})))
	log.Fatal(http.ListenAndServe(":3000", nil))
}

// An endpoint with signatureFormat "prefixed" or "timestamped" writes the
// hex header as GitHub-style or Stripe-style receivers expect; one
// Verifier checks both.
func ExampleVerifier_VerifyTimestamped() {
	v, err := webhookverify.New([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		webhookverify.WithClock(func() time.Time { return time.Unix(1796299230, 0) }))
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"event":"TASK_COMPLETED","eventId":"evt_01JEXAMPLE","timestamp":"2026-12-03T12:00:00Z","data":{"taskId":"t-7"}}`)
	// signatureFormat "prefixed":
	fmt.Println(v.VerifyHex(body, "sha256=2102dcd645164356b60469536da570de965ead91a4a4350e9a022ab5482bf58f"))
	// signatureFormat "timestamped":
	fmt.Println(v.VerifyTimestamped(body, "t=1796299200,v1=7db2566bb075d82109dc5c9f319d947d73590c91e756f70f4f39e66491898383"))
	// Output:
	// <nil>
	// <nil>
}

// An endpoint with asymmetricSignature adds a "v1a" entry, checked with
// the endpoint's publicKey alone: the receiver holds no secret.
func ExampleWithPublicKey() {
	v, err := webhookverify.New(nil, webhookverify.WithPublicKey("whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="),
		webhookverify.WithClock(func() time.Time { return time.Unix(1796299230, 0) }))
	if err != nil {
		log.Fatal(err)
	}
	body := []byte(`{"event":"TASK_COMPLETED","eventId":"evt_01JEXAMPLE","timestamp":"2026-12-03T12:00:00Z","data":{"taskId":"t-7"}}`)
	h := http.Header{}
	h.Set("webhook-id", "evt_01JEXAMPLE")
	h.Set("webhook-timestamp", "1796299200")
	h.Set("webhook-signature", "v1,sDKwLwKGJwF2v+GZK9zKtDhxjSoZqM2f01wUoAm8/vw= v1a,lkLrLpKkNTLQxANCQFylM32gd0VUhhZqc3zNygUY2qC564S1pA3JmZrSOhpokKUGrp5qMzuoYtsL7lfKwGVMBA==")
	fmt.Println(v.Verify(body, h))
	// Output:
	// <nil>
}
