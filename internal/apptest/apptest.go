// Package apptest runs a whole fieldflow, in process, for the tests of
// packages that sit outside it (the verifier kit, the receiver examples):
// a fresh SQLite database, a known admin key and private targets allowed,
// so that deliveries reach receivers on 127.0.0.1.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
)

// AdminKey is the admin key every Server accepts.
const AdminKey = "ffk_apptest_admin_key_for_tests"

// Server is a running fieldflow, stopped when its test ends.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	t   testing.TB
}

// Start runs fieldflow over a fresh SQLite database in t.TempDir().
func Start(t testing.TB) *Server {
	t.Helper()
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	a, err := app.New(context.Background(), app.Config{
		DB: filepath.Join(t.TempDir(), "ff.db"), Addr: "127.0.0.1:0", AdminKey: AdminKey,
		MasterKey: base64.StdEncoding.EncodeToString(mk), AllowPrivateTargets: true,
		DeliveryPoll: 100 * time.Millisecond, ShutdownGrace: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	require.NoError(t, a.Start(context.Background()))
	return &Server{URL: "http://" + a.Addr(), t: t}
}

// Call sends body as JSON with the admin key, requires a 2xx and returns
// the decoded answer.
func (s *Server) Call(method, path string, body any) map[string]any {
	s.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(raw))
	require.NoError(s.t, err)
	req.Header.Set("X-API-Key", AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Less(s.t, resp.StatusCode, 300, "%s %s: %s", method, path, raw)
	out := map[string]any{}
	if len(raw) > 0 { // a 204 has no body
		require.NoError(s.t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	}
	return out
}
