package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fieldflow/fieldflow/internal/app"
)

// setting is one thing fieldflow can be told, by flag, by environment
// variable or both; a flag wins. The table below is the one place a setting
// is named: the flags, the variables and each command's help come from it.
type setting struct {
	// flag is the flag's name without dashes; empty for a variable only.
	flag string
	// env is the environment variable; empty for a flag only.
	env string
	// help says what it does, with its default in parentheses.
	help string
	// commands lists the commands that read it.
	commands []string
	// isBool makes the flag take no value (--allow-private-targets).
	isBool bool
	// isList makes the value a comma-separated list; a config file may
	// also give it as a YAML sequence.
	isList bool
	// set applies a value to the config, or says why it cannot.
	set func(c *cliConfig, v string) error
}

// cliConfig is what the settings fill: the app's Config, plus the log
// settings the command turns into a logger.
type cliConfig struct {
	app.Config
	logFormat string
	logLevel  slog.Level
}

// Commands that open the database.
const (
	cmdServe   = "serve"
	cmdMigrate = "migrate"
	cmdKeys    = "keys"
	cmdRotate  = "rotate-master-key"
)

var (
	allDB  = []string{cmdServe, cmdMigrate, cmdKeys, cmdRotate}
	logged = []string{cmdServe, cmdMigrate, cmdRotate}
	served = []string{cmdServe}
)

