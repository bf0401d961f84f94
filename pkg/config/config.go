// Package config reads the settings of both binaries, api and gateway, from
// the environment (12-factor). One table, Settings, names every variable,
// its default, which binary reads it and what it means; parsing, validation,
// `api --help`, `gateway --help` and .env.example all come from it, so the
// two binaries cannot drift apart in names, duration syntax or messages.
//
// To add a setting: add a field to Config and a line to the table in
// settings.go, then run `make generate` to refresh .env.example and
// docs/operations.md.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/chargeplane/chargeplane/pkg/tracing"
)

// ErrInvalid wraps every configuration error, so callers can tell a bad
// setting (exit with a message) from an I/O failure.
var ErrInvalid = errors.New("config: invalid")

// Binary is the set of programs that read a setting.
type Binary uint8

const (
	// API is the core, `api` (which also runs the embedded gateway).
	API Binary = 1 << iota
	// Gateway is the standalone OCPP gateway, `gateway`.
	Gateway
	// Both binaries read the setting, with the same meaning.
	Both = API | Gateway
)

// String names the binaries: "api", "gateway" or "api, gateway".
func (b Binary) String() string {
	var names []string
	if b&API != 0 {
		names = append(names, "api")
	}
	if b&Gateway != 0 {
		names = append(names, "gateway")
	}
	return strings.Join(names, ", ")
}

// Config holds every setting of both binaries; each field is bound to one
// line of the table in settings.go. A binary's Load fills only the fields it
// reads: the others keep their zero value.
type Config struct {
	HTTPAddr    string
	GRPCAddr    string
	ControlAddr string
	OCPPAddr    string
	OCPPTLSAddr string

	// TLS of the control plane, the core's side and the gateway's.
	ControlTLSCertFile  string
	ControlTLSKeyFile   string
	ControlClientCAFile string
	CoreCAFile          string
	GatewayCertFile     string
	GatewayKeyFile      string

	TLSCertFile        string
	TLSKeyFile         string
	TLSClientCAFile    string
	TLSReloadInterval  time.Duration
	TrustedProxies     string
	MinSecurityProfile int
	// AdmissionConcurrency bounds the admissions a core decides at once.
	AdmissionConcurrency int
	// Argon2Concurrency bounds the Argon2id checks of admissions.
	Argon2Concurrency int

	DatabaseURL string
	DataDir     string

	AMQPURL       string
	AMQPPrefix    string
	BusPartitions int
	BusLanes      int

	HeartbeatInterval time.Duration

	AuthSecret   string
	AuthTokenTTL time.Duration

	MigrateOnStart bool
	CoreID         string

	CoreGRPCAddr  string
	GatewayID     string
	GatewaySecret string

	LogLevel  string
	LogFormat string

	LeaseSweepInterval time.Duration

	PingInterval    time.Duration
	PingTimeout     time.Duration
	CallTimeout     time.Duration
	DrainWindow     time.Duration
	LeaseTTL        time.Duration
	MaxMessageBytes int64

	ShutdownTimeout time.Duration

	MetricsAddr string
	PprofAddr   string

	CommandTimeout       time.Duration
	UnknownStations      string
	PendingStationsLimit int
	MessageLogPerStation int
	MessageLogMaxFrame   int
	// MessageLogSkip lists charger actions kept out of the message log
	// (ParseChargerActions).
	MessageLogSkip  string
	MessageLogBytes int
	EventRetention  time.Duration

	WebhookTimeout      time.Duration
	WebhookRetryFor     time.Duration
	WebhookAllowPrivate bool

	CACertFile          string
	CAKeyFile           string
	CSMSOrganization    string
	StationCertValidity time.Duration
	OCSPResponderURL    string

	// AlertSeverity: 2.0.1 station events whose monitor's severity is
	// at most this are raised as alerts.
	AlertSeverity int
	// DataTransferVendors lists the DataTransfer messages the CSMS knows
	// (ParseVendorMessages).
	DataTransferVendors string

	// EVChargingNeeds is how 2.0.1 NotifyEVChargingNeeds is answered:
	// accept, processing or reject (api/smartcharging.NeedsPolicy).
	EVChargingNeeds string
	// CostUpdateInterval: how often running costs are sent (0: never).
	CostUpdateInterval time.Duration
}

// Load reads bin's settings from the process environment.
func Load(bin Binary) (Config, error) {
	return load(bin, os.LookupEnv)
}

// LoadFrom reads bin's settings from environ instead of the process
// environment (tests, and tools that build a core in-process).
func LoadFrom(bin Binary, environ map[string]string) (Config, error) {
	return load(bin, func(name string) (string, bool) {
		v, ok := environ[name]
		return v, ok
	})
}

