package examples

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/apptest"
)

// foreignReceiver is receiver-node/foreign.mjs running: a receiver written
// the way receivers for other products are, with no fieldflow code.
type foreignReceiver struct {
	url    string
	lines  chan string
	stderr *lockedBuffer
}

// lockedBuffer collects a child's stderr, which os/exec writes from its
// own goroutine while the test may read it for a failure message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startForeign runs foreign.mjs with the secret and signature form given,
// and waits until it listens.
func startForeign(t *testing.T, secret, form string) *foreignReceiver {
	t.Helper()
	return runForeign(t, "FIELDFLOW_WEBHOOK_SECRET="+secret, "SIGNATURE_FORM="+form)
}

// startForeignWithKey runs foreign.mjs holding only a public key.
func startForeignWithKey(t *testing.T, publicKey string) *foreignReceiver {
	t.Helper()
	return runForeign(t, "FIELDFLOW_PUBLIC_KEY="+publicKey)
}

func runForeign(t *testing.T, env ...string) *foreignReceiver {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	port := freePort(t)
	cmd := exec.Command("node", "foreign.mjs", port)
	cmd.Dir = "receiver-node"
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	r := &foreignReceiver{url: "http://127.0.0.1:" + port + "/hooks", lines: make(chan string, 64), stderr: &lockedBuffer{}}
	cmd.Stderr = r.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	r.next(t, func(l string) bool { return strings.HasPrefix(l, "listening on") })
	return r
}

// next returns the first printed line that what accepts, failing the test
// when the receiver exits or has printed nothing for a long while (the
// wait is for progress, not a speed bound).
func (r *foreignReceiver) next(t *testing.T, what func(string) bool) string {
	t.Helper()
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("foreign.mjs exited: %s", r.stderr.String())
			}
			if what(line) {
				return line
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("foreign.mjs printed nothing for 30 s; stderr: %s", r.stderr.String())
		}
	}
}

// nextJSON returns the next line that has key, decoded; a rejected
// request's line fails the test instead.
func (r *foreignReceiver) nextJSON(t *testing.T, key string) map[string]any {
	t.Helper()
	line := r.next(t, func(l string) bool {
		require.NotContains(t, l, `"rejected"`, "the receiver refused a delivery")
		return strings.Contains(l, `"`+key+`"`)
	})
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &out))
	return out
}

// TestForeignReceiverReadsFlatIDsOfResourceEvents: a receiver's cleanup
// branch for field_group.deleted reads fieldGroupId at the top level.
func TestForeignReceiverReadsFlatIDsOfResourceEvents(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	wh := srv.Call(http.MethodPost, "/api/webhooks", map[string]any{"url": "http://127.0.0.1:1/unused", "events": []string{"field_group.*"}})
	recv := startForeign(t, wh["secret"].(string), "hex")
	srv.Call(http.MethodPatch, "/api/webhooks/"+wh["id"].(string), map[string]any{"url": recv.url})

	g := srv.Call(http.MethodPost, "/api/field-groups", map[string]any{"key": "booking", "name": "Booking"})
	srv.Call(http.MethodDelete, "/api/field-groups/booking", nil)
	out := recv.nextJSON(t, "cleanup")
	require.Equal(t, "field_group.deleted", out["event"])
	require.Equal(t, g["id"], out["cleanup"], "the receiver read fieldGroupId from the body")
}

// TestForeignReceiverComparingOneHeaderWorksInEachFormThroughRotation: a
// receiver that compares the signature header whole, in each
// signatureFormat, accepts deliveries signed during a rotation's grace
// period once it holds the new secret.
func TestForeignReceiverComparingOneHeaderWorksInEachFormThroughRotation(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	for _, form := range []string{"hex", "prefixed", "timestamped"} {
		wh := srv.Call(http.MethodPost, "/api/webhooks", map[string]any{"url": "http://127.0.0.1:1/unused", "events": []string{"order.*"}, "signatureFormat": form})
		rot := srv.Call(http.MethodPost, "/api/webhooks/"+wh["id"].(string)+"/rotate-secret", map[string]any{"graceHours": 24})
		recv := startForeign(t, rot["secret"].(string), form)
		srv.Call(http.MethodPatch, "/api/webhooks/"+wh["id"].(string), map[string]any{"url": recv.url})
		ev := srv.Call(http.MethodPost, "/api/events", map[string]any{"type": "order." + form, "data": map[string]any{"n": 1}})
		out := recv.nextJSON(t, "verified")
		require.Equal(t, ev["id"], out["verified"], "form %s: the header holds the newest secret's signature alone", form)
		srv.Call(http.MethodDelete, "/api/webhooks/"+wh["id"].(string), nil)
	}
}

// TestForeignReceiverChecksV1aWithThePublicKeyAndGetsItsShape: a receiver
// that holds only the endpoint's public key checks the ed25519 entry with
// node's crypto, and gets the eventType/data/previousAttributes shape the
// endpoint's bodyTemplate writes.
func TestForeignReceiverChecksV1aWithThePublicKeyAndGetsItsShape(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t)
	tmpl := json.RawMessage(`{"eventType": "client.updated", "data": {"id": "{{event.data.id}}"}, "previousAttributes": "{{event.previous}}"}`)
	wh := srv.Call(http.MethodPost, "/api/webhooks", map[string]any{"url": "http://127.0.0.1:1/unused", "events": []string{"client.changed"},
		"asymmetricSignature": true, "bodyTemplate": tmpl})
	pub := wh["publicKey"].(string)
	require.True(t, strings.HasPrefix(pub, "whpk_"), pub)
	recv := startForeignWithKey(t, pub)
	srv.Call(http.MethodPatch, "/api/webhooks/"+wh["id"].(string), map[string]any{"url": recv.url})
	srv.Call(http.MethodPost, "/api/events", map[string]any{"type": "client.changed", "data": map[string]any{"id": "c-7"}, "previous": map[string]any{"stage": "lead"}})
	out := recv.nextJSON(t, "portal")
	require.Equal(t, "client.updated", out["portal"])
	require.Equal(t, "c-7", out["id"])
	require.Equal(t, map[string]any{"stage": "lead"}, out["previous"])
}
