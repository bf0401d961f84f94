package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := LoadFrom(API, nil)
	if err != nil {
		t.Fatalf("LoadFrom(API, nil): %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTPAddr, ":8080"},
		{"GRPC_ADDR", c.GRPCAddr, ":9090"},
		{"CONTROL_ADDR", c.ControlAddr, ":9091"},
		{"OCPP_ADDR", c.OCPPAddr, ":8887"},
		{"DATABASE_URL", c.DatabaseURL, ""},
		{"DATA_DIR", c.DataDir, "./data"},
		{"AMQP_URL", c.AMQPURL, ""},
		{"AMQP_PREFIX", c.AMQPPrefix, "chargeplane"},
		{"BUS_PARTITIONS", c.BusPartitions, 16},
		{"HEARTBEAT_INTERVAL", c.HeartbeatInterval, 300 * time.Second},
		{"AUTH_SECRET", c.AuthSecret, ""},
		{"AUTH_TOKEN_TTL", c.AuthTokenTTL, 12 * time.Hour},
		{"MIGRATE_ON_START", c.MigrateOnStart, true},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"LOG_FORMAT", c.LogFormat, "text"},
		{"LEASE_SWEEP_INTERVAL", c.LeaseSweepInterval, 2 * time.Second},
		{"COST_UPDATE_INTERVAL", c.CostUpdateInterval, time.Minute},
		{"PING_INTERVAL", c.PingInterval, 30 * time.Second},
		{"PING_TIMEOUT", c.PingTimeout, 10 * time.Second},
		{"CALL_TIMEOUT", c.CallTimeout, 30 * time.Second},
		{"DRAIN_WINDOW", c.DrainWindow, 10 * time.Second},
		{"LEASE_TTL", c.LeaseTTL, 10 * time.Second},
		{"MAX_MESSAGE_BYTES", c.MaxMessageBytes, int64(1 << 20)},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 30 * time.Second},
		{"COMMAND_TIMEOUT", c.CommandTimeout, 30 * time.Second},
		{"MESSAGE_LOG_PER_STATION", c.MessageLogPerStation, 500},
		{"MESSAGE_LOG_MAX_FRAME", c.MessageLogMaxFrame, 64 << 10},
		{"MESSAGE_LOG_BYTES_PER_STATION", c.MessageLogBytes, 2 << 20},
		{"PPROF_ADDR", c.PprofAddr, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !c.Embedded() {
		t.Error("Embedded() = false without AMQP_URL")
	}
	host, _ := os.Hostname()
	if !strings.HasPrefix(c.CoreID, host+"-") || len(c.CoreID) <= len(host)+1 {
		t.Errorf("CORE_ID = %q, want %q-<random>", c.CoreID, host)
	}
	other, _ := LoadFrom(API, nil)
	if other.CoreID == c.CoreID {
		t.Errorf("two default CORE_IDs are equal: %q", c.CoreID)
	}
}

