package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/outbound"
	"github.com/fieldflow/fieldflow/internal/problem"
	"github.com/fieldflow/fieldflow/internal/queue"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/retention"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/postgres"
	"github.com/fieldflow/fieldflow/internal/store/sqlite"
	"github.com/fieldflow/fieldflow/internal/store/sqlstore"
	"github.com/fieldflow/fieldflow/internal/webhooks"
	"github.com/fieldflow/fieldflow/internal/webui"
)

// Version and Commit are the build's, set by the linker:
// -ldflags "-X github.com/fieldflow/fieldflow/internal/app.Version=v1.2.3 -X …app.Commit=$(git rev-parse HEAD)".
var (
	Version = "dev"
	Commit  = ""
)

// OpenStore opens the configured database and applies pending migrations.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validateDB(); err != nil {
		return nil, err
	}
	if cfg.postgres() {
		return postgres.OpenWith(ctx, cfg.DB, postgres.Options{MaxConns: cfg.DBMaxConns})
	}
	return sqlite.Open(ctx, cfg.DB)
}

// Migrate applies pending migrations and exits. On SQLite it refuses while
// another process holds the database.
func Migrate(ctx context.Context, cfg Config) error {
	_, err := MigrateUp(ctx, cfg)
	return err
}

// MigrateUp applies pending migrations and returns their versions.
func MigrateUp(ctx context.Context, cfg Config) (applied []int64, err error) {
	err = withMigrator(ctx, cfg, func(m *sqlstore.Migrator) error {
		applied, err = m.Up(ctx)
		return err
	})
	return applied, err
}

// MigrateDown rolls back the newest applied migration, for going back to
// the binary before it; a start applies it again.
func MigrateDown(ctx context.Context, cfg Config) (version int64, err error) {
	err = withMigrator(ctx, cfg, func(m *sqlstore.Migrator) error {
		version, err = m.Down(ctx)
		return err
	})
	return version, err
}

// MigrationStatus lists every migration this binary has and whether the
// database has it, oldest first.
func MigrationStatus(ctx context.Context, cfg Config) (list []sqlstore.Migration, err error) {
	err = withMigrator(ctx, cfg, func(m *sqlstore.Migrator) error {
		list, err = m.Status(ctx)
		return err
	})
	return list, err
}

// withMigrator runs fn over the configured database's migrator, holding
// the SQLite lock so that no server runs meanwhile.
func withMigrator(ctx context.Context, cfg Config, fn func(*sqlstore.Migrator) error) error {
	cfg = cfg.WithDefaults()
	if err := cfg.validateDB(); err != nil {
		return err
	}
	release, err := lockStore(cfg)
	if err != nil {
		return err
	}
	defer release()
	var m *sqlstore.Migrator
	if cfg.postgres() {
		m, err = postgres.OpenMigrator(ctx, cfg.DB)
	} else {
		m, err = sqlite.OpenMigrator(cfg.DB)
	}
	if err != nil {
		return err
	}
	return errors.Join(fn(m), m.Close())
}

// ScratchSchema creates an empty schema in the PostgreSQL database at url,
// for one bench run, and returns the URL that uses it and a function that
// drops it with everything in it.
func ScratchSchema(ctx context.Context, url string) (string, func(context.Context) error, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return postgres.CreateSchema(ctx, url, "fieldflow_bench_"+hex.EncodeToString(b))
}

// CreateKey stores a new API key, for a tenant when tenantID is set, and
// returns it. It takes no database lock: it is one short write, which
// SQLite's own locking serialises with a running server.
func CreateKey(ctx context.Context, cfg Config, tenantID string) (string, error) {
	k, err := CreateKeyWithOptions(ctx, cfg, KeyOptions{TenantID: tenantID})
	if err != nil {
		return "", err
	}
	return k.Secret, nil
}

// KeyOptions describes a key made from the command line.
type KeyOptions struct {
	// TenantID makes a tenant key; empty makes an admin key.
	TenantID string
	Name     string
	// ExpiresIn is the key's lifetime; zero means it never expires.
	ExpiresIn time.Duration
}

// CreateKeyWithOptions stores a new API key and returns it with its
// record. It refuses what POST /api/keys refuses (a tenant id outside the
// documented pattern, say), with the same words.
func CreateKeyWithOptions(ctx context.Context, cfg Config, opts KeyOptions) (*api.CreatedKey, error) {
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	in := &api.KeyInput{Role: store.RoleAdmin, TenantID: opts.TenantID, Name: opts.Name}
	if opts.TenantID != "" {
		in.Role = store.RoleTenant
	}
	if opts.ExpiresIn != 0 {
		in.ExpiresIn = opts.ExpiresIn.String()
	}
	k, err := api.CreateKey(ctx, s, in, time.Now())
	var ve *problem.ValidationError
	if errors.As(err, &ve) {
		msgs := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			msgs[i] = fmt.Sprintf("%s %s", strings.TrimPrefix(p.Location, "body."), p.Message)
			if p.Value != nil {
				msgs[i] += fmt.Sprintf(" (got %q)", fmt.Sprint(p.Value))
			}
		}
		return nil, fmt.Errorf("create key: %s", strings.Join(msgs, "; "))
	}
	return k, err
}

