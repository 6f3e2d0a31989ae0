package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
)

// syncBuffer is a log sink the server writes from its own goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAnInternalErrorIsLoggedWithItsCauseAndNeverShown breaks the database
// under a running server (a table dropped behind its back): the client gets
// a plain 500, and the server's own structured log, not the global one,
// gets the cause.
func TestAnInternalErrorIsLoggedWithItsCauseAndNeverShown(t *testing.T) {
	t.Parallel()
	const admin = "ffk_internal_error_admin_key_x"
	db := filepath.Join(t.TempDir(), "ff.db")
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), app.Config{DB: db, Addr: "127.0.0.1:0", AdminKey: admin,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Stdout: io.Discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	require.NoError(t, a.Start(context.Background()))

	side, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer side.Close()
	_, err = side.Exec(`DROP TABLE variables`)
	require.NoError(t, err)

	req, err := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/api/variables", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", admin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "internal error")
	require.NotContains(t, string(body), "variables", "no driver text reaches the client: %s", body)

	require.Contains(t, logs.String(), `"msg":"request failed"`)
	require.Contains(t, logs.String(), `"path":"/api/variables"`)
	require.Contains(t, logs.String(), "no such table", "the cause is in the server's log")
}