// settings returns the table; it is a function so that no package-level
// state is shared between runs (tests run commands in one process).
func settings() []setting {
	str := func(dst func(*cliConfig) *string) func(*cliConfig, string) error {
		return func(c *cliConfig, v string) error { *dst(c) = v; return nil }
	}
	list := func(dst func(*cliConfig) *[]string) func(*cliConfig, string) error {
		return func(c *cliConfig, v string) error { *dst(c) = splitList(v); return nil }
	}
	return []setting{
		{flag: "addr", env: "FIELDFLOW_ADDR", help: "listen `address` (127.0.0.1:8080)", commands: served,
			set: str(func(c *cliConfig) *string { return &c.Addr })},
		{flag: "db", env: "FIELDFLOW_DB", help: "SQLite `file` or postgres:// URL (fieldflow.db)", commands: allDB,
			set: str(func(c *cliConfig) *string { return &c.DB })},
		{flag: "master-key-file", help: "`file` holding the base64 master key that encrypts secrets at rest (for SQLite: <db>.key)",
			commands: []string{cmdServe, cmdRotate}, set: str(func(c *cliConfig) *string { return &c.MasterKeyFile })},
		{env: "FIELDFLOW_MASTER_KEY", help: "the base64 master key itself (instead of --master-key-file)",
			commands: []string{cmdServe, cmdRotate}, set: str(func(c *cliConfig) *string { return &c.MasterKey })},
		{flag: "allow-private-targets", env: "FIELDFLOW_ALLOW_PRIVATE_TARGETS", isBool: true, commands: served,
			help: "let outbound requests reach loopback and private addresses (false)",
			set: func(c *cliConfig, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("want true or false")
				}
				c.AllowPrivateTargets = b
				return nil
			}},
		{flag: "allow-private-prefixes", env: "FIELDFLOW_ALLOW_PRIVATE_PREFIXES", isList: true, commands: served,
			help: "comma-separated private address `ranges` (10.20.0.0/16, fd00::/64 or single IPs) outbound requests may reach; every other private address stays refused (none)",
			set: func(c *cliConfig, v string) error {
				ps, err := parsePrefixes(splitList(v))
				c.AllowPrivatePrefixes = ps
				return err
			}},
		{flag: "outbound-proxy", env: "FIELDFLOW_OUTBOUND_PROXY", commands: served,
			help: "`URL` of an HTTP proxy every outbound request goes through, for a static egress address; targets are still checked (HTTPS_PROXY, else none)",
			set:  str(func(c *cliConfig) *string { return &c.OutboundProxy })},
		{flag: "role", env: "FIELDFLOW_ROLE", help: "`role`: all, api or worker (all)", commands: served,
			set: str(func(c *cliConfig) *string { return &c.Role })},
		{flag: "metrics-addr", env: "FIELDFLOW_METRICS_ADDR", commands: served,
			help: "serve /metrics on this `address`, without a key, instead of on --addr (none)",
			set:  str(func(c *cliConfig) *string { return &c.MetricsAddr })},
		{flag: "pprof", env: "FIELDFLOW_PPROF", isBool: true, commands: served,
			help: "serve Go's profiler under /debug/pprof/ on --metrics-addr, which it needs (false)",
			set: func(c *cliConfig, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("want true or false")
				}
				c.Pprof = b
				return nil
			}},
		{env: "FIELDFLOW_METRICS_TOKEN", commands: served,
			help: "a bearer token that may read /metrics on --addr, besides admin keys (none)",
			set:  str(func(c *cliConfig) *string { return &c.MetricsToken })},
		{env: "FIELDFLOW_ADMIN_KEY", commands: served, help: "an admin key to accept (else one is generated and printed once)",
			set: str(func(c *cliConfig) *string { return &c.AdminKey })},
		{env: "FIELDFLOW_DELIVERY_LEASE", commands: served,
			help: "how long a crashed process's deliveries and runs wait before another takes them (30s)",
			set: func(c *cliConfig, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second {
					return errors.New("want a duration of at least 1s, like 30s")
				}
				c.DeliveryLease = d
				return nil
			}},
		{env: "FIELDFLOW_RATE_LIMIT", commands: served, help: "requests per second per API key (100; off for none)",
			set: func(c *cliConfig, v string) error {
				if v == "off" {
					c.RateLimit = -1
					return nil
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
					return errors.New("want requests per second above 0, like 100, or off")
				}
				c.RateLimit = f
				return nil
			}},
		{env: "FIELDFLOW_RATE_BURST", commands: served, help: "requests a key may make at once (200)",
			set: func(c *cliConfig, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return errors.New("want a whole number of requests of at least 1, like 200")
				}
				c.RateBurst = n
				return nil
			}},
		{env: "FIELDFLOW_CLIENT_ADDR_HEADER", commands: served,
			help: "header a trusted proxy sets to the client's address (none)",
			set:  str(func(c *cliConfig) *string { return &c.ClientAddrHeader })},
		{flag: "max-body-bytes", env: "FIELDFLOW_MAX_BODY_BYTES", commands: served,
			help: "largest request body in `bytes`; a bigger one is a 413 (1048576, 1 MiB)",
			set: func(c *cliConfig, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 || n > 64<<20 {
					return errors.New("want a number of bytes from 1024 to 67108864 (64 MiB), like 1048576")
				}
				c.MaxBodyBytes = n
				return nil
			}},
		{flag: "db-max-conns", env: "FIELDFLOW_DB_MAX_CONNS", commands: served,
			help: "most PostgreSQL `connections` this process opens; SQLite ignores it (32)",
			set: func(c *cliConfig, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 2 || n > 10000 {
					return errors.New("want a whole number of connections from 2 to 10000, like 32")
				}
				c.DBMaxConns = n
				return nil
			}},
		{flag: "tls-cert", env: "FIELDFLOW_TLS_CERT", commands: served,
			help: "PEM certificate (chain) `file`: serve HTTPS on --addr, with --tls-key (none: plain HTTP)",
			set:  str(func(c *cliConfig) *string { return &c.TLSCertFile })},
		{flag: "tls-key", env: "FIELDFLOW_TLS_KEY", commands: served,
			help: "PEM private key `file` of --tls-cert (none)",
			set:  str(func(c *cliConfig) *string { return &c.TLSKeyFile })},
		{flag: "cors-origins", env: "FIELDFLOW_CORS_ORIGINS", isList: true, commands: served,
			help: "comma-separated `origins` (https://app.example.com, or *) whose browser pages may call the API with an API key (none)",
			set:  list(func(c *cliConfig) *[]string { return &c.CORSOrigins })},
		{flag: "portal-origins", env: "FIELDFLOW_PORTAL_ORIGINS", isList: true, commands: served,
			help: "comma-separated `origins` (https://app.example.com, https://*.example.com) whose pages may frame the tenant portal (none; the dashboard never)",
			set:  list(func(c *cliConfig) *[]string { return &c.PortalOrigins })},
		{flag: "drain-delay", env: "FIELDFLOW_DRAIN_DELAY", commands: served,
			help: "how long a stop keeps serving with /readyz at 503 before closing the listener, for load balancers (0s)",
			set: func(c *cliConfig, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 || d > 10*time.Minute {
					return errors.New("want a duration from 0s to 10m, like 5s")
				}
				c.DrainDelay = d
				return nil
			}},
		{env: "FIELDFLOW_RETENTION_EVENTS", commands: served,
			help: "how long events are kept, like 30d or 720h, or forever; an event stays while a delivery or run of it does (30d)",
			set:  retentionSetting(func(c *cliConfig) *time.Duration { return &c.RetentionEvents })},
		{env: "FIELDFLOW_RETENTION_DELIVERIES", commands: served,
			help: "how long settled deliveries and their attempts are kept after their last change, or forever (30d)",
			set:  retentionSetting(func(c *cliConfig) *time.Duration { return &c.RetentionDeliveries })},
		{env: "FIELDFLOW_RETENTION_RUNS", commands: served,
			help: "how long settled automation runs and their step attempts are kept after their last change, or forever (30d)",
			set:  retentionSetting(func(c *cliConfig) *time.Duration { return &c.RetentionRuns })},
		{env: "FIELDFLOW_RETENTION_IDEMPOTENCY", commands: served,
			help: "how long an Idempotency-Key is remembered before its record is pruned (24h)",
			set: func(c *cliConfig, v string) error {
				d, err := parseDays(v)
				if err != nil || d < time.Minute {
					return errors.New("want a duration of at least 1m, like 24h or 2d")
				}
				c.RetentionIdempotency = d
				return nil
			}},
		{env: "FIELDFLOW_RETENTION_INTERVAL", commands: served,
			help: "time between retention passes, which prune and finish tenant erasures (1m)",
			set: func(c *cliConfig, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Second {
					return errors.New("want a duration of at least 1s, like 1m")
				}
				c.RetentionInterval = d
				return nil
			}},
		{env: "FIELDFLOW_RETENTION_BATCH", commands: served,
			help: "most rows one pruning or erasing transaction deletes (500)",
			set: func(c *cliConfig, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 100000 {
					return errors.New("want a whole number of rows from 1 to 100000, like 500")
				}
				c.RetentionBatch = n
				return nil
			}},
		{flag: "log-format", env: "FIELDFLOW_LOG_FORMAT", commands: logged, help: "`format`: text or json (text)",
			set: func(c *cliConfig, v string) error {
				switch v {
				case "text", "json":
					c.logFormat = v
					return nil
				}
				return errors.New("want text or json")
			}},
		{flag: "log-level", env: "FIELDFLOW_LOG_LEVEL", commands: logged, help: "`level`: debug, info, warn or error (info)",
			set: func(c *cliConfig, v string) error {
				if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
					return errors.New("want debug, info, warn or error")
				}
				return nil
			}},
	}
}

