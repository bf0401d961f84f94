package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/tools/internal/proc"
)

// Targets, printed beside the figures: issue 6 (idle capacity) and issue 11
// (the ordered, pipelined scale-out core).
const (
	targetIdleConns     = 19000
	targetRSSPerConn    = 32 * 1024
	targetHB100OfAMQP   = 0.65  // scale-out Heartbeat-100: of the raw confirmed RabbitMQ round trip at 100 in flight
	targetHB100P99      = 50.0  // ms
	targetHB1000P99     = 150.0 // ms, scale-out
	targetEmbeddedHB    = 13000 // /s, embedded Heartbeat-100
	targetMeterRate     = 5000  // /s, scale-out PostgreSQL MeterValues at 1,000 chargers
	targetAloneP50      = 0.5   // ms, one charger alone, scale-out
	targetAloneRate     = 1800  // round trips/s, one charger alone, scale-out
	targetRemoteOfLocal = 0.5   // scale-out Heartbeat-1000 with database and broker 1 ms away, of the local figure
	remoteDelay         = time.Millisecond
	steadyRate          = 1000 // msg/s offered in the steady-load scenario
	stationPrefix       = "BENCH-"
	passwordPrefix      = "BENCHPW-"
	passwordStations    = 100
	stationPassword     = "bench-station-password"
)

type bench struct {
	o   *options
	res *Results
	out io.Writer
	log io.Writer
}

func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.out, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// physical measures the raw WebSocket and RabbitMQ round trips at the
// concurrencies the scenarios use.
func (b *bench) physical(ctx context.Context) error {
	for _, conc := range []int{1, 100, 1000} {
		b.say("physical limit: raw WebSocket echo, %d connections, %s", conc, b.o.rawFor)
		r, err := RawWebSocket(ctx, conc, b.o.rawFor)
		if err != nil {
			return err
		}
		b.res.Physical = append(b.res.Physical, r)
		b.say("  %.0f round trips/s, p50 %.2f ms, p99 %.2f ms", r.PerSecond, r.Latency.P50, r.Latency.P99)
		for _, m := range []AMQPMode{amqpLikeOurs, amqpTransient} {
			b.say("physical limit: %s, %d in flight, %s", m.Name, conc, b.o.rawFor)
			r, err := RawRabbitMQ(ctx, b.o.amqpURL, m, conc, b.o.rawFor)
			if err != nil {
				return err
			}
			b.res.Physical = append(b.res.Physical, r)
			b.say("  %.0f round trips/s, p50 %.2f ms, p99 %.2f ms", r.PerSecond, r.Latency.P50, r.Latency.P99)
		}
	}
	return nil
}

// ModeResult is what one deployment measured.
type ModeResult struct {
	Mode      string             `json:"mode"`
	Database  string             `json:"database"`
	Idle      *IdleResult        `json:"idle,omitempty"`
	Runs      []RunResult        `json:"runs"`
	Admission *RunResult         `json:"admission,omitempty"`
	Profiles  []ProfileResult    `json:"profiles,omitempty"`
	Error     string             `json:"error,omitempty"`
	Register  map[string]float64 `json:"registrationSeconds,omitempty"`
}

// IdleResult is the idle-capacity scenario.
type IdleResult struct {
	Target         int               `json:"target"`
	Connected      int               `json:"connected"`
	Failed         uint64            `json:"failed"`
	ConnectSeconds float64           `json:"connectSeconds"`
	ConnectRate    float64           `json:"connectsPerSecond"`
	RSSBefore      int64             `json:"gatewayRSSBeforeBytes"`
	RSSAfter       int64             `json:"gatewayRSSAfterBytes"`
	RSSPerConn     float64           `json:"gatewayRSSPerConnectionBytes"`
	LoadgenRSS     int64             `json:"loadgenRSSBytes"`
	Errors         map[string]uint64 `json:"errors,omitempty"`
}

