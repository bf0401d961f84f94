package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/metrics"
)

// Config tunes a gateway. Zero values take the defaults below, so the
// embedded gateway of the api process can pass only what it cares about.
type Config struct {
	// GatewayID names this gateway on the bus and in the core's connection
	// registry. Default: hostname-<random>.
	GatewayID string
	// PingInterval is how long a socket may stay silent before the gateway
	// pings it. Default 30s; negative disables pings.
	PingInterval time.Duration
	// PingTimeout is how long a ping waits for its pong before the socket is
	// considered dead and closed. Default 10s.
	PingTimeout time.Duration
	// CallTimeout bounds a core→charger CALL that carries no ExpiresAt.
	// Default 30s.
	CallTimeout time.Duration
	// DrainWindow is the time over which Shutdown spreads socket closes, so
	// chargers do not all reconnect elsewhere at the same instant. Default 10s.
	DrainWindow time.Duration
	// LeaseTTL is the lease asked from the core; it is renewed every
	// LeaseTTL/3. Default 10s.
	LeaseTTL time.Duration
	// MaxMessageBytes is the largest WebSocket message read from a charger;
	// a bigger one closes the socket with 1009. Default 1 MiB.
	MaxMessageBytes int64
	// TLS verifies client certificates (its client CAs) for security
	// profile 3, from the TLS listener and from trusted proxies; nil = no
	// certificate is ever verified.
	TLS *TLS
	// TrustedProxies are the peers whose X-Forwarded-Client-Cert and
	// X-Forwarded-Proto headers are believed; from anyone else they are
	// ignored and logged.
	TrustedProxies []netip.Prefix
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Metrics counts connections, admissions and answer latency (nil: not
	// counted).
	Metrics *metrics.Gateway
	// Now is the wall clock stamped on envelopes and compared with a core
	// CALL's ExpiresAt. Default time.Now.
	Now func() time.Time
}

// Defaults used for zero Config fields.
const (
	DefaultPingInterval    = 30 * time.Second
	DefaultPingTimeout     = 10 * time.Second
	DefaultCallTimeout     = 30 * time.Second
	DefaultDrainWindow     = 10 * time.Second
	DefaultLeaseTTL        = 10 * time.Second
	DefaultMaxMessageBytes = 1 << 20
)

// FromSettings maps the settings both binaries read (pkg/config) to a
// gateway Config. In the environment 0 turns PING_INTERVAL and DRAIN_WINDOW
// off, where a zero Config field means the default: they become negative.
// TRUSTED_PROXIES was validated when the settings were loaded; TLS is
// left to the caller, which owns the files' reloading.
func FromSettings(s config.Config, logger *slog.Logger) Config {
	proxies, _ := config.ParsePrefixes(s.TrustedProxies)
	return Config{
		TrustedProxies:  proxies,
		GatewayID:       s.GatewayID,
		PingInterval:    offIfZero(s.PingInterval),
		PingTimeout:     s.PingTimeout,
		CallTimeout:     s.CallTimeout,
		DrainWindow:     offIfZero(s.DrainWindow),
		LeaseTTL:        s.LeaseTTL,
		MaxMessageBytes: s.MaxMessageBytes,
		Logger:          logger,
	}
}

func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (c Config) withDefaults() Config {
	if c.GatewayID == "" {
		c.GatewayID = DefaultGatewayID()
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.DrainWindow < 0 {
		c.DrainWindow = 0
	} else if c.DrainWindow == 0 {
		c.DrainWindow = DefaultDrainWindow
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// DefaultGatewayID returns hostname-<6 hex chars>: unique per process, so a
// restarted gateway never inherits the queue or lease of its predecessor,
// yet still readable in logs.
func DefaultGatewayID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gateway"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
