package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testAPIKeys(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	newKey := func(hash, role, tenantID string) *store.APIKey {
		return &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: role, TenantID: tenantID, CreatedAt: now()}
	}
	create := func(t *testing.T, s store.Store, k *store.APIKey) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.APIKeyCreate(ctx, k) })
	}

	revoke := func(t *testing.T, s store.Store, id string, at time.Time) error {
		t.Helper()
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.APIKeyRevoke(ctx, &store.APIKeyRevokeParams{ID: id, At: at})
		})
	}

	t.Run("CreateThenGetByHash", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		k := newKey("hash-1", store.RoleTenant, "t1")
		k.Name, k.Prefix, k.ExpiresAt = "ci deploys", "AbCdEfGh", now().Add(time.Hour)
		require.NoError(t, create(t, bundle.s, k))
		got, err := bundle.s.APIKeyGetByHash(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.True(t, got.LastUsedAt.IsZero())
		require.True(t, got.RevokedAt.IsZero())
	})
	t.Run("GetByIDRoundTripsAndUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		k := newKey("hash-1", store.RoleAdmin, "")
		k.Name = "ops"
		require.NoError(t, create(t, bundle.s, k))
		got, err := bundle.s.APIKeyGet(ctx, k.ID)
		require.NoError(t, err)
		require.Equal(t, k, got)
		_, err = bundle.s.APIKeyGet(ctx, "key_unknown")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("GetByUnknownHashIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, create(t, bundle.s, newKey("hash-1", store.RoleAdmin, "")))
		_, err := bundle.s.APIKeyGetByHash(ctx, "hash-2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DuplicateHashIsConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, create(t, bundle.s, newKey("hash-1", store.RoleAdmin, "")))
		require.ErrorIs(t, create(t, bundle.s, newKey("hash-1", store.RoleTenant, "t1")), store.ErrConflict)
		got, err := bundle.s.APIKeyGetByHash(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, store.RoleAdmin, got.Role)
	})
	t.Run("CountAdminsCountsOnlyActiveAdminKeys", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := now()
		n, err := bundle.s.APIKeyCountAdmins(ctx, at)
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, create(t, bundle.s, newKey("a1", store.RoleAdmin, "")))
		require.NoError(t, create(t, bundle.s, newKey("t1", store.RoleTenant, "t1")))
		require.NoError(t, create(t, bundle.s, newKey("a2", store.RoleAdmin, "")))
		expiring := newKey("a3", store.RoleAdmin, "")
		expiring.ExpiresAt = at.Add(time.Minute)
		require.NoError(t, create(t, bundle.s, expiring))
		revoked := newKey("a4", store.RoleAdmin, "")
		revoked.RevokedAt = at.Add(-time.Minute)
		require.NoError(t, create(t, bundle.s, revoked))
		n, err = bundle.s.APIKeyCountAdmins(ctx, at)
		require.NoError(t, err)
		require.Equal(t, 3, n, "a1, a2 and a3 until it expires")
		n, err = bundle.s.APIKeyCountAdmins(ctx, at.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, 2, n, "a3 has expired")
	})
	t.Run("ListPagesOldestFirstAndFilters", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := now()
		var keys []*store.APIKey
		for i, tenantID := range []string{"", "t1", "t2", "t1", "t1"} {
			role := store.RoleTenant
			if tenantID == "" {
				role = store.RoleAdmin
			}
			k := newKey(fmt.Sprintf("h%d", i), role, tenantID)
			k.CreatedAt = at.Add(time.Duration(i) * time.Second)
			keys = append(keys, k)
		}
		keys[3].RevokedAt = at
		keys[4].ExpiresAt = at.Add(-time.Second)
		for _, k := range keys {
			require.NoError(t, create(t, bundle.s, k))
		}

		page1, total, err := bundle.s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: 1, PageSize: 2}})
		require.NoError(t, err)
		require.Equal(t, 5, total)
		require.Equal(t, keys[:2], page1)
		page3, _, err := bundle.s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: 3, PageSize: 2}})
		require.NoError(t, err)
		require.Equal(t, keys[4:], page3)

		t1 := "t1"
		got, total, err := bundle.s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: 1, PageSize: 50}, TenantID: &t1})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []*store.APIKey{keys[1], keys[3], keys[4]}, got)

		got, total, err = bundle.s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: 1, PageSize: 50}, TenantID: &t1, Active: at})
		require.NoError(t, err)
		require.Equal(t, 1, total)
		require.Equal(t, []*store.APIKey{keys[1]}, got, "revoked and expired keys are left out")
	})
	t.Run("RevokeMarksTheKeyOnceAndUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		k := newKey("t1", store.RoleTenant, "t1")
		require.NoError(t, create(t, bundle.s, k))
		at := now()
		require.NoError(t, revoke(t, bundle.s, k.ID, at))
		require.NoError(t, revoke(t, bundle.s, k.ID, at.Add(time.Hour)), "revoking twice is not an error")
		got, err := bundle.s.APIKeyGetByHash(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, dbTime(at), got.RevokedAt, "the first revocation's time stays")
		require.False(t, got.Active(at))
		require.ErrorIs(t, revoke(t, bundle.s, "key_unknown", at), store.ErrNotFound)
	})
	t.Run("RevokeRefusesTheLastActiveAdminKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := now()
		last := newKey("a1", store.RoleAdmin, "")
		expired := newKey("a2", store.RoleAdmin, "")
		expired.ExpiresAt = at.Add(-time.Second)
		tenantKey := newKey("t1", store.RoleTenant, "t1")
		for _, k := range []*store.APIKey{last, expired, tenantKey} {
			require.NoError(t, create(t, bundle.s, k))
		}
		err := revoke(t, bundle.s, last.ID, at)
		require.ErrorIs(t, err, store.ErrLastAdminKey)
		require.ErrorIs(t, err, store.ErrConflict)
		got, err := bundle.s.APIKeyGet(ctx, last.ID)
		require.NoError(t, err)
		require.True(t, got.Active(at))
		// Keys that are no active admin go whatever the count.
		require.NoError(t, revoke(t, bundle.s, expired.ID, at))
		require.NoError(t, revoke(t, bundle.s, tenantKey.ID, at))
		// With a second admin key, the first may go.
		second := newKey("a3", store.RoleAdmin, "")
		require.NoError(t, create(t, bundle.s, second))
		require.NoError(t, revoke(t, bundle.s, last.ID, at))
		require.ErrorIs(t, revoke(t, bundle.s, second.ID, at), store.ErrLastAdminKey)
	})
	t.Run("ConcurrentRevocationsNeverRevokeEveryAdminKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		at := now()
		// Each round races the revocations of the only two active admin
		// keys: the one the last round left and a new one.
		left := newKey("a", store.RoleAdmin, "")
		require.NoError(t, create(t, bundle.s, left))
		for round := range 5 {
			b := newKey(fmt.Sprintf("b%d", round), store.RoleAdmin, "")
			require.NoError(t, create(t, bundle.s, b))
			errs := make(chan error, 2)
			for _, id := range []string{left.ID, b.ID} {
				go func() { errs <- revoke(t, bundle.s, id, at) }()
			}
			var refused int
			for range 2 {
				if err := <-errs; err != nil {
					require.ErrorIs(t, err, store.ErrLastAdminKey)
					refused++
				}
			}
			active, _, err := bundle.s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: 1, PageSize: 10}, Active: at})
			require.NoError(t, err)
			require.Len(t, active, 1)
			left = active[0]
			require.Equal(t, 1, refused, "round %d: exactly one of the two revocations must be refused", round)
			n, err := bundle.s.APIKeyCountAdmins(ctx, at)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
	})
	t.Run("TouchWritesOnlyWhenTheLastUseIsOlder", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		k := newKey("h", store.RoleAdmin, "")
		require.NoError(t, create(t, bundle.s, k))
		touch := func(at, before time.Time) {
			t.Helper()
			mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
				return tx.APIKeyTouch(ctx, &store.APIKeyTouchParams{ID: k.ID, At: at, Before: before})
			})
		}
		lastUsed := func() time.Time {
			t.Helper()
			got, err := bundle.s.APIKeyGet(ctx, k.ID)
			require.NoError(t, err)
			return got.LastUsedAt
		}
		t0 := now()
		touch(t0, t0.Add(-time.Minute))
		require.Equal(t, dbTime(t0), lastUsed(), "a key never used is touched")
		touch(t0.Add(30*time.Second), t0.Add(-30*time.Second))
		require.Equal(t, dbTime(t0), lastUsed(), "used within the interval: no write")
		touch(t0.Add(2*time.Minute), t0.Add(time.Minute))
		require.Equal(t, dbTime(t0.Add(2*time.Minute)), lastUsed())
	})
}

