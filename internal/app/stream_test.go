package app_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sseMessage is one message of a text/event-stream.
type sseMessage struct{ id, event, data string }

// openStream reads /api/events/stream with key (and Last-Event-ID when
// given) and hands each message to the channel.
func openStream(t *testing.T, b *testBundle, key, query, lastID string) <-chan sseMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/api/events/stream"+query, nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	out := make(chan sseMessage, 64)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.data != "" {
					out <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, "id: "):
				m.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				m.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				m.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

func nextEvent(t *testing.T, ch <-chan sseMessage) sseMessage {
	t.Helper()
	for {
		select {
		case m, ok := <-ch:
			require.True(t, ok, "the stream ended")
			if m.event == "event" {
				return m
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event on the stream within 5 s")
		}
	}
}

func TestEventStreamFollowsTheLogLiveForWhatTheKeyMaySee(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		b := startApp(t, dialect, appOpts{})
		before := b.publish(t, "TASK_COMPLETED", "acme", map[string]any{"n": 0})
		all := openStream(t, b, adminKey, "", "")
		acme := openStream(t, b, b.tenantKey(t, "acme"), "", "")
		typed := openStream(t, b, adminKey, "?type=invoice.paid", "")

		globex := b.publish(t, "TASK_COMPLETED", "globex", map[string]any{"n": 1})
		mine := b.publish(t, "invoice.paid", "acme", map[string]any{"n": 2})

		m := nextEvent(t, all)
		require.Contains(t, m.data, globex, "a stream starts with the next event, not with "+before)
		require.Contains(t, nextEvent(t, all).data, mine)
		got := nextEvent(t, acme)
		require.Contains(t, got.data, mine, "a tenant's stream has its own events only")
		require.NotContains(t, got.data, globex)
		require.Contains(t, nextEvent(t, typed).data, mine)

		// Resuming after the first message gives what came after it.
		require.NotEmpty(t, m.id)
		resumed := openStream(t, b, adminKey, "", m.id)
		require.Contains(t, nextEvent(t, resumed).data, mine)

		requireProblem(t, b.call(t, b.tenantKey(t, "acme"), http.MethodGet, "/api/events/stream?tenantId=globex", nil), http.StatusForbidden)
		requireProblem(t, b.call(t, "", http.MethodGet, "/api/events/stream", nil), http.StatusUnauthorized)
	})
}

// readStream reads a stream from the start of the log (Last-Event-ID: 0)
// for a second and a half, and returns what came.
func (b *testBundle) readStream(t *testing.T, key, path string) *response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Last-Event-ID", "0")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body) // ends with the deadline
	return &response{status: res.StatusCode, header: res.Header, body: body}
}
