package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/store"
)

// idempotency answers a repeated write that carries the same
// Idempotency-Key (per API key) and body with the first response. A key
// reused with another request is a 422; one whose first request is still
// running is a 409.
type idempotency struct {
	store   store.Store
	auth    *authenticator
	ttl     time.Duration
	maxBody int64

	mu       sync.Mutex
	inFlight map[string]bool // guarded by mu
}

func (m *idempotency) wrap(next http.Handler) http.Handler {
	m.inFlight = map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ikey := r.Header.Get("Idempotency-Key")
		if ikey == "" || r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if len(ikey) > 255 {
			writeProblem(w, http.StatusBadRequest, "Idempotency-Key is longer than 255 characters")
			return
		}
		apiKey := keyFromRequest(r.Header.Get)
		if apiKey == "" {
			next.ServeHTTP(w, r) // the handler answers 401
			return
		}
		p, err := m.auth.lookup(r.Context(), apiKey)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		r = r.WithContext(withAuthMemo(r.Context(), apiKey, p))
		body, err := io.ReadAll(io.LimitReader(r.Body, m.maxBody+1))
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "cannot read the request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.RequestURI()+"\n"), body...))
		hash := hex.EncodeToString(sum[:])
		scope := p.KeyID

		rec, err := m.store.IdempotencyGet(r.Context(), scope, ikey)
		switch {
		case err == nil && time.Since(rec.CreatedAt) < m.ttl:
			if rec.RequestHash != hash {
				writeProblem(w, http.StatusUnprocessableEntity, "this Idempotency-Key was used with a different request")
				return
			}
			w.Header().Set("Content-Type", rec.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		case err != nil && !errors.Is(err, store.ErrNotFound):
			writeProblem(w, http.StatusServiceUnavailable, "cannot check the Idempotency-Key now")
			return
		}

		flight := scope + "\x00" + ikey
		m.mu.Lock()
		busy := m.inFlight[flight]
		m.inFlight[flight] = true
		m.mu.Unlock()
		if busy {
			writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still in progress")
			return
		}
		defer func() {
			m.mu.Lock()
			delete(m.inFlight, flight)
			m.mu.Unlock()
		}()

		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rw, r)
		// Only settled outcomes are remembered: a 5xx or a 429 may succeed
		// when retried.
		if rw.status >= 500 || rw.status == http.StatusTooManyRequests || rw.status == http.StatusUnauthorized {
			return
		}
		rec = &store.IdempotencyRecord{Scope: scope, Key: ikey, RequestHash: hash, Status: rw.status,
			ContentType: rw.Header().Get("Content-Type"), Body: rw.body.Bytes(), CreatedAt: time.Now().UTC()}
		_ = m.store.InTx(r.Context(), func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyPut(ctx, rec) })
	})
}

// recorder keeps a copy of the response.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

// Unwrap lets http.ResponseController (flushing a live stream, deadlines)
// reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// writeProblem writes a problem+json error outside huma's handlers.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
	_, _ = w.Write(body)
}
