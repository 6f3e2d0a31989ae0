package webhookverify_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/apptest"
	"github.com/fieldflow/fieldflow/webhookverify"
)

// received is one request a test receiver got.
type received struct {
	body   []byte
	header http.Header
}

// TestVerifierAcceptsWhatARealServerSends runs fieldflow, registers an
// endpoint, publishes events before and during a secret rotation, and
// checks every delivery with the kit: the Standard Webhooks header with the
// old secret, the new one or both, and the hex header with the newest.
func TestVerifierAcceptsWhatARealServerSends(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server; skipped with -short")
	}
	call := apptest.Start(t).Call

	got := make(chan received, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{body: b, header: r.Header.Clone()}
	}))
	defer receiver.Close()

	next := func() received {
		select {
		case r := <-got:
			return r
		case <-time.After(15 * time.Second):
			t.Fatal("no delivery within 15 s")
			return received{}
		}
	}

	wh := call(http.MethodPost, "/api/webhooks", map[string]any{"url": receiver.URL, "events": []string{"TASK_COMPLETED"}})
	oldSecret := wh["secret"].(string)
	call(http.MethodPost, "/api/events", map[string]any{"type": "TASK_COMPLETED", "data": map[string]any{"taskId": "t-1"}})
	first := next()

	withOld, err := webhookverify.New([]string{oldSecret})
	require.NoError(t, err)
	require.NoError(t, withOld.Verify(first.body, first.header))
	require.NoError(t, withOld.VerifyHex(first.body, first.header.Get("X-Fieldflow-Signature")))

	rotated := call(http.MethodPost, "/api/webhooks/"+wh["id"].(string)+"/rotate-secret", map[string]any{"graceHours": 1})
	newSecret := rotated["secret"].(string)
	call(http.MethodPost, "/api/events", map[string]any{"type": "TASK_COMPLETED", "data": map[string]any{"taskId": "t-2"}})
	second := next()

	withNew, err := webhookverify.New([]string{newSecret})
	require.NoError(t, err)
	withBoth, err := webhookverify.New([]string{newSecret, oldSecret})
	require.NoError(t, err)
	for name, v := range map[string]*webhookverify.Verifier{"old": withOld, "new": withNew, "both": withBoth} {
		require.NoError(t, v.Verify(second.body, second.header), "a receiver holding the %s secret", name)
	}
	require.NoError(t, withNew.VerifyHex(second.body, second.header.Get("X-Fieldflow-Signature")))
	require.ErrorIs(t, withNew.Verify(first.body, first.header), webhookverify.ErrNoMatch,
		"the first delivery was signed before the new secret existed")
}
