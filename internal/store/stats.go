package store

import (
	"context"
	"time"
)

// StatsReader holds the dashboard's aggregate reads. Each reads only the
// rows of its window (or of the endpoints' latest deliveries) through the
// indexes the rest of the store keeps anyway, so that it costs what the
// window holds, never the size of the database.
type StatsReader interface {
	// ActivityRead counts, per bucket of [Since, Since+Buckets×Bucket), the
	// events stored, the deliveries and runs that settled, and the backlog
	// of deliveries and runs at each bucket's end; and the backlog now.
	ActivityRead(ctx context.Context, p *ActivityReadParams) (*Activity, error)
	// EndpointRecentRead sums up the attempts of each endpoint's latest
	// deliveries. An endpoint without deliveries is missing from the map.
	EndpointRecentRead(ctx context.Context, p *EndpointRecentReadParams) (map[string]*EndpointRecent, error)
}

// ActivityReadParams selects the window and its buckets.
type ActivityReadParams struct {
	Since time.Time
	// Bucket is each bucket's width, in whole seconds.
	Bucket  time.Duration
	Buckets int
}

// ActivityBucket is what happened in one bucket. A delivery or run settles
// when it succeeds or fails for good; retries scheduled meanwhile do not
// count.
type ActivityBucket struct {
	Start               time.Time
	Events              int
	DeliveriesSucceeded int
	DeliveriesFailed    int
	// EndpointsFailed counts the endpoints with a delivery that failed for
	// good in the bucket.
	EndpointsFailed int
	RunsSucceeded   int
	RunsFailed      int
	// DeliveriesBacklog and RunsBacklog are the pending deliveries and
	// runs at the bucket's end (or now, for the bucket holding now). A
	// delivery or run retried by hand counts as pending since it was
	// created.
	DeliveriesBacklog int
	RunsBacklog       int
}

// Activity is the answer of ActivityRead.
type Activity struct {
	Buckets           []ActivityBucket
	DeliveriesPending int
	// DeliveriesOldestPending is when the oldest pending delivery was
	// created; zero when none is pending.
	DeliveriesOldestPending time.Time
	RunsPending             int
	RunsOldestPending       time.Time
}

// EndpointRecentReadParams selects the endpoints and how many of each
// one's latest deliveries to read.
type EndpointRecentReadParams struct {
	EndpointIDs []string
	// Deliveries is how many of each endpoint's latest deliveries count.
	Deliveries int
}

// EndpointRecent sums up the attempts of an endpoint's latest deliveries.
// An attempt succeeded when it has no error.
type EndpointRecent struct {
	Deliveries int
	Attempts   int
	Succeeded  int
	// LastSuccessAt is when the latest successful attempt started; zero
	// when none of the deliveries read succeeded.
	LastSuccessAt time.Time
	// LastErrorAt, LastStatus and LastError describe the latest failed
	// attempt; LastErrorAt is zero when none failed.
	LastErrorAt time.Time
	LastStatus  int
	LastError   string
}