// RunResult is one load generator run.
type RunResult struct {
	Name      string      `json:"name"`
	Scenario  string      `json:"scenario"`
	Chargers  int         `json:"chargers"`
	Rate      float64     `json:"ratePerCharger"`
	Summary   LoadSummary `json:"summary"`
	Steady    float64     `json:"steadyRoundTripsPerSecond"`
	ConnectAt float64     `json:"allConnectedAfterSeconds"`
	Connected int         `json:"connected"`
	// LoadAvg is /proc/loadavg at the end of the run: anything else busy
	// on the machine shows here.
	LoadAvg string `json:"loadAvg"`
	// CPU time per round trip (µs) of the api, the gateway (scale-out) and
	// the broker (beam.smp, scale-out) over the run: robust on a shared
	// machine where wall-clock rates are not.
	APICPU     float64 `json:"apiCPUMicrosPerRoundTrip,omitempty"`
	GatewayCPU float64 `json:"gatewayCPUMicrosPerRoundTrip,omitempty"`
	BrokerCPU  float64 `json:"brokerCPUMicrosPerRoundTrip,omitempty"`
}

// ProfileResult is one pprof profile and its top entries.
type ProfileResult struct {
	Process  string `json:"process"`
	Scenario string `json:"scenario"`
	Kind     string `json:"kind"`
	File     string `json:"file"`
	Top      string `json:"top"`
}

func (b *bench) mode(ctx context.Context, mode string) (mr ModeResult) {
	mr = ModeResult{Mode: mode, Register: map[string]float64{}}
	b.say("%s: starting", mode)
	sys, err := startSystem(ctx, b.o, mode, b.o.outDir)
	if err != nil {
		mr.Error = err.Error()
		return mr
	}
	mr.Database = sys.db
	defer func() {
		b.say("%s: stopping and deleting its state", mode)
		if err := sys.stop(context.WithoutCancel(ctx)); err != nil && mr.Error == "" {
			mr.Error = "stop: " + err.Error()
		}
	}()

	t0 := time.Now()
	nStations := max(b.o.idleN, 1000)
	b.say("%s: registering %d stations through REST", mode, nStations)
	if err := register(ctx, sys.rest, stationPrefix, nStations, "", 32); err != nil {
		mr.Error = err.Error()
		return mr
	}
	mr.Register["withoutPassword"] = time.Since(t0).Seconds()
	t0 = time.Now()
	b.say("%s: registering %d password-protected stations", mode, passwordStations)
	if err := register(ctx, sys.rest, passwordPrefix, passwordStations, stationPassword, 4); err != nil {
		mr.Error = err.Error()
		return mr
	}
	mr.Register["withPassword"] = time.Since(t0).Seconds()
	if sys.gateway == nil {
		b.say("%s: restarting the api so that the idle figures start from a fresh process", mode)
		if err := sys.restartAPI(ctx); err != nil {
			mr.Error = err.Error()
			return mr
		}
	}

	quiesce(ctx, 30*time.Second, sys.pids()...)
	idle, err := b.idle(ctx, sys, &mr)
	mr.Idle = idle
	if err != nil {
		mr.Error = "idle: " + err.Error()
		return mr
	}

	type plan struct {
		name, scenario string
		n              int
		rate           float64
		profile        bool
	}
	plans := []plan{
		{"heartbeat-1", "heartbeat", 1, 0, false},
		{"heartbeat-100", "heartbeat", 100, 0, true},
		{"heartbeat-1000", "heartbeat", 1000, 0, false},
		{"meter-100", "meter", 100, 0, false},
		{"meter-1000", "meter", 1000, 0, true},
		{"steady-1000", "heartbeat", 1000, float64(steadyRate) / 1000, false},
	}
	for _, p := range plans {
		quiesce(ctx, 30*time.Second, sys.pids()...)
		b.say("%s: %s (%d chargers, %s)", mode, p.name, p.n, b.o.runFor)
		args := []string{"-url", sys.ocppURL, "-n", fmt.Sprint(p.n), "-id-prefix", stationPrefix, "-version", "1.6",
			"-scenario", p.scenario, "-connect-rate", "0", "-duration", b.o.runFor.String()}
		if p.rate > 0 {
			args = append(args, "-rate", fmt.Sprint(p.rate))
		}
		var wg sync.WaitGroup
		if p.profile && b.o.profile {
			// Profile the middle of the run: after the boots, before the end.
			wg.Go(func() {
				mr.Profiles = append(mr.Profiles, b.cpuProfiles(ctx, sys, mode, p.name, 3*time.Second, max(b.o.runFor-6*time.Second, time.Second))...)
			})
		}
		rr, err := b.loadMeasured(ctx, sys, mode+"-"+p.name, args)
		rr.Name = p.name
		wg.Wait()
		if err != nil {
			mr.Error = p.name + ": " + err.Error()
			return mr
		}
		rr.Scenario, rr.Chargers, rr.Rate = p.scenario, p.n, p.rate
		mr.Runs = append(mr.Runs, rr)
		b.say("  %.0f round trips/s (steady %.0f), p50 %.2f p99 %.2f max %.1f ms, %d errors",
			rr.Summary.RoundTripsPerS, rr.Steady, latencyOf(rr).P50, latencyOf(rr).P99, latencyOf(rr).Max, rr.Summary.ErrorsTotal)
	}

	if mode == "scale-out" && b.o.remote {
		if err := b.remote(ctx, sys, &mr); err != nil {
			mr.Error = "remote: " + err.Error()
			return mr
		}
	}

	// Admission with passwords: Argon2id by design costs ~0.1 s of CPU per
	// first connection; this run says what that means in connections/s.
	quiesce(ctx, 30*time.Second, sys.pids()...)
	b.say("%s: admission of %d password-protected chargers", mode, passwordStations)
	rr, err := b.load(ctx, mode+"-admission", []string{"-url", sys.ocppURL, "-n", fmt.Sprint(passwordStations), "-id-prefix", passwordPrefix,
		"-password", stationPassword, "-scenario", "idle", "-connect-rate", "0", "-duration", "30s"}, func(p Progress) bool { return p.Connected >= p.N })
	if err != nil {
		mr.Error = "admission: " + err.Error()
		return mr
	}
	rr.Scenario, rr.Chargers = "idle", passwordStations
	mr.Admission = &rr
	b.say("  %d connected in %.1fs", rr.Connected, rr.ConnectAt)
	return mr
}

