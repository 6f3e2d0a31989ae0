package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConfigFileThenEnvironmentThenFlags proves the order settings are
// taken in: a flag wins over its variable, and both over the config file.
func TestConfigFileThenEnvironmentThenFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fieldflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte("db: from-file.db\nrate-limit: 50\nrate-burst: 7\nrole: api\nallow-private-targets: true\ndelivery-lease: 45s\n"+
		"retention-events: 90d\nretention-deliveries: forever\nretention-runs: 36h\nretention-idempotency: 2d\nretention-interval: 30s\nretention-batch: 200\n"), 0o600))
	t.Setenv("FIELDFLOW_RATE_BURST", "9")

	cfg, err := parseConfig("serve", cmdServe, []string{"--config", path, "--role", "worker"}, nil)
	require.NoError(t, err)
	require.Equal(t, "from-file.db", cfg.DB, "from the file")
	require.Equal(t, 50.0, cfg.RateLimit, "from the file")
	require.True(t, cfg.AllowPrivateTargets, "a YAML boolean")
	require.Equal(t, "45s", cfg.DeliveryLease.String())
	require.Equal(t, 90*24*time.Hour, cfg.RetentionEvents, "days")
	require.Negative(t, cfg.RetentionDeliveries, "forever")
	require.Equal(t, 36*time.Hour, cfg.RetentionRuns)
	require.Equal(t, 48*time.Hour, cfg.RetentionIdempotency)
	require.Equal(t, 30*time.Second, cfg.RetentionInterval)
	require.Equal(t, 200, cfg.RetentionBatch)
	require.Equal(t, 9, cfg.RateBurst, "the variable wins over the file")
	require.Equal(t, "worker", cfg.Role, "the flag wins over the file")

	t.Setenv("FIELDFLOW_CONFIG", path)
	cfg, err = parseConfig("migrate", cmdMigrate, nil, nil)
	require.NoError(t, err, "FIELDFLOW_CONFIG names the file; serve's settings in it do not trouble migrate")
	require.Equal(t, "from-file.db", cfg.DB)
	require.Zero(t, cfg.RateLimit, "migrate does not read the rate limit")
}

func TestConfigFileRefusesUnknownSettingsAndBadValues(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"rate_limt: 5\n":                 `unknown setting "rate_limt"`,
		"rate-limit: fast\n":             `rate-limit: "fast": want requests per second`,
		"log-level: loud\n":              `log-level: "loud": want debug, info, warn or error`,
		"addr: [1, 2]\n":                 "addr: want a string, number or boolean",
		"- just\n- a list\n":             "not a YAML map of settings",
		"role: [\n":                      "not a YAML map of settings",
		"delivery-lease: 10ms\n":         "want a duration of at least 1s",
		"allow-private-targets: maybe\n": "want true or false",
		"retention-events: 10m\n":        "want a duration of at least 1h",
		"retention-runs: -3d\n":          "want a duration of at least 1h",
		"retention-idempotency: 0s\n":    "want a duration of at least 1m",
		"retention-batch: 0\n":           "want a whole number of rows",
	} {
		path := filepath.Join(dir, "c.yaml")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		_, err := parseConfig("serve", cmdServe, []string{"--config", path}, nil)
		require.ErrorContains(t, err, want, "%q", body)
	}
	_, err := parseConfig("serve", cmdServe, []string{"--config", filepath.Join(dir, "missing.yaml")}, nil)
	require.ErrorContains(t, err, "read config file")
}

// TestServeSettingsOfTheOneTable covers the settings that reach the
// server's edges: body limit, pool size, TLS, CORS and portal origins, the
// outbound proxy and the private ranges, each by flag, variable or file.
func TestServeSettingsOfTheOneTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fieldflow.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`cors-origins: [https://app.example.com, "https://admin.example.com:8443"]
portal-origins: https://app.example.com, https://*.example.com
allow-private-prefixes:
  - 10.20.0.0/16
  - 192.168.1.7
  - fd00::/64
max-body-bytes: 2097152
db-max-conns: 64
tls-cert: /etc/fieldflow/cert.pem
tls-key: /etc/fieldflow/key.pem
drain-delay: 5s
`), 0o600))
	t.Setenv("HTTPS_PROXY", "http://from-https-proxy:3128")
	cfg, err := parseConfig("serve", cmdServe, []string{"--config", path}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"https://app.example.com", "https://admin.example.com:8443"}, cfg.CORSOrigins, "a YAML sequence")
	require.Equal(t, []string{"https://app.example.com", "https://*.example.com"}, cfg.PortalOrigins, "one comma-separated string")
	require.Equal(t, "[10.20.0.0/16 192.168.1.7/32 fd00::/64]", fmt.Sprint(cfg.AllowPrivatePrefixes), "a single address is its own range")
	require.EqualValues(t, 2<<20, cfg.MaxBodyBytes)
	require.Equal(t, 64, cfg.DBMaxConns)
	require.Equal(t, "/etc/fieldflow/cert.pem", cfg.TLSCertFile)
	require.Equal(t, "/etc/fieldflow/key.pem", cfg.TLSKeyFile)
	require.Equal(t, 5*time.Second, cfg.DrainDelay)
	require.Equal(t, "http://from-https-proxy:3128", cfg.OutboundProxy, "HTTPS_PROXY when fieldflow's own is not set")

	t.Setenv("FIELDFLOW_OUTBOUND_PROXY", "http://egress.internal:3128")
	t.Setenv("FIELDFLOW_CORS_ORIGINS", "*")
	cfg, err = parseConfig("serve", cmdServe, []string{"--config", path, "--max-body-bytes", "4096"}, nil)
	require.NoError(t, err)
	require.Equal(t, "http://egress.internal:3128", cfg.OutboundProxy, "FIELDFLOW_OUTBOUND_PROXY wins over HTTPS_PROXY")
	require.Equal(t, []string{"*"}, cfg.CORSOrigins, "the variable wins over the file")
	require.EqualValues(t, 4096, cfg.MaxBodyBytes, "the flag wins")

	cfg, err = parseConfig("migrate", cmdMigrate, nil, nil)
	require.NoError(t, err)
	require.Empty(t, cfg.OutboundProxy, "only serve sends requests")

	for args, want := range map[string]string{
		"--max-body-bytes=12":             "want a number of bytes from 1024",
		"--db-max-conns=many":             "want a whole number of connections",
		"--allow-private-prefixes=10.0.0": `"10.0.0": want an address range`,
		"--drain-delay=-1s":               "want a duration from 0s to 10m",
	} {
		_, err := parseConfig("serve", cmdServe, []string{args}, nil)
		require.ErrorContains(t, err, want, args)
	}
	require.NoError(t, os.WriteFile(path, []byte("cors-origins: [[nested]]\n"), 0o600))
	_, err = parseConfig("serve", cmdServe, []string{"--config", path}, nil)
	require.ErrorContains(t, err, "cors-origins: want a list of strings")
}

// A library that writes with the standard log package still writes one
// structured line in the configured format.
func TestStandardLogLinesAreStructured(t *testing.T) {
	prev, w, flags := slog.Default(), log.Writer(), log.Flags()
	defer func() { slog.SetDefault(prev); log.SetOutput(w); log.SetFlags(flags) }()
	var out bytes.Buffer
	routeStandardLog(newLogger(&out, "json", slog.LevelInfo))
	log.Printf("pool: %d connections", 3)
	var line map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &line), "%s", out.String())
	require.Equal(t, "pool: 3 connections", line["msg"])
	require.Equal(t, "INFO", line["level"])
}