// newIdempotencyRecord is a stored 201 response for scope and key.
func newIdempotencyRecord(scope, key string, at time.Time) *store.IdempotencyRecord {
	return &store.IdempotencyRecord{Scope: scope, Key: key, RequestHash: "req-" + key, Status: 201,
		ContentType: "application/json", Body: []byte(`{"id":"` + key + `"}`), CreatedAt: at}
}

func testIdempotency(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	put := func(t *testing.T, s store.Store, r *store.IdempotencyRecord) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyPut(ctx, r) })
	}
	newRecord := newIdempotencyRecord

	t.Run("PutThenGetRoundTripsBodyBytes", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		r := newRecord("key_1", "k1", now())
		r.Body = []byte{0x00, 0xff, 0xfe, '{', 0x80, '\n'} // not text
		put(t, bundle.s, r)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, r, got)
	})
	t.Run("PutKeepsAnEmptyBody", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// A 204 No Content: the recorder's body is nil.
		r := newRecord("key_1", "k1", now())
		r.Status, r.ContentType, r.Body = 204, "", nil
		put(t, bundle.s, r)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, 204, got.Status)
		require.Empty(t, got.Body)
	})
	t.Run("PutUpsertsTheScopeAndKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		put(t, bundle.s, newRecord("key_1", "k1", now().Add(-time.Minute)))
		second := &store.IdempotencyRecord{Scope: "key_1", Key: "k1", RequestHash: "other", Status: 409,
			ContentType: "application/problem+json", Body: []byte(`{"title":"Conflict"}`), CreatedAt: now()}
		put(t, bundle.s, second)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, second, got)
	})
	t.Run("KeysAreScoped", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a, b := newRecord("key_1", "k1", now()), newRecord("key_2", "k1", now())
		b.Status = 200
		put(t, bundle.s, a)
		put(t, bundle.s, b)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, a, got)
		got, err = bundle.s.IdempotencyGet(ctx, "key_2", "k1")
		require.NoError(t, err)
		require.Equal(t, b, got)
		_, err = bundle.s.IdempotencyGet(ctx, "key_3", "k1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.IdempotencyGet(ctx, "key_1", "k2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("GetShowsTheTokenOfAPutRecordEmpty", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		put(t, bundle.s, newRecord("key_1", "k1", now()))
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Empty(t, got.Token)
		require.True(t, got.ClaimedUntil.IsZero())
	})
	t.Run("DeleteBeforeRemovesOnlyOlderRecordsAndCountsThem", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cutoff := now()
		put(t, bundle.s, newRecord("key_1", "old1", cutoff.Add(-time.Hour)))
		put(t, bundle.s, newRecord("key_2", "old2", cutoff.Add(-time.Microsecond)))
		put(t, bundle.s, newRecord("key_1", "at", cutoff))
		put(t, bundle.s, newRecord("key_1", "new", cutoff.Add(time.Second)))

		var n int
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.IdempotencyDeleteBefore(ctx, cutoff)
			return err
		})
		require.Equal(t, 2, n)
		for key, kept := range map[string]bool{"old1": false, "old2": false, "at": true, "new": true} {
			scope := "key_1"
			if key == "old2" {
				scope = "key_2"
			}
			_, err := bundle.s.IdempotencyGet(ctx, scope, key)
			if kept {
				require.NoError(t, err, key)
			} else {
				require.ErrorIs(t, err, store.ErrNotFound, key)
			}
		}
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			n, err = tx.IdempotencyDeleteBefore(ctx, cutoff)
			return err
		})
		require.Zero(t, n)
	})
}

