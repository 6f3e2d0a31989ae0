// Package store defines what fieldflow keeps in its database: the row types,
// the Reader and Tx interfaces every driver implements, and the sentinel
// errors drivers map their own errors to. The sqlite and postgres packages
// implement it; storetest holds the conformance suite both must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldflow/fieldflow/internal/events"
)

// Sentinel errors. Drivers map their own errors to these in one place.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique key is already taken.
	ErrConflict = errors.New("store: conflict")
	// ErrLastAdminKey refuses to revoke the last active admin key, which
	// would leave nobody able to manage the system through the API. It is a
	// conflict.
	ErrLastAdminKey = fmt.Errorf("%w: it is the last active admin key; create another admin key first", ErrConflict)
)

// Store is a database. Reads go through the embedded Reader; every write
// goes through InTx, so that a change and its events commit together.
type Store interface {
	Reader
	// InTx runs fn in one transaction and commits when fn returns nil. A
	// driver may run several callers' fns in one database transaction
	// (group commit), each isolated by a savepoint; InTx returns only once
	// the commit holding fn's writes is durable.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Ping reports whether the database is reachable and migrated.
	Ping(ctx context.Context) error
	// Dialect names the database: "sqlite" or "postgres".
	Dialect() string
	// Listen calls fn with each Wake that a process sharing the database
	// sends when it commits work others may take (this process's own
	// included), until ctx ends (nil) or the connection it listens on
	// fails (an error: wakes sent meanwhile are lost; call it again). A
	// database that only one process uses (SQLite) has nothing to hear:
	// Listen just waits for ctx.
	Listen(ctx context.Context, fn func(Wake)) error
	// Reclaim hands space that deletes freed back to the file system, a
	// bounded amount per call, without holding writers up for long. Unlike
	// SQLite, PostgreSQL's autovacuum does this itself, and Reclaim does
	// nothing there.
	Reclaim(ctx context.Context) error
	Close() error
}

// Tx is one transaction: reads see its own writes.
type Tx interface {
	Reader
	Writer
	// AfterCommit registers f to run once the transaction has committed.
	AfterCommit(f func())
}

// Reader holds the read queries.
type Reader interface {
	EndpointReader
	SettingsReader
	AutomationReader
	SecretsReader
	RetentionReader
	StatsReader
	// BacklogRead counts the pending deliveries and runs and finds the
	// earliest due of each, through the partial indexes the claims use, so
	// that a metrics scrape may call it.
	BacklogRead(ctx context.Context) (*Backlog, error)
	FieldGroupGet(ctx context.Context, idOrKey string) (*FieldGroup, error)
	FieldGroupList(ctx context.Context, p Page) ([]*FieldGroup, int, error)

	GlobalFieldGet(ctx context.Context, id string) (*GlobalField, error)
	GlobalFieldList(ctx context.Context, p *GlobalFieldListParams) ([]*GlobalField, int, error)

	// GlobalFieldsInGroup lists a group's global fields without their
	// FieldGroupIDs: what building a schema needs.
	GlobalFieldsInGroup(ctx context.Context, groupID string) ([]*GlobalField, error)

	TenantFieldGet(ctx context.Context, id string) (*TenantField, error)
	TenantFieldList(ctx context.Context, p *TenantFieldListParams) ([]*TenantField, int, error)
	// TenantFieldKeyTaken reports whether any tenant has a field with key in
	// one of the groups.
	TenantFieldKeyTaken(ctx context.Context, groupIDs []string, key string) (bool, error)

	EntityGet(ctx context.Context, k EntityKey) (*Entity, error)
	FieldValueSearch(ctx context.Context, p *FieldValueSearchParams) ([]*FieldValueRow, int, error)
	// FieldValueTaken reports whether another entity of the tenant and group
	// holds the value text under the key.
	FieldValueTaken(ctx context.Context, p *FieldValueTakenParams) (bool, error)

	EventGet(ctx context.Context, id string) (*events.Event, error)
	EventGetByDedupKey(ctx context.Context, tenantID, dedupKey string) (*events.Event, error)
	EventList(ctx context.Context, p *EventListParams) ([]*events.Event, error)
	// EventTypes lists the distinct types of stored events in byte order. With
	// TenantID set it reads only that tenant's latest Recent events (a
	// bounded read); without it every stored event, one index probe per
	// type.
	EventTypes(ctx context.Context, p *EventTypesParams) ([]string, error)

	APIKeyGetByHash(ctx context.Context, hash string) (*APIKey, error)
	APIKeyGet(ctx context.Context, id string) (*APIKey, error)
	// APIKeyList lists keys oldest first, revoked ones too.
	APIKeyList(ctx context.Context, p *APIKeyListParams) ([]*APIKey, int, error)
	// APIKeyCountAdmins counts the admin keys active at the time: not
	// revoked and not expired.
	APIKeyCountAdmins(ctx context.Context, at time.Time) (int, error)

	IdempotencyGet(ctx context.Context, scope, key string) (*IdempotencyRecord, error)

	SessionReader
	PortalReader
}

