package outbound

import (
	"fmt"
	"strings"
	"time"
)

// DefaultRetrySchedule is the wait before each retry after the immediate
// first attempt: five retries over about 15 hours, so a receiver that is
// down overnight still gets its events.
var DefaultRetrySchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}

// FormatSchedule writes a schedule as ParseSchedule reads it, each wait
// in its shortest form: "1m", "2h", "1h30m", never "1m0s".
func FormatSchedule(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = FormatDuration(d)
	}
	return out
}

// FormatDuration is d.String() without its zero trailing units: "12h", not
// "12h0m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseSchedule reads durations such as "1m" or "2h"; each must be between
// one second and seven days.
func ParseSchedule(s []string) ([]time.Duration, error) {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("retrySchedule[%d]: %q is not a duration like 30s, 5m or 2h", i, v)
		}
		if d < time.Second || d > 7*24*time.Hour {
			return nil, fmt.Errorf("retrySchedule[%d]: %s must be between 1s and 168h", i, v)
		}
		out[i] = d
	}
	return out, nil
}

// NextAttemptAt returns when to try again after `attempts` attempts have
// failed, and false when the schedule is used up. jitter in [0, 1) picks
// the point in the ±10 % band (0.5 is the scheduled wait itself). The wait gets ±10 %
// jitter so that receivers coming back up are not hit by every retry at
// once. retryAfter (from a 429 or 503) is honoured, but only within
// [scheduled, 2×scheduled]: a receiver may slow us down, not stall the
// delivery indefinitely or make us hammer it sooner.
func NextAttemptAt(now time.Time, schedule []time.Duration, attempts int, retryAfter time.Duration, jitter float64) (time.Time, bool) {
	if attempts < 1 || attempts > len(schedule) {
		return time.Time{}, false
	}
	base := schedule[attempts-1]
	wait := time.Duration(float64(base) * (0.9 + 0.2*jitter))
	if retryAfter > 0 {
		wait = min(max(retryAfter, base), 2*base)
	}
	return now.Add(wait), true
}
