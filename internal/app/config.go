// Package app wires fieldflow together: configuration, store, services, the
// HTTP server and background workers, and their start and stop order. It is
// the only package that imports all the others; nothing imports it but the
// command.
package app

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config is everything fieldflow can be told. Zero values mean the
// documented default.
type Config struct {
	// Addr is the listen address. Defaults to 127.0.0.1:8080.
	Addr string
	// DB is a SQLite file path or a postgres:// URL. Defaults to
	// fieldflow.db.
	DB string
	// AdminKey, when set, is an admin API key that is stored (hashed) at
	// start. When empty and the database has no admin key, one is generated
	// and printed once.
	AdminKey string
	// MasterKey is the base64 of the 32-byte key that encrypts secrets at
	// rest. Takes precedence over MasterKeyFile.
	MasterKey string
	// MasterKeyFile holds the master key. Defaults, for SQLite, to the
	// database path plus ".key", created with mode 0600 when missing and
	// the database holds no secret yet. PostgreSQL needs MasterKey or
	// MasterKeyFile. A key that does not open the database's key check
	// value stops the start (ErrMasterKeyMismatch).
	MasterKeyFile string
	// MetricsAddr, when set, is a listen address of its own for /metrics,
	// served there without a key (keep it off the public network) and no
	// longer on Addr. When empty, /metrics is served on Addr to an admin
	// key or the MetricsToken.
	MetricsAddr string
	// MetricsToken, when set, is a bearer token that may read /metrics on
	// Addr besides an admin key. Empty: admin keys only.
	MetricsToken string
	// AllowPrivateTargets lets outbound requests reach loopback and private
	// addresses. Defaults to false; tests turn it on.
	AllowPrivateTargets bool
	// Role is all, api or worker. Defaults to all. api serves the API and
	// leaves sending to workers; worker sends deliveries, runs automations
	// and serves only /healthz, /readyz and /metrics.
	Role string
	// DeliveryLease is how long a claimed delivery or automation run stays
	// with this process without a heartbeat before another process may
	// take it. Defaults to 30 seconds.
	DeliveryLease time.Duration
	// DeliveryPoll is how often due deliveries, runs and time-rule timers
	// nobody holds are looked for. Defaults to 1 second.
	DeliveryPoll time.Duration
	// GCPercent is the Go garbage collector's target (as GOGC). fieldflow's
	// live heap is small, so trading memory for CPU pays: 400 measured about
	// 10 % more events per second than Go's 100, at well under 300 MB. Zero
	// means 400 unless the GOGC environment variable is set; negative
	// leaves the runtime as it is.
	GCPercent int
	// ShutdownGrace is how long a stop waits for requests and attempts in
	// flight. Defaults to 10 seconds.
	ShutdownGrace time.Duration
	// RateLimit is the sustained requests per second each API key may make
	// on this instance (api.Config.RateLimit). Zero means 100; negative
	// turns the limit off, as the in-process bench does.
	RateLimit float64
	// RateBurst is how many requests a key may make at once. Zero means
	// 200.
	RateBurst int
	// AuthFailureLimit is how many failed authentications per second one
	// client address may make (api.Config.AuthFailureLimit). Zero means
	// 10; negative turns the limit off.
	AuthFailureLimit float64
	// AuthFailureBurst is how many failed authentications an address may
	// make at once. Zero means 20.
	AuthFailureBurst int
	// ClientAddrHeader names the header a trusted reverse proxy sets to the
	// client's address, for limiting failed authentications per client.
	// Empty means the connection's address.
	ClientAddrHeader string
	// Logger defaults to text logs on stderr.
	Logger *slog.Logger
	// Stdout receives what commands print for the user (a generated admin
	// key). Defaults to os.Stdout.
	Stdout io.Writer
}

// WithDefaults returns the config with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Addr = cmp.Or(c.Addr, "127.0.0.1:8080")
	c.DB = cmp.Or(c.DB, "fieldflow.db")
	c.Role = cmp.Or(c.Role, "all")
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, 10*time.Second)
	c.DeliveryLease = cmp.Or(c.DeliveryLease, 30*time.Second)
	c.GCPercent = cmp.Or(c.GCPercent, 400)
	c.DeliveryPoll = cmp.Or(c.DeliveryPoll, time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.MasterKey == "" && c.MasterKeyFile == "" && !c.postgres() {
		c.MasterKeyFile = c.DB + ".key"
	}
	return c
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch c.Role {
	case "all", "api", "worker":
	default:
		return fmt.Errorf("config: Role %q: must be all, api or worker", c.Role)
	}
	if c.postgres() && c.MasterKey == "" && c.MasterKeyFile == "" {
		return errors.New("config: MasterKey: PostgreSQL needs FIELDFLOW_MASTER_KEY or --master-key-file")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		return errors.New("config: MetricsAddr: must differ from Addr, or be empty to serve /metrics on Addr")
	}
	if c.ShutdownGrace < 0 {
		return errors.New("config: ShutdownGrace: must not be negative")
	}
	if c.RateBurst < 0 {
		return errors.New("config: RateBurst: must not be negative")
	}
	return nil
}

func (c Config) postgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}