func TestOverrides(t *testing.T) {
	c, err := LoadFrom(API, map[string]string{
		"HEARTBEAT_INTERVAL": "60",
		"AUTH_TOKEN_TTL":     "90m",
		"PING_INTERVAL":      "5s",
		"MIGRATE_ON_START":   "false",
		"CORE_ID":            "core-a",
		"AMQP_URL":           "amqp://guest:guest@127.0.0.1:5672/",
		"LOG_FORMAT":         "json",
		"LOG_LEVEL":          "debug",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.HeartbeatInterval != time.Minute || c.AuthTokenTTL != 90*time.Minute || c.PingInterval != 5*time.Second {
		t.Errorf("durations: heartbeat %v ttl %v ping %v", c.HeartbeatInterval, c.AuthTokenTTL, c.PingInterval)
	}
	if c.MigrateOnStart || c.CoreID != "core-a" || c.Embedded() {
		t.Errorf("migrate %v core %q embedded %v", c.MigrateOnStart, c.CoreID, c.Embedded())
	}
}

func TestInvalid(t *testing.T) {
	// Each message names the variable and its bad value, so the operator
	// knows what to fix without reading the code.
	for environ, want := range map[[2]string]string{
		{"AUTH_TOKEN_TTL", "soon"}:                `AUTH_TOKEN_TTL="soon": want seconds (300) or Go syntax (90s, 5m, 12h)`,
		{"HEARTBEAT_INTERVAL", "-5"}:              `HEARTBEAT_INTERVAL="-5": must be positive`,
		{"HEARTBEAT_INTERVAL", "1500ms"}:          `HEARTBEAT_INTERVAL="1500ms": must be whole seconds`,
		{"BUS_PARTITIONS", "0"}:                   `BUS_PARTITIONS="0": must be between 1 and 1024`,
		{"BUS_PARTITIONS", "many"}:                `BUS_PARTITIONS="many": want a whole number`,
		{"LOG_LEVEL", "loud"}:                     `LOG_LEVEL="loud": must be debug, info, warn or error`,
		{"LOG_FORMAT", "xml"}:                     `LOG_FORMAT="xml": must be text or json`,
		{"MIGRATE_ON_START", "perhaps"}:           `MIGRATE_ON_START="perhaps": want true or false`,
		{"PING_TIMEOUT", "0"}:                     `PING_TIMEOUT="0": must be positive`,
		{"COST_UPDATE_INTERVAL", "-1s"}:           `COST_UPDATE_INTERVAL="-1s": must not be negative`,
		{"MAX_MESSAGE_BYTES", "100"}:              `MAX_MESSAGE_BYTES="100": must be at least 1024`,
		{"MESSAGE_LOG_PER_STATION", "0"}:          `MESSAGE_LOG_PER_STATION="0": must be at least 1`,
		{"MESSAGE_LOG_MAX_FRAME", "2097152"}:      `MESSAGE_LOG_MAX_FRAME="2097152": must be between 1024 and 1048576`,
		{"MESSAGE_LOG_BYTES_PER_STATION", "1000"}: `MESSAGE_LOG_BYTES_PER_STATION="1000": must be at least 65536`,
		{"HTTP_ADDR", "8080"}:                     `HTTP_ADDR="8080": want host:port`,
		{"GRPC_ADDR", ":http"}:                    `GRPC_ADDR=":http": want a numeric port`,
		{"DATA_TRANSFER_VENDORS", "com.acme/"}:    `DATA_TRANSFER_VENDORS="com.acme/": "com.acme/" is not vendorId or vendorId/messageId`,
	} {
		t.Run(environ[0]+"="+environ[1], func(t *testing.T) {
			_, err := LoadFrom(API, map[string]string{environ[0]: environ[1]})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, want)
			}
		})
	}
}

func TestEverySettingErrorReported(t *testing.T) {
	_, err := LoadFrom(API, map[string]string{"PING_TIMEOUT": "0", "LOG_FORMAT": "xml"})
	if err == nil || !strings.Contains(err.Error(), "PING_TIMEOUT") || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("err = %v, want both bad settings named", err)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	_, err := LoadFrom(API, map[string]string{"AUTH_SECRET": "hunter2-short"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "AUTH_SECRET: must be at least 32 bytes, got 13") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the secret: %v", err)
	}
	for _, s := range Settings() {
		if strings.Contains(s.Name, "SECRET") || strings.HasSuffix(s.Name, "_URL") || strings.Contains(s.Name, "PASSWORD") || strings.Contains(s.Name, "KEY") {
			if !s.Secret {
				t.Errorf("%s looks like it holds a credential but is not marked Secret", s.Name)
			}
		}
	}
}