// loadMeasured is load plus the CPU time api, gateway and broker spent per
// round trip during the run.
func (b *bench) loadMeasured(ctx context.Context, sys *system, name string, args []string) (RunResult, error) {
	pids := map[string]int{"api": sys.api.Pid()}
	if sys.gateway != nil {
		pids["gateway"] = sys.gateway.Pid()
		if pid := proc.BrokerPID(); pid > 0 {
			pids["broker"] = pid
		}
	}
	before := map[string]int64{}
	for k, pid := range pids {
		before[k], _ = proc.CPUTicks(pid)
	}
	rr, err := b.load(ctx, name, args, nil)
	trips := float64(rr.Summary.RoundTrips)
	for k, pid := range pids {
		after, cerr := proc.CPUTicks(pid)
		if cerr != nil || trips == 0 {
			continue
		}
		us := float64(after-before[k]) * 1e4 / trips // ticks are 10 ms (USER_HZ 100)
		switch k {
		case "api":
			rr.APICPU = us
		case "gateway":
			rr.GatewayCPU = us
		case "broker":
			rr.BrokerCPU = us
		}
	}
	return rr, err
}

// remote runs the scale-out Heartbeat at 1,000 chargers (and one charger
// alone) again with PostgreSQL and RabbitMQ behind a proxy adding
// remoteDelay each way, as managed services in another zone would be: a
// design bound by round trips loses most of its throughput here.
func (b *bench) remote(ctx context.Context, sys *system, mr *ModeResult) error {
	dbu, err := url.Parse(sys.apiEnv["DATABASE_URL"])
	if err != nil {
		return err
	}
	amu, err := url.Parse(sys.apiEnv["AMQP_URL"])
	if err != nil {
		return err
	}
	pgProxy, err := startLatencyProxy(dbu.Host, remoteDelay)
	if err != nil {
		return err
	}
	defer pgProxy.Close()
	amqpProxy, err := startLatencyProxy(amu.Host, remoteDelay)
	if err != nil {
		return err
	}
	defer amqpProxy.Close()
	rdb, ramqp := *dbu, *amu
	rdb.Host, ramqp.Host = pgProxy.Addr(), amqpProxy.Addr()
	b.say("scale-out: restarting api and gateway with PostgreSQL and RabbitMQ %s away each way", remoteDelay)
	if err := sys.restart(ctx, map[string]string{"DATABASE_URL": rdb.String(), "AMQP_URL": ramqp.String()}); err != nil {
		return err
	}
	defer func() {
		b.say("scale-out: back to local PostgreSQL and RabbitMQ")
		if err := sys.restart(context.WithoutCancel(ctx), map[string]string{"DATABASE_URL": dbu.String(), "AMQP_URL": amu.String()}); err != nil {
			fmt.Fprintln(b.log, "bench: restart with local services:", err)
		}
	}()
	for _, n := range []int{1, 1000} {
		name := fmt.Sprintf("heartbeat-%d-remote", n)
		quiesce(ctx, 30*time.Second, sys.pids()...)
		b.say("scale-out: %s (%d chargers, %s, database and broker %s away)", name, n, b.o.runFor, remoteDelay)
		rr, err := b.loadMeasured(ctx, sys, "scale-out-"+name, []string{"-url", sys.ocppURL, "-n", fmt.Sprint(n), "-id-prefix", stationPrefix,
			"-version", "1.6", "-scenario", "heartbeat", "-connect-rate", "0", "-duration", b.o.runFor.String()})
		if err != nil {
			return err
		}
		rr.Name, rr.Scenario, rr.Chargers = name, "heartbeat", n
		mr.Runs = append(mr.Runs, rr)
		b.say("  %.0f round trips/s (steady %.0f), p50 %.2f p99 %.2f ms", rr.Summary.RoundTripsPerS, rr.Steady, latencyOf(rr).P50, latencyOf(rr).P99)
	}
	return nil
}

