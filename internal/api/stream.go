package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/fieldflow/fieldflow/internal/records"
)

// streamPoll is how often a live stream looks for new events. It reads
// the log by sequence number through an index, so a stream is cheap, and
// it sees what every instance over the database stored.
const streamPoll = 500 * time.Millisecond

// streamKeepAlive is how long a stream may stay silent before a comment
// line keeps proxies from closing it.
const streamKeepAlive = 15 * time.Second

// streamInput filters the live stream.
type streamInput struct {
	Type        string `query:"type" maxLength:"128" doc:"Only events of this type."`
	TenantID    string `query:"tenantId" maxLength:"128" doc:"Only this tenant's events (a tenant key sees its own only)."`
	LastEventID string `header:"Last-Event-ID" maxLength:"20" pattern:"^[0-9]*$" doc:"Resume after this event (the id of the last message received); browsers send it on reconnect."`
}

func (s *Server) registerStream() {
	rs := s.cfg.Records
	reg := s.api.OpenAPI().Components.Schemas
	huma.Register(s.api, huma.Operation{OperationID: "stream-events", Method: http.MethodGet, Path: "/api/events/stream",
		Summary: "Follow the event log live (Server-Sent Events)",
		Description: "Each stored event the key may see, as it is stored, as an SSE message `event: event` whose data is the event " +
			"as GET /api/events shows it and whose id is its place in the log. Without Last-Event-ID the stream starts with the " +
			"next event. A comment line is sent every 15 s of silence to keep proxies from closing it.",
		Tags: []string{tagEvents},
		Responses: map[string]*huma.Response{"200": {Description: "A text/event-stream of events.", Content: map[string]*huma.MediaType{
			"text/event-stream": {Schema: reg.Schema(reflect.TypeFor[records.Event](), true, "")},
		}}}},
		func(ctx context.Context, in *streamInput) (*huma.StreamResponse, error) {
			p := &records.FollowEventsParams{Type: in.Type, TenantID: in.TenantID, Limit: 200, FromNow: in.LastEventID == ""}
			if in.LastEventID != "" {
				p.After, _ = strconv.ParseInt(in.LastEventID, 10, 64) // the pattern allows digits only
			}
			sc := scopeOf(ctx)
			// The first read checks the scope and filters, so that a
			// refusal is an answer of its own, not an empty stream.
			first, after, err := rs.FollowEvents(ctx, sc, p)
			if err != nil {
				return nil, fail(err)
			}
			p.After, p.FromNow = after, false
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				hctx.SetHeader("Content-Type", "text/event-stream")
				hctx.SetHeader("Cache-Control", "no-store")
				hctx.SetStatus(http.StatusOK)
				_, w := humago.Unwrap(hctx)
				rc := http.NewResponseController(w) // it follows Unwrap down to the connection
				send := func(evs []records.FollowedEvent) error {
					for _, e := range evs {
						data, err := json.Marshal(e.Event)
						if err != nil {
							return err
						}
						if _, err := fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, data); err != nil {
							return err
						}
					}
					return rc.Flush()
				}
				if err := send(first); err != nil {
					return
				}
				tick := time.NewTicker(streamPoll)
				defer tick.Stop()
				quiet := time.Now()
				for {
					select {
					case <-ctx.Done():
						return
					case <-s.streamsDone:
						return
					case <-tick.C:
					}
					evs, after, err := rs.FollowEvents(ctx, sc, p)
					if err != nil {
						return // the client reconnects with Last-Event-ID
					}
					p.After = after
					if len(evs) == 0 && time.Since(quiet) < streamKeepAlive {
						continue
					}
					if len(evs) == 0 {
						_, err = w.Write([]byte(": keep-alive\n\n"))
						if err == nil {
							err = rc.Flush()
						}
					} else {
						err = send(evs)
					}
					if err != nil {
						return
					}
					quiet = time.Now()
				}
			}}, nil
		})
}

// StopStreams ends every live stream, and any opened later, at once: the
// server's Shutdown waits for handlers, and a stream never ends by itself.
func (s *Server) StopStreams() {
	s.stopStreams.Do(func() { close(s.streamsDone) })
}