// The binaries share one parser: a shared setting is read and refused the
// same way by both, a setting one binary does not read cannot fail it.
func TestBothBinariesParseAlike(t *testing.T) {
	gatewayEnv := func(m map[string]string) map[string]string {
		m["AMQP_URL"] = "amqp://guest:guest@127.0.0.1:5672/"
		m["GATEWAY_SECRET"] = strings.Repeat("g", 32)
		return m
	}
	for _, bad := range []map[string]string{{"PING_TIMEOUT": "soon"}, {"DRAIN_WINDOW": "-1"}, {"LOG_LEVEL": "loud"}, {"PPROF_ADDR": ":6060"}} {
		_, apiErr := LoadFrom(API, bad)
		_, gwErr := LoadFrom(Gateway, gatewayEnv(bad))
		if apiErr == nil || gwErr == nil || apiErr.Error() != gwErr.Error() {
			t.Errorf("%v: api says %v, gateway says %v", bad, apiErr, gwErr)
		}
	}
	g, err := LoadFrom(Gateway, gatewayEnv(map[string]string{"PING_INTERVAL": "45", "DRAIN_WINDOW": "2m", "AUTH_SECRET": "short", "HTTP_ADDR": "nonsense"}))
	if err != nil {
		t.Fatalf("the gateway must ignore the api's settings: %v", err)
	}
	if g.PingInterval != 45*time.Second || g.DrainWindow != 2*time.Minute {
		t.Errorf("ping %v drain %v", g.PingInterval, g.DrainWindow)
	}
	if g.HTTPAddr != "" || g.CoreID != "" || g.AuthSecret != "" {
		t.Errorf("the gateway's config holds api settings: %+v", g)
	}
	if g.CoreGRPCAddr != "localhost:9091" || g.GatewayID != "" || g.ShutdownTimeout != 30*time.Second || g.LogFormat != "text" {
		t.Errorf("gateway defaults: %+v", g)
	}
	a, err := LoadFrom(API, map[string]string{"CORE_GRPC_ADDR": "::bad::"})
	if err != nil || a.CoreGRPCAddr != "" {
		t.Errorf("the api must ignore the gateway's settings: %v %q", err, a.CoreGRPCAddr)
	}
}

func TestGatewayRequiresAMQPURLAndSecret(t *testing.T) {
	_, err := LoadFrom(Gateway, nil)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "AMQP_URL is required") || !strings.Contains(err.Error(), "GATEWAY_SECRET is required") {
		t.Fatalf("err = %v", err)
	}
	_, err = LoadFrom(Gateway, map[string]string{"AMQP_URL": "amqp://127.0.0.1/", "GATEWAY_SECRET": "short-secret"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "GATEWAY_SECRET: must be at least 32 bytes") || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("short secret: %v", err)
	}
}

func TestEmptyMeansDefault(t *testing.T) {
	c, err := LoadFrom(API, map[string]string{"HTTP_ADDR": "", "BUS_PARTITIONS": "", "LOG_FORMAT": ""})
	if err != nil || c.HTTPAddr != ":8080" || c.BusPartitions != 16 || c.LogFormat != "text" {
		t.Fatalf("%v: %q %d %q", err, c.HTTPAddr, c.BusPartitions, c.LogFormat)
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	c, err := LoadFrom(API, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(API); err != nil {
		t.Fatalf("loaded defaults do not validate: %v", err)
	}
	c.BusPartitions = 2000
	c.CallTimeout = 0
	err = c.Validate(API)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `BUS_PARTITIONS="2000": must be between 1 and 1024`) ||
		!strings.Contains(err.Error(), `CALL_TIMEOUT="0s": must be positive`) {
		t.Fatalf("err = %v", err)
	}
	c, _ = LoadFrom(API, nil)
	c.DataDir = ""
	if err := c.Validate(API); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "DATA_DIR") {
		t.Fatalf("empty DATA_DIR without DATABASE_URL: %v", err)
	}
}

