package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/postgres"
	"github.com/fieldflow/fieldflow/internal/store/sqlite"
	"github.com/fieldflow/fieldflow/internal/webhooks"
	"github.com/fieldflow/fieldflow/internal/webui"
)

// Version is the build's version, set by the linker.
var Version = "dev"

// OpenStore opens the configured database and applies pending migrations.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	cfg = cfg.WithDefaults()
	if cfg.postgres() {
		return postgres.Open(ctx, cfg.DB)
	}
	return sqlite.Open(ctx, cfg.DB)
}

// Migrate applies pending migrations and exits. On SQLite it refuses while
// another process holds the database.
func Migrate(ctx context.Context, cfg Config) error {
	cfg = cfg.WithDefaults()
	release, err := lockStore(cfg)
	if err != nil {
		return err
	}
	defer release()
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Close()
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
	var ve *records.ValidationError
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
	handler     http.Handler
	webhooks    *webhooks.Service
	automations *automations.Service

	registry *prometheus.Registry
	// metricsServer serves /metrics on Config.MetricsAddr, when set.
	metricsServer   *http.Server
	metricsListener net.Listener
	// unlock releases the SQLite database lock.
	unlock func() error
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
	// One process per SQLite file: a second would release the first one's
	// leases at start and deliver what the first is delivering.
	unlock, err := lockStore(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, unlock: unlock}
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
	// One client for every outbound request: deliveries, automation steps
	// and token requests all go through its SSRF guard.
	client := webhooks.NewHTTPClient(cfg.AllowPrivateTargets)
	a.webhooks = webhooks.New(webhooks.Config{
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
	})
	// Every event is stored, fanned out to webhook endpoints and matched
	// against automations in the transaction that writes it.
	var as *automations.Service
	emit := func(ctx context.Context, tx store.Tx, evs []*events.Event) error {
		if err := a.webhooks.Fanout(ctx, tx, evs); err != nil {
			return err
		}
		return as.Trigger(ctx, tx, evs)
	}
	a.webhooks.SetEmitter(emit)
	rs := records.New(records.Config{Store: s, Emit: emit})
	exec := automations.NewExecutor(automations.ExecutorConfig{Client: client, Version: Version,
		Tokens: automations.NewTokens(automations.TokensConfig{Store: s, Box: box, Client: client})})
	as = automations.New(automations.Config{
		Store:                s,
		Box:                  box,
		Records:              rs,
		Executor:             exec,
		Dispatch:             cfg.Role != "api",
		LeaseDuration:        cfg.DeliveryLease,
		PollInterval:         cfg.DeliveryPoll,
		ReleaseLeasesOnStart: s.Dialect() == "sqlite",
		Logger:               cfg.Logger,
		Registry:             reg,
		Emit:                 emit,
	})
	a.automations = as
	a.handler = api.New(api.Config{Records: rs, Store: s, Webhooks: a.webhooks, Automations: as, OpsOnly: cfg.Role == "worker", Version: Version, Logger: cfg.Logger, Registry: reg,
		MetricsToken: cfg.MetricsToken, NoMetrics: cfg.MetricsAddr != "",
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, AuthFailureLimit: cfg.AuthFailureLimit, AuthFailureBurst: cfg.AuthFailureBurst,
		ClientAddrHeader: cfg.ClientAddrHeader})
	// The web app is served at / beside the API; a worker serves no UI.
	if cfg.Role != "worker" {
		a.handler = webui.New(webui.Config{API: a.handler})
	}
	return a, nil
}

// Handler is the HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.handler }

// Start starts the workers, then listens and serves in the background.
func (a *App) Start(ctx context.Context) error {
	if err := a.webhooks.Start(ctx); err != nil {
		return fmt.Errorf("start webhook dispatcher: %w", err)
	}
	if err := a.automations.Start(ctx); err != nil {
		a.webhooks.Stop(ctx)
		return fmt.Errorf("start automation runner: %w", err)
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	a.listener = ln
	// The goroutine holds its own copy: Stop clears a.server.
	server := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	a.server = server
	go func() {
		if err := server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.cfg.Logger.Error("serve", "err", err)
		}
	}()
	a.cfg.Logger.Info("fieldflow listening", "addr", ln.Addr().String(), "db", a.store.Dialect(), "version", Version)
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
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
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
func (a *App) Addr() string { return a.listener.Addr().String() }

// Stop lets requests in flight finish (up to the grace period) and closes
// the store. It tolerates being called twice.
func (a *App) Stop(ctx context.Context) error {
	var errs []error
	if a.server != nil {
		ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
		defer cancel()
		if err := a.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
		}
		a.server = nil
	}
	if a.metricsServer != nil {
		if err := a.metricsServer.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics server: %w", err))
		}
		a.metricsServer = nil
	}
	// Runs stop first: their writes hand deliveries to the dispatcher.
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
