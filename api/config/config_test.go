package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := LoadFrom(nil)
	if err != nil {
		t.Fatalf("LoadFrom(nil): %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTPAddr, ":8080"},
		{"GRPC_ADDR", c.GRPCAddr, ":9090"},
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
		{"PING_INTERVAL", c.PingInterval, 30 * time.Second},
		{"PING_TIMEOUT", c.PingTimeout, 10 * time.Second},
		{"CALL_TIMEOUT", c.CallTimeout, 30 * time.Second},
		{"DRAIN_WINDOW", c.DrainWindow, 10 * time.Second},
		{"LEASE_TTL", c.LeaseTTL, 10 * time.Second},
		{"MAX_MESSAGE_BYTES", c.MaxMessageBytes, int64(1 << 20)},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 30 * time.Second},
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
	other, _ := LoadFrom(nil)
	if other.CoreID == c.CoreID {
		t.Errorf("two default CORE_IDs are equal: %q", c.CoreID)
	}
}

func TestOverrides(t *testing.T) {
	c, err := LoadFrom(map[string]string{
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
	for name, environ := range map[string]map[string]string{
		"short secret":         {"AUTH_SECRET": "short"},
		"bad duration":         {"AUTH_TOKEN_TTL": "soon"},
		"negative seconds":     {"HEARTBEAT_INTERVAL": "-5"},
		"fractional heartbeat": {"HEARTBEAT_INTERVAL": "1500ms"},
		"zero partitions":      {"BUS_PARTITIONS": "0"},
		"bad level":            {"LOG_LEVEL": "loud"},
		"bad format":           {"LOG_FORMAT": "xml"},
		"bad bool":             {"MIGRATE_ON_START": "perhaps"},
		"zero ping timeout":    {"PING_TIMEOUT": "0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadFrom(environ)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestProductionSecretRefused(t *testing.T) {
	c, err := LoadFrom(map[string]string{"DATABASE_URL": "postgres://db/chargeplane", "DATA_DIR": t.TempDir()})
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
	for in, want := range map[string]time.Duration{"300": 300 * time.Second, "1m30s": 90 * time.Second, " 7 ": 7 * time.Second, "0": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-1", "99999999999999999999"} {
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
		_, err := LoadFrom(map[string]string{"PPROF_ADDR": addr})
		if ok && err != nil {
			t.Errorf("PPROF_ADDR=%q refused: %v", addr, err)
		}
		if !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("PPROF_ADDR=%q: err %v, want ErrInvalid", addr, err)
		}
	}
}
