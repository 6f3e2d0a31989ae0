package api

import (
	"container/list"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/time/rate"
)

// Rate limit defaults; Config documents them.
const (
	defaultRateLimit        = 100
	defaultRateBurst        = 200
	defaultAuthFailureLimit = 10
	defaultAuthFailureBurst = 20
	// maxBuckets bounds each limiter's memory (about 150 bytes a bucket).
	// Past it the least recently seen bucket goes, full or not.
	maxBuckets = 50_000
)

// routeCost is how many tokens an operation takes from its key's bucket.
// Most take one; those that do much more work per request than a save take
// more, so that a key cannot spend its whole budget on them: a search
// scans values, a test sends an outbound request and waits for it, a
// replay re-queues up to a whole time range of deliveries.
func routeCost(op *huma.Operation) int {
	if op == nil {
		return 1
	}
	switch op.OperationID {
	case "search-values", "get-stats-overview":
		return 5
	case "test-webhook", "test-automation":
		return 10
	case "replay-webhook":
		return 20
	}
	return 1
}

// limits holds the server's two limiters.
type limits struct {
	keys     *limiter // requests, per API key id
	failures *limiter // failed authentications, per client address
}

// limiter is a token bucket per id (golang.org/x/time/rate), kept in a
// bounded LRU. The zero-rate limiter (nil) limits nothing.
//
// A bucket left alone long enough to refill completely is the same as a
// new one, so dropping it loses nothing: every call drops such idle
// buckets from the cold end, and memory follows the ids active in the last
// burst/rate seconds (2 s by default), capped at maxBuckets.
type limiter struct {
	rate  rate.Limit
	burst int
	idle  time.Duration // time to refill an empty bucket

	mu      sync.Mutex
	buckets map[string]*list.Element // guarded by mu; values are *bucket
	lru     *list.List               // guarded by mu; most recently seen first
}

type bucket struct {
	id   string
	lim  *rate.Limiter
	seen time.Time
}

// newLimiter returns a limiter of perSecond tokens with bursts of burst, or
// nil (no limit) when perSecond is not positive.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	return &limiter{rate: rate.Limit(perSecond), burst: burst,
		idle:    time.Duration(float64(burst) / perSecond * float64(time.Second)),
		buckets: map[string]*list.Element{}, lru: list.New()}
}

// bucketLocked returns id's bucket, creating it, and evicts idle ones.
func (l *limiter) bucketLocked(id string, now time.Time) *rate.Limiter {
	for range 2 {
		back := l.lru.Back()
		if back == nil || now.Sub(back.Value.(*bucket).seen) < l.idle || back.Value.(*bucket).id == id {
			break
		}
		l.removeLocked(back)
	}
	if e, ok := l.buckets[id]; ok {
		b := e.Value.(*bucket)
		b.seen = now
		l.lru.MoveToFront(e)
		return b.lim
	}
	if l.lru.Len() >= maxBuckets {
		l.removeLocked(l.lru.Back())
	}
	b := &bucket{id: id, lim: rate.NewLimiter(l.rate, l.burst), seen: now}
	l.buckets[id] = l.lru.PushFront(b)
	return b.lim
}

func (l *limiter) removeLocked(e *list.Element) {
	l.lru.Remove(e)
	delete(l.buckets, e.Value.(*bucket).id)
}

// take takes n tokens from id's bucket and returns zero, or takes nothing
// and returns how long until n tokens are there.
func (l *limiter) take(id string, n int, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	n = min(n, l.burst) // a cost above the burst could never be paid
	l.mu.Lock()
	lim := l.bucketLocked(id, now)
	l.mu.Unlock()
	r := lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// wait returns how long until id's bucket holds a token, taking none.
func (l *limiter) wait(id string, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.buckets[id]
	if !ok {
		return 0 // a new bucket is full
	}
	tokens := e.Value.(*bucket).lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.rate) * float64(time.Second))
}

// tooMany answers 429 with Retry-After in whole seconds, rounded up: a
// client that waits that long is served.
func (s *Server) tooMany(ctx huma.Context, wait time.Duration, detail string) {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	ctx.SetHeader("Retry-After", strconv.Itoa(secs))
	_ = huma.WriteErr(s.api, ctx, http.StatusTooManyRequests, detail+"; retry after "+strconv.Itoa(secs)+"s")
}

// clientAddr is the address failed authentications are counted against:
// the connection's remote host, or the header a trusted proxy sets when
// Config.ClientAddrHeader names one. X-Forwarded-For is not read by
// default: any client can send it, and would then choose its own bucket.
func (s *Server) clientAddr(ctx huma.Context) string {
	if h := s.cfg.ClientAddrHeader; h != "" {
		if v := strings.TrimSpace(ctx.Header(h)); v != "" {
			// A proxy that appends (X-Forwarded-For) puts the address it saw
			// last; the entries before it are the client's own claims.
			if i := strings.LastIndexByte(v, ','); i >= 0 {
				v = strings.TrimSpace(v[i+1:])
			}
			return v
		}
	}
	addr := ctx.RemoteAddr()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
