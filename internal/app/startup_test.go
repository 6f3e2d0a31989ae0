package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/secretbox"
	"github.com/fieldflow/fieldflow/internal/store"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// Start-up safety: the master key check, key rotation, the SQLite lock
// and who may read /metrics.

func newMasterKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(k)
}

// baseConfig is a config over a fresh database of the dialect with the
// master key in FIELDFLOW_MASTER_KEY.
func baseConfig(t *testing.T, dialect string) app.Config {
	t.Helper()
	return app.Config{
		DB:                  storetest.DSN(t, dialect),
		Addr:                "127.0.0.1:0",
		AdminKey:            adminKey,
		MasterKey:           newMasterKey(t),
		AllowPrivateTargets: true,
		DeliveryPoll:        100 * time.Millisecond,
		ShutdownGrace:       2 * time.Second,
		Logger:              slog.New(slog.DiscardHandler),
		Stdout:              io.Discard,
	}
}

// runApp starts an app with cfg; stop ends it (and is called when the
// test ends, if not before).
func runApp(t *testing.T, cfg app.Config) (b *testBundle, a *app.App, stop func()) {
	t.Helper()
	a, err := app.New(context.Background(), cfg)
	require.NoError(t, err)
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			require.NoError(t, a.Stop(context.Background()))
		}
	}
	t.Cleanup(stop)
	require.NoError(t, a.Start(context.Background()))
	return &testBundle{cfg: cfg, url: "http://" + a.Addr()}, a, stop
}

func get(t *testing.T, url string, header map[string]string) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{status: res.StatusCode, header: res.Header, body: body}
}

func TestMetricsNeedAKeyAndNameNothingATenantOwns(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		const token, tenant = "scraper-token", "tenant-acme-7f3a"
		cfg := baseConfig(t, dialect)
		cfg.MetricsToken = token
		b, _, _ := runApp(t, cfg)
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"*"}, "tenantId": tenant})
		b.publish(t, "order.paid", tenant, map[string]any{"n": 1})
		b.waitFinished(t, ep.ID, 1, 10*time.Second)

		requireProblem(t, get(t, b.url+"/metrics", nil), http.StatusUnauthorized)
		requireProblem(t, b.call(t, b.tenantKey(t, tenant), http.MethodGet, "/metrics", nil), http.StatusForbidden)
		for name, res := range map[string]*response{
			"metrics token": get(t, b.url+"/metrics", map[string]string{"Authorization": "Bearer " + token}),
			"admin key":     b.call(t, adminKey, http.MethodGet, "/metrics", nil),
		} {
			require.Equal(t, http.StatusOK, res.status, "%s: %s", name, res.body)
			text := string(res.body)
			require.Contains(t, text, "fieldflow_webhook_in_flight ", "%s: the in-flight gauge is one total", name)
			require.Contains(t, text, `fieldflow_webhook_attempts_total{outcome="success"} 1`, name)
			require.NotContains(t, text, ep.ID, name)
			require.NotContains(t, text, "wh_", name)
			require.NotContains(t, text, tenant, name)
		}
	})
}

func TestMetricsAddrServesMetricsOnItsOwnListenerOnly(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	cfg.MetricsAddr = "127.0.0.1:0"
	b, a, _ := runApp(t, cfg)
	require.NotEmpty(t, a.MetricsAddr())

	res := get(t, "http://"+a.MetricsAddr()+"/metrics", nil)
	require.Equal(t, http.StatusOK, res.status, "no key needed on the metrics listener: %s", res.body)
	require.Contains(t, string(res.body), "fieldflow_webhook_queue_depth")
	require.Equal(t, http.StatusNotFound, b.call(t, adminKey, http.MethodGet, "/metrics", nil).status,
		"the API port no longer serves /metrics")
	require.Equal(t, http.StatusNotFound, get(t, "http://"+a.MetricsAddr()+"/api/field-groups", nil).status,
		"the metrics listener serves nothing else")
}

