package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/store"
)

func testEvents(t *testing.T, newStore func(t *testing.T) store.Store) {
	type testBundle struct {
		s store.Store
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		return &testBundle{s: newStore(t)}, t.Context()
	}
	newEvent := func(typ, tenantID string, at time.Time) *events.Event {
		return &events.Event{ID: events.NewID("evt_"), Type: typ, TenantID: tenantID, OccurredAt: at, Payload: []byte(`{"event":"` + typ + `"}`)}
	}
	insert := func(t *testing.T, s store.Store, evs ...*events.Event) {
		t.Helper()
		mustTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, evs) })
	}

	t.Run("InsertAssignsIncreasingSeq", func(t *testing.T) {
		t.Parallel()
		bundle, _ := setup(t)
		a, b, c := newEvent("a", "t1", now()), newEvent("b", "t1", now()), newEvent("c", "t2", now())
		insert(t, bundle.s, a, b)
		insert(t, bundle.s, c)
		require.Positive(t, a.Seq)
		require.Greater(t, b.Seq, a.Seq)
		require.Greater(t, c.Seq, b.Seq)
	})
	t.Run("GetRoundTripsEveryFieldAndPayloadBytesExactly", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		e := newEvent("booking.created", "t1", now())
		// Non-ASCII, U+2028/U+2029 written literally (as events.Encode
		// does), escapes that must stay escaped, and key order and spacing
		// that a JSON column type would normalize away.
		e.Payload = []byte("{\"z\":1, \"a\":\"Zoë 日本 🎉 \u2028 \u2029\",\"esc\":\"\\\"\\\\\\n\\u0000\",\"n\":1.50}")
		insert(t, bundle.s, e)
		got, err := bundle.s.EventGet(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, e, got)
		require.Equal(t, string(e.Payload), string(got.Payload))
	})
	t.Run("GetUnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		_, err := bundle.s.EventGet(ctx, "evt_nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("DedupKeyIsUniquePerTenant", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		first := newEvent("host.ping", "t1", now())
		first.DedupKey = "req-1"
		insert(t, bundle.s, first)

		dup := newEvent("host.ping", "t1", now())
		dup.DedupKey = "req-1"
		err := inTx(t, bundle.s, func(ctx context.Context, tx store.Tx) error { return tx.EventInsert(ctx, []*events.Event{dup}) })
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = bundle.s.EventGet(ctx, dup.ID)
		require.ErrorIs(t, err, store.ErrNotFound)

		otherTenant := newEvent("host.ping", "t2", now())
		otherTenant.DedupKey = "req-1"
		insert(t, bundle.s, otherTenant)

		got, err := bundle.s.EventGetByDedupKey(ctx, "t1", "req-1")
		require.NoError(t, err)
		require.Equal(t, first, got)
		got, err = bundle.s.EventGetByDedupKey(ctx, "t2", "req-1")
		require.NoError(t, err)
		require.Equal(t, otherTenant, got)
		_, err = bundle.s.EventGetByDedupKey(ctx, "t3", "req-1")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = bundle.s.EventGetByDedupKey(ctx, "t1", "req-2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("EventsWithoutDedupKeyNeverConflict", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		a, b := newEvent("x", "t1", now()), newEvent("x", "t1", now())
		insert(t, bundle.s, a, b)
		_, err := bundle.s.EventGetByDedupKey(ctx, "t1", "")
		require.ErrorIs(t, err, store.ErrNotFound, "an absent dedup key is not the empty key")
		got, err := bundle.s.EventGet(ctx, b.ID)
		require.NoError(t, err)
		require.Empty(t, got.DedupKey)
	})
	t.Run("TypesAreDistinctAndSortedAndATenantSeesOnlyItsRecentOnes", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		types, err := bundle.s.EventTypes(ctx, &store.EventTypesParams{})
		require.NoError(t, err)
		require.Empty(t, types, "no events, no types")
		insert(t, bundle.s,
			newEvent("TASK_COMPLETED", "t1", now()), newEvent("field_value.saved", "t1", now()),
			newEvent("TASK_COMPLETED", "t1", now()), newEvent("invoice.paid", "t2", now()),
			newEvent("Zoë.日本", "", now()))
		insert(t, bundle.s, newEvent("deal.won", "t1", now()), newEvent("deal.won", "t2", now()))

		types, err = bundle.s.EventTypes(ctx, &store.EventTypesParams{})
		require.NoError(t, err)
		require.Equal(t, []string{"TASK_COMPLETED", "Zoë.日本", "deal.won", "field_value.saved", "invoice.paid"}, types, "byte order, each once")

		t1 := "t1"
		types, err = bundle.s.EventTypes(ctx, &store.EventTypesParams{TenantID: &t1})
		require.NoError(t, err)
		require.Equal(t, []string{"TASK_COMPLETED", "deal.won", "field_value.saved"}, types, "t1's only")

		types, err = bundle.s.EventTypes(ctx, &store.EventTypesParams{TenantID: &t1, Recent: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"TASK_COMPLETED", "deal.won"}, types, "its latest 2 events only")

		none := "nobody"
		types, err = bundle.s.EventTypes(ctx, &store.EventTypesParams{TenantID: &none})
		require.NoError(t, err)
		require.Empty(t, types)
	})
	t.Run("ListFiltersNewestFirst", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		base := now().Add(-time.Hour)
		// Stored in seq order e0..e5; times need not follow seq.
		evs := []*events.Event{
			newEvent("booking.created", "t1", base),
			newEvent("booking.updated", "t1", base.Add(2*time.Minute)),
			newEvent("booking.created", "t2", base.Add(time.Minute)),
			newEvent("booking.created", "", base.Add(3*time.Minute)),
			newEvent("booking.deleted", "t1", base.Add(4*time.Minute)),
			newEvent("booking.created", "t1", base.Add(5*time.Minute)),
		}
		insert(t, bundle.s, evs[:3]...)
		insert(t, bundle.s, evs[3:]...)
		e := func(is ...int) []*events.Event {
			out := make([]*events.Event, len(is))
			for i, n := range is {
				out[i] = evs[n]
			}
			return out
		}
		ptr := func(s string) *string { return &s }

		for _, tc := range []struct {
			name string
			p    store.EventListParams
			want []*events.Event
		}{
			{"All", store.EventListParams{Limit: 100}, e(5, 4, 3, 2, 1, 0)},
			{"Limit", store.EventListParams{Limit: 2}, e(5, 4)},
			{"Type", store.EventListParams{Type: "booking.created", Limit: 100}, e(5, 3, 2, 0)},
			{"Tenant", store.EventListParams{TenantID: ptr("t1"), Limit: 100}, e(5, 4, 1, 0)},
			{"EmptyTenant", store.EventListParams{TenantID: ptr(""), Limit: 100}, e(3)},
			{"SinceIsInclusive", store.EventListParams{Since: base.Add(2 * time.Minute), Limit: 100}, e(5, 4, 3, 1)},
			{"BeforeSeq", store.EventListParams{BeforeSeq: evs[3].Seq, Limit: 100}, e(2, 1, 0)},
			{"BeforeSeqPages", store.EventListParams{BeforeSeq: evs[5].Seq, Limit: 2}, e(4, 3)},
			{"Combined", store.EventListParams{Type: "booking.created", TenantID: ptr("t1"), Since: base.Add(time.Second), BeforeSeq: evs[5].Seq + 1, Limit: 100}, e(5)},
			{"NoMatch", store.EventListParams{Type: "nope", Limit: 100}, e()},
			{"AfterSeqIsOldestFirst", store.EventListParams{AfterSeq: evs[1].Seq, Limit: 100}, e(2, 3, 4, 5)},
			{"AfterSeqLimitTakesTheOldest", store.EventListParams{AfterSeq: evs[1].Seq, Limit: 2}, e(2, 3)},
			{"AfterSeqWithTenant", store.EventListParams{AfterSeq: evs[0].Seq, TenantID: ptr("t1"), Limit: 100}, e(1, 4, 5)},
		} {
			got, err := bundle.s.EventList(ctx, &tc.p)
			require.NoError(t, err, tc.name)
			if len(tc.want) == 0 {
				require.Empty(t, got, tc.name)
				continue
			}
			require.Equal(t, tc.want, got, tc.name)
		}
	})
}