// retentionSetting parses a history retention: a duration of at least an
// hour (with d for days), or forever (also off), which keeps everything.
func retentionSetting(dst func(*cliConfig) *time.Duration) func(*cliConfig, string) error {
	return func(c *cliConfig, v string) error {
		if v == "forever" || v == "off" {
			*dst(c) = -1
			return nil
		}
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			return errors.New("want a duration of at least 1h, like 30d or 720h, or forever")
		}
		*dst(c) = d
		return nil
	}
}

// parseDays is time.ParseDuration that also takes whole days, like 30d.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return 0, errors.New("want whole days from 0 to 36500")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// reads says whether a setting applies to the command.
func (s setting) reads(command string) bool {
	for _, c := range s.commands {
		if c == command {
			return true
		}
	}
	return false
}

// settingFlag is the flag.Value of a setting: it checks the value at once
// and records it, to be applied after the config file and the environment.
type settingFlag struct {
	s      setting
	given  *[]flagValue
	isBool bool
}

// flagValue is one flag as given on the command line.
type flagValue struct {
	s setting
	v string
}

func (f settingFlag) String() string { return "" }
func (f settingFlag) Set(v string) error {
	if err := f.s.set(&cliConfig{}, v); err != nil {
		return fmt.Errorf("%s", err)
	}
	*f.given = append(*f.given, flagValue{f.s, v})
	return nil
}
func (f settingFlag) IsBoolFlag() bool { return f.isBool }

// fileKey is the setting's name in a config file: its flag's name, else
// its variable's without FIELDFLOW_, in lower case with dashes
// (FIELDFLOW_RATE_LIMIT is rate-limit).
func (s setting) fileKey() string {
	if s.flag != "" {
		return s.flag
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.env, "FIELDFLOW_")), "_", "-")
}