// ListKeys returns every stored API key, oldest first, without secrets.
func ListKeys(ctx context.Context, cfg Config) ([]*api.Key, error) {
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	now := time.Now()
	var out []*api.Key
	for page := 1; ; page++ {
		ks, total, err := s.APIKeyList(ctx, &store.APIKeyListParams{Page: store.Page{Page: page, PageSize: 500}})
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		for _, k := range ks {
			out = append(out, api.KeyView(k, now))
		}
		if len(ks) == 0 || len(out) >= total {
			return out, nil
		}
	}
}

// RevokeKey revokes the API key with the id; it fails from its next
// request on, on every instance. The last active admin key is refused.
func RevokeKey(ctx context.Context, cfg Config, id string) error {
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := api.RevokeKey(ctx, s, id, time.Now()); err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// App is a running fieldflow.
type App struct {
	cfg         Config
	store       store.Store
	server      *http.Server
	listener    net.Listener
	addr        string
	handler     http.Handler
	api         *api.Server // a.handler serves it (behind the web app)
	webhooks    *webhooks.Service
	automations *automations.Service
	retention   *retention.Service
	// wakes hears other instances' wakes; it runs unless this process
	// takes no work (role api).
	wakes *wakeListener

	// tls is the HTTPS configuration of Addr; nil for plain HTTP.
	tls *tls.Config

	registry *prometheus.Registry
	// metricsServer serves /metrics on Config.MetricsAddr, when set.
	metricsServer   *http.Server
	metricsListener net.Listener
	// unlock releases the SQLite database lock.
	unlock func() error
	// draining turns /readyz to 503 once Stop begins.
	draining atomic.Bool
}

// New opens the store, makes sure an admin key exists and builds the
// services and the HTTP handler. Start serves; Stop undoes New.
func New(ctx context.Context, cfg Config) (*App, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	// The address first: a busy port must stop the start before a database
	// is created or an admin key printed that no server will ever accept.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	a := &App{cfg: cfg, listener: ln, addr: ln.Addr().String()}
	if cfg.TLSCertFile != "" {
		// Loaded here, so that a missing or mismatched file stops the
		// start before anything else happens.
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			_ = a.Stop(ctx)
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		a.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// One process per SQLite file: a second would release the first one's
	// leases at start and deliver what the first is delivering.
	unlock, err := lockStore(cfg)
	if err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	a.unlock = unlock
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	a.store = s
	box, _, err := unlockSecrets(ctx, cfg, s)
	if err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	if err := a.ensureAdminKey(ctx); err != nil {
		_ = a.Stop(ctx)
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.registry = reg
	published := registerMetrics(reg, s, cfg.Logger)
	// One client for every outbound request: deliveries, automation steps
	// and token requests all go through its SSRF guard.
	proxy, _ := cfg.outboundProxy() // Validate checked it
	client := outbound.NewClient(outbound.ClientConfig{AllowPrivate: cfg.AllowPrivateTargets,
		AllowedPrefixes: cfg.AllowPrivatePrefixes, Proxy: proxy})
	whCfg := webhooks.Config{
		Store:                s,
		Box:                  box,
		Client:               client,
		Version:              Version,
		LeaseDuration:        cfg.DeliveryLease,
		PollInterval:         cfg.DeliveryPoll,
		ReleaseLeasesOnStart: s.Dialect() == "sqlite",
		Dispatch:             cfg.Role != "api",
		Logger:               cfg.Logger,
		Registry:             reg,
	}
	auCfg := automations.Config{
		Store:                s,
		Box:                  box,
		Dispatch:             cfg.Role != "api",
		LeaseDuration:        cfg.DeliveryLease,
		PollInterval:         cfg.DeliveryPoll,
		ReleaseLeasesOnStart: s.Dialect() == "sqlite",
		Logger:               cfg.Logger,
		Registry:             reg,
	}
	// Every event is stored and handed, in the transaction that writes it,
	// to these subscribers in order: webhook fan-out, then automations.
	// Each writer of events (records, webhooks, automations) gets the same
	// list, so webhook.disabled and automation.run_failed go out too.
	whCfg.Fanout = webhooks.NewFanout(whCfg)
	auCfg.Starter = automations.NewStarter(auCfg)
	subs := []records.Subscriber{whCfg.Fanout, auCfg.Starter, published}
	whCfg.Subscribers, auCfg.Subscribers = subs, subs
	a.webhooks = webhooks.New(whCfg)
	rs := records.New(records.Config{Store: s, Subscribers: subs})
	auCfg.Records = rs
	auCfg.Executor = automations.NewExecutor(automations.ExecutorConfig{Client: client, Version: Version,
		Tokens: automations.NewTokens(automations.TokensConfig{Store: s, Box: box, Client: client})})
	as := automations.New(auCfg)
	a.automations = as
	a.wakes = newWakeListener(s, func(w store.Wake) {
		a.webhooks.Wake(w)
		as.Wake(w)
	}, cfg.Logger, reg)
	// Every role prunes and erases: each batch takes the retention lock,
	// so one instance at a time does the work whatever the deployment.
	a.retention = retention.New(retention.Config{Store: s, Events: cfg.RetentionEvents, Deliveries: cfg.RetentionDeliveries,
		Runs: cfg.RetentionRuns, Idempotency: cfg.RetentionIdempotency, Interval: cfg.RetentionInterval, BatchSize: cfg.RetentionBatch,
		WriteEvents: func(ctx context.Context, tx store.Tx, evs []*events.Event) error {
			return records.WriteEvents(ctx, tx, subs, evs)
		},
		Logger: cfg.Logger, Registry: reg})
	a.api = api.New(api.Config{Records: rs, Store: s, Webhooks: a.webhooks, Automations: as, Retention: a.retention,
		IdempotencyTTL: cfg.RetentionIdempotency, OpsOnly: cfg.Role == "worker", Version: Version, Logger: cfg.Logger, Registry: reg,
		MetricsToken: cfg.MetricsToken, NoMetrics: cfg.MetricsAddr != "",
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, AuthFailureLimit: cfg.AuthFailureLimit, AuthFailureBurst: cfg.AuthFailureBurst,
		ClientAddrHeader: cfg.ClientAddrHeader, MaxBodyBytes: cfg.MaxBodyBytes, CORSOrigins: cfg.CORSOrigins,
		ReadyChecks: a.readyChecks(), Draining: a.draining.Load})
	a.handler = a.api
	// The web app is served at / beside the API; a worker serves no UI.
	if cfg.Role != "worker" {
		a.handler = webui.New(webui.Config{API: a.handler, FrameAncestors: cfg.PortalOrigins})
	}
	return a, nil
}

// readyChecks are /readyz's checks of this process's worker loops: each
// must run and have polled the database within WorkerStallAfter. A
// process that sends nothing (role api) has none.
func (a *App) readyChecks() []api.ReadyCheck {
	var checks []api.ReadyCheck
	add := func(name string, health func() queue.Health) {
		stall := a.cfg.WorkerStallAfter
		checks = append(checks, api.ReadyCheck{Name: name, Check: func(context.Context) api.Readiness {
			h := health()
			if !h.Running {
				return api.Readiness{Err: errors.New("not running")}
			}
			if age := time.Since(h.LastPoll); age > stall {
				return api.Readiness{LastPoll: h.LastPoll,
					Err: fmt.Errorf("no successful poll of the database for %s", age.Round(time.Second))}
			}
			return api.Readiness{LastPoll: h.LastPoll}
		}})
	}
	if _, ok := a.webhooks.DispatcherHealth(); ok {
		add("webhook dispatcher", func() queue.Health { h, _ := a.webhooks.DispatcherHealth(); return h })
	}
	if _, _, ok := a.automations.Health(); ok {
		add("automation runner", func() queue.Health { h, _, _ := a.automations.Health(); return h })
		add("automation timers", func() queue.Health { _, h, _ := a.automations.Health(); return h })
	}
	return checks
}

// Start starts the workers, then listens and serves in the background.
func (a *App) Start(ctx context.Context) error {
	if err := a.webhooks.Start(ctx); err != nil {
		return fmt.Errorf("start webhook dispatcher: %w", err)
	}
	if err := a.automations.Start(ctx); err != nil {
		a.webhooks.Stop(ctx)
		return fmt.Errorf("start automation runner: %w", err)
	}
	if err := a.retention.Start(ctx); err != nil {
		a.automations.Stop(ctx)
		a.webhooks.Stop(ctx)
		return fmt.Errorf("start retention: %w", err)
	}
	if a.cfg.Role != "api" {
		_ = a.wakes.Start(ctx) // cannot fail: it listens in the background
	}
	ln := a.listener
	// The goroutine holds its own copy: Stop clears a.server.
	// net/http's own complaints (a bad TLS hello, a panic in a handler)
	// go to the same structured log as everything else.
	errLog := slog.NewLogLogger(a.cfg.Logger.Handler(), slog.LevelWarn)
	server := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog,
		TLSConfig: a.tls}
	a.server = server
	go func() {
		var err error
		if server.TLSConfig != nil {
			err = server.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			err = server.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.cfg.Logger.Error("serve", "err", err)
		}
	}()
	scheme := "http"
	if a.tls != nil {
		scheme = "https"
	}
	a.cfg.Logger.Info("fieldflow listening", "addr", ln.Addr().String(), "scheme", scheme, "db", a.store.Dialect(), "version", Version)
	switch {
	case a.cfg.AllowPrivateTargets:
		a.cfg.Logger.Warn("outbound requests may reach loopback and private addresses (--allow-private-targets): webhook endpoints and automation steps can reach this network")
	case len(a.cfg.AllowPrivatePrefixes) > 0:
		a.cfg.Logger.Warn("outbound requests may reach these private address ranges (--allow-private-prefixes)", "prefixes", fmt.Sprint(a.cfg.AllowPrivatePrefixes))
	}
	if proxy, _ := a.cfg.outboundProxy(); proxy != nil {
		a.cfg.Logger.Info("outbound requests go through a proxy", "proxy", proxy.Redacted())
	}
	if a.cfg.MetricsAddr != "" {
		// A port of its own, for the scraper only: it needs no key, so it
		// should not be reachable from where the API is.
		mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics on %s: %w", a.cfg.MetricsAddr, err)
		}
		a.metricsListener = mln
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
		if a.cfg.Pprof {
			mux.HandleFunc("GET /debug/pprof/", pprof.Index)
			mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: errLog}
		a.metricsServer = srv
		go func() {
			if err := srv.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.cfg.Logger.Error("serve metrics", "err", err)
			}
		}()
		a.cfg.Logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	return nil
}

// MetricsAddr is the address /metrics is served on when Config.MetricsAddr
// is set; empty otherwise.
func (a *App) MetricsAddr() string {
	if a.metricsListener == nil {
		return ""
	}
	return a.metricsListener.Addr().String()
}

// Addr is the address the server listens on.
func (a *App) Addr() string { return a.addr }

// Stop lets requests in flight finish (up to the grace period) and closes
// the store. It tolerates being called twice.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	if a.server != nil {
		// /readyz says 503 from now on; with a drain delay the listener
		// stays open that long, so a load balancer sees it and stops
		// sending before connections are refused.
		a.draining.Store(true)
		if d := a.cfg.DrainDelay; d > 0 {
			a.cfg.Logger.Info("draining: /readyz answers 503 until the listener closes", "delay", d.String())
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		a.api.StopStreams() // live streams would hold Shutdown for the whole grace period
		ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
		defer cancel()
		if err := a.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
		}
		a.server = nil
		a.listener = nil // Shutdown closed it
	}
	if a.listener != nil {
		// New made it but Start never served it.
		if err := a.listener.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close listener: %w", err))
		}
		a.listener = nil
	}
	if a.metricsServer != nil {
		if err := a.metricsServer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics server: %w", err))
		}
		a.metricsServer = nil
	}
	if a.wakes != nil {
		a.wakes.Stop()
	}
	// Retention first: an erasure's last batch writes an event that hands
	// deliveries and runs on.
	if a.retention != nil {
		a.retention.Stop()
	}
	// Runs stop next: their writes hand deliveries to the dispatcher.
	if a.automations != nil {
		ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
		a.automations.Stop(ctx)
		cancel()
	}
	if a.webhooks != nil {
		ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
		a.webhooks.Stop(ctx)
		cancel()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		a.store = nil
	}
	if a.unlock != nil {
		if err := a.unlock(); err != nil {
			errs = append(errs, fmt.Errorf("release database lock: %w", err))
		}
		a.unlock = nil
	}
	return errors.Join(errs...)
}

// Run serves until ctx is cancelled, then stops cleanly.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(context.Background())
		return err
	}
	<-ctx.Done()
	a.cfg.Logger.Info("stopping")
	return a.Stop(context.Background())
}

func (a *App) ensureAdminKey(ctx context.Context) error {
	if a.cfg.AdminKey != "" {
		hash := api.HashKey(a.cfg.AdminKey)
		if _, err := a.store.APIKeyGetByHash(ctx, hash); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("check admin key: %w", err)
		}
		return a.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.APIKeyCreate(ctx, &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: store.RoleAdmin, CreatedAt: time.Now().UTC()})
		})
	}
	n, err := a.store.APIKeyCountAdmins(ctx, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("count admin keys: %w", err)
	}
	if n > 0 {
		return nil
	}
	key, hash := api.NewKey()
	if err := a.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.APIKeyCreate(ctx, &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: store.RoleAdmin, CreatedAt: time.Now().UTC()})
	}); err != nil {
		return fmt.Errorf("create admin key: %w", err)
	}
	fmt.Fprintf(a.cfg.Stdout, "Generated an admin API key (shown once, store it now):\n  %s\n", key)
	return nil
}