func TestPprofIsServedOnTheMetricsListenerOnlyWhenAskedFor(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	cfg.MetricsAddr = "127.0.0.1:0"
	_, a, _ := runApp(t, cfg)
	require.Equal(t, http.StatusNotFound, get(t, "http://"+a.MetricsAddr()+"/debug/pprof/", nil).status, "off by default")

	cfg = baseConfig(t, "sqlite")
	cfg.MetricsAddr, cfg.Pprof = "127.0.0.1:0", true
	b, a, _ := runApp(t, cfg)
	res := get(t, "http://"+a.MetricsAddr()+"/debug/pprof/goroutine?debug=1", nil)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Contains(t, string(res.body), "goroutine profile")
	require.NotContains(t, string(b.call(t, adminKey, http.MethodGet, "/debug/pprof/goroutine?debug=1", nil).body), "goroutine profile",
		"never on the API port, not even to an admin key")

	cfg = baseConfig(t, "sqlite")
	cfg.Pprof = true
	require.ErrorContains(t, cfg.WithDefaults().Validate(), "Pprof: needs MetricsAddr")
}

func TestWorkerRoleStillServesMetrics(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "postgres")
	cfg.Role = "worker"
	cfg.MetricsToken = "scraper-token"
	b, _, _ := runApp(t, cfg)
	res := get(t, b.url+"/metrics", map[string]string{"Authorization": "Bearer scraper-token"})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.Contains(t, string(res.body), "fieldflow_webhook_queue_depth")
	requireProblem(t, get(t, b.url+"/metrics", nil), http.StatusUnauthorized)
}

func TestStartRefusesAMasterKeyThatDoesNotOpenTheDatabase(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		cfg := baseConfig(t, dialect)
		_, _, stop := runApp(t, cfg) // records the check value; no secret stored yet
		stop()

		wrong := cfg
		wrong.MasterKey = newMasterKey(t)
		_, err := app.New(context.Background(), wrong)
		require.ErrorIs(t, err, app.ErrMasterKeyMismatch)
		require.Contains(t, err.Error(), "FIELDFLOW_MASTER_KEY")
		require.Contains(t, err.Error(), "different master key")

		_, _, stop = runApp(t, cfg) // the right key still starts
		stop()
	})
}

// A database from before check values holds sealed secrets but no check:
// its sealed values prove or refute the key, then the check is recorded.
func TestStartChecksADatabaseWithoutCheckValueByItsSealedSecrets(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		cfg := baseConfig(t, dialect)
		key, err := base64.StdEncoding.DecodeString(cfg.MasterKey)
		require.NoError(t, err)
		box, err := secretbox.New(key)
		require.NoError(t, err)
		s, err := app.OpenStore(context.Background(), cfg)
		require.NoError(t, err)
		now := time.Now().UTC()
		require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			return tx.VariablePut(ctx, &store.Variable{Name: "token", Value: box.Seal("s3cret"), Secret: true, CreatedAt: now, UpdatedAt: now})
		}))
		require.NoError(t, s.Close())

		wrong := cfg
		wrong.MasterKey = newMasterKey(t)
		_, err = app.New(context.Background(), wrong)
		require.ErrorIs(t, err, app.ErrMasterKeyMismatch)

		_, _, stop := runApp(t, cfg)
		stop()
		s, err = app.OpenStore(context.Background(), cfg)
		require.NoError(t, err)
		defer s.Close()
		check, err := s.MetaGet(context.Background(), store.MetaMasterKeyCheck)
		require.NoError(t, err, "the first start with the right key records the check")
		_, err = box.Open(check)
		require.NoError(t, err)
	})
}

