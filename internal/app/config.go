// Package app wires fieldflow together: configuration, store, services, the
// HTTP server and background workers, and their start and stop order. It is
// the only package that imports all the others; nothing imports it but the
// command (and internal/apptest, which runs it for tests outside it).
package app

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldflow/fieldflow/internal/queue"
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
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on
	// the MetricsAddr listener, which it requires; never on Addr. Off by
	// default: a profile shows the process's memory and code paths.
	Pprof bool
	// PortalOrigins are the origins (scheme://host[:port], or a leading *.
	// in the host) whose pages may frame the tenant portal (/portal; the
	// frame-ancestors of its Content-Security-Policy). Empty: none may;
	// the dashboard may never be framed.
	PortalOrigins []string
	// AllowPrivateTargets lets outbound requests reach loopback and private
	// addresses, all of them. Defaults to false; tests turn it on.
	// AllowPrivatePrefixes is the narrow alternative.
	AllowPrivateTargets bool
	// AllowPrivatePrefixes are private address ranges outbound requests may
	// reach (an internal receiver at 10.20.0.0/16, say); every other private,
	// loopback, link-local and metadata address stays refused. Empty means
	// none. Ignored when AllowPrivateTargets is set.
	AllowPrivatePrefixes []netip.Prefix
	// OutboundProxy, when set, is the http:// or https:// URL of a proxy
	// that every outbound request (deliveries, automation steps, token
	// requests) goes through, for receivers that expect one static egress
	// address. The proxy itself may be on a private address; targets are
	// still checked. Empty means direct connections.
	OutboundProxy string
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
	// MaxBodyBytes caps request bodies; a bigger one is a 413. Defaults to
	// 1 MiB.
	MaxBodyBytes int64
	// DBMaxConns is the most PostgreSQL connections this process opens.
	// Defaults to 32. SQLite ignores it: it has one writer connection and
	// its own readers.
	DBMaxConns int
	// TLSCertFile and TLSKeyFile, set together, make Addr serve HTTPS with
	// that PEM certificate (chain) and key. Both empty means plain HTTP (a
	// reverse proxy terminating TLS in front). The metrics listener stays
	// plain HTTP.
	TLSCertFile string
	TLSKeyFile  string
	// CORSOrigins are the origins (https://app.example.com) whose browser
	// pages may call the API with an API key: preflights are answered and
	// responses carry Access-Control-Allow-Origin. "*" allows any origin.
	// Credentials (cookies) are never allowed cross-origin. Empty means no
	// cross-origin access.
	CORSOrigins []string
	// DrainDelay is how long a stop keeps serving, with /readyz answering
	// 503, before it closes the listener and waits for requests in flight,
	// so that a load balancer takes the instance out of rotation first.
	// Defaults to 0: the listener closes at once.
	DrainDelay time.Duration
	// WorkerStallAfter is how long the delivery dispatcher, the automation
	// runner or the timer loop may go without a successful poll of the
	// database before /readyz reports it (503). Defaults to 30 seconds or
	// ten DeliveryPoll intervals, whichever is longer.
	WorkerStallAfter time.Duration
	// RetentionEvents is how long events are kept (an event stays, whatever
	// its age, while a delivery or run of it does). Zero means 30 days;
	// negative keeps them for ever. A tenant may have its own retention
	// (PUT /api/tenants/{id}/retention), which replaces this and the two
	// below for its rows.
	RetentionEvents time.Duration
	// RetentionDeliveries is how long settled deliveries and their attempts
	// are kept after their last change; pending ones are never pruned.
	// Zero means 30 days; negative keeps them for ever.
	RetentionDeliveries time.Duration
	// RetentionRuns is how long settled automation runs and their step
	// attempts are kept after their last change. Zero means 30 days;
	// negative keeps them for ever.
	RetentionRuns time.Duration
	// RetentionIdempotency is how long an Idempotency-Key is remembered;
	// its record is pruned after that. Zero means 24 hours.
	RetentionIdempotency time.Duration
	// RetentionInterval is the time between retention passes (pruning and
	// pending tenant erasures). Zero means 1 minute.
	RetentionInterval time.Duration
	// RetentionBatch is the most rows one pruning or erasing transaction
	// deletes. Zero means 500.
	RetentionBatch int
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
	c.DeliveryLease = cmp.Or(c.DeliveryLease, queue.DefaultLeaseDuration)
	c.GCPercent = cmp.Or(c.GCPercent, 400)
	c.DeliveryPoll = cmp.Or(c.DeliveryPoll, time.Second)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 1<<20)
	c.DBMaxConns = cmp.Or(c.DBMaxConns, 32)
	c.WorkerStallAfter = cmp.Or(c.WorkerStallAfter, max(30*time.Second, 10*c.DeliveryPoll))
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
	if err := c.validateDB(); err != nil {
		return err
	}
	if c.postgres() && c.MasterKey == "" && c.MasterKeyFile == "" {
		return errors.New("config: MasterKey: PostgreSQL needs FIELDFLOW_MASTER_KEY or --master-key-file")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		return errors.New("config: MetricsAddr: must differ from Addr, or be empty to serve /metrics on Addr")
	}
	if c.Pprof && c.MetricsAddr == "" {
		return errors.New("config: Pprof: needs MetricsAddr, the listener it is served on")
	}
	if c.ShutdownGrace < 0 {
		return errors.New("config: ShutdownGrace: must not be negative")
	}
	if c.RateBurst < 0 {
		return errors.New("config: RateBurst: must not be negative")
	}
	if c.RetentionIdempotency < 0 {
		return errors.New("config: RetentionIdempotency: must not be negative: an Idempotency-Key is remembered for a while, then forgotten")
	}
	if c.RetentionInterval < 0 || c.RetentionBatch < 0 {
		return errors.New("config: RetentionInterval and RetentionBatch: must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		return errors.New("config: MaxBodyBytes: must not be negative")
	}
	if c.DBMaxConns < 0 {
		return errors.New("config: DBMaxConns: must not be negative")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("config: TLSCertFile and TLSKeyFile: set both (--tls-cert and --tls-key), or neither for plain HTTP")
	}
	if c.DrainDelay < 0 {
		return errors.New("config: DrainDelay: must not be negative")
	}
	if _, err := c.outboundProxy(); err != nil {
		return err
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		if err := checkOrigin(o, false); err != nil {
			return fmt.Errorf("config: CORSOrigins: %w", err)
		}
	}
	for _, o := range c.PortalOrigins {
		if err := checkOrigin(o, true); err != nil {
			return fmt.Errorf("config: PortalOrigins: %w", err)
		}
	}
	return nil
}