// parseConfig reads the command's settings from the config file
// (--config or FIELDFLOW_CONFIG), then the environment over it, then the
// flags over both, and makes the logger. name is the command as typed
// ("keys create"); command is the table's name for it ("keys"). more adds
// the command's own flags. --help prints the command's usage to stdout and
// returns flag.ErrHelp.
func parseConfig(name, command string, args []string, more func(*flag.FlagSet)) (app.Config, error) {
	c := &cliConfig{}
	table := settings()
	var given []flagValue
	configFile := os.Getenv("FIELDFLOW_CONFIG")
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&configFile, "config", configFile, "YAML `file` of settings, by the names fieldflow serve --help shows; the environment and flags win over it (FIELDFLOW_CONFIG)")
	for _, s := range table {
		if s.flag != "" && s.reads(command) {
			fs.Var(settingFlag{s: s, given: &given, isBool: s.isBool}, s.flag, s.help)
		}
	}
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(os.Stdout, name, command, fs)
		}
		return c.Config, err
	}
	if fs.NArg() > 0 {
		return c.Config, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	if configFile != "" {
		if err := applyConfigFile(c, table, command, configFile); err != nil {
			return c.Config, err
		}
	}
	for _, s := range table {
		if s.env == "" || !s.reads(command) {
			continue
		}
		if v := os.Getenv(s.env); v != "" {
			if err := s.set(c, v); err != nil {
				return c.Config, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	for _, g := range given {
		if err := g.s.set(c, g.v); err != nil {
			return c.Config, fmt.Errorf("--%s=%q: %w", g.s.flag, g.v, err)
		}
	}
	if c.OutboundProxy == "" && slices.Contains(served, command) {
		// The usual variable of proxied hosts, when fieldflow's own is not
		// set. NO_PROXY is not read: every outbound request goes through
		// the one proxy, or none does.
		c.OutboundProxy = cmp.Or(os.Getenv("HTTPS_PROXY"), os.Getenv("https_proxy"))
	}
	if os.Getenv("GOGC") != "" {
		c.GCPercent = -1 // the operator chose; leave the runtime alone
	}
	c.Logger = newLogger(os.Stderr, c.logFormat, c.logLevel)
	return c.Config, nil
}

// applyConfigFile sets what the YAML file at path holds: a map from each
// setting's fileKey to a scalar. A key that names no setting is refused
// (a typo must not pass silently); one this command does not read is left
// alone, so that serve and migrate can share one file.
func applyConfigFile(c *cliConfig, table []setting, command, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config file %s: not a YAML map of settings: %w", path, err)
	}
	byKey := map[string]setting{}
	var known []string
	for _, s := range table {
		byKey[s.fileKey()] = s
		known = append(known, s.fileKey())
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config file %s: unknown setting %q (known: %s)", path, k, strings.Join(known, ", "))
		}
		v, ok := scalar(doc[k])
		if items, isSeq := doc[k].([]any); isSeq && s.isList {
			parts := make([]string, len(items))
			for i, item := range items {
				if parts[i], ok = scalar(item); !ok {
					break
				}
			}
			v = strings.Join(parts, ",")
		}
		if !ok {
			if s.isList {
				return fmt.Errorf("config file %s: %s: want a list of strings, or one comma-separated string", path, k)
			}
			return fmt.Errorf("config file %s: %s: want a string, number or boolean", path, k)
		}
		if !s.reads(command) {
			continue
		}
		if err := s.set(c, v); err != nil {
			return fmt.Errorf("config file %s: %s: %q: %w", path, k, v, err)
		}
	}
	return nil
}

// scalar is a YAML scalar's text.
func scalar(x any) (string, bool) {
	switch x := x.(type) {
	case string:
		return x, true
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(x), true
	}
	return "", false
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePrefixes reads address ranges: CIDR prefixes, or single addresses
// (a /32 or /128).
func parsePrefixes(items []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(items))
	for _, item := range items {
		if ip, err := netip.ParseAddr(item); err == nil {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q: want an address range like 10.20.0.0/16 or fd00::/64, or one address", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// printUsage prints a command's flags and the variables it reads.
func printUsage(w io.Writer, name, command string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: fieldflow %s [flags]\n\nFlags:\n", name)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	var envs []setting
	for _, s := range settings() {
		if s.env != "" && s.reads(command) {
			envs = append(envs, s)
		}
	}
	if len(envs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nEnvironment (a flag wins over its variable, and both over --config):\n")
	for _, s := range envs {
		also := " [config: " + s.fileKey() + "]"
		if s.flag != "" {
			also = " [--" + s.flag + ", config: " + s.fileKey() + "]"
		}
		fmt.Fprintf(w, "  %-32s %s%s\n", s.env, strings.ReplaceAll(s.help, "`", ""), also)
	}
}

// newLogger makes the process's one logger: every line structured, in one
// format.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// routeStandardLog makes logger the process's default, which also sends
// what the standard log package writes (log.Printf in a library) through
// its handler, so that every line of a server's output is structured.
// fieldflow's own code never uses the default: it is handed its logger.
func routeStandardLog(logger *slog.Logger) {
	slog.SetDefault(logger)
}
