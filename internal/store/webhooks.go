package store

import (
	"context"
	"time"
)

// EndpointReader holds the webhook endpoint and delivery reads.
type EndpointReader interface {
	// EndpointGet returns an endpoint, a deleted one too (DeletedAt set):
	// its deliveries still name it.
	EndpointGet(ctx context.Context, id string) (*Endpoint, error)
	// EndpointList lists the endpoints that are not deleted.
	EndpointList(ctx context.Context, p *EndpointListParams) ([]*Endpoint, int, error)
	// EndpointListAll returns every endpoint that is not deleted, for the
	// fan-out cache.
	EndpointListAll(ctx context.Context) ([]*Endpoint, error)

	DeliveryGet(ctx context.Context, id string) (*Delivery, error)
	DeliveryList(ctx context.Context, p *DeliveryListParams) ([]*Delivery, error)
	// AttemptList returns the attempts of the deliveries, oldest first.
	AttemptList(ctx context.Context, deliveryIDs []string) ([]*Attempt, error)
	// EventPayloads maps event ids to their payloads.
	EventPayloads(ctx context.Context, eventIDs []string) (map[string][]byte, error)
	// DeliveryEventsInRange lists the event ids of an endpoint's deliveries
	// created in [Since, Until), once each.
	DeliveryEventsInRange(ctx context.Context, p *DeliveryRangeParams) ([]*Delivery, error)
}

// EndpointWriter holds the webhook writes.
type EndpointWriter interface {
	EndpointCreate(ctx context.Context, e *Endpoint) error
	EndpointUpdate(ctx context.Context, e *Endpoint) error
	// EndpointDelete leaves a tombstone: the endpoint is deleted at at
	// (gone from lists and fan-out, inactive, its secrets wiped), its
	// pending deliveries fail, and its delivery history stays until
	// retention takes it (then Prune takes the tombstone). A deleted
	// endpoint is ErrNotFound.
	EndpointDelete(ctx context.Context, id string, at time.Time) error

	DeliveryInsert(ctx context.Context, ds []*Delivery) error
	// DeliveryClaimDue leases up to Limit pending deliveries that are due
	// and not leased by anyone, oldest due first.
	DeliveryClaimDue(ctx context.Context, p *DeliveryClaimDueParams) ([]*Delivery, error)
	// DeliveryExtendLeases pushes the lease of deliveries the owner holds.
	DeliveryExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	// DeliveryReleaseLeases drops the leases of pending deliveries held by
	// owner, or by anyone when owner is empty (a single-process database
	// starting up: its previous process is gone).
	DeliveryReleaseLeases(ctx context.Context, owner string) error
	// DeliverySetStatesIfLeased applies state changes built by the
	// constructors below, each only while its owner holds the lease, and
	// returns the ids of those it applied. Rows are locked in id order.
	DeliverySetStatesIfLeased(ctx context.Context, ps []*DeliverySetStateParams) (map[string]bool, error)
	// DeliveryRetryNow makes a delivery pending and due now, whatever its
	// state, dropping any lease.
	DeliveryRetryNow(ctx context.Context, id string, now time.Time) error
	// AttemptInsert records attempts; one already recorded (same delivery
	// and attempt number) is left as it is.
	AttemptInsert(ctx context.Context, as ...*Attempt) error
}

// DeliveryState is where a delivery stands. A delivery moves only from
// pending, under its lease, through the constructors of
// DeliverySetStateParams (DeliverySucceededAt, DeliveryRetryAt,
// DeliveryFailedAt), or back to pending by DeliveryRetryNow.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliverySucceeded DeliveryState = "succeeded"
	DeliveryFailed    DeliveryState = "failed"
)