// load runs the load generator; stopWhen, if set, ends the run early once
// it returns true for a progress line.
func (b *bench) load(ctx context.Context, name string, args []string, stopWhen func(Progress) bool) (RunResult, error) {
	lr := &loadgenRun{Args: args}
	interrupt := make(chan struct{})
	var once sync.Once
	if stopWhen != nil {
		lr.OnProgress = func(p Progress) {
			if stopWhen(p) {
				once.Do(func() { close(interrupt) })
			}
		}
	}
	err := lr.run(ctx, filepath.Join(b.o.binDir, "loadgen"), filepath.Join(b.o.outDir, name+".json"), interrupt)
	rr := RunResult{Name: name, Summary: lr.Summary, LoadAvg: proc.LoadAvg()}
	rr.Steady, _ = SteadyRate(lr.Progress)
	if at, n, ok := ConnectPhase(lr.Progress); ok {
		rr.ConnectAt, rr.Connected = at.Seconds(), n
	}
	return rr, err
}

// idle opens as many idle chargers as asked on the gateway and measures
// its RSS per connection and the connect rate.
func (b *bench) idle(ctx context.Context, sys *system, mr *ModeResult) (*IdleResult, error) {
	n := b.o.idleN
	res := &IdleResult{Target: n}
	before, err := proc.RSS(sys.gatewayPID())
	if err != nil {
		return nil, err
	}
	res.RSSBefore = before
	b.say("%s: idle capacity, %d chargers (gateway RSS before %.1f MiB)", sys.mode, n, float64(before)/(1<<20))

	lr := &loadgenRun{Args: []string{"-url", sys.ocppURL, "-n", fmt.Sprint(n), "-id-prefix", stationPrefix, "-version", "1.6",
		"-scenario", "idle", "-connect-rate", fmt.Sprint(b.o.connectRate), "-duration", "10m", "-call-timeout", "60s"}}
	// The measurement starts once every charger is connected and booted
	// (boot and status answered: 2 round trips each), or once the count
	// has stopped growing for 15 s.
	ready := make(chan struct{})
	var once sync.Once
	var last Progress
	var lastGrowth time.Duration
	lr.OnProgress = func(p Progress) {
		if p.Connected > last.Connected {
			lastGrowth = p.At
		}
		last = p
		done := p.Connected >= p.N && p.Total >= 2*uint64(p.N)
		stalled := p.Connected > 0 && p.At-lastGrowth > 15*time.Second
		if done || stalled {
			once.Do(func() { close(ready) })
		}
	}
	interrupt := make(chan struct{})
	measured := make(chan struct{})
	go func() {
		defer close(measured)
		select {
		case <-ready:
		case <-time.After(5 * time.Minute):
		case <-ctx.Done():
			close(interrupt)
			return
		}
		quiesce(ctx, 20*time.Second, sys.pids()...)
		if b.o.profile {
			path := filepath.Join(b.o.outDir, "profiles", sys.mode+"-idle-gateway.heap.pprof")
			if err := fetch(ctx, "http://"+sys.gwPprof+"/debug/pprof/heap?gc=1", path); err == nil {
				mr.Profiles = append(mr.Profiles, ProfileResult{Process: "gateway", Scenario: "idle", Kind: "heap", File: path, Top: pprofTop(ctx, path, "-sample_index=inuse_space")})
			} else {
				fmt.Fprintln(b.log, "bench: heap profile:", err)
			}
		}
		res.RSSAfter, _ = proc.RSS(sys.gatewayPID())
		if pid := lr.pid.Load(); pid > 0 {
			res.LoadgenRSS, _ = proc.RSS(int(pid))
		}
		close(interrupt)
	}()
	err = lr.run(ctx, filepath.Join(b.o.binDir, "loadgen"), filepath.Join(b.o.outDir, sys.mode+"-idle.json"), interrupt)
	<-measured
	at, connected, _ := ConnectPhase(lr.Progress)
	res.Connected = connected
	res.ConnectSeconds = at.Seconds()
	if at > 0 {
		res.ConnectRate = float64(connected) / at.Seconds()
	}
	res.Failed = lr.Summary.Failed
	res.Errors = lr.Summary.Errors
	if connected > 0 && res.RSSAfter > 0 {
		res.RSSPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(connected)
	}
	b.say("  %d connected in %.1fs (%.0f/s), gateway RSS %.1f MiB → %.1f MiB, %.1f KiB per connection",
		connected, res.ConnectSeconds, res.ConnectRate, float64(res.RSSBefore)/(1<<20), float64(res.RSSAfter)/(1<<20), res.RSSPerConn/1024)
	return res, err
}