func TestStartNeverGeneratesAKeyForADatabaseThatHoldsSecrets(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	cfg.MasterKey = "" // the key file beside the database, generated on first start
	b, _, stop := runApp(t, cfg)
	b.createEndpoint(t, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}})
	stop()
	keyFile := cfg.DB + ".key"
	require.NoError(t, os.Remove(keyFile))

	_, err := app.New(context.Background(), cfg)
	require.ErrorIs(t, err, app.ErrMasterKeyMissing)
	require.Contains(t, err.Error(), "key file "+keyFile+" is missing")
	require.Contains(t, err.Error(), "FIELDFLOW_MASTER_KEY")
	require.NoFileExists(t, keyFile, "no new key was generated")
}

func TestRotateMasterKeyResealsEverySecret(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		cfg := baseConfig(t, dialect)
		b, _, stop := runApp(t, cfg)
		rc := startReceiver(t, receiverOpts{})
		ep := b.createEndpoint(t, map[string]any{"url": rc.URL, "events": []string{"order.paid"}})
		var rot struct{ Secret string }
		b.must(t, http.StatusOK, http.MethodPost, "/api/webhooks/"+ep.ID+"/rotate-secret", map[string]any{"graceHours": 1}, &rot)
		b.must(t, http.StatusOK, http.MethodPut, "/api/variables/api_key", map[string]any{"value": "var-secret", "secret": true}, nil)
		b.must(t, http.StatusCreated, http.MethodPost, "/api/oauth2-connections", map[string]any{"name": "CRM",
			"tokenUrl": "https://auth.example.com/token", "clientId": "ff", "clientSecret": "client-secret", "grantType": "client_credentials"}, nil)
		b.createAutomation(t, map[string]any{"name": "notify", "trigger": map[string]any{"event": "never.happens"},
			"actions": []map[string]any{{"name": "hook", "type": "webhook", "url": "https://hooks.example.com/a"}}})
		stop()

		_, err := app.RotateMasterKey(context.Background(), cfg, app.RotateMasterKeyParams{})
		require.ErrorContains(t, err, "FIELDFLOW_NEW_MASTER_KEY", "with the key in the environment, the new one must be given")

		newKey := newMasterKey(t)
		res, err := app.RotateMasterKey(context.Background(), cfg, app.RotateMasterKeyParams{NewKey: newKey})
		require.NoError(t, err)
		require.Equal(t, 5, res.Resealed, "the webhook secret and its previous one, the variable, the client secret and the automation secret")

		_, err = app.New(context.Background(), cfg)
		require.ErrorIs(t, err, app.ErrMasterKeyMismatch, "the old key no longer opens the database")

		rotated := cfg
		rotated.MasterKey = newKey
		s, err := app.OpenStore(context.Background(), rotated)
		require.NoError(t, err)
		vals, err := s.SealedValueList(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Close())
		raw, err := base64.StdEncoding.DecodeString(newKey)
		require.NoError(t, err)
		box, err := secretbox.New(raw)
		require.NoError(t, err)
		for _, v := range vals {
			_, err := box.Open(v.Value)
			require.NoError(t, err, "%s %v opens with the new key", v.Column, v.Key)
		}

		b, _, _ = runApp(t, rotated)
		b.publish(t, "order.paid", "", map[string]any{"n": 1})
		got := rc.wait(t, 1, 10*time.Second)[0]
		sigs := strings.Split(got.Header.Get("webhook-signature"), " ")
		require.Len(t, sigs, 2, "both secrets of the rotation grace still sign")
		h := got.Header.Clone()
		h.Set("webhook-signature", sigs[1])
		verifyStandard(t, ep.Secret, &received{Header: h, Body: got.Body})
		h.Set("webhook-signature", sigs[0])
		verifyStandard(t, rot.Secret, &received{Header: h, Body: got.Body})
	})
}

