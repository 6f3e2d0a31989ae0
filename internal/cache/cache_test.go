package cache_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/cache"
)

func TestZeroMapKeepsValuesAndNeverExpiresThem(t *testing.T) {
	t.Parallel()

	var m cache.Map[string, int]
	_, ok := m.Get("a")
	require.False(t, ok, "an empty map has nothing")
	m.Set("a", 1)
	m.Set("a", 2)
	got, ok := m.Get("a")
	require.True(t, ok)
	require.Equal(t, 2, got, "a second Set replaces the value")
	require.Equal(t, 1, m.Len())

	m.Delete("a")
	_, ok = m.Get("a")
	require.False(t, ok, "deleted")
}

func TestMapExpiresEntriesAfterTTL(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	m := cache.Map[string, string]{TTL: time.Second, Now: func() time.Time { return now }}
	m.Set("k", "v")

	now = now.Add(999 * time.Millisecond)
	got, ok := m.Get("k")
	require.True(t, ok, "fresh until TTL has passed")
	require.Equal(t, "v", got)

	now = now.Add(time.Millisecond)
	_, ok = m.Get("k")
	require.False(t, ok, "expired at TTL")
	require.Equal(t, 0, m.Len(), "an expired entry is evicted when met")

	m.Set("k", "w")
	got, ok = m.Get("k")
	require.True(t, ok, "a Set after expiry is fresh again")
	require.Equal(t, "w", got)
}

func TestMapEvictsTheLeastRecentlyUsedPastMaxEntries(t *testing.T) {
	t.Parallel()

	m := cache.Map[int, int]{MaxEntries: 3}
	for i := range 3 {
		m.Set(i, i)
	}
	_, _ = m.Get(0) // 0 is now the most recently used; 1 the least
	m.Set(3, 3)

	require.Equal(t, 3, m.Len())
	_, ok := m.Get(1)
	require.False(t, ok, "the least recently used went first")
	for _, k := range []int{0, 2, 3} {
		_, ok := m.Get(k)
		require.True(t, ok, "key %d stays", k)
	}
}

func TestZeroMaxEntriesIsDefaultMaxEntries(t *testing.T) {
	t.Parallel()

	var m cache.Map[int, struct{}]
	for i := range cache.DefaultMaxEntries + 10 {
		m.Set(i, struct{}{})
	}
	require.Equal(t, cache.DefaultMaxEntries, m.Len())
	_, ok := m.Get(cache.DefaultMaxEntries + 9)
	require.True(t, ok, "the newest stays")
	_, ok = m.Get(0)
	require.False(t, ok, "the oldest went")
}

func TestClearEmptiesTheMap(t *testing.T) {
	t.Parallel()

	var m cache.Map[string, int]
	m.Set("a", 1)
	m.Set("b", 2)
	m.Clear()
	require.Equal(t, 0, m.Len())
	_, ok := m.Get("a")
	require.False(t, ok)
	m.Set("c", 3)
	require.Equal(t, 1, m.Len(), "usable after Clear")
}

func TestMapIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()

	m := cache.Map[string, int]{MaxEntries: 50}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				k := fmt.Sprint(g, i%100)
				m.Set(k, i)
				_, _ = m.Get(k)
				if i%10 == 0 {
					m.Delete(k)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	require.LessOrEqual(t, m.Len(), 50)
}