// cpuProfiles takes a CPU profile of the api and (scale-out) the gateway
// for length, after waiting for delay.
func (b *bench) cpuProfiles(ctx context.Context, sys *system, mode, scenario string, delay, length time.Duration) []ProfileResult {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(delay):
	}
	targets := map[string]string{"api": sys.apiPprof}
	if sys.gateway != nil {
		targets["gateway"] = sys.gwPprof
	}
	var (
		mu  sync.Mutex
		out []ProfileResult
		wg  sync.WaitGroup
	)
	for name, addr := range targets {
		wg.Go(func() {
			path := filepath.Join(b.o.outDir, "profiles", fmt.Sprintf("%s-%s-%s.cpu.pprof", mode, scenario, name))
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(length.Seconds()))
			if err := fetch(ctx, url, path); err != nil {
				fmt.Fprintf(b.log, "bench: CPU profile of %s: %v\n", name, err)
				return
			}
			pr := ProfileResult{Process: name, Scenario: scenario, Kind: "cpu", File: path, Top: pprofTop(ctx, path)}
			mu.Lock()
			out = append(out, pr)
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// pprofTop is `go tool pprof -top` of a profile, its 25 heaviest entries.
func pprofTop(ctx context.Context, path string, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=25"}, extra...)
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v: %s", err, out)
	}
	return string(out)
}
