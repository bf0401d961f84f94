package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogramExactBelowSubBuckets(t *testing.T) {
	var h Histogram
	for i := 1; i <= 50; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{50, 25 * time.Microsecond}, {90, 45 * time.Microsecond}, {100, 50 * time.Microsecond}, {1, time.Microsecond}} {
		if got := h.Percentile(tc.q); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.Count() != 50 || h.Max() != 50*time.Microsecond {
		t.Errorf("count %d max %v, want 50 and 50µs", h.Count(), h.Max())
	}
}

func TestHistogramPercentilesWithinBucketError(t *testing.T) {
	var h Histogram
	const n = 100000
	// 1 µs .. 100 ms in 1 µs steps, shuffled order must not matter: record
	// them descending to be sure max and buckets are order independent.
	for i := n; i >= 1; i-- {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{50, 90, 99, 99.9} {
		want := q / 100 * n
		got := float64(h.Percentile(q).Microseconds())
		if got < want || got > want*(1+1.0/subBuckets) {
			t.Errorf("p%v = %.0fµs, want within [%.0f, %.0f]", q, got, want, want*(1+1.0/subBuckets))
		}
	}
	if h.Max() != n*time.Microsecond {
		t.Errorf("max %v, want %v", h.Max(), n*time.Microsecond)
	}
	if got, want := h.Mean(), (n+1)/2*time.Microsecond; got != want {
		t.Errorf("mean %v, want %v", got, want)
	}
	// A huge outlier is clamped to the last bucket but max stays exact.
	h.Record(1000 * time.Hour)
	if h.Max() != 1000*time.Hour || h.Percentile(100) != 1000*time.Hour {
		t.Errorf("outlier: max %v p100 %v", h.Max(), h.Percentile(100))
	}
	var empty Histogram
	if empty.Percentile(99) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram must report 0")
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<20; v++ {
		b := bucketOf(v)
		if b != prev && b != prev+1 {
			t.Fatalf("value %d jumps from bucket %d to %d", v, prev, b)
		}
		if v > bucketHigh(b) || (b > 0 && v <= bucketHigh(b-1)) {
			t.Fatalf("value %d outside bucket %d (high %d)", v, b, bucketHigh(b))
		}
		prev = b
	}
}

func TestSummaryJSON(t *testing.T) {
	s := newStats()
	s.opened.Add(3)
	s.failed.Add(1)
	for i := 1; i <= 100; i++ {
		s.Trip(time.Duration(i) * time.Millisecond)
	}
	s.Error("Heartbeat: timeout")
	s.Error("Heartbeat: timeout")
	s.Error("connect: HTTP 401")
	cfg := Config{URL: "ws://127.0.0.1:1/ocpp", N: 4, Version: "mixed", Scenario: "heartbeat"}
	sum := s.Summary(cfg, 2*time.Second)

	var buf bytes.Buffer
	if err := sum.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Scenario   string             `json:"scenario"`
		Version    string             `json:"version"`
		Chargers   int                `json:"chargers"`
		Opened     uint64             `json:"connectionsOpened"`
		Failed     uint64             `json:"connectionsFailed"`
		RoundTrips uint64             `json:"roundTrips"`
		PerSecond  float64            `json:"roundTripsPerSecond"`
		Latency    map[string]float64 `json:"latencyMs"`
		Total      uint64             `json:"errorsTotal"`
		Errors     map[string]uint64  `json:"errors"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%s: %v", buf.Bytes(), err)
	}
	if got.Scenario != "heartbeat" || got.Version != "mixed" || got.Chargers != 4 || got.Opened != 3 || got.Failed != 1 {
		t.Errorf("run fields wrong: %s", buf.Bytes())
	}
	if got.RoundTrips != 100 || got.PerSecond != 50 {
		t.Errorf("round trips %d (%v/s), want 100 (50/s)", got.RoundTrips, got.PerSecond)
	}
	for k, want := range map[string]float64{"p50": 50, "p90": 90, "p99": 99, "max": 100} {
		if v := got.Latency[k]; v < want || v > want*(1+1.0/subBuckets) {
			t.Errorf("latency %s = %v ms, want about %v", k, v, want)
		}
	}
	if got.Total != 3 || got.Errors["Heartbeat: timeout"] != 2 || got.Errors["connect: HTTP 401"] != 1 {
		t.Errorf("errors %d %v", got.Total, got.Errors)
	}
	var text bytes.Buffer
	sum.Print(&text)
	for _, want := range []string{"connections opened 3, failed 1", "round trips 100 (50/s)", "p99", "Heartbeat: timeout"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("printed summary lacks %q:\n%s", want, text.String())
		}
	}
}

// Round trips before every charger has reached its scenario (the connect
// and boot storm) count in the run's latency but not in the steady state's.
func TestSteadyStateExcludesTheStartup(t *testing.T) {
	s := newStats()
	const n = 2
	s.Trip(900 * time.Millisecond) // a slow boot
	s.ReachedScenario(n)
	s.Trip(800 * time.Millisecond) // the other charger still booting
	if sum := s.Summary(Config{N: n}, time.Second); sum.SteadyLatency != nil || sum.SteadyRoundTrips != 0 {
		t.Fatalf("steady state before every charger reached its scenario: %+v", sum)
	}
	s.ReachedScenario(n)
	for range 10 {
		s.Trip(2 * time.Millisecond)
	}
	sum := s.Summary(Config{N: n}, time.Second)
	if sum.RoundTrips != 12 || sum.SteadyRoundTrips != 10 {
		t.Fatalf("round trips %d, steady %d; want 12 and 10", sum.RoundTrips, sum.SteadyRoundTrips)
	}
	if sum.SteadyLatency == nil || sum.SteadyLatency.Max > 2.1 || sum.Latency.Max < 900 {
		t.Errorf("steady latency %+v, whole run %+v", sum.SteadyLatency, sum.Latency)
	}
	var text bytes.Buffer
	sum.Print(&text)
	if !strings.Contains(text.String(), "steady state (all chargers booted), 10 round trips") {
		t.Errorf("printed summary lacks the steady state:\n%s", text.String())
	}
}

// Every canned answer to a CSMS command must be valid for its schema, or
// the load generator would itself trip a strict CSMS.
func TestAnswersConformToSchemas(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for v, table := range map[ocppj.Version]map[string]json.RawMessage{ocppj.V16: answers16, ocppj.V201: answers201} {
		for action, payload := range table {
			if !reg.IsCSMSAction(v, action) {
				t.Errorf("%s %s is not a CSMS command", v, action)
				continue
			}
			if err := reg.ValidateResponse(v, action, payload); err != nil {
				t.Errorf("%s %s answer %s: %v", v, action, payload, err)
			}
		}
	}
	var n int
	answer := answerCSMS(ocppj.V201, func(string) { n++ })
	if _, err := answer(context.Background(), "SetVariables", json.RawMessage(`{}`)); err == nil || !strings.Contains(err.Error(), "NotSupported") {
		t.Errorf("SetVariables answered %v, want NotSupported", err)
	}
	if n != 1 {
		t.Errorf("counted %d CSMS calls, want 1", n)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-n", "7", "-version", "mixed", "-scenario", "meter", "-rate", "2", "-duration", "3s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.N != 7 || o.cfg.Workers != 7 || o.cfg.Rate != 2 || o.cfg.Duration != 3*time.Second {
		t.Errorf("parsed %+v", o.cfg)
	}
	for _, bad := range [][]string{
		{"-scenario", "storm"}, {"-version", "2.1"}, {"-n", "0"}, {"-url", "http://x"},
		{"-register"}, {"-scenario", "transactions", "-id-tag", strings.Repeat("X", 21)},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

const (
	testEmail    = "loadgen@test.example"
	testPassword = "loadgen operator password"
)

// startCore runs the embedded system (SQLite, in-process bus, gateway) in
// this process and creates an operator, as an installer would.
func startCore(t *testing.T) (httpAddr, ocppAddr string) {
	t.Helper()
	cfg, err := config.LoadFrom(config.API, map[string]string{
		"DATA_DIR":         t.TempDir(),
		"AUTH_SECRET":      "loadgen-test-secret-" + strings.Repeat("x", 40),
		"HTTP_ADDR":        "127.0.0.1:0",
		"GRPC_ADDR":        "127.0.0.1:0",
		"OCPP_ADDR":        "127.0.0.1:0",
		"LOG_LEVEL":        "warn",
		"DRAIN_WINDOW":     "50ms",
		"SHUTDOWN_TIMEOUT": "10s",
		"CORE_ID":          "loadgen-" + uuid.NewString()[:8],
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("store.Migrate: %v", err)
	}
	hash, err := auth.HashSecret(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, &store.User{ID: uuid.NewString(), Email: testEmail, PasswordHash: hash, FirstName: "Load", LastName: "Generator", Role: "admin"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("app.Shutdown: %v", err)
		}
	})
	httpAddr, _, ocppAddr = a.Addrs()
	return httpAddr, ocppAddr
}

// progressFunc is a Config.Progress writer that hands each progress line's
// connected count and round-trip total to f.
type progressFunc func(connected int, total uint64)

func (f progressFunc) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		var at, rate float64
		var connected, of int
		var total uint64
		if k, _ := fmt.Sscanf(strings.TrimSpace(line), "%fs connected %d/%d  round trips/s %f  total %d", &at, &connected, &of, &rate, &total); k == 5 {
			f(connected, total)
		}
	}
	return len(p), nil
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// A short real run: the stations are registered over REST, then 20
// chargers per scenario talk to the embedded core over real sockets, with
// Basic auth. Nothing may fail and every phase must have produced round
// trips.
func TestRunAgainstEmbeddedCore(t *testing.T) {
	httpAddr, ocppAddr := startCore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	reg := Registration{API: "http://" + httpAddr, Email: testEmail, Password: testPassword}

	const n = 20
	for _, tc := range []struct{ scenario, version string }{
		{"heartbeat", "mixed"},
		{"transactions", "mixed"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			// The run ends once every charger is connected and the
			// scenario has added a full transaction's worth of round
			// trips per charger after that, or after 90 s: not after a
			// fixed time, which 20 Argon2id admissions on a busy machine
			// can exceed.
			runCtx, stop := context.WithCancelCause(ctx)
			defer stop(nil)
			var allConnectedAt uint64 // round trips when every charger was first connected
			cfg := Config{
				URL: "ws://" + ocppAddr + "/ocpp", N: n, Version: tc.version,
				IDPrefix: "LG-" + tc.scenario + "-", Password: "station-secret-123",
				Duration: 90 * time.Second, Scenario: tc.scenario, TxMeterValues: 2, IDTag: "LOADGENTEST",
				Progress: progressFunc(func(connected int, total uint64) {
					if connected < n {
						return
					}
					if allConnectedAt == 0 {
						allConnectedAt = total
					}
					if total >= 2*n+6*n && total >= allConnectedAt+4*n {
						stop(context.DeadlineExceeded) // counts as the run's normal end
					}
				}),
			}
			if err := Register(ctx, reg, cfg); err != nil {
				t.Fatalf("Register: %v", err)
			}
			// A second registration finds everything there and is fine with it.
			if err := Register(ctx, reg, cfg); err != nil {
				t.Fatalf("Register again: %v", err)
			}
			sum, err := Run(runCtx, cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			var out bytes.Buffer
			sum.Print(&out)
			t.Log("\n" + out.String())
			if sum.ErrorsTotal != 0 || sum.Failed != 0 {
				t.Errorf("errors %d, failed connections %d: %v", sum.ErrorsTotal, sum.Failed, sum.Errors)
			}
			if sum.Opened != n {
				t.Errorf("opened %d connections, want %d", sum.Opened, n)
			}
			// Boot and status alone are 2n round trips; the scenario must add
			// at least a full transaction's worth per charger.
			if sum.RoundTrips < 2*n+5*n {
				t.Errorf("only %d round trips", sum.RoundTrips)
			}
			if sum.Latency.P50 <= 0 || sum.Latency.P99 < sum.Latency.P50 || sum.Latency.Max < sum.Latency.P99 || math.IsNaN(sum.RoundTripsPerS) {
				t.Errorf("implausible latency %+v", sum.Latency)
			}
			if sum.SteadyLatency == nil || sum.SteadyRoundTrips == 0 || sum.SteadyRoundTrips >= sum.RoundTrips {
				t.Errorf("steady state: %d of %d round trips, latency %+v", sum.SteadyRoundTrips, sum.RoundTrips, sum.SteadyLatency)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		cfg := Config{
			URL: "ws://" + ocppAddr + "/ocpp", N: 2, Version: "1.6", IDPrefix: "LG-heartbeat-",
			Password: "not-the-password", Duration: 3 * time.Second, Scenario: "heartbeat",
		}
		sum, err := Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Opened != 0 || sum.Failed == 0 || sum.Errors["connect: HTTP 401"] != sum.Failed {
			t.Errorf("with a wrong password: %+v", sum)
		}
	})

	t.Run("register refused", func(t *testing.T) {
		bad := reg
		bad.Password = "wrong"
		err := Register(ctx, bad, Config{N: 1, IDPrefix: "X"})
		if err == nil || errors.Is(err, errConflict) {
			t.Errorf("login with a wrong password: %v", err)
		}
	})
}

// A charger whose gateway is lost moves to another one, at random among
// the others, so a dead gateway's chargers spread over the survivors.
func TestOtherGatewaySpreads(t *testing.T) {
	cfg := Config{URL: "ws://a/ocpp,ws://b/ocpp,ws://c/ocpp", N: 1, Version: "1.6", Scenario: "heartbeat", Duration: time.Second}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg}
	seen := map[int]int{}
	for range 300 {
		c := &charger{url: 0}
		r.otherGateway(c)
		seen[c.url]++
	}
	if seen[0] != 0 || seen[1] < 50 || seen[2] < 50 {
		t.Fatalf("moves from gateway 0 went to %v; want only 1 and 2, both often", seen)
	}
}
