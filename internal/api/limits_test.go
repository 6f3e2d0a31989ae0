package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/store"
)

func TestIdempotencyKeyReplaysFirstResponse(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		idem := func(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }
		group := map[string]any{"key": "task", "name": "Task"}

		first := b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: group, Header: idem("k1")})
		require.Equal(t, http.StatusCreated, first.status, "%s", first)
		again := b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: group, Header: idem("k1")})
		require.Equal(t, http.StatusCreated, again.status, "%s", again)
		require.Equal(t, first.body, again.body)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Equal(t, first.header.Get("Content-Type"), again.header.Get("Content-Type"))
		require.Len(t, b.listEvents(t, b.admin, "type=field_group.created"), 2, "customer and task, once")

		// The same key with another body is refused, and does nothing.
		other := b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: map[string]any{"key": "order", "name": "Order"}, Header: idem("k1")})
		requireProblem(t, other, http.StatusUnprocessableEntity)
		requireProblem(t, b.do(t, http.MethodGet, "/api/field-groups/order", nil), http.StatusNotFound)
		// Keys belong to the API key that sent them.
		res := b.send(t, req{Method: http.MethodPost, Path: "/api/events", Key: b.tenant, Body: map[string]any{"type": "X", "data": map[string]any{}}, Header: idem("k1")})
		require.Equal(t, http.StatusAccepted, res.status, "%s", res)
		require.Empty(t, res.header.Get("Idempotent-Replayed"))

		// A replayed save returns the first answer and does not apply again.
		path := valuesPath(tenant, "customer", "acme-1")
		save := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"company_size": 1}, Header: idem("k2")})
		require.Equal(t, http.StatusOK, save.status, "%s", save)
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"company_size": 2})
		before := b.eventCount(t)
		replay := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"company_size": 1}, Header: idem("k2")})
		require.Equal(t, http.StatusOK, replay.status)
		require.Equal(t, save.body, replay.body)
		require.JSONEq(t, `{"data":{"company_size":1},"version":1}`, string(replay.body))
		require.Equal(t, map[string]any{"company_size": 2.0}, b.ok(t, http.StatusOK, http.MethodGet, path, nil)["data"])
		require.Equal(t, before, b.eventCount(t))

		// Refusals are replayed too, and deletes.
		bad := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"company_size": "x"}, Header: idem("k3")})
		requireProblem(t, bad, http.StatusUnprocessableEntity, "body.company_size")
		badAgain := b.send(t, req{Method: http.MethodPost, Path: path, Key: b.admin, Body: map[string]any{"company_size": "x"}, Header: idem("k3")})
		require.Equal(t, bad.body, badAgain.body)
		del := b.send(t, req{Method: http.MethodDelete, Path: path, Key: b.admin, Header: idem("k4")})
		require.Equal(t, http.StatusNoContent, del.status, "%s", del)
		delAgain := b.send(t, req{Method: http.MethodDelete, Path: path, Key: b.admin, Header: idem("k4")})
		require.Equal(t, http.StatusNoContent, delAgain.status, "%s", delAgain)
		require.Equal(t, "true", delAgain.header.Get("Idempotent-Replayed"))

		requireProblem(t, b.send(t, req{Method: http.MethodPost, Path: "/api/events", Key: b.admin, Body: map[string]any{"type": "X", "data": map[string]any{}}, Header: idem(strings.Repeat("k", 256))}), http.StatusBadRequest)
	})
}