// Writer holds the write queries; only a Tx has them.
type Writer interface {
	EndpointWriter
	SettingsWriter
	AutomationWriter
	SecretsWriter
	RetentionWriter
	FieldGroupCreate(ctx context.Context, g *FieldGroup) error
	FieldGroupUpdate(ctx context.Context, g *FieldGroup) error
	FieldGroupDelete(ctx context.Context, id string) error

	GlobalFieldCreate(ctx context.Context, f *GlobalField) error
	GlobalFieldUpdate(ctx context.Context, f *GlobalField) error
	GlobalFieldDelete(ctx context.Context, id string) error

	TenantFieldCreate(ctx context.Context, f *TenantField) error
	TenantFieldUpdate(ctx context.Context, f *TenantField) error
	TenantFieldDelete(ctx context.Context, id string) error

	// EntityLock returns the entity's current version, creating it at
	// version 0 if it does not exist, and holds it until the transaction
	// ends so concurrent saves of one entity serialize.
	EntityLock(ctx context.Context, k EntityKey) (int64, error)
	EntitySave(ctx context.Context, p *EntitySaveParams) error
	EntityDelete(ctx context.Context, k EntityKey) error

	EventInsert(ctx context.Context, evs []*events.Event) error

	APIKeyCreate(ctx context.Context, k *APIKey) error
	// APIKeyRevoke marks a key revoked. Revoking a revoked key changes
	// nothing; an unknown id is ErrNotFound and the last active admin key
	// ErrLastAdminKey.
	APIKeyRevoke(ctx context.Context, p *APIKeyRevokeParams) error
	// APIKeyTouch records a use of the key, only when the last recorded
	// use is older than p.Before: a key used on every request is written
	// at most once per interval, whatever the number of instances.
	APIKeyTouch(ctx context.Context, p *APIKeyTouchParams) error
	// IdempotencyPut stores r as the response for its scope and key,
	// replacing whatever held them.
	IdempotencyPut(ctx context.Context, r *IdempotencyRecord) error
	// IdempotencyClaim takes p's scope and key for a request about to run,
	// so that no process sharing the database runs another request with
	// them meanwhile. The key is free when no record holds it, or the one
	// that does is a response made before p.ExpiredBefore or a claim that
	// ran out (its process died). It returns claimed = false and the
	// record holding the key otherwise: a response (Status > 0) or a live
	// claim of another request (Status 0).
	IdempotencyClaim(ctx context.Context, p *IdempotencyClaimParams) (held *IdempotencyRecord, claimed bool, err error)
	// IdempotencyComplete stores the response of the request holding the
	// claim r.Token names, and reports whether that claim still held the
	// key; one taken over meanwhile keeps the other request's record.
	IdempotencyComplete(ctx context.Context, r *IdempotencyRecord) (bool, error)
	// IdempotencyExtendClaim pushes a live claim's end to until, and
	// reports whether the claim still holds its key.
	IdempotencyExtendClaim(ctx context.Context, c IdempotencyClaimRef, until time.Time) (bool, error)
	// IdempotencyRelease drops a claim without a response (an outcome
	// worth retrying, such as a 5xx), so that the next request with the
	// key runs. A claim no longer held is left alone.
	IdempotencyRelease(ctx context.Context, c IdempotencyClaimRef) error
	IdempotencyDeleteBefore(ctx context.Context, before time.Time) (int, error)

	SessionWriter
	PortalWriter
}

