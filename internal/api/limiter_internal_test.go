package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimiterDropsBucketsThatHaveRefilled(t *testing.T) {
	t.Parallel()
	l := newLimiter(10, 20) // an empty bucket is full again after 2 s
	t0 := time.Unix(1_000_000, 0)
	for i := range 100 {
		require.Zero(t, l.take(fmt.Sprintf("k%d", i), 1, t0))
	}
	require.Len(t, l.buckets, 100)
	// Two idle buckets go with each later call: after 60 calls none of the
	// first 100 is left, and no limit was forgotten early, since each was
	// full anyway.
	for i := range 60 {
		require.Zero(t, l.take("busy", 0, t0.Add(3*time.Second+time.Duration(i)*time.Millisecond)))
	}
	require.Len(t, l.buckets, 1)
	require.Equal(t, l.lru.Len(), len(l.buckets))
}

func TestLimiterKeepsBucketsThatAreStillRefilling(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 2)
	t0 := time.Unix(1_000_000, 0)
	require.Zero(t, l.take("a", 2, t0))
	require.Positive(t, l.take("a", 1, t0))
	// Other ids come and go within the refill time of "a": it stays, and
	// stays empty.
	for i := range 10 {
		l.take(fmt.Sprintf("b%d", i), 1, t0.Add(100*time.Millisecond))
	}
	require.Equal(t, 900*time.Millisecond, l.take("a", 1, t0.Add(100*time.Millisecond)))
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1)
	t0 := time.Unix(1_000_000, 0)
	for i := range maxBuckets + 100 {
		l.take(fmt.Sprintf("addr%d", i), 1, t0) // all at once: none is idle
	}
	require.Len(t, l.buckets, maxBuckets)
	require.Equal(t, maxBuckets, l.lru.Len())
	_, newest := l.buckets[fmt.Sprintf("addr%d", maxBuckets+99)]
	_, oldest := l.buckets["addr0"]
	require.True(t, newest)
	require.False(t, oldest, "the least recently seen bucket went first")
}

func TestLimiterWaitTakesNothing(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 1)
	t0 := time.Unix(1_000_000, 0)
	require.Zero(t, l.wait("a", t0), "an unseen id has a full bucket")
	require.Zero(t, l.take("a", 1, t0))
	require.Equal(t, 500*time.Millisecond, l.wait("a", t0))
	require.Equal(t, 500*time.Millisecond, l.wait("a", t0), "waiting took no token")
	require.Zero(t, l.wait("a", t0.Add(500*time.Millisecond)))
}

func TestNegativeRateTurnsTheLimitOff(t *testing.T) {
	t.Parallel()
	var off *limiter = newLimiter(-1, 10)
	require.Nil(t, off)
	for range 1000 {
		require.Zero(t, off.take("a", 20, time.Now()))
	}
	require.Zero(t, off.wait("a", time.Now()))
}

func TestServerDefaultsAre100PerSecondWithBurstsOf200(t *testing.T) {
	t.Parallel()
	s := New(Config{OpsOnly: true})
	require.Equal(t, 100.0, float64(s.limits.keys.rate))
	require.Equal(t, 200, s.limits.keys.burst)
	require.Equal(t, 10.0, float64(s.limits.failures.rate))
	require.Equal(t, 20, s.limits.failures.burst)
}