// TestIdempotencyKeyHoldsAcrossInstances sends one Idempotency-Key to two
// API servers over one database: the second answers the first's response,
// and a claim made by a request still running elsewhere holds the key on
// both until it runs out.
func TestIdempotencyKeyHoldsAcrossInstances(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		a := setup(t, dialect, nil)
		b := a.peer(t)
		idem := func(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }
		create := func(bundle *testBundle, ikey, groupKey string) *response {
			return bundle.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: a.admin,
				Body: map[string]any{"key": groupKey, "name": "G"}, Header: idem(ikey)})
		}

		first := create(a, "k1", "g1")
		require.Equal(t, http.StatusCreated, first.status, "%s", first)
		again := create(b, "k1", "g1")
		require.Equal(t, http.StatusCreated, again.status, "%s", again)
		require.Equal(t, first.body, again.body)
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		requireProblem(t, create(b, "k1", "other"), http.StatusUnprocessableEntity)

		// A request holding k2 runs on a third instance.
		ctx := t.Context()
		k, err := a.store.APIKeyGetByHash(ctx, api.HashKey(a.admin))
		require.NoError(t, err)
		ref := store.IdempotencyClaimRef{Scope: k.ID, Key: "k2", Token: "elsewhere"}
		now := time.Now().UTC()
		require.NoError(t, a.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, claimed, err := tx.IdempotencyClaim(ctx, &store.IdempotencyClaimParams{Scope: ref.Scope, Key: ref.Key, Token: ref.Token,
				RequestHash: "its request", At: now, Until: now.Add(time.Minute), ExpiredBefore: now.Add(-time.Hour)})
			require.True(t, claimed)
			return err
		}))
		requireProblem(t, create(a, "k2", "g2"), http.StatusConflict)
		requireProblem(t, create(b, "k2", "g2"), http.StatusConflict)
		requireProblem(t, a.do(t, http.MethodGet, "/api/field-groups/g2", nil), http.StatusNotFound)

		// Its process died: once the claim runs out the key is free.
		require.NoError(t, a.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.IdempotencyExtendClaim(ctx, ref, now.Add(-time.Second))
			return err
		}))
		took := create(b, "k2", "g2")
		require.Equal(t, http.StatusCreated, took.status, "%s", took)
		replay := create(a, "k2", "g2")
		require.Equal(t, took.body, replay.body)
		require.Equal(t, "true", replay.header.Get("Idempotent-Replayed"))
	})
}

func TestBodyOverLimitIsTooLarge(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, nil)
		const limit = 1 << 20
		// A JSON object of exactly n bytes.
		sized := func(key string, n int) string {
			head := `{"` + key + `":"`
			return head + strings.Repeat("a", n-len(head)-2) + `"}`
		}
		path := valuesPath(tenant, "customer", "acme-1")
		routes := []struct{ method, path, key string }{
			{http.MethodPost, "/api/field-groups", "description"},
			{http.MethodPatch, "/api/field-groups/customer", "description"},
			{http.MethodPost, "/api/global-fields", "label"},
			{http.MethodPost, "/api/tenants/t1/field-groups/customer/fields", "label"},
			{http.MethodPost, path, "extra"},
			{http.MethodPost, "/api/events", "type"},
		}
		for _, r := range routes {
			requireProblem(t, b.do(t, r.method, r.path, sized(r.key, limit+1)), http.StatusRequestEntityTooLarge)
			res := b.send(t, req{Method: r.method, Path: r.path, Key: b.admin, Body: sized(r.key, limit+1), Header: map[string]string{"Idempotency-Key": "big-" + r.path}})
			requireProblem(t, res, http.StatusRequestEntityTooLarge)
		}
		require.Equal(t, map[string]any{}, b.ok(t, http.StatusOK, http.MethodGet, path, nil)["data"])

		// A body of exactly the limit is read (and then judged on its merits).
		res := b.do(t, http.MethodPost, "/api/events", sized("type", limit))
		requireProblem(t, res, http.StatusUnprocessableEntity, "body.type")
	})
}

func TestConfiguredBodyLimitApplies(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setupCustomer(t, dialect, &serverOpts{MaxBodyBytes: 1000})
		path := valuesPath(tenant, "customer", "acme-1")
		big := `{"extra":"` + strings.Repeat("a", 1000) + `"}`
		requireProblem(t, b.do(t, http.MethodPost, path, big), http.StatusRequestEntityTooLarge)
		requireProblem(t, b.do(t, http.MethodPost, "/api/events", `{"type":"X","data":{"a":"`+strings.Repeat("a", 1000)+`"}}`), http.StatusRequestEntityTooLarge)
		b.ok(t, http.StatusOK, http.MethodPost, path, map[string]any{"extra": strings.Repeat("a", 900)})
	})
}

// TestKeysAreCaseSensitive: a key that differs from a known one only in
// case is an unknown key, refused, not quietly taken for the known one.
func TestKeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := setup(t, dialect, nil)
		res := b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: map[string]any{"key": "booking", "NAME": "Booking"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s", res)
		res = b.send(t, req{Method: http.MethodPost, Path: "/api/field-groups", Key: b.admin, Body: map[string]any{"key": "booking", "name": "Booking"}})
		require.Equal(t, http.StatusCreated, res.status, "%s", res)
	})
}
