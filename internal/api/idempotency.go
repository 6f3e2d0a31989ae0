package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
//
// The key is claimed in the database before the handler runs, so this
// holds across every instance sharing it: a second request, to whichever
// instance, finds the claim (409) or the stored response (a replay). A
// claim is a lease that the running request extends; if its process dies,
// the key is free again once the lease runs out.
type idempotency struct {
	store   store.Store
	auth    *authenticator
	ttl     time.Duration
	maxBody int64
}

// claimLease is how long a claim holds its key without being extended:
// how long a key stays blocked after the process running its request
// died. The request extends it every third of it.
const claimLease = 30 * time.Second

func (m *idempotency) wrap(next http.Handler) http.Handler {
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

		now := time.Now().UTC()
		c := &store.IdempotencyClaimParams{Scope: p.KeyID, Key: ikey, RequestHash: hash, Token: rand.Text(),
			At: now, Until: now.Add(claimLease), ExpiredBefore: now.Add(-m.ttl)}
		var held *store.IdempotencyRecord
		var claimed bool
		err = m.store.InTx(r.Context(), func(ctx context.Context, tx store.Tx) (err error) {
			held, claimed, err = tx.IdempotencyClaim(ctx, c)
			return err
		})
		switch {
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "cannot check the Idempotency-Key now")
			return
		case claimed:
		case held.Status == 0:
			writeProblem(w, http.StatusConflict, "a request with this Idempotency-Key is still in progress")
			return
		case held.RequestHash != hash:
			writeProblem(w, http.StatusUnprocessableEntity, "this Idempotency-Key was used with a different request")
			return
		default:
			w.Header().Set("Content-Type", held.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(held.Status)
			_, _ = w.Write(held.Body)
			return
		}

		ref := store.IdempotencyClaimRef{Scope: c.Scope, Key: c.Key, Token: c.Token}
		// The claim's writes must not depend on the client staying: a
		// claim left behind blocks the key until its lease runs out.
		ctx := context.WithoutCancel(r.Context())
		stopExtending := m.keepClaim(ctx, ref)
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		settled := false
		defer func() {
			stopExtending()
			if settled {
				rec := &store.IdempotencyRecord{Scope: c.Scope, Key: c.Key, RequestHash: hash, Token: c.Token, Status: rw.status,
					ContentType: rw.Header().Get("Content-Type"), Body: rw.body.Bytes(), CreatedAt: time.Now().UTC()}
				_ = m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					_, err := tx.IdempotencyComplete(ctx, rec)
					return err
				})
				return
			}
			// A handler that panicked, or an outcome worth retrying: the
			// next request with the key runs.
			_ = m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyRelease(ctx, ref) })
		}()
		next.ServeHTTP(rw, r)
		// Only settled outcomes are remembered: a 5xx or a 429 may succeed
		// when retried.
		settled = rw.status < 500 && rw.status != http.StatusTooManyRequests && rw.status != http.StatusUnauthorized
	})
}

// keepClaim extends the claim every third of its lease while its request
// runs, and returns the function that stops it. A request shorter than
// that (nearly all) costs a timer and no write.
func (m *idempotency) keepClaim(ctx context.Context, ref store.IdempotencyClaimRef) (stop func()) {
	var mu sync.Mutex
	stopped := false  // guarded by mu
	var t *time.Timer // guarded by mu
	extend := func() {
		until := time.Now().Add(claimLease)
		var held bool
		err := m.store.InTx(ctx, func(ctx context.Context, tx store.Tx) (err error) {
			held, err = tx.IdempotencyExtendClaim(ctx, ref, until)
			return err
		})
		mu.Lock()
		defer mu.Unlock()
		// A failed write is tried again at the next tick; a claim taken
		// over (this process stalled past its lease) is not kept.
		if !stopped && (held || err != nil) {
			t.Reset(claimLease / 3)
		}
	}
	mu.Lock()
	t = time.AfterFunc(claimLease/3, extend)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
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