func load(bin Binary, lookup func(string) (string, bool)) (Config, error) {
	var c Config
	var errs []error
	for _, s := range settings {
		if s.Binaries&bin == 0 {
			continue
		}
		raw, ok := lookup(s.Name)
		// An empty value means the default, so that `NAME=` in a .env file
		// or an unset compose interpolation behaves like no variable.
		if !ok || (raw == "" && !s.EmptyOff) {
			raw = s.Default
		}
		if err := s.v.set(&c, raw); err != nil {
			errs = append(errs, s.fail(raw, err))
			continue
		}
		if err := s.v.check(&c); err != nil {
			errs = append(errs, s.fail(raw, err))
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	if bin&API != 0 && c.CoreID == "" {
		c.CoreID = defaultCoreID()
	}
	if err := c.crossCheck(bin); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the settings bin reads, for a Config built in code rather
// than loaded. A missing AUTH_SECRET in production is refused by
// ResolveAuthSecret, at server start, so that maintenance commands
// (migrate, user create) run without it.
func (c Config) Validate(bin Binary) error {
	var errs []error
	for _, s := range settings {
		if s.Binaries&bin == 0 {
			continue
		}
		if err := s.v.check(&c); err != nil {
			errs = append(errs, s.fail(s.v.format(&c), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return c.crossCheck(bin)
}

// crossCheck validates what depends on more than one setting.
func (c Config) crossCheck(bin Binary) error {
	var errs []error
	if bin&API != 0 && c.DatabaseURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("DATA_DIR must not be empty when DATABASE_URL is empty"))
	}
	if bin&API != 0 && (c.CACertFile == "") != (c.CAKeyFile == "") {
		errs = append(errs, errors.New("CA_CERT_FILE and CA_KEY_FILE go together: set both or neither"))
	}
	if bin&API != 0 && c.WebhookRetryFor > c.EventRetention {
		// An event is read from the log for each retry: past the
		// retention it is gone.
		errs = append(errs, fmt.Errorf("WEBHOOK_RETRY_FOR (%s) must not exceed EVENT_RETENTION (%s)", c.WebhookRetryFor, c.EventRetention))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither"))
	}
	if c.OCPPTLSAddr != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("OCPP_TLS_ADDR needs TLS_CERT_FILE and TLS_KEY_FILE"))
	}
	if (bin&Gateway != 0 || (bin&API != 0 && c.Embedded())) && c.OCPPAddr == "" && c.OCPPTLSAddr == "" {
		errs = append(errs, errors.New("OCPP_ADDR and OCPP_TLS_ADDR are both off: chargers could not connect"))
	}
	if bin&API != 0 && (c.ControlTLSCertFile == "") != (c.ControlTLSKeyFile == "") {
		errs = append(errs, errors.New("CONTROL_TLS_CERT_FILE and CONTROL_TLS_KEY_FILE go together: set both or neither"))
	}
	if bin&API != 0 && c.ControlClientCAFile != "" && c.ControlTLSCertFile == "" {
		errs = append(errs, errors.New("CONTROL_CLIENT_CA_FILE needs CONTROL_TLS_CERT_FILE and CONTROL_TLS_KEY_FILE (mutual TLS is TLS first)"))
	}
	if bin&Gateway != 0 && (c.GatewayCertFile == "") != (c.GatewayKeyFile == "") {
		errs = append(errs, errors.New("GATEWAY_CERT_FILE and GATEWAY_KEY_FILE go together: set both or neither"))
	}
	if bin&Gateway != 0 && c.GatewayCertFile != "" && c.CoreCAFile == "" {
		errs = append(errs, errors.New("GATEWAY_CERT_FILE needs CORE_CA_FILE (a client certificate is shown over TLS only)"))
	}
	if bin&Gateway != 0 && c.GatewaySecret == "" {
		errs = append(errs, errors.New("GATEWAY_SECRET is required by the gateway: the core's control plane refuses calls without it"))
	}
	if bin&Gateway != 0 && c.AMQPURL == "" {
		errs = append(errs, errors.New("AMQP_URL is required by the gateway (amqp://user:password@host:5672/)"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// Embedded reports whether the core runs the bus and a gateway in-process.
func (c Config) Embedded() bool { return c.AMQPURL == "" }

// parseLevel turns LOG_LEVEL into a slog level.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return 0, errors.New("must be debug, info, warn or error")
	}
	return l, nil
}

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if strings.EqualFold(c.LogFormat, "json") {
		h = slog.NewJSONHandler(w, opts)
	}
	// Lines logged with a context inside a span carry its trace id.
	return slog.New(tracing.LogHandler(h))
}
