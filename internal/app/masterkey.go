package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
)

// Why a start or a command refuses to go on.
var (
	// ErrDatabaseInUse means another process holds the SQLite database.
	ErrDatabaseInUse = errors.New("app: database in use by another process")
	// ErrMasterKeyMissing means the database holds sealed secrets but no
	// master key was given and the key file is gone.
	ErrMasterKeyMissing = errors.New("app: master key missing")
	// ErrMasterKeyMismatch means the master key given does not open the
	// database's secrets: they were sealed with another key.
	ErrMasterKeyMismatch = errors.New("app: master key does not match the database")
)

// keyCheckText is what the master key check value seals.
const keyCheckText = "fieldflow master key check v1"

// masterKey is the configured master key and where it came from.
type masterKey struct {
	key []byte
	// file is the key file; empty when the key came from
	// FIELDFLOW_MASTER_KEY.
	file string
}

func (k masterKey) source() string {
	if k.file == "" {
		return "FIELDFLOW_MASTER_KEY"
	}
	return "the key file " + k.file
}

func decodeMasterKey(s, from string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace([]byte(s))))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("master key from %s: must be the base64 of 32 bytes", from)
	}
	return k, nil
}

// readMasterKey reads the configured key. A missing key file is an error
// that wraps os.ErrNotExist.
func readMasterKey(cfg Config) (masterKey, error) {
	if cfg.MasterKey != "" {
		k, err := decodeMasterKey(cfg.MasterKey, "FIELDFLOW_MASTER_KEY")
		return masterKey{key: k}, err
	}
	b, err := os.ReadFile(cfg.MasterKeyFile)
	if err != nil {
		return masterKey{file: cfg.MasterKeyFile}, fmt.Errorf("read master key: %w", err)
	}
	k, err := decodeMasterKey(string(b), cfg.MasterKeyFile)
	return masterKey{key: k, file: cfg.MasterKeyFile}, err
}

// unlockSecrets finds the master key that opens the database's secrets,
// or refuses with a message that says what to restore. A database sealed
// with another key would otherwise start, fail every delivery and every
// save that matches a webhook, and seal new secrets with a key that opens
// none of the old ones.
//
// It writes the key file only for a database that holds no secret yet, and
// it records the key check value on first use (or on the first start of a
// database made before check values existed, once a sealed value has
// proved the key).
func unlockSecrets(ctx context.Context, cfg Config, s store.Store) (*secretbox.Box, masterKey, error) {
	check, err := s.MetaGet(ctx, store.MetaMasterKeyCheck)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, masterKey{}, fmt.Errorf("read master key check: %w", err)
	}
	mk, err := readMasterKey(cfg)
	if errors.Is(err, os.ErrNotExist) && !cfg.postgres() {
		sealed := check != ""
		if !sealed {
			vals, err := s.SealedValueList(ctx)
			if err != nil {
				return nil, mk, fmt.Errorf("look for sealed secrets: %w", err)
			}
			sealed = len(vals) > 0
		}
		if sealed {
			return nil, mk, fmt.Errorf("%w: database %s holds secrets but the key file %s is missing; restore it from your backup or set FIELDFLOW_MASTER_KEY",
				ErrMasterKeyMissing, displayDB(cfg.DB), mk.file)
		}
		mk.key = make([]byte, 32)
		if _, err := rand.Read(mk.key); err != nil {
			return nil, mk, fmt.Errorf("generate master key: %w", err)
		}
		if err := writeKeyFile(mk.file, mk.key); err != nil {
			return nil, mk, fmt.Errorf("write master key: %w", err)
		}
		cfg.Logger.Info("generated a master key; back it up with the database", "file", mk.file)
	} else if err != nil {
		return nil, mk, err
	}
	box, err := secretbox.New(mk.key)
	if err != nil {
		return nil, mk, err
	}
	if check == "" {
		return box, mk, recordKeyCheck(ctx, cfg, s, box, mk)
	}
	if _, err := box.Open(check); err == nil {
		if mk.file != "" {
			// A rotation that wrote its new key but never committed leaves
			// this behind; the database proves it was never used.
			if err := os.Remove(mk.file + ".new"); err == nil {
				cfg.Logger.Warn("removed the new key of a master key rotation that did not finish; the database still uses the old key", "file", mk.file+".new")
			}
		}
		return box, mk, nil
	}
	if mk.file != "" {
		// A rotation that committed but stopped before renaming its key
		// file leaves the key that opens the database at <file>.new.
		if b, err := os.ReadFile(mk.file + ".new"); err == nil {
			if k, err := decodeMasterKey(string(b), mk.file+".new"); err == nil {
				if nb, err := secretbox.New(k); err == nil {
					if _, err := nb.Open(check); err == nil {
						if err := installNewKeyFile(mk.file); err != nil {
							return nil, mk, fmt.Errorf("finish the master key rotation: %w", err)
						}
						cfg.Logger.Warn("finished an interrupted master key rotation", "file", mk.file, "old", mk.file+".old")
						return nb, masterKey{key: k, file: mk.file}, nil
					}
				}
			}
		}
	}
	return nil, mk, mismatch(cfg, mk)
}

func mismatch(cfg Config, mk masterKey) error {
	return fmt.Errorf("%w: database %s was sealed with a different master key than %s; restore the key file it was used with from your backup, or set FIELDFLOW_MASTER_KEY to that key",
		ErrMasterKeyMismatch, displayDB(cfg.DB), mk.source())
}

