package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
)

// OpenAPI returns the OpenAPI document the server serves at
// /api/openapi.json, exactly as a full server (every route registered)
// builds it. It opens a throwaway SQLite database for that, so it needs no
// configuration; web/ generates its typed API client from the result.
func OpenAPI(ctx context.Context) ([]byte, error) {
	dir, err := os.MkdirTemp("", "fieldflow-openapi-")
	if err != nil {
		return nil, fmt.Errorf("openapi: make a temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	// Addr :0: printing the document must not need, or take, the default
	// port that a running fieldflow holds.
	a, err := New(ctx, Config{DB: filepath.Join(dir, "openapi.db"), Addr: "127.0.0.1:0", AdminKey: "ffk_openapi",
		Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard})
	if err != nil {
		return nil, fmt.Errorf("openapi: build the server: %w", err)
	}
	defer a.Stop(ctx)
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("openapi: GET /api/openapi.json answered %d", rec.Code)
	}
	return rec.Body.Bytes(), nil
}
