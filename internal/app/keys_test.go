package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fieldflow/fieldflow/internal/app"
	"github.com/fieldflow/fieldflow/internal/store/storetest"
)

// startLimitedApp starts an app whose API keys may make burst requests at
// once and then one every ten seconds.
func startLimitedApp(t *testing.T, dialect string, burst int) (url string, cfg app.Config) {
	t.Helper()
	mk := make([]byte, 32)
	_, _ = rand.Read(mk)
	cfg = app.Config{DB: storetest.DSN(t, dialect), Addr: "127.0.0.1:0", AdminKey: adminKey,
		MasterKey: base64.StdEncoding.EncodeToString(mk), ShutdownGrace: 2 * time.Second,
		RateLimit: 0.1, RateBurst: burst, Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard}
	a, err := app.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	require.NoError(t, a.Start(context.Background()))
	return "http://" + a.Addr(), cfg
}

func getFieldGroups(t *testing.T, url, key string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/api/field-groups", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestAppAppliesTheConfiguredRateLimitPerKey(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			url, cfg := startLimitedApp(t, dialect, 2)
			for range 2 {
				require.Equal(t, http.StatusOK, getFieldGroups(t, url, adminKey).StatusCode)
			}
			res := getFieldGroups(t, url, adminKey)
			require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
			require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			require.Equal(t, "10", res.Header.Get("Retry-After"))

			// A key made with CreateKey has a bucket of its own.
			key, err := app.CreateKey(context.Background(), cfg, "")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, getFieldGroups(t, url, key).StatusCode)
		})
	}
}

func TestCreateKeyRefusesATenantIDOutsideThePattern(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			_, cfg := startLimitedApp(t, dialect, 10)
			for _, bad := range []string{"bad id with spaces", "a/b", "tenant\x00"} {
				_, err := app.CreateKey(context.Background(), cfg, bad)
				require.ErrorContains(t, err, "tenantId must match", "%q", bad)
			}
			keys, err := app.ListKeys(context.Background(), cfg)
			require.NoError(t, err)
			require.Len(t, keys, 1, "only FIELDFLOW_ADMIN_KEY's key")

			k, err := app.CreateKeyWithOptions(context.Background(), cfg, app.KeyOptions{TenantID: "sunrise-dental", Name: "desk", ExpiresIn: time.Hour})
			require.NoError(t, err)
			require.Equal(t, "tenant", k.Role)
			require.WithinDuration(t, time.Now().Add(time.Hour), *k.ExpiresAt, time.Minute)
			require.NoError(t, app.RevokeKey(context.Background(), cfg, k.ID))
			keys, err = app.ListKeys(context.Background(), cfg)
			require.NoError(t, err)
			require.Len(t, keys, 2)
			require.False(t, keys[1].Active)
		})
	}
}

func TestServeGeneratesAnAdminKeyWhenEveryAdminKeyHasExpired(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			mk := make([]byte, 32)
			_, _ = rand.Read(mk)
			cfg := app.Config{DB: storetest.DSN(t, dialect), Addr: "127.0.0.1:0", MasterKey: base64.StdEncoding.EncodeToString(mk),
				ShutdownGrace: 2 * time.Second, Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard}
			ctx := context.Background()
			old, err := app.CreateKeyWithOptions(ctx, cfg, app.KeyOptions{ExpiresIn: time.Millisecond})
			require.NoError(t, err)
			time.Sleep(5 * time.Millisecond)

			var printed bytes.Buffer
			cfg.Stdout = &printed
			a, err := app.New(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Stop(context.Background()) })
			require.NoError(t, a.Start(ctx))
			m := regexp.MustCompile(`ffk_\S+`).FindString(printed.String())
			require.NotEmpty(t, m, "a new admin key is printed: %q", printed.String())
			url := "http://" + a.Addr()
			require.Equal(t, http.StatusUnauthorized, getFieldGroups(t, url, old.Secret).StatusCode)
			require.Equal(t, http.StatusOK, getFieldGroups(t, url, m).StatusCode)
		})
	}
}