// recordKeyCheck writes the key check value of a database that has none.
// Sealed values already there (a database from before check values) must
// open with the key first; one that opens proves the key, so one broken
// row cannot stop the start.
func recordKeyCheck(ctx context.Context, cfg Config, s store.Store, box *secretbox.Box, mk masterKey) error {
	vals, err := s.SealedValueList(ctx)
	if err != nil {
		return fmt.Errorf("look for sealed secrets: %w", err)
	}
	opened := len(vals) == 0
	for _, v := range vals {
		if _, err := box.Open(v.Value); err == nil {
			opened = true
			break
		}
	}
	if !opened {
		return mismatch(cfg, mk)
	}
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.MetaCreate(ctx, store.MetaMasterKeyCheck, box.Seal(keyCheckText))
	})
	if errors.Is(err, store.ErrConflict) {
		// Another instance (PostgreSQL) recorded it first: it must be ours.
		check, err := s.MetaGet(ctx, store.MetaMasterKeyCheck)
		if err != nil {
			return fmt.Errorf("read master key check: %w", err)
		}
		if _, err := box.Open(check); err != nil {
			return mismatch(cfg, mk)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("record master key check: %w", err)
	}
	return nil
}

// writeKeyFile writes a key file so that it is either absent or whole:
// a temporary file, synced, renamed into place.
func writeKeyFile(path string, key []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// installNewKeyFile makes <path>.new the key file and keeps the one it
// replaces as <path>.old. The key file is never missing on the way: the
// old key gets a second name first, and the rename replaces atomically.
func installNewKeyFile(path string) error {
	old := path + ".old"
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Link(path, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(path+".new", path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// displayDB names the database without a password a URL may hold.
func displayDB(db string) string {
	if u, err := url.Parse(db); err == nil && u.User != nil {
		return u.Redacted()
	}
	return db
}

// RotateMasterKeyParams says which key replaces the master key.
type RotateMasterKeyParams struct {
	// NewKey is the base64 of the new 32-byte key. When empty a key is
	// generated, which needs the current key to come from a key file: the
	// new one is written there. With FIELDFLOW_MASTER_KEY the new key must
	// be given, so that the operator holds it before the database changes.
	NewKey string
}

// RotateMasterKeyResult reports a rotation.
type RotateMasterKeyResult struct {
	// Resealed is the number of secrets sealed anew.
	Resealed int
	// KeyFile holds the new key and OldKeyFile the old one, when the key
	// came from a file.
	KeyFile, OldKeyFile string
}

// RotateMasterKey seals every secret anew under a new master key, in one
// transaction together with the new key check value. No server may use the
// database meanwhile: on SQLite the database lock makes sure of it.
//
// With a key file, the order makes every crash recoverable: the new key is
// written to <file>.new first; the transaction commits; then <file>.new
// replaces the key file, whose old key is kept as <file>.old. A start finds
// which key opens the database and finishes or discards the <file>.new
// left behind.
func RotateMasterKey(ctx context.Context, cfg Config, p RotateMasterKeyParams) (*RotateMasterKeyResult, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	release, err := lockStore(cfg)
	if err != nil {
		return nil, err
	}
	defer release()
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	oldBox, mk, err := unlockSecrets(ctx, cfg, s)
	if err != nil {
		return nil, err
	}
	var newKey []byte
	switch {
	case p.NewKey != "":
		if newKey, err = decodeMasterKey(p.NewKey, "the new key"); err != nil {
			return nil, err
		}
	case mk.file == "":
		return nil, errors.New("rotate master key: the key comes from FIELDFLOW_MASTER_KEY: give the new one in FIELDFLOW_NEW_MASTER_KEY or --new-key-file, so that you hold it before the database changes")
	default:
		newKey = make([]byte, 32)
		if _, err := rand.Read(newKey); err != nil {
			return nil, fmt.Errorf("generate master key: %w", err)
		}
	}
	if bytes.Equal(newKey, mk.key) {
		return nil, errors.New("rotate master key: the new key is the current key")
	}
	newBox, err := secretbox.New(newKey)
	if err != nil {
		return nil, err
	}
	if mk.file != "" {
		if err := writeKeyFile(mk.file+".new", newKey); err != nil {
			return nil, fmt.Errorf("write new master key: %w", err)
		}
	}
	res := &RotateMasterKeyResult{}
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		vals, err := tx.SealedValueList(ctx)
		if err != nil {
			return err
		}
		for _, v := range vals {
			plain, err := oldBox.Open(v.Value)
			if err != nil {
				return fmt.Errorf("open %s of %v: %w", v.Column, v.Key, err)
			}
			if err := tx.SealedValueUpdate(ctx, &store.SealedValue{Column: v.Column, Key: v.Key, Value: newBox.Seal(plain)}); err != nil {
				return err
			}
		}
		res.Resealed = len(vals)
		return tx.MetaSet(ctx, store.MetaMasterKeyCheck, newBox.Seal(keyCheckText))
	})
	if err != nil {
		if mk.file != "" {
			_ = os.Remove(mk.file + ".new")
		}
		return nil, fmt.Errorf("rotate master key (nothing changed): %w", err)
	}
	if mk.file != "" {
		if err := installNewKeyFile(mk.file); err != nil {
			return nil, fmt.Errorf("rotate master key: the database uses the key in %s.new, but it could not replace %s (the next start finishes this): %w", mk.file, mk.file, err)
		}
		res.KeyFile, res.OldKeyFile = mk.file, mk.file+".old"
	}
	return res, nil
}

// lockStore locks a SQLite database for this process; PostgreSQL needs
// no lock, its leases are made for many processes.
func lockStore(cfg Config) (release func() error, err error) {
	if cfg.postgres() {
		return func() error { return nil }, nil
	}
	return lockDatabase(cfg.DB, cfg.DB+".lock")
}
