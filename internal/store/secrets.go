package store

import "context"

// SecretsReader reads what the master key protects: the key check value
// and every value sealed with the key.
type SecretsReader interface {
	// MetaGet returns a value of the meta table, or ErrNotFound.
	MetaGet(ctx context.Context, key string) (string, error)
	// SealedValueList returns every non-empty value sealed with the master
	// key, in every table that holds one, so that a start can check the
	// key against one and a key rotation can re-seal them all.
	SealedValueList(ctx context.Context) ([]*SealedValue, error)
}

// SecretsWriter writes what the master key protects.
type SecretsWriter interface {
	// MetaCreate stores a meta value; ErrConflict if the key is taken.
	MetaCreate(ctx context.Context, key, value string) error
	// MetaSet stores a meta value, replacing any.
	MetaSet(ctx context.Context, key, value string) error
	// SealedValueUpdate writes v.Value back where SealedValueList found
	// it; ErrNotFound when the row has gone.
	SealedValueUpdate(ctx context.Context, v *SealedValue) error
}

// MetaMasterKeyCheck is the meta key of the master key check value: a
// known text sealed with the master key, so that a start with another key
// is refused before anything is sealed with it.
const MetaMasterKeyCheck = "master_key_check"

// SealedValue is one value sealed with the master key and where it is
// kept.
type SealedValue struct {
	// Column is "table.column", such as "webhook_endpoints.secret".
	Column string
	// Key is the row's primary key, in the table's key column order.
	Key []string
	// Value is the sealed text.
	Value string
}
