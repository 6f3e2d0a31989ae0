package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/fieldflow/fieldflow/internal/store"
)

const tagStats = "Statistics"

// maxFailingEndpoints bounds the overview's list of failing endpoints.
const maxFailingEndpoints = 50

// Overview is the dashboard's overview of one window.
type Overview struct {
	Window           string            `json:"window" enum:"1h,24h"`
	BucketSeconds    int               `json:"bucketSeconds" doc:"Each bucket's width: 60 for 1h, 3600 for 24h."`
	From             time.Time         `json:"from" doc:"The first bucket's start."`
	To               time.Time         `json:"to" doc:"The last bucket's end: the end of the bucket holding now."`
	Buckets          []OverviewBucket  `json:"buckets" doc:"60 buckets of a minute (1h) or 24 of an hour (24h), oldest first, in UTC."`
	Backlog          OverviewBacklog   `json:"backlog"`
	FailingEndpoints []FailingEndpoint `json:"failingEndpoints" doc:"Endpoints failing now (longest first), then those disabled by a failure; at most 50."`
}

// OverviewBucket counts what happened in one bucket.
type OverviewBucket struct {
	Start               time.Time `json:"start"`
	Events              int       `json:"events" doc:"Events stored."`
	DeliveriesSucceeded int       `json:"deliveriesSucceeded" doc:"Deliveries that succeeded."`
	DeliveriesFailed    int       `json:"deliveriesFailed" doc:"Deliveries that failed for good (retries used up, or the endpoint gone or disabled)."`
	EndpointsFailed     int       `json:"endpointsFailed" doc:"Endpoints with a delivery that failed for good."`
	RunsSucceeded       int       `json:"runsSucceeded" doc:"Automation runs that succeeded."`
	RunsFailed          int       `json:"runsFailed" doc:"Automation runs that failed for good."`
	DeliveriesBacklog   int       `json:"deliveriesBacklog" doc:"Deliveries pending at the bucket's end (for the last bucket: now), retries scheduled for later among them."`
	RunsBacklog         int       `json:"runsBacklog" doc:"Runs pending at the bucket's end."`
}

// OverviewBacklog is the work waiting now.
type OverviewBacklog struct {
	DeliveriesPending       int        `json:"deliveriesPending"`
	DeliveriesOldestPending *time.Time `json:"deliveriesOldestPending" doc:"When the oldest pending delivery was created; null when none is pending."`
	DeliveriesOldestAge     float64    `json:"deliveriesOldestAgeSeconds" doc:"How long the oldest pending delivery has waited, in seconds; 0 when none is pending."`
	RunsPending             int        `json:"runsPending"`
	RunsOldestPending       *time.Time `json:"runsOldestPending" doc:"When the oldest pending run was created; null when none is pending."`
	RunsOldestAge           float64    `json:"runsOldestAgeSeconds"`
}

// FailingEndpoint is an endpoint whose deliveries fail.
type FailingEndpoint struct {
	ID           string     `json:"id"`
	URL          string     `json:"url"`
	TenantID     *string    `json:"tenantId"`
	State        string     `json:"state" enum:"failing,disabled"`
	FailingSince *time.Time `json:"failingSince" doc:"When its current run of failures began; null for a disabled endpoint that has not failed since."`
	Error        string     `json:"error,omitempty" doc:"Why it was disabled."`
}

// windows are the overview's windows: their bucket width and count.
var windows = map[string]struct {
	bucket time.Duration
	n      int
}{
	"1h":  {time.Minute, 60},
	"24h": {time.Hour, 24},
}

func (s *Server) registerStats() {
	huma.Register(s.api, huma.Operation{OperationID: "get-stats-overview", Method: http.MethodGet, Path: "/api/stats/overview",
		Summary: "Events, deliveries, runs and backlog over the last hour or day",
		Description: "For the dashboard's overview: per minute over the last hour, or per hour over the last day, the events stored, " +
			"the deliveries and runs that succeeded or failed for good, and the backlog at each bucket's end; the backlog now with its " +
			"oldest item's age; and the endpoints that are failing. Admin keys only. Each count reads only its window's rows, through indexes.",
		Tags: []string{tagStats}, Metadata: adminOnly},
		func(ctx context.Context, in *struct {
			Window string `query:"window" enum:"1h,24h" default:"1h" doc:"1h (minute buckets) or 24h (hour buckets)."`
		}) (*out[*Overview], error) {
			w, ok := windows[in.Window]
			if !ok { // the enum has refused anything else; an empty value is the default
				w, in.Window = windows["1h"], "1h"
			}
			now := s.now().UTC()
			to := now.Truncate(w.bucket).Add(w.bucket)
			from := to.Add(-time.Duration(w.n) * w.bucket)
			a, err := s.cfg.Store.ActivityRead(ctx, &store.ActivityReadParams{Since: from, Bucket: w.bucket, Buckets: w.n})
			if err != nil {
				return nil, fail(err)
			}
			eps, err := s.cfg.Store.EndpointListAll(ctx)
			if err != nil {
				return nil, fail(err)
			}
			o := &Overview{Window: in.Window, BucketSeconds: int(w.bucket / time.Second), From: from, To: to,
				Buckets: make([]OverviewBucket, len(a.Buckets)), FailingEndpoints: failingEndpoints(eps)}
			for i, b := range a.Buckets {
				o.Buckets[i] = OverviewBucket{Start: b.Start, Events: b.Events, DeliveriesSucceeded: b.DeliveriesSucceeded,
					DeliveriesFailed: b.DeliveriesFailed, EndpointsFailed: b.EndpointsFailed, RunsSucceeded: b.RunsSucceeded,
					RunsFailed: b.RunsFailed, DeliveriesBacklog: b.DeliveriesBacklog, RunsBacklog: b.RunsBacklog}
			}
			o.Backlog.DeliveriesPending, o.Backlog.RunsPending = a.DeliveriesPending, a.RunsPending
			o.Backlog.DeliveriesOldestPending, o.Backlog.DeliveriesOldestAge = oldest(a.DeliveriesOldestPending, now)
			o.Backlog.RunsOldestPending, o.Backlog.RunsOldestAge = oldest(a.RunsOldestPending, now)
			return &out[*Overview]{o}, nil
		})
}

func oldest(at, now time.Time) (*time.Time, float64) {
	if at.IsZero() {
		return nil, 0
	}
	return &at, max(now.Sub(at).Seconds(), 0)
}

// failingEndpoints picks the endpoints that fail now, longest first, then
// those a failure disabled (410 Gone, five days of failures).
func failingEndpoints(eps []*store.Endpoint) []FailingEndpoint {
	out := []FailingEndpoint{}
	for _, ep := range eps {
		f := FailingEndpoint{ID: ep.ID, URL: ep.URL, State: "failing"}
		switch {
		case !ep.Active && ep.DisabledReason != "":
			f.State, f.Error = "disabled", ep.DisabledReason
		case !ep.Active || ep.FailingSince.IsZero():
			continue
		}
		if !ep.FailingSince.IsZero() {
			t := ep.FailingSince
			f.FailingSince = &t
		}
		if ep.TenantID != "" {
			t := ep.TenantID
			f.TenantID = &t
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b FailingEndpoint) int {
		if a.State != b.State {
			return cmp.Compare(b.State, a.State) // failing before disabled
		}
		since := func(f FailingEndpoint) time.Time {
			if f.FailingSince == nil {
				return time.Time{}
			}
			return *f.FailingSince
		}
		return cmp.Or(since(a).Compare(since(b)), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(len(out), maxFailingEndpoints)]
}
