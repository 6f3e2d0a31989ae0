package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/postgres"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	schemas := storetest.NewPostgresSchemas(t)
	storetest.Run(t, func(t *testing.T) store.Store { return schemas.Open(t) })
}

// TestWakesReachEveryStoreOfTheSchemaAndNoOther opens two stores on one
// schema, as two instances would, and one on another schema: a timer set
// through the first wakes the second, and the third hears only its own.
func TestWakesReachEveryStoreOfTheSchemaAndNoOther(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.NewPostgresURL(t)
	open := func(url string) store.Store {
		s, err := postgres.Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	}
	writer, peer, stranger := open(url), open(url), open(storetest.NewPostgresURL(t))
	listen := func(s store.Store) chan store.Wake {
		ch := make(chan store.Wake, 1024)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Listen(lctx, func(w store.Wake) { ch <- w }) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
		return ch
	}
	heard, strangerHeard := listen(peer), listen(stranger)

	var aWriter, aStranger store.Automation
	for _, a := range []struct {
		s store.Store
		a *store.Automation
	}{{writer, &aWriter}, {stranger, &aStranger}} {
		*a.a = store.Automation{ID: "au_1", Name: "n", Active: true, Definition: []byte(`{}`), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		require.NoError(t, a.s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.AutomationCreate(ctx, a.a) }))
	}
	setTimer := func(s store.Store, entity string, due time.Time) {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.TimerUpsert(ctx, &store.Timer{TimerKey: store.TimerKey{AutomationID: "au_1", EntityID: entity, FieldKey: "f"},
				DueAt: due, EventID: "evt_1", CreatedAt: time.Now()})
		}))
	}
	// waitFor sets timers through s until ch hears one (the listener may
	// not be LISTENing yet at first), and returns what ch heard before it.
	// Each writer's timers are due in a year of its own.
	waitFor := func(s store.Store, ch chan store.Wake, year int) []store.Wake {
		var before []store.Wake
		deadline := time.Now().Add(20 * time.Second)
		for i := 1; ; i++ {
			due := time.Date(year, 1, 1, 0, 0, 0, i, time.UTC)
			setTimer(s, "e1", due)
			timeout := time.After(100 * time.Millisecond)
		wait:
			for {
				select {
				case w := <-ch:
					if w.Kind == store.WakeTimers && w.At.Equal(due) {
						return before
					}
					before = append(before, w)
				case <-timeout:
					break wait
				}
			}
			require.True(t, time.Now().Before(deadline), "no wake heard within 20s")
		}
	}
	// Both listen now; notifications reach a listener in commit order, so
	// had the stranger heard the writer's channel, a writer's wake would
	// come before the stranger's next own one.
	waitFor(stranger, strangerHeard, 2031)
	waitFor(writer, heard, 2030)
	for _, w := range waitFor(stranger, strangerHeard, 2031) {
		require.Equal(t, 2031, w.At.Year(), "the stranger heard another schema's wake: %+v", w)
	}
}