// keyFileConfig is a SQLite config whose master key lives in the key file
// beside the database, which the first start generates.
func keyFileConfig(t *testing.T) (app.Config, string) {
	t.Helper()
	cfg := baseConfig(t, "sqlite")
	cfg.MasterKey = ""
	return cfg, cfg.DB + ".key"
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

func TestRotateMasterKeyReplacesTheKeyFileAndKeepsTheOldOne(t *testing.T) {
	t.Parallel()
	cfg, keyFile := keyFileConfig(t)
	b, _, stop := runApp(t, cfg)
	b.createEndpoint(t, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}})
	stop()
	oldKey := readKey(t, keyFile)

	res, err := app.RotateMasterKey(context.Background(), cfg, app.RotateMasterKeyParams{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Resealed)
	require.Equal(t, keyFile, res.KeyFile)
	require.Equal(t, oldKey, readKey(t, keyFile+".old"))
	require.NotEqual(t, oldKey, readKey(t, keyFile))
	require.NoFileExists(t, keyFile+".new")
	info, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	_, _, stop = runApp(t, cfg)
	stop()
	old := cfg
	old.MasterKey = oldKey
	_, err = app.New(context.Background(), old)
	require.ErrorIs(t, err, app.ErrMasterKeyMismatch)
}

// A crash after the rotation committed but before the key file was
// replaced leaves the database under the key in <file>.new: the next start
// finishes the rotation.
func TestStartFinishesARotationInterruptedAfterItsCommit(t *testing.T) {
	t.Parallel()
	cfg, keyFile := keyFileConfig(t)
	b, _, stop := runApp(t, cfg)
	b.createEndpoint(t, map[string]any{"url": "https://hooks.example.com/x", "events": []string{"*"}})
	stop()
	oldKey, newKey := readKey(t, keyFile), newMasterKey(t)
	// The state the crash leaves: the database re-sealed, the key file not
	// yet replaced.
	env := cfg
	env.MasterKey = oldKey
	_, err := app.RotateMasterKey(context.Background(), env, app.RotateMasterKeyParams{NewKey: newKey})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile+".new", []byte(newKey+"\n"), 0o600))

	_, _, stop = runApp(t, cfg)
	stop()
	require.Equal(t, newKey, readKey(t, keyFile))
	require.Equal(t, oldKey, readKey(t, keyFile+".old"))
	require.NoFileExists(t, keyFile+".new")
}

// A crash before the rotation committed leaves a <file>.new that opens
// nothing: the next start uses the old key and drops it.
func TestStartDropsTheNewKeyOfARotationThatNeverCommitted(t *testing.T) {
	t.Parallel()
	cfg, keyFile := keyFileConfig(t)
	_, _, stop := runApp(t, cfg)
	stop()
	oldKey := readKey(t, keyFile)
	require.NoError(t, os.WriteFile(keyFile+".new", []byte(newMasterKey(t)+"\n"), 0o600))

	_, _, stop = runApp(t, cfg)
	stop()
	require.Equal(t, oldKey, readKey(t, keyFile))
	require.NoFileExists(t, keyFile+".new")
}

func TestSecondAppOnOneSQLiteFileIsRefused(t *testing.T) {
	t.Parallel()
	cfg := baseConfig(t, "sqlite")
	_, _, stop := runApp(t, cfg)
	_, err := app.New(context.Background(), cfg)
	require.ErrorIs(t, err, app.ErrDatabaseInUse)
	require.Contains(t, err.Error(), "pid ")
	require.Contains(t, err.Error(), filepath.Base(cfg.DB)+".lock")
	require.ErrorIs(t, app.Migrate(context.Background(), cfg), app.ErrDatabaseInUse)
	_, err = app.RotateMasterKey(context.Background(), cfg, app.RotateMasterKeyParams{NewKey: newMasterKey(t)})
	require.ErrorIs(t, err, app.ErrDatabaseInUse)
	_, err = app.CreateKey(context.Background(), cfg, "t1")
	require.NoError(t, err, "creating a key beside a running server is allowed")

	stop()
	_, _, stop = runApp(t, cfg) // the lock goes with the process that held it
	stop()
}