// outboundProxy parses OutboundProxy; nil when it is empty.
func (c Config) outboundProxy() (*url.URL, error) {
	if c.OutboundProxy == "" {
		return nil, nil
	}
	u, err := url.Parse(c.OutboundProxy)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("config: OutboundProxy: %q: want an http:// or https:// proxy URL such as http://proxy.internal:3128", redactURL(c.OutboundProxy))
	}
	return u, nil
}

// checkOrigin accepts a browser origin: scheme://host[:port] with no path,
// query or credentials. wildcard allows a leading *. in the host, which
// CSP's frame-ancestors understands (https://*.example.com). Anything
// else is refused, spaces and semicolons above all: the value goes into a
// header, where they would add sources or directives.
func checkOrigin(o string, wildcard bool) error {
	bad := fmt.Errorf("%q: want an origin such as https://app.example.com (scheme, host and optional port; no path)", o)
	if strings.ContainsAny(o, " \t;,'\"") {
		return bad
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Path != "" ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return bad
	}
	host := u.Hostname()
	if wildcard {
		host = strings.TrimPrefix(host, "*.")
	}
	if host == "" || strings.Contains(host, "*") {
		return bad
	}
	return nil
}

// validateDB refuses a URL of a database fieldflow does not speak (it would
// otherwise be taken for a SQLite file name) and a SQLite file in a
// directory that does not exist, naming it as the database's.
func (c Config) validateDB() error {
	if c.postgres() {
		return nil
	}
	if scheme, _, ok := strings.Cut(c.DB, "://"); ok {
		return fmt.Errorf("config: DB: unknown scheme %q in %q: want a SQLite file path or a postgres:// URL", scheme+"://", redactURL(c.DB))
	}
	if strings.HasPrefix(c.DB, "file:") || c.DB == ":memory:" {
		return nil
	}
	dir := filepath.Dir(c.DB)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("config: DB: the database's directory %q does not exist (create it, or choose another --db)", dir)
	} else if !fi.IsDir() {
		return fmt.Errorf("config: DB: the database's directory %q is not a directory", dir)
	}
	return nil
}

// redactURL hides a password in a database URL before it is shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func (c Config) postgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}
