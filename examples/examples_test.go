package examples

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/apptest"
)

// TestReceiverExamplesVerifyRealDeliveries registers each example as an
// endpoint of a running fieldflow, publishes an event and reads the
// example's output for it; a request with a wrong signature gets 401.
func TestReceiverExamplesVerifyRealDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the examples; skipped with -short")
	}
	call := apptest.Start(t).Call

	receivers := map[string]func(t *testing.T, port string) *exec.Cmd{
		"receiver-go": func(t *testing.T, port string) *exec.Cmd {
			bin := filepath.Join(t.TempDir(), "receiver-go")
			out, err := exec.Command("go", "build", "-o", bin, "./receiver-go").CombinedOutput()
			require.NoError(t, err, "go build: %s", out)
			return exec.Command(bin, "--addr", "127.0.0.1:"+port)
		},
		"receiver-node": func(t *testing.T, port string) *exec.Cmd {
			if _, err := os.Stat("receiver-node/node_modules/standardwebhooks"); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatal("examples/receiver-node/node_modules is missing: .ci/run runs npm ci there")
				}
				t.Skip("run npm ci in examples/receiver-node first")
			}
			if _, err := exec.LookPath("node"); err != nil {
				t.Skip("node is not installed")
			}
			cmd := exec.Command("node", "server.mjs", port)
			cmd.Dir = "receiver-node"
			return cmd
		},
	}
	for name, start := range receivers {
		t.Run(name, func(t *testing.T) {
			port := freePort(t)
			url := "http://127.0.0.1:" + port + "/hooks/fieldflow"
			wh := call(http.MethodPost, "/api/webhooks", map[string]any{"url": url, "events": []string{"TASK_COMPLETED"}})

			cmd := start(t, port)
			cmd.Env = append(os.Environ(), "FIELDFLOW_WEBHOOK_SECRET="+wh["secret"].(string))
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			lines := make(chan string, 16)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			waitFor := func(what func(string) bool) string {
				deadline := time.After(20 * time.Second)
				for {
					select {
					case line, ok := <-lines:
						if !ok {
							t.Fatalf("%s exited: %s", name, stderr.String())
						}
						if what(line) {
							return line
						}
					case <-deadline:
						t.Fatalf("%s printed nothing expected within 20 s; stderr: %s", name, stderr.String())
					}
				}
			}
			waitFor(func(l string) bool { return strings.HasPrefix(l, "listening on") })

			ev := call(http.MethodPost, "/api/events", map[string]any{"type": "TASK_COMPLETED", "data": map[string]any{"taskId": name}})
			line := waitFor(func(l string) bool { return strings.Contains(l, `"verified"`) })
			var out map[string]string
			require.NoError(t, json.Unmarshal([]byte(line), &out))
			require.Equal(t, ev["id"], out["verified"], "the example verified the event fieldflow sent")
			require.Equal(t, "TASK_COMPLETED", out["event"])

			// A forged request: the right headers, a signature of another body.
			req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"event":"TASK_COMPLETED","eventId":"evt_forged"}`))
			require.NoError(t, err)
			req.Header.Set("webhook-id", "evt_forged")
			req.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			req.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
			req.Header.Set("X-Fieldflow-Signature", strings.Repeat("0", 64))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}
