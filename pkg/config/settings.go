package config

import (
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/pkg/controlplane"
)

// Setting is one environment variable: its name, the value used when it is
// unset or empty, the binaries that read it, and what it means (the line
// printed by --help and written to .env.example).
type Setting struct {
	Name     string
	Default  string
	Binaries Binary
	Help     string
	// Secret values never appear in an error message.
	Secret bool
	// EmptyOff: a variable set to the empty string means "off" instead of
	// the default (only an unset variable takes the default).
	EmptyOff bool
	v        variable
}

// fail names the variable and its bad value (unless secret) in err.
func (s Setting) fail(raw string, err error) error {
	if s.Secret {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return fmt.Errorf("%s=%q: %w", s.Name, raw, err)
}

// Settings returns the table, in the order --help and .env.example list it.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// settings is the one table of configuration. Durations accept Go syntax
// ("90s", "12h") or a bare number of seconds ("300").
var settings = []Setting{
	// Listeners.
	{Name: "HTTP_ADDR", Default: ":8080", Binaries: API,
		Help: "REST API (/api/v1), /healthz, /readyz",
		v:    text(func(c *Config) *string { return &c.HTTPAddr }, listenAddr)},
	{Name: "GRPC_ADDR", Default: ":9090", Binaries: API,
		Help: "gRPC operator services (token or API key on every call but login and health)",
		v:    text(func(c *Config) *string { return &c.GRPCAddr }, listenAddr)},
	{Name: "CONTROL_ADDR", Default: ":9091", Binaries: API,
		Help: "gRPC control plane the gateways call (admission, leases), scale-out only (the embedded mode opens nothing); every call must carry GATEWAY_SECRET; bind it to an internal address the gateways reach (e.g. 10.0.0.5:9091)",
		v:    text(func(c *Config) *string { return &c.ControlAddr }, listenAddr)},
	{Name: "CONTROL_TLS_CERT_FILE", Default: "", Binaries: API,
		Help: "PEM certificate (leaf first) of CONTROL_ADDR: the control plane speaks TLS 1.3 (gateways then need CORE_CA_FILE); set with CONTROL_TLS_KEY_FILE; empty = plain gRPC, for a private network only",
		v:    text(func(c *Config) *string { return &c.ControlTLSCertFile })},
	{Name: "CONTROL_TLS_KEY_FILE", Default: "", Binaries: API, Secret: true,
		Help: "PEM private key of CONTROL_TLS_CERT_FILE (keep it 0600)",
		v:    text(func(c *Config) *string { return &c.ControlTLSKeyFile })},
	{Name: "CONTROL_CLIENT_CA_FILE", Default: "", Binaries: API,
		Help: "PEM bundle the gateways' client certificates must chain to (mutual TLS on CONTROL_ADDR, besides GATEWAY_SECRET); needs CONTROL_TLS_CERT_FILE; empty = no client certificate asked",
		v:    text(func(c *Config) *string { return &c.ControlClientCAFile })},
	{Name: "OCPP_ADDR", Default: ":8887", Binaries: Both, EmptyOff: true,
		Help: "plain OCPP WebSocket listener (ws://host:8887/ocpp/{stationId}) and the gateway's /healthz, /readyz; the api uses it only in the embedded mode; set to empty (OCPP_ADDR=) to turn it off",
		v:    text(func(c *Config) *string { return &c.OCPPAddr }, listenAddr)},
	{Name: "OCPP_TLS_ADDR", Default: "", Binaries: Both,
		Help: "TLS OCPP WebSocket listener (wss://host:8443/ocpp/{stationId}), security profiles 2 and 3, e.g. :8443; needs TLS_CERT_FILE and TLS_KEY_FILE; empty = off",
		v:    text(func(c *Config) *string { return &c.OCPPTLSAddr }, listenAddr)},
	{Name: "METRICS_ADDR", Default: "", Binaries: Both,
		Help: "Prometheus /metrics listener (e.g. :9464); no authentication, so bind it where only the scraper reaches; empty = off",
		v:    text(func(c *Config) *string { return &c.MetricsAddr }, listenAddr)},
	{Name: "PPROF_ADDR", Default: "", Binaries: Both,
		Help: "net/http/pprof on a loopback address (e.g. 127.0.0.1:6060 for the api, 127.0.0.1:6061 for a gateway); empty = off",
		v:    text(func(c *Config) *string { return &c.PprofAddr }, loopbackAddr)},

	// Storage and identity of the core.
	{Name: "DATABASE_URL", Default: "", Binaries: API, Secret: true,
		Help: "PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/chargeplane?sslmode=disable; empty = SQLite in DATA_DIR",
		v:    text(func(c *Config) *string { return &c.DatabaseURL })},
	{Name: "DATA_DIR", Default: "./data", Binaries: API,
		Help: "SQLite file and the generated AUTH_SECRET of the embedded mode",
		v:    text(func(c *Config) *string { return &c.DataDir })},
	{Name: "MIGRATE_ON_START", Default: "true", Binaries: API,
		Help: "apply database migrations at start-up",
		v:    boolean(func(c *Config) *bool { return &c.MigrateOnStart })},
	{Name: "CORE_ID", Default: "", Binaries: API,
		Help: "this core instance's id (names its reply queue); empty = <hostname>-<random>",
		v:    text(func(c *Config) *string { return &c.CoreID })},
	{Name: "AUTH_SECRET", Default: "", Binaries: API, Secret: true,
		Help: fmt.Sprintf("HS256 key (>= %d bytes) for operator tokens; empty = generated and kept in DATA_DIR (embedded mode only; required with DATABASE_URL)", MinAuthSecretBytes),
		v:    text(func(c *Config) *string { return &c.AuthSecret }, minBytes(MinAuthSecretBytes))},
	{Name: "AUTH_TOKEN_TTL", Default: "12h", Binaries: API,
		Help: "lifetime of an operator access token",
		v:    duration(func(c *Config) *time.Duration { return &c.AuthTokenTTL }, positive)},

	// OCPP behaviour of the core.
	{Name: "HEARTBEAT_INTERVAL", Default: "300", Binaries: API,
		Help: "the heartbeat interval returned in BootNotification (whole seconds)",
		v:    duration(func(c *Config) *time.Duration { return &c.HeartbeatInterval }, positive, wholeSeconds)},
	{Name: "COMMAND_TIMEOUT", Default: "30s", Binaries: API,
		Help: "how long an operator command (REST/gRPC) waits for the charger's answer (a request may ask for less or more, up to 10m)",
		v:    duration(func(c *Config) *time.Duration { return &c.CommandTimeout }, positive)},
	{Name: "MESSAGE_LOG_PER_STATION", Default: "500", Binaries: API,
		Help: "raw OCPP messages kept per station in the message log (GET /api/v1/stations/{id}/messages); trimmed back to this once a quarter more has been written, so up to 25% more may show",
		v:    integer(func(c *Config) *int { return &c.MessageLogPerStation }, atLeast(1))},
	{Name: "MESSAGE_LOG_MAX_FRAME", Default: "65536", Binaries: API,
		Help: "bytes of one frame the message log keeps; a longer frame is stored cut, ending in \"…(truncated, N bytes)\"",
		v:    integer(func(c *Config) *int { return &c.MessageLogMaxFrame }, between(1024, 1<<20))},
	{Name: "MESSAGE_LOG_BYTES_PER_STATION", Default: "2097152", Binaries: API,
		Help: "bytes of frames the message log keeps per station (trimmed with MESSAGE_LOG_PER_STATION, whichever bound is reached first; the newest message is always kept)",
		v:    integer(func(c *Config) *int { return &c.MessageLogBytes }, atLeast(64<<10))},
	{Name: "MESSAGE_LOG_SKIP", Default: "", Binaries: API,
		Help: "charger actions kept out of the message log, comma-separated (e.g. Heartbeat: no data, but a row for it and one for its answer per station every heartbeat interval); their CALL and answer are not logged; empty = every message is",
		v:    text(func(c *Config) *string { return &c.MessageLogSkip }, actionList)},
	{Name: "EVENT_RETENTION", Default: "24h", Binaries: API,
		Help: "how long live events are kept for resumption (SSE Last-Event-ID, gRPC after_id) and webhook catch-up (docs/integrations.md)",
		v:    duration(func(c *Config) *time.Duration { return &c.EventRetention }, positive)},
	{Name: "WEBHOOK_TIMEOUT", Default: "10s", Binaries: API,
		Help: "how long one webhook delivery attempt may take (connect, send, answer) before it counts as failed",
		v:    duration(func(c *Config) *time.Duration { return &c.WebhookTimeout }, positive)},
	{Name: "WEBHOOK_RETRY_FOR", Default: "24h", Binaries: API,
		Help: "how long after it happened an event is retried to a failing webhook (back-off 1 s doubling to 10 min) before it is given up; at most EVENT_RETENTION",
		v:    duration(func(c *Config) *time.Duration { return &c.WebhookRetryFor }, positive)},
	{Name: "WEBHOOK_ALLOW_PRIVATE", Default: "false", Binaries: API,
		Help: "let webhooks reach loopback, private, link-local and cloud metadata addresses (labs and tests only: otherwise whoever creates a webhook can make the core call internal services)",
		v:    boolean(func(c *Config) *bool { return &c.WebhookAllowPrivate })},
	{Name: "LEASE_SWEEP_INTERVAL", Default: "2s", Binaries: API,
		Help: "how often gateways whose lease expired are swept (their stations marked Unavailable)",
		v:    duration(func(c *Config) *time.Duration { return &c.LeaseSweepInterval }, positive)},

	{Name: "UNKNOWN_STATIONS", Default: "reject", Binaries: API,
		Help: "what happens to a station id that is not registered: reject (HTTP 404 at the handshake) or pending (created as Pending, without a password, for an operator to accept or reject; docs/security.md)",
		v:    text(func(c *Config) *string { return &c.UnknownStations }, oneOf("reject", "pending"))},
	{Name: "PENDING_STATIONS_LIMIT", Default: "1000", Binaries: API,
		Help: "with UNKNOWN_STATIONS=pending, unknown stations are refused (404) while this many are pending, so that made-up ids cannot fill the database",
		v:    integer(func(c *Config) *int { return &c.PendingStationsLimit }, atLeast(1))},

	// Certificates (docs/security.md).
	{Name: "CA_CERT_FILE", Default: "", Binaries: API,
		Help: "PEM of the CSMS CA that signs station certificates (an operator's sub-CA), optionally followed by its chain; set with CA_KEY_FILE. Both empty = a CA generated in DATA_DIR (ca.pem, ca-key.pem) when DATABASE_URL is empty; with DATABASE_URL every SignCertificate is then rejected (NoCAConfigured)",
		v:    text(func(c *Config) *string { return &c.CACertFile })},
	{Name: "CA_KEY_FILE", Default: "", Binaries: API, Secret: true,
		Help: "PEM private key of CA_CERT_FILE (keep it 0600)",
		v:    text(func(c *Config) *string { return &c.CAKeyFile })},
	{Name: "CSMS_ORGANIZATION", Default: "", Binaries: API,
		Help: "the CPO's name: the subject O that station CSRs (and profile-3 client certificates) must carry; empty = not checked",
		v:    text(func(c *Config) *string { return &c.CSMSOrganization })},
	{Name: "STATION_CERT_VALIDITY", Default: "8760h", Binaries: API,
		Help: "how long a station certificate the CA signs is valid (never beyond the CA certificate itself)",
		v:    duration(func(c *Config) *time.Duration { return &c.StationCertValidity }, positive)},
	{Name: "OCSP_RESPONDER_URL", Default: "", Binaries: API, Secret: true,
		Help: "http(s) URL of the OCSP responder that answers 2.0.1 GetCertificateStatus; empty = answered Failed",
		v:    text(func(c *Config) *string { return &c.OCSPResponderURL }, httpURL)},

	// The OCPP TLS listener and station admission (docs/security.md).
	{Name: "TLS_CERT_FILE", Default: "", Binaries: Both,
		Help: "PEM server certificate of OCPP_TLS_ADDR, leaf first then its chain (RSA or ECDSA); reloaded when the file changes or on SIGHUP",
		v:    text(func(c *Config) *string { return &c.TLSCertFile })},
	{Name: "TLS_KEY_FILE", Default: "", Binaries: Both, Secret: true,
		Help: "PEM private key of TLS_CERT_FILE (keep it 0600)",
		v:    text(func(c *Config) *string { return &c.TLSKeyFile })},
	{Name: "TLS_CLIENT_CA_FILE", Default: "", Binaries: Both,
		Help: "PEM bundle the chargers' client certificates must chain to (security profile 3); empty = none on a gateway, the CSMS CA (CA_CERT_FILE or the generated one) on the api's embedded gateway",
		v:    text(func(c *Config) *string { return &c.TLSClientCAFile })},
	{Name: "TLS_RELOAD_INTERVAL", Default: "10s", Binaries: Both,
		Help: "how often the TLS certificate, key and client CA files are checked for changes (open connections stay); 0 = only on SIGHUP",
		v:    duration(func(c *Config) *time.Duration { return &c.TLSReloadInterval }, notNegative)},
	{Name: "TRUSTED_PROXIES", Default: "", Binaries: Both,
		Help: "comma-separated addresses or CIDRs of TLS-terminating proxies whose X-Forwarded-Client-Cert and X-Forwarded-Proto headers are believed (docs/security.md); from anyone else they are ignored; empty = none",
		v:    text(func(c *Config) *string { return &c.TrustedProxies }, prefixList)},
	{Name: "MIN_SECURITY_PROFILE", Default: "0", Binaries: API,
		Help: "lowest station security profile admitted (0 none, 1 Basic auth, 2 TLS + Basic auth, 3 client certificate); a station below it is refused",
		v:    integer(func(c *Config) *int { return &c.MinSecurityProfile }, between(0, 3))},
	{Name: "ADMISSION_CONCURRENCY", Default: "128", Binaries: API,
		Help: "station admissions a core decides at once; more are answered 503 with a Retry-After of 2–6 s at once, instead of queueing for database connections until their gateway gives up (a reconnect storm)",
		v:    integer(func(c *Config) *int { return &c.AdmissionConcurrency }, between(1, 100_000))},
	{Name: "ARGON2_CONCURRENCY", Default: "4", Binaries: API,
		Help: "Argon2id checks of passwords (stations' and operators' logins) run at once by a core, each holding 19 MiB for tens of milliseconds; more wait their turn, so their memory stays under this × 19 MiB (docs/security.md)",
		v:    integer(func(c *Config) *int { return &c.Argon2Concurrency }, between(1, 256))},

	// Station monitoring.
	{Name: "ALERT_SEVERITY", Default: "4", Binaries: API,
		Help: "2.0.1 station events from a monitor of this OCPP severity or worse (0 Danger … 4 Error … 9 Debug) are raised as alerts (logged, marked in the event list, published as station.alert events); -1 = none",
		v:    integer(func(c *Config) *int { return &c.AlertSeverity }, between(-1, 9))},

	// Vendor extensions.
	{Name: "DATA_TRANSFER_VENDORS", Default: "", Binaries: API,
		Help: "DataTransfer messages stations send that the CSMS knows, comma-separated vendorId/messageId, or vendorId alone for all its messages (e.g. com.acme/Ping,org.example): answered Accepted; an unknown messageId of a listed vendor UnknownMessageId, any other vendor UnknownVendorId; every one is stored (GET /api/v1/stations/{id}/data-transfers)",
		v:    text(func(c *Config) *string { return &c.DataTransferVendors }, vendorList)},
	// Smart charging.
	{Name: "EV_CHARGING_NEEDS", Default: "accept", Binaries: API,
		Help: "how 2.0.1 NotifyEVChargingNeeds is answered: accept (Accepted, then a TxProfile within the EV's needs, the reported limits and the operator's ChargingStationMaxProfile/TxDefaultProfile is sent), processing (Processing, the profile follows all the same) or reject (Rejected: the needs are kept, no profile is sent)",
		v:    text(func(c *Config) *string { return &c.EVChargingNeeds }, oneOf("accept", "processing", "reject"))},

	// Tariffs.
	{Name: "COST_UPDATE_INTERVAL", Default: "60s", Binaries: API,
		Help: "how often the running cost of an active transaction with a tariff is sent to its station when it changed: 2.0.1 CostUpdated where the station shows costs (TariffCostCtrlr.Enabled[Cost]), 1.6 the OCA California Pricing DataTransfer where CustomDisplayCostAndPrice is true (and its final cost after StopTransaction); 0 = none sent (2.0.1 TransactionEvent answers still carry the cost so far)",
		v:    duration(func(c *Config) *time.Duration { return &c.CostUpdateInterval }, notNegative)},

	// The bus.
	{Name: "AMQP_URL", Default: "", Binaries: Both, Secret: true,
		Help: "RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/; required by the gateway; empty on the api = in-process bus with the embedded gateway",
		v:    text(func(c *Config) *string { return &c.AMQPURL })},
	{Name: "AMQP_PREFIX", Default: "chargeplane", Binaries: Both,
		Help: "prefix of every RabbitMQ exchange and queue",
		v:    text(func(c *Config) *string { return &c.AMQPPrefix })},
	{Name: "BUS_PARTITIONS", Default: "16", Binaries: Both,
		Help: "upstream partitions (per-station ordering); must be equal on every api and gateway",
		v:    integer(func(c *Config) *int { return &c.BusPartitions }, between(1, 1024))},
	{Name: "BUS_LANES", Default: "256", Binaries: API,
		Help: "charger messages this core handles at once: different stations' concurrently, each station's in order",
		v:    integer(func(c *Config) *int { return &c.BusLanes }, between(1, 65536))},

	// Gateways.
	{Name: "GATEWAY_SECRET", Default: "", Binaries: Both, Secret: true,
		Help: "shared secret (>= 32 bytes, e.g. openssl rand -hex 32) every gateway sends to the core's control plane, compared in constant time; the same on every api and gateway; required in scale-out (a gateway, or an api with AMQP_URL), unused in the embedded mode",
		v:    text(func(c *Config) *string { return &c.GatewaySecret }, minBytes(controlplane.MinSecretBytes))},
	{Name: "CORE_GRPC_ADDR", Default: "localhost:9091", Binaries: Gateway,
		Help: "the core's control plane (its CONTROL_ADDR: admission, leases); several cores: host1:9091,host2:9091 (round robin over the ones that are up) or dns:///name",
		v:    text(func(c *Config) *string { return &c.CoreGRPCAddr })},
	{Name: "CORE_CA_FILE", Default: "", Binaries: Gateway,
		Help: "PEM bundle the cores' CONTROL_TLS_CERT_FILE must chain to: set = TLS to the control plane; empty = plain gRPC",
		v:    text(func(c *Config) *string { return &c.CoreCAFile })},
	{Name: "GATEWAY_CERT_FILE", Default: "", Binaries: Gateway,
		Help: "PEM client certificate (leaf first) this gateway shows the control plane (cores with CONTROL_CLIENT_CA_FILE); needs CORE_CA_FILE; set with GATEWAY_KEY_FILE",
		v:    text(func(c *Config) *string { return &c.GatewayCertFile })},
	{Name: "GATEWAY_KEY_FILE", Default: "", Binaries: Gateway, Secret: true,
		Help: "PEM private key of GATEWAY_CERT_FILE (keep it 0600)",
		v:    text(func(c *Config) *string { return &c.GatewayKeyFile })},
	{Name: "GATEWAY_ID", Default: "", Binaries: Gateway,
		Help: "this gateway's id (names its queue); empty = <hostname>-<random>",
		v:    text(func(c *Config) *string { return &c.GatewayID })},
	{Name: "PING_INTERVAL", Default: "30", Binaries: Both,
		Help: "silence after which a socket is pinged; 0 = never",
		v:    duration(func(c *Config) *time.Duration { return &c.PingInterval }, notNegative)},
	{Name: "PING_TIMEOUT", Default: "10", Binaries: Both,
		Help: "how long a ping waits for its pong before the socket is declared dead",
		v:    duration(func(c *Config) *time.Duration { return &c.PingTimeout }, positive)},
	{Name: "CALL_TIMEOUT", Default: "30", Binaries: Both,
		Help: "how long a core-to-charger CALL waits for the charger's answer",
		v:    duration(func(c *Config) *time.Duration { return &c.CallTimeout }, positive)},
	{Name: "LEASE_TTL", Default: "10", Binaries: Both,
		Help: "the gateway's lease with the core, renewed every third of it",
		v:    duration(func(c *Config) *time.Duration { return &c.LeaseTTL }, positive)},
	{Name: "MAX_MESSAGE_BYTES", Default: "1048576", Binaries: Both,
		Help: "largest OCPP message accepted from a charger, bytes (a bigger one closes the socket with 1009)",
		v:    integer64(func(c *Config) *int64 { return &c.MaxMessageBytes }, atLeast[int64](1024))},
	{Name: "DRAIN_WINDOW", Default: "10", Binaries: Both,
		Help: "on SIGTERM, the time over which open sockets are closed (code 1001) so chargers reconnect elsewhere gradually; 0 = at once; at most half of SHUTDOWN_TIMEOUT is used",
		v:    duration(func(c *Config) *time.Duration { return &c.DrainWindow }, notNegative)},
	{Name: "SHUTDOWN_TIMEOUT", Default: "30s", Binaries: Both,
		Help: "graceful-shutdown limit after SIGINT/SIGTERM, drain included",
		v:    duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, positive)},

	// Logs.
	{Name: "LOG_LEVEL", Default: "info", Binaries: Both,
		Help: "debug, info, warn or error",
		v:    text(func(c *Config) *string { return &c.LogLevel }, logLevel)},
	{Name: "LOG_FORMAT", Default: "text", Binaries: Both,
		Help: "text or json",
		v:    text(func(c *Config) *string { return &c.LogFormat }, oneOf("text", "json"))},
}
