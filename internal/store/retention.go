package store

import (
	"context"
	"time"
)

// RetentionReader holds the reads of retention settings and tenant
// erasures.
type RetentionReader interface {
	// TenantRetentionGet is a tenant's own history retention; ErrNotFound
	// when it has none (the default applies).
	TenantRetentionGet(ctx context.Context, tenantID string) (*TenantRetention, error)
	// TenantRetentionList lists every tenant's own retention, by tenant id.
	TenantRetentionList(ctx context.Context) ([]*TenantRetention, error)
	// TenantErasureGet is the latest erasure of a tenant; ErrNotFound if
	// none was asked for.
	TenantErasureGet(ctx context.Context, tenantID string) (*TenantErasure, error)
	// TenantErasureListPending lists up to limit pending erasures, oldest
	// request first.
	TenantErasureListPending(ctx context.Context, limit int) ([]*TenantErasure, error)
}

// RetentionWriter holds the writes of pruning and erasing.
type RetentionWriter interface {
	// RetentionLock takes the retention lock until the transaction ends and
	// reports whether it got it: false while another instance prunes or
	// erases. Unlike PostgreSQL, SQLite has one process per database, which
	// always gets it.
	RetentionLock(ctx context.Context) (bool, error)
	// Prune deletes up to p.Limit rows of one kind that retention lets go
	// and returns how many went. It never deletes a pending or leased
	// delivery or run, nor an event that a kept delivery or run points at;
	// attempts and step attempts go with their delivery or run.
	Prune(ctx context.Context, p *PruneParams) (int, error)

	// TenantRetentionPut sets a tenant's own retention.
	TenantRetentionPut(ctx context.Context, r *TenantRetention) error
	// TenantRetentionDelete drops it (the default applies again); no error
	// if there was none.
	TenantRetentionDelete(ctx context.Context, tenantID string) error

	// TenantErasureStart records a pending erasure of e.TenantID (replacing
	// a finished one; a pending one is kept as it is and returned) and
	// revokes the tenant's API keys at e.RequestedAt, so that the tenant
	// writes nothing more while it is erased.
	TenantErasureStart(ctx context.Context, e *TenantErasure) (*TenantErasure, error)
	// TenantEraseBatch deletes up to limit rows of the tenant's data, one
	// kind at a time in a fixed order (its events with their deliveries and
	// runs, timers, entities with their values, tenant fields, endpoints,
	// automations, variables, OAuth2 connections, its keys' idempotency
	// records and sessions, its retention), and returns how many went; 0
	// means nothing of the tenant is left.
	TenantEraseBatch(ctx context.Context, tenantID string, limit int) (int, error)
	// TenantErasureFinish marks a pending erasure done, adding removed to
	// its count and recording the event that announced it; ErrNotFound if
	// it is not pending.
	TenantErasureFinish(ctx context.Context, p *TenantErasureFinishParams) error
	// TenantErasureProgress adds removed rows to a pending erasure's count.
	TenantErasureProgress(ctx context.Context, tenantID string, removed int) error
}

// PruneKind names what Prune deletes.
type PruneKind string

// Prune kinds.
const (
	// PruneDeliveries: settled (succeeded or failed) deliveries last
	// changed before Before, with their attempts.
	PruneDeliveries PruneKind = "deliveries"
	// PruneRuns: settled runs last changed before Before, with their step
	// attempts.
	PruneRuns PruneKind = "runs"
	// PruneEvents: events that occurred before Before and that no
	// delivery or run points at any more.
	PruneEvents PruneKind = "events"
	// PruneIdempotency: idempotency records made before Before (TenantID
	// does not apply).
	PruneIdempotency PruneKind = "idempotency"
	// PruneEndpoints: endpoint tombstones deleted before Before that have
	// no delivery left (TenantID does not apply).
	PruneEndpoints PruneKind = "endpoints"
)

// PruneParams selects one batch of Prune.
type PruneParams struct {
	Kind   PruneKind
	Before time.Time
	// TenantID, when set, prunes only that tenant's rows (to its own
	// retention); when nil, the rows of every tenant (and of none) that
	// has no retention of its own.
	TenantID *string
	Limit    int
}

// TenantRetention is how long one tenant's history (events, deliveries,
// runs) is kept, instead of the default.
type TenantRetention struct {
	TenantID  string
	Days      int
	UpdatedAt time.Time
}

// ErasureState is where a tenant erasure stands: pending until every row
// of the tenant is gone, then done.
type ErasureState string

// Erasure states.
const (
	ErasurePending ErasureState = "pending"
	ErasureDone    ErasureState = "done"
)

// TenantErasure is a request to erase one tenant's data.
type TenantErasure struct {
	TenantID    string
	State       ErasureState
	RequestedAt time.Time
	// FinishedAt is zero while pending.
	FinishedAt time.Time
	// Removed counts the rows deleted so far.
	Removed int64
	// EventID is the tenant.erased event; empty while pending.
	EventID string
}

// TenantErasureFinishParams finishes an erasure.
type TenantErasureFinishParams struct {
	TenantID string
	Removed  int
	EventID  string
	At       time.Time
}
