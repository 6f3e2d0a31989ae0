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
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	port := freePort(t)
	cmd := exec.Command("node", "foreign.mjs", port)
	cmd.Dir = "receiver-node"
	cmd.Env = append(os.Environ(), "FIELDFLOW_WEBHOOK_SECRET="+secret, "SIGNATURE_FORM="+form)
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