// Endpoint is a registered webhook endpoint.
type Endpoint struct {
	ID              string
	URL             string
	Description     string
	TenantID        string // empty: all tenants
	Events          []string
	Filter          string
	Headers         map[string]string
	SignatureHeader string
	// SignatureFormat is the form of the hex signature header: "hex",
	// "prefixed" or "timestamped".
	SignatureFormat string
	// BodyTemplate is the JSON template the payload is rendered through;
	// empty sends the payload as it is.
	BodyTemplate   string
	RetrySchedule  []string
	TimeoutSeconds int
	MaxInFlight    int
	Active         bool
	DisabledReason string
	// Secret and PrevSecret are encrypted with the master key.
	Secret          string
	PrevSecret      string
	PrevSecretUntil time.Time
	// SigningKey and PrevSigningKey are ed25519 private keys for "v1a"
	// signatures, encrypted with the master key; empty when the endpoint
	// signs with its secret only. PrevSigningKey signs until
	// PrevSecretUntil.
	SigningKey     string
	PrevSigningKey string
	// PublicKey is SigningKey's public half, "whpk_<base64>".
	PublicKey string
	// FailingSince is when the current run of failures began; zero while
	// the endpoint succeeds.
	FailingSince time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// DeletedAt is when the endpoint was deleted; zero while it is not.
	DeletedAt time.Time
}

// EndpointListParams filters endpoints.
type EndpointListParams struct {
	Page
	TenantID *string
}

// Delivery is one event sent to one endpoint.
type Delivery struct {
	Seq           int64
	ID            string
	EndpointID    string
	EventID       string
	EventType     string
	TenantID      string
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LeasedUntil   time.Time
	LeaseOwner    string
	LastStatus    int
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// DeliveryListParams filters deliveries, newest first.
type DeliveryListParams struct {
	EndpointID string
	EventID    string
	State      DeliveryState
	BeforeSeq  int64
	Limit      int
}

// DeliveryRangeParams selects an endpoint's deliveries for a replay.
type DeliveryRangeParams struct {
	EndpointID string
	Since      time.Time
	Until      time.Time // zero: no upper bound
	OnlyFailed bool
	Limit      int
}

// DeliveryClaimDueParams claims due deliveries.
type DeliveryClaimDueParams struct {
	Now        time.Time
	Owner      string
	LeaseUntil time.Time
	Limit      int
	// ExcludeEndpoints are endpoints whose local queue is full.
	ExcludeEndpoints []string
}

// DeliverySetStateParams is a guarded state change. Build it with
// DeliverySucceededAt, DeliveryRetryAt or DeliveryFailedAt.
type DeliverySetStateParams struct {
	ID            string
	Owner         string
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LastStatus    int
	LastError     string
	At            time.Time
}

// DeliverySucceededAt records a final success.
func DeliverySucceededAt(id, owner string, attempts, status int, at time.Time) *DeliverySetStateParams {
	return &DeliverySetStateParams{ID: id, Owner: owner, State: DeliverySucceeded, Attempts: attempts, LastStatus: status, NextAttemptAt: at, At: at}
}

// DeliveryRetryAt records a failed attempt to be retried at next.
func DeliveryRetryAt(id, owner string, attempts, status int, attemptErr string, next, at time.Time) *DeliverySetStateParams {
	return &DeliverySetStateParams{ID: id, Owner: owner, State: DeliveryPending, Attempts: attempts, LastStatus: status, LastError: attemptErr, NextAttemptAt: next, At: at}
}

// DeliveryFailedAt records a final failure.
func DeliveryFailedAt(id, owner string, attempts, status int, attemptErr string, at time.Time) *DeliverySetStateParams {
	return &DeliverySetStateParams{ID: id, Owner: owner, State: DeliveryFailed, Attempts: attempts, LastStatus: status, LastError: attemptErr, NextAttemptAt: at, At: at}
}

// Attempt is one try of a delivery.
type Attempt struct {
	DeliveryID      string
	Attempt         int
	StartedAt       time.Time
	DurationMS      int64
	RequestHeaders  map[string]string
	ResponseStatus  int
	ResponseHeaders map[string]string
	ResponseBody    string
	Error           string
}
