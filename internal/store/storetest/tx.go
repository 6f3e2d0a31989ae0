package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Functions passed to InTx never call require: they may run on the store's
// committer goroutine, where FailNow must not be called. They record what
// they saw, and the test asserts once InTx has returned.

var errBoom = errors.New("storetest: boom")

func testInTx(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
		g *store.FieldGroup
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		s := newStore(t)
		return &testBundle{s: s, g: createGroup(t, s, "booking")}, t.Context()
	}
	// writeAll writes one row of every kind, keyed by suffix.
	writeAll := func(ctx context.Context, tx store.Tx, groupID, suffix string) error {
		g := &store.FieldGroup{ID: "fg_" + suffix, Key: "group_" + suffix, Name: "n", CreatedAt: now(), UpdatedAt: now()}
		gf := newGlobalField("global_"+suffix, groupID)
		gf.ID = "gf_" + suffix
		tf := newTenantField("t1", groupID, "tenant_"+suffix)
		tf.ID = "tf_" + suffix
		k := store.EntityKey{TenantID: "t1", FieldGroupID: groupID, EntityID: "e_" + suffix}
		steps := []func() error{
			func() error { return tx.FieldGroupCreate(ctx, g) },
			func() error { return tx.GlobalFieldCreate(ctx, gf) },
			func() error { return tx.TenantFieldCreate(ctx, tf) },
			func() error { _, err := tx.EntityLock(ctx, k); return err },
			func() error {
				return tx.EntitySave(ctx, &store.EntitySaveParams{EntityKey: k, Set: map[string]json.RawMessage{"room": json.RawMessage(`"1"`)},
					ValueText: map[string]string{"room": "1"}, Version: 1, At: now()})
			},
			func() error {
				return tx.EventInsert(ctx, []*events.Event{{ID: "evt_" + suffix, Type: "t", TenantID: "t1", OccurredAt: now(), Payload: []byte(`{}`)}})
			},
			func() error {
				return tx.APIKeyCreate(ctx, &store.APIKey{ID: "key_" + suffix, Hash: "hash_" + suffix, Role: store.RoleAdmin, CreatedAt: now()})
			},
			func() error {
				return tx.IdempotencyPut(ctx, &store.IdempotencyRecord{Scope: "s", Key: suffix, RequestHash: "h", Status: 200, Body: []byte("{}"), CreatedAt: now()})
			},
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	}
	// requireNoneOf fails unless nothing writeAll(suffix) writes is stored.
	requireNoneOf := func(t *testing.T, ctx context.Context, s store.Store, groupID, suffix string) {
		t.Helper()
		_, err := s.FieldGroupGet(ctx, "fg_"+suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GlobalFieldGet(ctx, "gf_"+suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.TenantFieldGet(ctx, "tf_"+suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
		e, err := s.EntityGet(ctx, store.EntityKey{TenantID: "t1", FieldGroupID: groupID, EntityID: "e_" + suffix})
		require.NoError(t, err)
		require.Zero(t, e.Version)
		require.Empty(t, e.Values)
		_, err = s.EventGet(ctx, "evt_"+suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.APIKeyGetByHash(ctx, "hash_"+suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.IdempotencyGet(ctx, "s", suffix)
		require.ErrorIs(t, err, store.ErrNotFound)
	}

	t.Run("CommitStoresEveryWrite", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return writeAll(ctx, tx, bundle.g.ID, "x") })
		_, err := bundle.s.FieldGroupGet(ctx, "fg_x")
		require.NoError(t, err)
		_, err = bundle.s.GlobalFieldGet(ctx, "gf_x")
		require.NoError(t, err)
		_, err = bundle.s.TenantFieldGet(ctx, "tf_x")
		require.NoError(t, err)
		e, err := bundle.s.EntityGet(ctx, store.EntityKey{TenantID: "t1", FieldGroupID: bundle.g.ID, EntityID: "e_x"})
		require.NoError(t, err)
		require.Equal(t, int64(1), e.Version)
		_, err = bundle.s.EventGet(ctx, "evt_x")
		require.NoError(t, err)
		_, err = bundle.s.APIKeyGetByHash(ctx, "hash_x")
		require.NoError(t, err)
		_, err = bundle.s.IdempotencyGet(ctx, "s", "x")
		require.NoError(t, err)
	})
	t.Run("ErrorRollsBackEverythingTheFnWrote", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			if err := writeAll(ctx, tx, bundle.g.ID, "x"); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		requireNoneOf(t, ctx, bundle.s, bundle.g.ID, "x")
	})
	t.Run("ErrorRollsBackUpdatesAndDeletes", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		tf := createTenantField(t, bundle.s, "t1", bundle.g.ID, "room")
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			upd := *bundle.g
			upd.Name = "changed"
			if err := tx.FieldGroupUpdate(ctx, &upd); err != nil {
				return err
			}
			if err := tx.TenantFieldDelete(ctx, tf.ID); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		g, err := bundle.s.FieldGroupGet(ctx, bundle.g.ID)
		require.NoError(t, err)
		require.Equal(t, bundle.g, g)
		got, err := bundle.s.TenantFieldGet(ctx, tf.ID)
		require.NoError(t, err)
		require.Equal(t, tf, got)
	})
	t.Run("ReadsInsideSeeOwnWritesAndReadsOutsideDoNot", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		var inside *store.FieldGroup
		var outsideErr error
		var total int
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) (err error) {
			if err := writeAll(ctx, tx, bundle.g.ID, "x"); err != nil {
				return err
			}
			if inside, err = tx.FieldGroupGet(ctx, "group_x"); err != nil {
				return err
			}
			if _, total, err = tx.FieldGroupList(ctx, store.Page{Page: 1, PageSize: 10}); err != nil {
				return err
			}
			_, outsideErr = bundle.s.FieldGroupGet(ctx, "group_x")
			return nil
		})
		require.Equal(t, "fg_x", inside.ID)
		require.Equal(t, 2, total)
		require.ErrorIs(t, outsideErr, store.ErrNotFound, "uncommitted writes are invisible outside the transaction")
	})
	t.Run("AfterCommitRunsOnceCommittedInOrder", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		var ran []string
		var seenErr error
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			tx.AfterCommit(func() {
				ran = append(ran, "first")
				// The write is visible outside the transaction: committed.
				_, seenErr = bundle.s.FieldGroupGet(ctx, "group_x")
			})
			tx.AfterCommit(func() { ran = append(ran, "second") })
			if len(ran) != 0 {
				return errors.New("hook ran before commit")
			}
			return writeAll(ctx, tx, bundle.g.ID, "x")
		})
		require.Equal(t, []string{"first", "second"}, ran, "hooks ran once each, in order, before InTx returned")
		require.NoError(t, seenErr)
	})
	t.Run("AfterCommitNeverRunsAfterAnError", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		var ran atomic.Bool
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			tx.AfterCommit(func() { ran.Store(true) })
			if err := writeAll(ctx, tx, bundle.g.ID, "x"); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.False(t, ran.Load())
	})
	t.Run("PanicReturnsErrorAndStoresNothing", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		var ran atomic.Bool
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error {
			tx.AfterCommit(func() { ran.Store(true) })
			if err := writeAll(ctx, tx, bundle.g.ID, "x"); err != nil {
				return err
			}
			panic("boom")
		})
		require.ErrorContains(t, err, "boom")
		require.False(t, ran.Load())
		requireNoneOf(t, ctx, bundle.s, bundle.g.ID, "x")
		// The store still works.
		mustTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return writeAll(ctx, tx, bundle.g.ID, "y") })
	})
	t.Run("ConcurrentFailuresRollBackOnlyTheirOwnWrites", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		// Under SQLite's group commit these share database transactions,
		// each in a savepoint: a failing caller must take back exactly its
		// own writes. Odd callers fail, half of them on a constraint.
		const n = 50
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    [n]error
			hooksMu sync.Mutex
			hooks   []int
		)
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = bundle.s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					suffix := fmt.Sprintf("%02d", i)
					tx.AfterCommit(func() {
						hooksMu.Lock()
						hooks = append(hooks, i)
						hooksMu.Unlock()
					})
					if err := writeAll(ctx, tx, bundle.g.ID, suffix); err != nil {
						return err
					}
					switch i % 4 {
					case 1:
						return errBoom
					case 3:
						// Its own group's key again: a unique violation.
						return tx.FieldGroupCreate(ctx, &store.FieldGroup{ID: "fg_dup" + suffix, Key: "group_" + suffix, Name: "n", CreatedAt: now(), UpdatedAt: now()})
					}
					return nil
				})
			})
		}
		close(start)
		wg.Wait()

		var want []int
		for i := range n {
			switch i % 4 {
			case 1:
				require.ErrorIs(t, errs[i], errBoom, "caller %d", i)
			case 3:
				require.ErrorIs(t, errs[i], store.ErrConflict, "caller %d", i)
			default:
				require.NoError(t, errs[i], "caller %d", i)
				want = append(want, i)
			}
		}
		slices.Sort(hooks)
		require.Equal(t, want, hooks, "hooks ran for exactly the callers that committed")

		groups, total, err := bundle.s.FieldGroupList(ctx, store.Page{Page: 1, PageSize: 100})
		require.NoError(t, err)
		var keys, wantKeys []string
		for _, g := range groups {
			keys = append(keys, g.Key)
		}
		wantKeys = append(wantKeys, "booking")
		for _, i := range want {
			wantKeys = append(wantKeys, fmt.Sprintf("group_%02d", i))
		}
		slices.Sort(wantKeys)
		require.Equal(t, wantKeys, keys)
		require.Equal(t, len(want)+1, total)

		evs, err := bundle.s.EventList(ctx, &store.EventListParams{Limit: 100})
		require.NoError(t, err)
		require.Len(t, evs, len(want))
		values, valuesTotal, err := bundle.s.FieldValueSearch(ctx, &store.FieldValueSearchParams{Page: store.Page{Page: 1, PageSize: 100}})
		require.NoError(t, err)
		require.Len(t, values, len(want))
		require.Equal(t, len(want), valuesTotal)
		for i := range n {
			suffix := fmt.Sprintf("%02d", i)
			if i%2 == 1 {
				requireNoneOf(t, ctx, bundle.s, bundle.g.ID, suffix)
				continue
			}
			_, err := bundle.s.IdempotencyGet(ctx, "s", suffix)
			require.NoError(t, err, "caller %d", i)
			_, err = bundle.s.APIKeyGetByHash(ctx, "hash_"+suffix)
			require.NoError(t, err, "caller %d", i)
		}
	})
	t.Run("CancelledContextReturnsErrorWithoutRunningFn", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		var ran atomic.Bool
		err := bundle.s.InTx(cancelled, func(ctx context.Context, tx store.Tx) error {
			ran.Store(true)
			return writeAll(ctx, tx, bundle.g.ID, "x")
		})
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, ran.Load())
		requireNoneOf(t, ctx, bundle.s, bundle.g.ID, "x")
	})
}

func testStore(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}

	t.Run("PingSucceedsOnAMigratedStore", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		require.NoError(t, bundle.s.Ping(ctx))
	})
	t.Run("DialectIsAKnownDatabase", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		require.Contains(t, Dialects, bundle.s.Dialect())
	})
	t.Run("PingFailsAfterClose", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		createGroup(t, bundle.s, "booking")
		require.NoError(t, bundle.s.Close())
		require.Error(t, bundle.s.Ping(ctx))
	})
}