func TestProductionSecretRefused(t *testing.T) {
	c, err := LoadFrom(API, map[string]string{"DATABASE_URL": "postgres://db/chargeplane", "DATA_DIR": t.TempDir()})
	if err != nil {
		t.Fatalf("maintenance commands need no secret, but Load failed: %v", err)
	}
	if _, err := c.ResolveAuthSecret(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "AUTH_SECRET") {
		t.Fatalf("ResolveAuthSecret in production without secret: %v", err)
	}
	if entries, _ := os.ReadDir(c.DataDir); len(entries) != 0 {
		t.Errorf("production mode wrote %d files to DATA_DIR", len(entries))
	}
	secret := strings.Repeat("s", MinAuthSecretBytes)
	c.AuthSecret = secret
	got, err := c.ResolveAuthSecret()
	if err != nil || string(got) != secret {
		t.Fatalf("ResolveAuthSecret = %q, %v", got, err)
	}
}

func TestEmbeddedSecretGeneratedAndPersisted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested")
	c := Config{DataDir: dir}
	first, err := c.ResolveAuthSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < MinAuthSecretBytes {
		t.Fatalf("generated secret has %d bytes", len(first))
	}
	info, err := os.Stat(filepath.Join(dir, AuthSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %o, want 600", perm)
	}
	second, err := c.ResolveAuthSecret()
	if err != nil || string(second) != string(first) {
		t.Fatalf("second resolve = %q, %v; want the persisted %q", second, err, first)
	}
	other, _ := Config{DataDir: t.TempDir()}.ResolveAuthSecret()
	if string(other) == string(first) {
		t.Error("two data dirs got the same generated secret")
	}
}

func TestEmbeddedSecretFileTooShort(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, AuthSecretFile), []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Config{DataDir: dir}).ResolveAuthSecret(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"300": 300 * time.Second, "1m30s": 90 * time.Second, " 7 ": 7 * time.Second, "0": 0, "-1": -time.Second} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "9223372037", "99999999999999999999"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

func TestPprofAddrLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"":               true,
		"127.0.0.1:6060": true,
		"localhost:6060": true,
		"[::1]:6060":     true,
		":6060":          false, // every interface
		"0.0.0.0:6060":   false,
		"10.1.2.3:6060":  false,
		"127.0.0.1":      false, // no port
	} {
		_, err := LoadFrom(API, map[string]string{"PPROF_ADDR": addr})
		if ok && err != nil {
			t.Errorf("PPROF_ADDR=%q refused: %v", addr, err)
		}
		if !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("PPROF_ADDR=%q: err %v, want ErrInvalid", addr, err)
		}
	}
}

func TestParseVendorMessages(t *testing.T) {
	got, err := ParseVendorMessages(" com.acme/Ping, org.example ,com.acme/Ping,, com.acme / Status ")
	want := []VendorMessage{{"com.acme", "Ping"}, {"org.example", ""}, {"com.acme", "Status"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseVendorMessages = %v %v, want %v", got, err, want)
	}
	for _, bad := range []string{"/Ping", "com.acme/", strings.Repeat("v", 256), "v/" + strings.Repeat("m", 51)} {
		if _, err := ParseVendorMessages(bad); err == nil {
			t.Errorf("ParseVendorMessages(%q) succeeded", bad)
		}
	}
	if c, err := LoadFrom(API, map[string]string{"DATA_TRANSFER_VENDORS": "com.acme/Ping"}); err != nil || c.DataTransferVendors != "com.acme/Ping" {
		t.Errorf("DATA_TRANSFER_VENDORS: %q %v", c.DataTransferVendors, err)
	}
}

func TestParseChargerActions(t *testing.T) {
	got, err := ParseChargerActions(" Heartbeat, NotifyEvent ,Heartbeat,, StatusNotification ")
	if want := []string{"Heartbeat", "NotifyEvent", "StatusNotification"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseChargerActions = %v %v, want %v", got, err, want)
	}
	for _, bad := range []string{"heartbeat", "Reset", "Heartbeat,Hearbeat"} {
		if _, err := ParseChargerActions(bad); err == nil {
			t.Errorf("ParseChargerActions(%q) succeeded", bad)
		}
	}
}
