package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// The start-up refusals, proved on the real binary: a copy of the database
// without its key file, a wrong master key, a second server on one SQLite
// file; and rotate-master-key end to end.
func TestStartupSafety(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildBinary(t)
	const admin = "ffk_startup_safety_admin_key"

	t.Run("ServeRefusesACopyOfTheDatabaseWithoutItsKeyFile", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "ff.db")
		srv := startServer(t, serverOptions{Bin: bin, DB: db, AdminKey: admin})
		createWebhook(t, srv, admin, "https://hooks.example.com/in")
		srv.Terminate(t)
		require.FileExists(t, db+".key", "the first start generated the key file")

		copyDB := filepath.Join(t.TempDir(), "copy.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if b, err := os.ReadFile(db + suffix); err == nil {
				require.NoError(t, os.WriteFile(copyDB+suffix, b, 0o600))
			}
		}
		out, err := runCommand(t, bin, []string{"FIELDFLOW_DB=" + copyDB, "FIELDFLOW_ADDR=" + freeAddr(t)}, "serve")
		require.Error(t, err, "serve must refuse: %s", out)
		require.Contains(t, out, "holds secrets but the key file "+copyDB+".key is missing")
		require.Contains(t, out, "FIELDFLOW_MASTER_KEY")
		require.NoFileExists(t, copyDB+".key", "no new key was generated")
	})

	t.Run("ServeRefusesAWrongMasterKey", func(t *testing.T) {
		t.Parallel()
		for _, dialect := range storetest.Dialects {
			t.Run(dialect, func(t *testing.T) {
				t.Parallel()
				opts := serverOptions{Bin: bin, DB: storetest.DSN(t, dialect), AdminKey: admin, MasterKey: randomKey(t)}
				srv := startServer(t, opts)
				createWebhook(t, srv, admin, "https://hooks.example.com/in")
				srv.Terminate(t)

				out, err := runCommand(t, bin, []string{"FIELDFLOW_DB=" + opts.DB, "FIELDFLOW_ADDR=" + freeAddr(t), "FIELDFLOW_MASTER_KEY=" + randomKey(t)}, "serve")
				require.Error(t, err, "serve must refuse: %s", out)
				require.Contains(t, out, "was sealed with a different master key than FIELDFLOW_MASTER_KEY")
				require.NotContains(t, out, "cannot open sealed value", "refused at start, not found out per delivery")
			})
		}
	})

	t.Run("SecondServeOnOneSQLiteFileRefusesAndNamesTheHolder", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "ff.db")
		first := startServer(t, serverOptions{Bin: bin, DB: db, AdminKey: admin})

		env := []string{"FIELDFLOW_DB=" + db, "FIELDFLOW_ADDR=" + freeAddr(t)}
		out, err := runCommand(t, bin, env, "serve")
		require.Error(t, err, "a second serve must refuse: %s", out)
		require.Contains(t, out, "is held by pid "+strconv.Itoa(first.cmd.Process.Pid)+" on host ")
		for _, cmd := range [][]string{{"migrate"}, {"rotate-master-key"}} {
			out, err := runCommand(t, bin, env, cmd...)
			require.Error(t, err, "%s beside a running server must refuse: %s", cmd[0], out)
			require.Contains(t, out, "is held by pid ", cmd[0])
		}
		out, err = runCommand(t, bin, env, "keys", "create", "--tenant", "t1")
		require.NoError(t, err, "a key can be created beside a running server: %s", out)

		res, err := http.Get(first.URL + "/readyz")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "the first server is untouched")
		first.Terminate(t)
		second := startServer(t, serverOptions{Bin: bin, DB: db, AdminKey: admin})
		second.Terminate(t)
	})

	t.Run("RotateMasterKeyKeepsEveryWebhookSecretWorking", func(t *testing.T) {
		t.Parallel()
		db := filepath.Join(t.TempDir(), "ff.db")
		recv := &signatureReceiver{}
		rs := httptest.NewServer(recv)
		t.Cleanup(rs.Close)
		opts := serverOptions{Bin: bin, DB: db, AdminKey: admin, Env: []string{"FIELDFLOW_ALLOW_PRIVATE_TARGETS=true"}}
		srv := startServer(t, opts)
		secret, id := createWebhook(t, srv, admin, rs.URL+"/hook")
		srv.Terminate(t)
		oldKey, err := os.ReadFile(db + ".key")
		require.NoError(t, err)

		out, err := runCommand(t, bin, []string{"FIELDFLOW_DB=" + db}, "rotate-master-key")
		require.NoError(t, err, "%s", out)
		require.Contains(t, out, "re-sealed 1 secrets")
		old, err := os.ReadFile(db + ".key.old")
		require.NoError(t, err)
		require.Equal(t, oldKey, old, "the old key is kept beside the new one")
		newKey, err := os.ReadFile(db + ".key")
		require.NoError(t, err)
		require.NotEqual(t, oldKey, newKey)

		out, err = runCommand(t, bin, []string{"FIELDFLOW_DB=" + db, "FIELDFLOW_ADDR=" + freeAddr(t), "FIELDFLOW_MASTER_KEY=" + strings.TrimSpace(string(oldKey))}, "serve")
		require.Error(t, err, "the old key no longer opens the database: %s", out)
		require.Contains(t, out, "different master key")

		srv = startServer(t, opts)
		c := newAPIClient(srv.URL, admin, 1)
		c.must(t, http.MethodPost, "/api/webhooks/"+id+"/test", map[string]any{}, nil)
		body, sig := recv.last(t)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		require.Equal(t, hex.EncodeToString(mac.Sum(nil)), sig, "the webhook still signs with the secret it was given")
	})
}

// createWebhook registers an endpoint for every event and returns its
// secret and id.
func createWebhook(t *testing.T, srv *serverProcess, admin, url string) (secret, id string) {
	t.Helper()
	var ep struct{ ID, Secret string }
	newAPIClient(srv.URL, admin, 1).must(t, http.MethodPost, "/api/webhooks", map[string]any{"url": url, "events": []string{"*"}}, &ep)
	require.NotEmpty(t, ep.Secret)
	return ep.Secret, ep.ID
}

// Terminate stops the server with SIGTERM, as an operator would, and waits
// for it to exit.
func (p *serverProcess) Terminate(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("fieldflow serve still running 20s after SIGTERM")
	}
}

// runCommand runs the binary with only the FIELDFLOW_* variables given and
// returns its combined output once it exits (within 30 s).
func runCommand(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDFLOW_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "%v did not exit within 30s: %s", args, out)
	return string(out), err
}

func randomKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(k)
}

// signatureReceiver records the last request's body and hex signature.
type signatureReceiver struct {
	mu   sync.Mutex
	body []byte // guarded by mu
	sig  string // guarded by mu
}

func (r *signatureReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.body, r.sig = body, req.Header.Get("X-Fieldflow-Signature")
	r.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (r *signatureReceiver) last(t *testing.T) ([]byte, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.body, "the receiver got the test delivery")
	return r.body, r.sig
}
