package examples

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/apptest"
)

// TestCleanupListenerReadsFlatIDsFromResourceEvents runs a Node listener
// written as a custom-fields provider's guide writes its cleanup branch
// (testdata/cleanup-listener.mjs: it reads body.fieldGroupId and
// body.fieldKey, never the nested resource) against real deliveries of
// field_group.deleted and global_field.deleted.
func TestCleanupListenerReadsFlatIDsFromResourceEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node; skipped with -short")
	}
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is missing")
		}
		t.Skip("node is not installed")
	}
	srv := apptest.Start(t)
	call := srv.Call
	port := freePort(t)
	call(http.MethodPost, "/api/webhooks", map[string]any{"url": "http://127.0.0.1:" + port + "/hooks",
		"events": []string{"field_group.*", "global_field.*"}})

	cmd := exec.Command("node", "testdata/cleanup-listener.mjs", port)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
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
	next := func() map[string]any {
		t.Helper()
		for {
			select {
			case line, ok := <-lines:
				require.True(t, ok, "the listener exited")
				out := map[string]any{}
				require.NoError(t, json.Unmarshal([]byte(line), &out), line)
				return out
			case <-time.After(20 * time.Second):
				t.Fatal("the listener printed nothing within 20 s")
			}
		}
	}

	select {
	case line := <-lines:
		require.True(t, strings.HasPrefix(line, "listening on"), line)
	case <-time.After(20 * time.Second):
		t.Fatal("the listener did not start within 20 s")
	}
	group := call(http.MethodPost, "/api/field-groups", map[string]any{"key": "deal", "name": "Deal"})
	field := call(http.MethodPost, "/api/global-fields", map[string]any{"key": "amount", "label": "Amount",
		"schema": map[string]any{"type": "number"}, "fieldGroupIds": []string{"deal"}})
	del := func(path string) {
		req, err := http.NewRequest(http.MethodDelete, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", apptest.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "DELETE %s", path)
	}
	del("/api/global-fields/" + field["id"].(string))
	require.Equal(t, map[string]any{"cleanup": "field", "fieldId": field["id"], "fieldKey": "amount", "tenantId": nil}, next())
	del("/api/field-groups/" + group["id"].(string))
	require.Equal(t, map[string]any{"cleanup": "group", "fieldGroupId": group["id"]}, next())
}
