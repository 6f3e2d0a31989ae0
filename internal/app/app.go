package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fieldflow/fieldflow/internal/api"
	"github.com/fieldflow/fieldflow/internal/automations"
	"github.com/fieldflow/fieldflow/internal/events"
	"github.com/fieldflow/fieldflow/internal/records"
	"github.com/fieldflow/fieldflow/internal/secretbox"
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

// Migrate applies pending migrations and exits.
func Migrate(ctx context.Context, cfg Config) error {
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Close()
}

// CreateKey stores a new API key, for a tenant when tenantID is set, and
// returns it.
func CreateKey(ctx context.Context, cfg Config, tenantID string) (string, error) {
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	role := store.RoleAdmin
	if tenantID != "" {
		role = store.RoleTenant
	}
	key, hash := api.NewKey()
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.APIKeyCreate(ctx, &store.APIKey{ID: events.NewID("key_"), Hash: hash, Role: role, TenantID: tenantID, CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	return key, nil
}

// App is a running fieldflow.
type App struct {
	cfg         Config
	store       store.Store
	server      *http.Server
	listener    net.Listener
	masterKey   []byte
	handler     http.Handler
	webhooks    *webhooks.Service
	automations *automations.Service
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
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	s, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, store: s, masterKey: mk}
	if err := a.ensureAdminKey(ctx); err != nil {
		s.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	box, err := secretbox.New(mk)
	if err != nil {
		s.Close()
		return nil, err
	}
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
	a.handler = api.New(api.Config{Records: rs, Store: s, Webhooks: a.webhooks, Automations: as, OpsOnly: cfg.Role == "worker", Version: Version, Logger: cfg.Logger, Registry: reg})
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
	a.server = &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.cfg.Logger.Error("serve", "err", err)
		}
	}()
	a.cfg.Logger.Info("fieldflow listening", "addr", ln.Addr().String(), "db", a.store.Dialect(), "version", Version)
	return nil
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
	n, err := a.store.APIKeyCountAdmins(ctx)
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

// loadMasterKey reads the master key, creating the key file for SQLite.
func loadMasterKey(cfg Config) ([]byte, error) {
	decode := func(s, from string) ([]byte, error) {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("master key from %s: must be the base64 of 32 bytes", from)
		}
		return k, nil
	}
	if cfg.MasterKey != "" {
		return decode(cfg.MasterKey, "FIELDFLOW_MASTER_KEY")
	}
	b, err := os.ReadFile(cfg.MasterKeyFile)
	if err == nil {
		return decode(string(bytes.TrimSpace(b)), cfg.MasterKeyFile)
	}
	if !errors.Is(err, os.ErrNotExist) || cfg.postgres() {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if err := os.WriteFile(cfg.MasterKeyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write master key: %w", err)
	}
	return k, nil
}