// Page selects one page of a list; Page counts from 1.
type Page struct {
	Page     int
	PageSize int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (p.Page - 1) * p.PageSize }

// FieldGroup groups fields that describe one kind of entity.
type FieldGroup struct {
	ID          string
	Key         string
	Name        string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// GlobalField is a vendor-defined field; it belongs to one or more groups.
type GlobalField struct {
	ID            string
	Key           string
	Label         string
	Schema        json.RawMessage
	FieldGroupIDs []string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// GlobalFieldListParams filters global fields.
type GlobalFieldListParams struct {
	Page
	FieldGroupID string // empty: all
}

// TenantField is a field one tenant added to one group.
type TenantField struct {
	ID           string
	TenantID     string
	FieldGroupID string
	Key          string
	Label        string
	Schema       json.RawMessage
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TenantFieldListParams filters tenant fields.
type TenantFieldListParams struct {
	Page
	TenantID     string
	FieldGroupID string
}

// EntityKey names one entity of one tenant in one group.
type EntityKey struct {
	TenantID     string
	FieldGroupID string
	EntityID     string
}

// Entity is the values stored for one entity. An unknown entity has version
// 0 and no values.
type Entity struct {
	EntityKey
	Values  map[string]json.RawMessage
	Version int64
	// CreatedAt is when the entity was first saved, UpdatedAt its last
	// save; both zero for an entity never saved.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EntitySaveParams writes some values of an entity and sets its version.
type EntitySaveParams struct {
	EntityKey
	// Set maps keys to their new JSON values; ValueText holds, per key, the
	// text that search and unique checks compare (a string's own text, else
	// the JSON).
	Set       map[string]json.RawMessage
	ValueText map[string]string
	Delete    []string
	Version   int64
	At        time.Time
}

// FieldValueSearchParams filters stored values; empty strings match all.
type FieldValueSearchParams struct {
	Page
	TenantID     string
	FieldGroupID string
	EntityID     string
	FieldKey     string
	Value        *string
}

// FieldValueRow is one stored value with its group.
type FieldValueRow struct {
	TenantID       string
	FieldGroupID   string
	FieldGroupKey  string
	FieldGroupName string
	EntityID       string
	FieldKey       string
	Value          json.RawMessage
	UpdatedAt      time.Time
}

// FieldValueTakenParams asks whether a unique value is held elsewhere.
type FieldValueTakenParams struct {
	EntityKey // the entity being saved, which does not count
	FieldKey  string
	ValueText string
}

// EventListParams filters events, newest first. BeforeSeq > 0 continues
// a listing below that sequence number (cursor paging). A non-zero AfterSeq
// lists the events above that sequence number instead, oldest first (a
// stream following the log; -1 lists from the first event).
type EventListParams struct {
	Type      string
	TenantID  *string
	Since     time.Time
	BeforeSeq int64
	AfterSeq  int64
	Limit     int
}

// EventTypesParams says whose event types EventTypes lists.
type EventTypesParams struct {
	TenantID *string
	// Recent bounds a tenant's read to its latest events; zero means
	// 10,000.
	Recent int
}

// Roles of API keys.
const (
	RoleAdmin  = "admin"
	RoleTenant = "tenant"
)

// APIKey is a stored API key: only its SHA-256 hash is kept.
type APIKey struct {
	ID       string
	Hash     string
	Role     string
	TenantID string
	// Name is the operator's label; may be empty.
	Name string
	// Prefix is the start of the secret after "ffk_", enough to tell keys
	// apart and too short to guess the rest. Empty for keys made before
	// prefixes were kept.
	Prefix    string
	CreatedAt time.Time
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
	// LastUsedAt is when the key last authenticated a request, to within
	// the touch interval; zero means never.
	LastUsedAt time.Time
	// RevokedAt is when the key was revoked; zero means it was not.
	RevokedAt time.Time
}

// Active reports whether the key works at the time: not revoked and not
// expired.
func (k *APIKey) Active(at time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || at.Before(k.ExpiresAt))
}

// APIKeyListParams selects a page of keys.
type APIKeyListParams struct {
	Page Page
	// TenantID, when set, lists only that tenant's keys.
	TenantID *string
	// Active, when not zero, lists only the keys active at that time.
	Active time.Time
}

// APIKeyRevokeParams revokes one key at a time.
type APIKeyRevokeParams struct {
	ID string
	At time.Time
}

// APIKeyTouchParams records a use of a key.
type APIKeyTouchParams struct {
	ID string
	At time.Time
	// Before: the use is recorded only if the last one is older.
	Before time.Time
}

// IdempotencyRecord is the first response to a request with an
// Idempotency-Key, kept to answer repeats, or, while that request runs,
// its claim on the key (Status 0).
type IdempotencyRecord struct {
	Scope       string // who sent it: the API key's id
	Key         string
	RequestHash string
	// Status is the response's HTTP status; 0 for a claim whose request
	// has no response yet.
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
	// Token names the claim of the request that made the record; empty
	// for a record stored with IdempotencyPut.
	Token string
	// ClaimedUntil is when a claim ends unless its request extends it;
	// zero for a response.
	ClaimedUntil time.Time
}

// IdempotencyClaimParams claims an Idempotency-Key for one request.
type IdempotencyClaimParams struct {
	Scope, Key  string
	RequestHash string
	// Token is a random name for this claim, which completing, extending
	// and releasing it must give.
	Token string
	// At is now: the claim's CreatedAt.
	At time.Time
	// Until is when the claim ends unless extended.
	Until time.Time
	// ExpiredBefore: a response made before it no longer holds the key.
	ExpiredBefore time.Time
}

// IdempotencyClaimRef names one request's claim on a key.
type IdempotencyClaimRef struct {
	Scope, Key, Token string
}

// WakeKind is a kind of work a Wake announces.
type WakeKind string

// The kinds of work a process wakes others for.
const (
	// WakeDeliveries: webhook deliveries nobody holds are due.
	WakeDeliveries WakeKind = "deliveries"
	// WakeRuns: automation runs nobody holds are due.
	WakeRuns WakeKind = "runs"
	// WakeTimers: a time rule's timer was set; At is when it is due.
	WakeTimers WakeKind = "timers"
)

// Wake tells the processes sharing a database that one of them committed
// work any of them may take, so that an idle one claims it now rather than
// at its next poll. A wake only hurries the poll, which stays the recovery
// path: one that is lost delays work, it never loses it.
type Wake struct {
	Kind WakeKind
	// At is when the work comes due; zero means now.
	At time.Time
}

// DeliveryLeases extends and releases delivery leases, each call in a
// transaction of its own: the lease keeping of the webhook dispatcher's
// queue.
type DeliveryLeases struct{ Store Store }

// ExtendLeases pushes owner's leases on ids to until.
func (l DeliveryLeases) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	return l.Store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		return tx.DeliveryExtendLeases(ctx, owner, ids, until)
	})
}

// ReleaseLeases drops owner's leases of unfinished deliveries; an empty
// owner drops every lease.
func (l DeliveryLeases) ReleaseLeases(ctx context.Context, owner string) error {
	return l.Store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		return tx.DeliveryReleaseLeases(ctx, owner)
	})
}

// RunLeases is DeliveryLeases for automation runs: the lease keeping of
// the automation runner's queue.
type RunLeases struct{ Store Store }

// ExtendLeases pushes owner's leases on ids to until.
func (l RunLeases) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error {
	return l.Store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		return tx.RunExtendLeases(ctx, owner, ids, until)
	})
}

// ReleaseLeases drops owner's leases of unfinished runs; an empty owner
// drops every lease.
func (l RunLeases) ReleaseLeases(ctx context.Context, owner string) error {
	return l.Store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		return tx.RunReleaseLeases(ctx, owner)
	})
}

// Backlog is the work waiting in the database: pending deliveries and runs
// (retries scheduled for later among them) and, for each, the earliest
// next_attempt_at, zero when none is pending. How far that lies in the
// past is how late the queue runs.
type Backlog struct {
	DeliveriesPending  int
	DeliveriesFirstDue time.Time
	RunsPending        int
	RunsFirstDue       time.Time
}
