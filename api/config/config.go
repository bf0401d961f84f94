// Package config reads the core's configuration from the environment
// (12-factor) and turns it into the values the rest of the core needs.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/chargeplane/chargeplane/pkg/profiling"
)

// MinAuthSecretBytes is the shortest AUTH_SECRET accepted: HS256 keys shorter
// than the hash output make brute-forcing a captured token feasible.
const MinAuthSecretBytes = 32

// AuthSecretFile is the name, inside DATA_DIR, of the signing secret the
// embedded mode generates on first start.
const AuthSecretFile = "auth_secret"

// ErrInvalid wraps every configuration error, so callers can tell a bad
// setting (exit with a message) from an I/O failure.
var ErrInvalid = errors.New("config: invalid")

// Config is the core's configuration. Every field comes from one environment
// variable; durations accept Go syntax ("90s", "12h") or a bare number of
// seconds ("300").
//
//	variable              default              meaning
//	HTTP_ADDR             :8080                REST API (/api/v1), /healthz, /readyz
//	GRPC_ADDR             :9090                gRPC API (operator services, gateway control plane, health, reflection)
//	OCPP_ADDR             :8887                embedded gateway's OCPP WebSocket listener (/ocpp/{stationId}); only without AMQP_URL
//	DATABASE_URL          (empty)              PostgreSQL URL; empty = SQLite at $DATA_DIR/chargeplane.db
//	DATA_DIR              ./data               SQLite file and the generated auth secret (embedded mode)
//	AMQP_URL              (empty)              RabbitMQ URL; empty = in-process bus and embedded gateway
//	AMQP_PREFIX           chargeplane          prefix of every RabbitMQ exchange and queue name
//	BUS_PARTITIONS        16                   upstream partitions (per-station ordering); same on every core and gateway
//	HEARTBEAT_INTERVAL    300                  seconds; interval returned in BootNotification
//	AUTH_SECRET           (empty)              HS256 key for operator tokens, ≥ 32 bytes; empty = generated and kept in $DATA_DIR/auth_secret (0600) when DATABASE_URL is empty, a start-up error otherwise
//	AUTH_TOKEN_TTL        12h                  lifetime of an operator access token
//	MIGRATE_ON_START      true                 apply database migrations when serving
//	CORE_ID               <hostname>-<random>  this core instance's id (its reply queue name)
//	LOG_LEVEL             info                 debug, info, warn or error
//	LOG_FORMAT            text                 text or json
//	LEASE_SWEEP_INTERVAL  2s                   how often expired gateway leases are swept
//	PING_INTERVAL         30                   seconds; embedded gateway pings a socket silent this long (0 = never)
//	PING_TIMEOUT          10                   seconds; a socket whose pong is this late is dead
//	CALL_TIMEOUT          30                   seconds; embedded gateway's wait for a charger's answer
//	COMMAND_TIMEOUT       30s                  how long an operator command waits for the charger's answer (a request may ask for less or more, up to 10m)
//	MESSAGE_LOG_PER_STATION 500                raw OCPP messages kept per station in the message log (newest first; trimmed back to this once a quarter more has been written)
//	DRAIN_WINDOW          10                   seconds; embedded gateway spreads closing sockets over this on shutdown (0 = at once)
//	LEASE_TTL             10                   seconds; embedded gateway's lease with the core
//	MAX_MESSAGE_BYTES     1048576              largest OCPP WebSocket message the embedded gateway accepts
//	SHUTDOWN_TIMEOUT      30s                  graceful shutdown limit after SIGINT/SIGTERM
//	PPROF_ADDR            (empty)              loopback address (127.0.0.1:6060) serving net/http/pprof; empty = off
type Config struct {
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	GRPCAddr string `env:"GRPC_ADDR" envDefault:":9090"`
	OCPPAddr string `env:"OCPP_ADDR" envDefault:":8887"`

	DatabaseURL string `env:"DATABASE_URL"`
	DataDir     string `env:"DATA_DIR" envDefault:"./data"`

	AMQPURL       string `env:"AMQP_URL"`
	AMQPPrefix    string `env:"AMQP_PREFIX" envDefault:"chargeplane"`
	BusPartitions int    `env:"BUS_PARTITIONS" envDefault:"16"`

	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"300"`

	AuthSecret   string        `env:"AUTH_SECRET"`
	AuthTokenTTL time.Duration `env:"AUTH_TOKEN_TTL" envDefault:"12h"`

	MigrateOnStart bool   `env:"MIGRATE_ON_START" envDefault:"true"`
	CoreID         string `env:"CORE_ID"`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`

	LeaseSweepInterval time.Duration `env:"LEASE_SWEEP_INTERVAL" envDefault:"2s"`

	PingInterval    time.Duration `env:"PING_INTERVAL" envDefault:"30"`
	PingTimeout     time.Duration `env:"PING_TIMEOUT" envDefault:"10"`
	CallTimeout     time.Duration `env:"CALL_TIMEOUT" envDefault:"30"`
	DrainWindow     time.Duration `env:"DRAIN_WINDOW" envDefault:"10"`
	LeaseTTL        time.Duration `env:"LEASE_TTL" envDefault:"10"`
	MaxMessageBytes int64         `env:"MAX_MESSAGE_BYTES" envDefault:"1048576"`

	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`

	// PprofAddr serves /debug/pprof for profiling under load; loopback
	// only, since profiles expose memory contents and cost CPU.
	PprofAddr string `env:"PPROF_ADDR"`

	CommandTimeout       time.Duration `env:"COMMAND_TIMEOUT" envDefault:"30s"`
	MessageLogPerStation int           `env:"MESSAGE_LOG_PER_STATION" envDefault:"500"`
}

// Load reads the configuration from the process environment.
func Load() (Config, error) {
	return parse(nil)
}

// LoadFrom reads the configuration from environ instead of the process
// environment (tests, and tools that build a core in-process).
func LoadFrom(environ map[string]string) (Config, error) {
	if environ == nil {
		environ = map[string]string{}
	}
	return parse(environ)
}

func parse(environ map[string]string) (Config, error) {
	opts := env.Options{
		Environment: environ,
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeOf(time.Duration(0)): func(v string) (any, error) { return ParseDuration(v) },
		},
	}
	var c Config
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.CoreID == "" {
		c.CoreID = defaultCoreID()
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ParseDuration accepts a Go duration ("90s") or a bare number of seconds
// ("300"), because the seed's variables are documented in seconds.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(1<<62)/int64(time.Second) {
			return 0, fmt.Errorf("duration %q out of range", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want seconds or Go syntax like 90s: %w", v, err)
	}
	return d, nil
}

// Embedded reports whether the core runs the bus and a gateway in-process.
func (c Config) Embedded() bool { return c.AMQPURL == "" }

// Validate checks values that parse but cannot work. A missing AUTH_SECRET
// in production is refused by ResolveAuthSecret, at server start, so that
// maintenance commands (migrate, user create) run without it.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.AuthSecret != "" && len(c.AuthSecret) < MinAuthSecretBytes {
		bad("AUTH_SECRET must be at least %d bytes", MinAuthSecretBytes)
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		bad("DATA_DIR must not be empty when DATABASE_URL is empty")
	}
	if c.BusPartitions < 1 || c.BusPartitions > 1024 {
		bad("BUS_PARTITIONS must be between 1 and 1024, got %d", c.BusPartitions)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HEARTBEAT_INTERVAL", c.HeartbeatInterval}, {"AUTH_TOKEN_TTL", c.AuthTokenTTL},
		{"LEASE_SWEEP_INTERVAL", c.LeaseSweepInterval}, {"PING_TIMEOUT", c.PingTimeout}, {"CALL_TIMEOUT", c.CallTimeout},
		{"LEASE_TTL", c.LeaseTTL}, {"SHUTDOWN_TIMEOUT", c.ShutdownTimeout}, {"COMMAND_TIMEOUT", c.CommandTimeout},
	} {
		if d.v <= 0 {
			bad("%s must be positive", d.name)
		}
	}
	if c.HeartbeatInterval%time.Second != 0 {
		bad("HEARTBEAT_INTERVAL must be whole seconds (OCPP sends it as an integer)")
	}
	if c.DrainWindow < 0 || c.PingInterval < 0 {
		bad("DRAIN_WINDOW and PING_INTERVAL must not be negative")
	}
	if c.MessageLogPerStation < 1 {
		bad("MESSAGE_LOG_PER_STATION must be at least 1, got %d", c.MessageLogPerStation)
	}
	if err := profiling.CheckAddr(c.PprofAddr); err != nil {
		errs = append(errs, err)
	}
	if c.MaxMessageBytes < 1024 {
		bad("MAX_MESSAGE_BYTES must be at least 1024")
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if f := strings.ToLower(c.LogFormat); f != "text" && f != "json" {
		bad("LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// ParseLevel turns LOG_LEVEL into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	level, err := ParseLevel(c.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ResolveAuthSecret returns the token signing key: AUTH_SECRET when set;
// otherwise, in the embedded mode (no DATABASE_URL), the key kept in
// DATA_DIR/auth_secret, generated on first use so that tokens survive
// restarts without the operator having to invent a secret.
func (c Config) ResolveAuthSecret() ([]byte, error) {
	if c.AuthSecret != "" {
		if len(c.AuthSecret) < MinAuthSecretBytes {
			return nil, fmt.Errorf("%w: AUTH_SECRET must be at least %d bytes", ErrInvalid, MinAuthSecretBytes)
		}
		return []byte(c.AuthSecret), nil
	}
	if c.DatabaseURL != "" {
		return nil, fmt.Errorf("%w: AUTH_SECRET is required when DATABASE_URL is set (production mode has no default secret)", ErrInvalid)
	}
	path := filepath.Join(c.DataDir, AuthSecretFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		if len(secret) < MinAuthSecretBytes {
			return nil, fmt.Errorf("%w: %s holds fewer than %d bytes; delete it to generate a new one", ErrInvalid, path, MinAuthSecretBytes)
		}
		return []byte(secret), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: create DATA_DIR: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("config: generate auth secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	// O_EXCL: if another process created the file meanwhile, use theirs so
	// both sign with the same key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return c.ResolveAuthSecret()
	}
	if err != nil {
		return nil, fmt.Errorf("config: create %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("config: write %s: %w", path, err)
	}
	return []byte(secret), nil
}

func defaultCoreID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "core"
	}
	raw := make([]byte, 4)
	_, _ = rand.Read(raw)
	return host + "-" + hex.EncodeToString(raw)
}