func testIdempotencyClaims(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s  store.Store
		t0 time.Time
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t), t0: now()}, t.Context()
	}
	// params claims key_1/k1 for the request hashed "req" at at, for a
	// minute, with responses older than an hour expired.
	params := func(token string, at time.Time) *store.IdempotencyClaimParams {
		return &store.IdempotencyClaimParams{Scope: "key_1", Key: "k1", RequestHash: "req", Token: token,
			At: at, Until: at.Add(time.Minute), ExpiredBefore: at.Add(-time.Hour)}
	}
	claim := func(t *testing.T, s store.Store, p *store.IdempotencyClaimParams) (*store.IdempotencyRecord, bool) {
		t.Helper()
		var held *store.IdempotencyRecord
		var claimed bool
		mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			held, claimed, err = tx.IdempotencyClaim(ctx, p)
			return err
		})
		return held, claimed
	}
	complete := func(t *testing.T, s store.Store, token string, at time.Time) bool {
		t.Helper()
		var ok bool
		mustTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
			ok, err = tx.IdempotencyComplete(ctx, &store.IdempotencyRecord{Scope: "key_1", Key: "k1", RequestHash: "req", Token: token,
				Status: 201, ContentType: "application/json", Body: []byte(`{"by":"` + token + `"}`), CreatedAt: at})
			return err
		})
		return ok
	}
	put := func(t *testing.T, s store.Store, r *store.IdempotencyRecord) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyPut(ctx, r) })
	}
	ref := func(token string) store.IdempotencyClaimRef {
		return store.IdempotencyClaimRef{Scope: "key_1", Key: "k1", Token: token}
	}

	t.Run("AFreeKeyIsClaimedAndTheClaimIsSeen", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		held, claimed := claim(t, bundle.s, params("a", bundle.t0))
		require.True(t, claimed)
		require.Nil(t, held)
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Empty(t, got.Body)
		got.Body = nil
		require.Equal(t, &store.IdempotencyRecord{Scope: "key_1", Key: "k1", RequestHash: "req", Status: 0,
			CreatedAt: bundle.t0, Token: "a", ClaimedUntil: bundle.t0.Add(time.Minute)}, got)
	})
	t.Run("ALiveClaimHoldsTheKeyAgainstAnotherRequest", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		_, claimed := claim(t, bundle.s, params("a", bundle.t0))
		require.True(t, claimed)
		p := params("b", bundle.t0.Add(30*time.Second))
		p.RequestHash = "other"
		held, claimed := claim(t, bundle.s, p)
		require.False(t, claimed)
		require.Equal(t, "a", held.Token)
		require.Equal(t, "req", held.RequestHash, "the holder's request, to tell a repeat from another request")
		require.Zero(t, held.Status, "no response yet")
	})
	t.Run("ACompletedClaimAnswersLaterClaimsWithItsResponse", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		claim(t, bundle.s, params("a", bundle.t0))
		require.True(t, complete(t, bundle.s, "a", bundle.t0.Add(time.Second)))
		// Long after the claim would have run out, but within the TTL.
		held, claimed := claim(t, bundle.s, params("b", bundle.t0.Add(10*time.Minute)))
		require.False(t, claimed)
		require.Equal(t, 201, held.Status)
		require.Equal(t, `{"by":"a"}`, string(held.Body))
		require.Equal(t, "application/json", held.ContentType)
		require.Equal(t, bundle.t0.Add(time.Second), held.CreatedAt)
		require.True(t, held.ClaimedUntil.IsZero())
		require.False(t, complete(t, bundle.s, "a", bundle.t0), "completed once")
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, held, got)
	})
	t.Run("AnExpiredResponseIsReplacedByANewClaim", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		put(t, bundle.s, newIdempotencyRecord("key_1", "k1", bundle.t0.Add(-2*time.Hour)))
		held, claimed := claim(t, bundle.s, params("a", bundle.t0))
		require.True(t, claimed, "held by %+v", held)
		require.True(t, complete(t, bundle.s, "a", bundle.t0))
	})
	t.Run("AClaimThatRanOutIsTakenOverAndItsRequestCanNoLongerComplete", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		claim(t, bundle.s, params("a", bundle.t0))
		// The claim ran out a minute after t0: its process died.
		_, claimed := claim(t, bundle.s, params("b", bundle.t0.Add(2*time.Minute)))
		require.True(t, claimed)
		var ok bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			ok, err = tx.IdempotencyExtendClaim(ctx, ref("a"), bundle.t0.Add(time.Hour))
			return err
		})
		require.False(t, ok, "a lost its claim")
		require.False(t, complete(t, bundle.s, "a", bundle.t0.Add(2*time.Minute)))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyRelease(ctx, ref("a")) })
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, "b", got.Token, "a's release leaves b's claim alone")
		require.True(t, complete(t, bundle.s, "b", bundle.t0.Add(2*time.Minute)))
	})
	t.Run("AnExtendedClaimHoldsPastItsFirstEnd", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		claim(t, bundle.s, params("a", bundle.t0))
		var ok bool
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			ok, err = tx.IdempotencyExtendClaim(ctx, ref("a"), bundle.t0.Add(5*time.Minute))
			return err
		})
		require.True(t, ok)
		held, claimed := claim(t, bundle.s, params("b", bundle.t0.Add(2*time.Minute)))
		require.False(t, claimed)
		require.Equal(t, "a", held.Token)
		require.Equal(t, bundle.t0.Add(5*time.Minute), held.ClaimedUntil)

		require.True(t, complete(t, bundle.s, "a", bundle.t0))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			ok, err = tx.IdempotencyExtendClaim(ctx, ref("a"), bundle.t0.Add(time.Hour))
			return err
		})
		require.False(t, ok, "a response is no claim to extend")
	})
	t.Run("AReleasedClaimFreesTheKey", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		claim(t, bundle.s, params("a", bundle.t0))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyRelease(ctx, ref("other")) })
		_, claimed := claim(t, bundle.s, params("b", bundle.t0))
		require.False(t, claimed, "another token's release does nothing")
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyRelease(ctx, ref("a")) })
		_, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, claimed = claim(t, bundle.s, params("b", bundle.t0))
		require.True(t, claimed)

		// A response is never released.
		require.True(t, complete(t, bundle.s, "b", bundle.t0))
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.IdempotencyRelease(ctx, ref("b")) })
		got, err := bundle.s.IdempotencyGet(ctx, "key_1", "k1")
		require.NoError(t, err)
		require.Equal(t, 201, got.Status)
	})
	t.Run("ClaimsAreScopedByAPIKey", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		claim(t, bundle.s, params("a", bundle.t0))
		p := params("b", bundle.t0)
		p.Scope = "key_2"
		_, claimed := claim(t, bundle.s, p)
		require.True(t, claimed)
	})
	t.Run("OfConcurrentClaimsExactlyOneWins", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners, holders []string
		for i := range n {
			wg.Go(func() {
				token := fmt.Sprintf("t%02d", i)
				var held *store.IdempotencyRecord
				var claimed bool
				err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
					held, claimed, err = tx.IdempotencyClaim(ctx, params(token, bundle.t0))
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("claim %s: %v", token, err)
					return
				}
				if claimed {
					winners = append(winners, token)
				} else {
					holders = append(holders, held.Token)
				}
			})
		}
		wg.Wait()
		require.Len(t, winners, 1, "winners %v", winners)
		require.Len(t, holders, n-1)
		for _, h := range holders {
			require.Equal(t, winners[0], h, "every loser sees the winner's claim")
		}
	})
}
