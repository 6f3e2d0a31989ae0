package outbound

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"
	"time"
)

// ErrTimeout is the error of a request that got no complete response
// within its timeout.
var ErrTimeout = errors.New("timeout: no complete response within the endpoint's timeout")

// ResponseBodyLimit caps the response body kept in an attempt log.
const ResponseBodyLimit = 64 << 10

// Response is what an attempt got back.
type Response struct {
	Status  int
	Headers map[string]string
	Body    string
	// RetryAfter is the Retry-After header as a duration, if any.
	RetryAfter time.Duration
}

// Send performs req and reads at most ResponseBodyLimit of the body.
func Send(ctx context.Context, client *http.Client, req *http.Request, timeout time.Duration) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, describe(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, ResponseBodyLimit))
	// Drain a little more so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, ResponseBodyLimit)
	out := &Response{Status: resp.StatusCode, Headers: flatten(resp.Header), Body: string(body)}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		out.RetryAfter = parseRetryAfter(ra, time.Now())
	}
	if err != nil {
		return out, describe(err)
	}
	return out, nil
}

func flatten(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if secs, err := time.ParseDuration(v + "s"); err == nil && secs >= 0 {
		return secs
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe shortens transport errors to what a log reader needs.
func describe(err error) error {
	switch {
	case IsBlockedTarget(err):
		return errors.New("refused: the target address is private, loopback or link-local (allow it with FIELDFLOW_ALLOW_PRIVATE_PREFIXES, or all with FIELDFLOW_ALLOW_PRIVATE_TARGETS=true)")
	case errors.Is(err, context.DeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	}
	return err
}
