// Command scale is the scale proof (make scale): on one machine, with real
// processes, it runs many simulated chargers (default 100,000, half OCPP
// 1.6 and half 2.0.1, spread over several load-generator processes, each
// under the per-process open-files limit) against several gateways
// (default 6) and core instances (default 2) over RabbitMQ and PostgreSQL.
// Every charger boots, reports its connector and heartbeats every 60 s; 10%
// run charging sessions with a message every 10 s. It measures
//
//  1. the connect-and-boot storm: chargers online over time, admissions/s;
//  2. the steady state: messages/s by action, p50/p99 latency, CPU and RSS
//     per process, RSS per connection;
//  3. a gateway killed with kill -9: time until its chargers are online
//     again through the others, until the upstream backlog is drained, p99
//     meanwhile;
//
// and checks the sessions the chargers saw acknowledged against the
// database: none lost, none doubled. Tables go to stdout; the results as
// JSON and a chart (SVG) to -out. If the machine cannot hold the count, it
// says where it stopped, which resource ran out, and the largest count
// held, then measures what it has.
//
//	make scale                                         # 100,000 chargers, ~15 min
//	make scale SCALE_FLAGS='-chargers 4000 -gateways 2' # a smoke run
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/tools/internal/proc"
)

type options struct {
	bin, out          string
	chargers          int
	gateways, cores   int
	perLoadgen        int
	connectRate       float64
	storm             time.Duration
	steady, after     time.Duration
	txFraction        float64
	heartbeat, txStep time.Duration
	amqpURL, pgAdmin  string
	kill              bool
	timeout           time.Duration
	pprof             time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func envOr(def string, keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return def
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding api, gateway and loadgen")
	fs.StringVar(&o.out, "out", "bin/scale", "where results, the chart and logs go (git-ignored)")
	fs.IntVar(&o.chargers, "chargers", 100000, "simulated chargers (half OCPP 1.6, half 2.0.1)")
	fs.IntVar(&o.gateways, "gateways", 6, "gateway processes")
	fs.IntVar(&o.cores, "cores", 2, "core (api) processes")
	fs.IntVar(&o.perLoadgen, "per-loadgen", 15000, "chargers per load-generator process (each holds one socket per charger: stay under the open-files limit)")
	fs.Float64Var(&o.connectRate, "connect-rate", 1000, "new connections per second over all load generators (0 = as fast as admitted)")
	fs.DurationVar(&o.storm, "storm", 10*time.Minute, "give the connect-and-boot storm at most this long")
	fs.DurationVar(&o.steady, "steady", 2*time.Minute, "length of the steady state measured")
	fs.DurationVar(&o.after, "after", time.Minute, "run on after the killed gateway's chargers are back")
	fs.Float64Var(&o.txFraction, "tx-fraction", 0.1, "fraction of chargers running charging sessions")
	fs.DurationVar(&o.heartbeat, "heartbeat", 60*time.Second, "Heartbeat interval of the other chargers")
	fs.DurationVar(&o.txStep, "tx-every", 10*time.Second, "time between a session's messages (MeterValues every ...)")
	fs.BoolVar(&o.kill, "kill", true, "kill -9 one gateway after the steady state")
	fs.StringVar(&o.amqpURL, "amqp", envOr("amqp://guest:guest@127.0.0.1:5672/", "SCALE_AMQP_URL", "TEST_AMQP_URL"), "RabbitMQ")
	fs.StringVar(&o.pgAdmin, "pg", envOr("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "SCALE_DATABASE_URL", "TEST_DATABASE_URL"),
		"PostgreSQL role that may CREATE DATABASE")
	fs.DurationVar(&o.timeout, "timeout", 45*time.Minute, "give up after this long")
	fs.DurationVar(&o.pprof, "pprof", 0, "take a CPU profile of core1 this long from 10 s into the storm (core1-storm.cpu.pprof in -out); 0 = none")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	case o.chargers < 2 || o.gateways < 2 || o.cores < 1:
		return nil, errors.New("-chargers must be at least 2, -gateways at least 2 (one is killed), -cores at least 1")
	case o.perLoadgen < 1 || o.perLoadgen > 19000:
		return nil, errors.New("-per-loadgen must be between 1 and 19,000 (the open-files limit is 20,000)")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(stderr, "scale:", err)
		return 1
	}
	for _, b := range []string{"api", "gateway", "loadgen"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			fmt.Fprintf(stderr, "scale: %s/%s missing: run make scale (it builds them)\n", o.bin, b)
			return 1
		}
	}
	r := &runner{o: o, out: stdout, log: stderr, res: &Results{Started: time.Now().UTC(), Command: "make scale (go run ./tools/scale " + strings.Join(args, " ") + ")"}}
	err = r.run(ctx)
	r.stopAll()
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		if cerr := r.cleanup[i](context.WithoutCancel(ctx)); cerr != nil {
			fmt.Fprintln(stderr, "scale: cleanup:", cerr)
		}
	}
	if err != nil {
		r.res.Error = err.Error()
		fmt.Fprintln(stderr, "scale:", err)
	}
	r.report()
	if err != nil || r.res.Check.Lost+r.res.Check.Doubled+r.res.Check.StopsLost > 0 {
		return 1
	}
	return 0
}

// runner is one run: the processes, their samples, the results.
type runner struct {
	o       *options
	out     io.Writer
	log     io.Writer
	res     *Results
	cleanup []func(context.Context) error

	dbURL, prefix string
	coreControl   string // the cores' CONTROL_ADDRs, for the gateways' CORE_GRPC_ADDR
	gatewaySecret string
	corePprof     string // core1's pprof address (-pprof)
	cores         []*proc.Proc
	gws           []*proc.Proc
	gwURLs        []string
	lgs           []*loadgen

	mu      sync.Mutex
	samples []sample // process CPU/RSS, every second
	depths  []depth  // upstream backlog, every second
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.out, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *runner) run(ctx context.Context) error {
	o := r.o
	r.res.Machine = proc.ReadMachine().String()
	nLoadgens := (o.chargers + o.perLoadgen - 1) / o.perLoadgen
	r.res.Plan = Plan{Chargers: o.chargers, Gateways: o.gateways, Cores: o.cores, Loadgens: nLoadgens,
		TxFraction: o.txFraction, Heartbeat: o.heartbeat.String(), TxEvery: o.txStep.String()}
	r.say("plan: %d chargers (half 1.6, half 2.0.1) in %d load generators, %d gateways, %d cores", o.chargers, nLoadgens, o.gateways, o.cores)

	if err := r.setupDatabase(ctx, nLoadgens); err != nil {
		return err
	}
	r.prefix = "cpscale-" + randomHex(4)
	r.cleanup = append(r.cleanup, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: o.amqpURL, Prefix: r.prefix})
	})
	if err := r.startCores(ctx); err != nil {
		return err
	}
	if err := r.startGateways(ctx); err != nil {
		return err
	}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go r.sample(sctx)

	// The load generators run until interrupted; their duration is only a
	// backstop.
	backstop := o.storm + o.steady + o.after + 10*time.Minute
	left := o.chargers
	for p := range nLoadgens {
		n := min(left, o.perLoadgen)
		left -= n
		lg, err := startLoadgen(r, p, n, backstop)
		if err != nil {
			return err
		}
		r.lgs = append(r.lgs, lg)
	}
	t0 := time.Now()
	r.res.Timeline.Start = t0
	xacts0, xactsErr := r.dbTransactions(ctx)
	if o.pprof > 0 {
		go r.profileCore(ctx, 10*time.Second, o.pprof)
	}

	// 1. The storm.
	r.say("storm: %d chargers connecting at up to %.0f/s", o.chargers, o.connectRate)
	held, reason := r.waitStorm(ctx, t0)
	r.res.Timeline.StormEnd = time.Now()
	r.res.Held = held
	if xacts1, err := r.dbTransactions(ctx); err == nil && xactsErr == nil {
		r.res.StormCost.DBTransactions = xacts1 - xacts0
	}
	if held < o.chargers {
		r.res.StoppedBecause = reason
		r.say("storm: held %d of %d chargers: %s", held, o.chargers, reason)
	} else {
		r.say("storm: all %d chargers online and booted after %s", held, time.Since(t0).Round(time.Second))
	}
	if held == 0 {
		return fmt.Errorf("no charger could be held: %s", reason)
	}

	// 2. The steady state.
	r.say("steady state: %s", o.steady)
	if err := sleepCtx(ctx, o.steady); err != nil {
		return err
	}
	r.res.Timeline.SteadyEnd = time.Now()

	// 3. A gateway killed.
	if o.kill {
		victim := r.gws[0]
		r.say("kill -9 %s (pid %d)", victim.Name, victim.Pid())
		r.res.Timeline.Kill = time.Now()
		_ = victim.Cmd.Process.Signal(syscall.SIGKILL)
		online, drained := r.waitRecovery(ctx, held)
		r.res.Timeline.Online, r.res.Timeline.Drained = online, drained
		if !online.IsZero() {
			r.say("kill: chargers back online after %s", online.Sub(r.res.Timeline.Kill).Round(100*time.Millisecond))
		}
		if err := sleepCtx(ctx, o.after); err != nil {
			return err
		}
	}
	r.res.Timeline.End = time.Now()

	r.say("stopping the load generators")
	for _, lg := range r.lgs {
		lg.interrupt()
	}
	for _, lg := range r.lgs {
		if err := lg.wait(); err != nil {
			fmt.Fprintln(r.log, "scale:", err)
		}
	}
	stopSampling()
	r.say("waiting for the upstream backlog to drain before checking the database")
	r.waitQuiet(ctx, time.Minute)
	r.res.Check = r.checkDatabase(ctx)
	return nil
}

// dbTransactions is the number of transactions the run's database has
// committed or rolled back: every statement outside an explicit
// transaction counts as one, so the difference over the storm divided by
// the chargers admitted is a load-independent cost per charger.
// PostgreSQL publishes these counters within a second or so.
func (r *runner) dbTransactions(ctx context.Context) (int64, error) {
	db, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close(context.Background())
	if err := sleepCtx(ctx, 1500*time.Millisecond); err != nil { // let the backends flush their counters
		return 0, err
	}
	var n int64
	err = db.QueryRow(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

// profileCore saves a CPU profile of core1 taken from after into the storm.
func (r *runner) profileCore(ctx context.Context, after, length time.Duration) {
	if err := sleepCtx(ctx, after); err != nil {
		return
	}
	path := filepath.Join(r.o.out, "core1-storm.cpu.pprof")
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.corePprof, int(length.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err == nil {
		err = saveBody(req, path)
	}
	if err != nil {
		fmt.Fprintln(r.log, "scale: CPU profile of core1:", err)
		return
	}
	r.say("CPU profile of core1 written to %s", path)
}

func saveBody(req *http.Request, path string) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", req.URL, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitStorm waits until every charger is connected and booted, or until
// progress stalls or the storm limit passes; it returns how many chargers
// were held and, if not all, why.
func (r *runner) waitStorm(ctx context.Context, t0 time.Time) (int, string) {
	best, lastGrowth := 0, time.Now()
	for {
		connected, booted, crashed := 0, true, ""
		for _, lg := range r.lgs {
			p := lg.latest()
			connected += p.connected
			if p.connected < lg.n || p.total < uint64(2*lg.n) {
				booted = false
			}
			if lg.Exited() && crashed == "" {
				crashed = lg.Name + " exited: " + lg.Tail()
			}
		}
		if connected > best {
			best, lastGrowth = connected, time.Now()
		}
		switch {
		case booted:
			return connected, ""
		case crashed != "":
			return best, crashed
		case ctx.Err() != nil:
			return best, ctx.Err().Error()
		case time.Since(t0) > r.o.storm:
			return best, "the storm limit (" + r.o.storm.String() + ") passed: " + r.diagnose()
		case time.Since(lastGrowth) > 90*time.Second:
			return best, "no new connection for 90 s: " + r.diagnose()
		}
		time.Sleep(time.Second)
	}
}

// diagnose names the resource that ran out, from what the machine shows.
func (r *runner) diagnose() string {
	var notes []string
	if avail, total := proc.Memory(); total > 0 && avail < total/20 {
		notes = append(notes, fmt.Sprintf("memory: %d of %d MiB available", avail>>20, total>>20))
	}
	for _, p := range r.allProcs() {
		if n, limit := fdUse(p.Pid()); limit > 0 && n > limit*9/10 {
			notes = append(notes, fmt.Sprintf("open files: %s uses %d of %d", p.Name, n, limit))
		}
		if p.Exited() {
			notes = append(notes, p.Name+" exited: "+p.Tail())
		}
	}
	errs := map[string]uint64{}
	for _, lg := range r.lgs {
		for k, v := range lg.latest().errors {
			errs[k] += v
		}
	}
	if len(errs) > 0 {
		notes = append(notes, "load generator errors so far: "+fmt.Sprint(errs))
	}
	if load := proc.LoadAvg(); load != "" {
		notes = append(notes, "load average "+load)
	}
	if len(notes) == 0 {
		return "no resource exhausted that this tool can see (see the process logs in " + r.o.out + ")"
	}
	return strings.Join(notes, "; ")
}

// waitRecovery waits until as many chargers as were held are connected
// again after the kill, and until the upstream backlog is drained.
func (r *runner) waitRecovery(ctx context.Context, held int) (online, drained time.Time) {
	deadline := time.Now().Add(5 * time.Minute)
	kill := r.res.Timeline.Kill
	sawBacklog := false
	for time.Now().Before(deadline) && ctx.Err() == nil && (online.IsZero() || drained.IsZero()) {
		time.Sleep(200 * time.Millisecond)
		connected := 0
		for _, lg := range r.lgs {
			connected += lg.latest().connected
		}
		// A progress line is a second old at most: count from when the
		// line showed the chargers back, not before the kill.
		if online.IsZero() && connected >= held && time.Since(kill) > 1500*time.Millisecond {
			online = time.Now()
		}
		if d, ok := r.lastDepth(); ok && d.at.After(kill) {
			if d.messages > 0 {
				sawBacklog = true
			}
			if drained.IsZero() && d.messages == 0 && (sawBacklog || !online.IsZero()) {
				drained = d.at
			}
		}
	}
	return online, drained
}

// waitQuiet waits until the upstream queues have been empty for 3 s.
func (r *runner) waitQuiet(ctx context.Context, limit time.Duration) {
	ch, closeCh, err := r.amqpChannel()
	if err != nil {
		return
	}
	defer closeCh()
	quiet := 0
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && ctx.Err() == nil && quiet < 3; time.Sleep(time.Second) {
		if n, err := r.backlog(ch); err == nil && n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

func (r *runner) allProcs() []*proc.Proc {
	ps := append(append([]*proc.Proc{}, r.cores...), r.gws...)
	for _, lg := range r.lgs {
		ps = append(ps, lg.Proc)
	}
	return ps
}

func (r *runner) stopAll() {
	for _, lg := range r.lgs {
		lg.interrupt()
	}
	for _, p := range append(append([]*proc.Proc{}, r.gws...), r.cores...) {
		_ = p.Stop(60 * time.Second)
	}
}

// setupDatabase creates a fresh database, migrates it through the api,
// and registers every station and the id token of the sessions.
func (r *runner) setupDatabase(ctx context.Context, nLoadgens int) error {
	u, err := url.Parse(r.o.pgAdmin)
	if err != nil {
		return fmt.Errorf("PostgreSQL URL: %w", err)
	}
	name := "cp_scale_" + randomHex(5)
	admin, err := pgx.Connect(ctx, r.o.pgAdmin)
	if err != nil {
		return fmt.Errorf("PostgreSQL unreachable at %s: %w", u.Redacted(), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	r.cleanup = append(r.cleanup, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		a, err := pgx.Connect(ctx, r.o.pgAdmin)
		if err != nil {
			return err
		}
		defer a.Close(context.Background())
		_, err = a.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	})
	du := *u
	du.Path = "/" + name
	r.dbURL = du.String()
	if err := proc.Run(ctx, filepath.Join(r.o.bin, "api"), []string{"migrate"}, map[string]string{"DATABASE_URL": r.dbURL}); err != nil {
		return err
	}
	db, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	r.say("registering %d stations and the id token", r.o.chargers)
	left := r.o.chargers
	for p := range nLoadgens {
		n := min(left, r.o.perLoadgen)
		left -= n
		_, err := db.Exec(ctx, `INSERT INTO stations (id, name, created_at, updated_at)
			SELECT $1 || g, 'scale ' || $1 || g, now(), now() FROM generate_series(0, $2 - 1) g`, stationPrefix(p), n)
		if err != nil {
			return fmt.Errorf("register stations: %w", err)
		}
	}
	_, err = db.Exec(ctx, `INSERT INTO id_tokens (id, value, type, status, created_at, updated_at)
		VALUES ('scale-token', $1, 'ISO14443', 'Accepted', now(), now())`, idTag)
	if err != nil {
		return fmt.Errorf("register id token: %w", err)
	}
	return nil
}

const idTag = "SCALETAG"

func stationPrefix(p int) string { return fmt.Sprintf("SCALE-%d-", p) }

func (r *runner) startCores(ctx context.Context) error {
	var controlAddrs []string
	secret := randomHex(32)
	r.gatewaySecret = randomHex(32)
	for i := range r.o.cores {
		addrs, err := proc.FreeAddrs(3)
		if err != nil {
			return err
		}
		env := map[string]string{
			"HTTP_ADDR": addrs[0], "GRPC_ADDR": addrs[1], "CONTROL_ADDR": addrs[2], "DATABASE_URL": r.dbURL, "AMQP_URL": r.o.amqpURL,
			"AMQP_PREFIX": r.prefix, "CORE_ID": fmt.Sprintf("scale-core-%d", i+1), "AUTH_SECRET": secret, "GATEWAY_SECRET": r.gatewaySecret,
			"LOG_LEVEL": "warn", "MIGRATE_ON_START": "false", "HEARTBEAT_INTERVAL": fmt.Sprint(int(r.o.heartbeat.Seconds())),
			"BUS_PARTITIONS": fmt.Sprint(bus.DefaultPartitions), "LEASE_SWEEP_INTERVAL": "1s",
		}
		if i == 0 && r.o.pprof > 0 {
			pp, err := proc.FreeAddrs(1)
			if err != nil {
				return err
			}
			env["PPROF_ADDR"], r.corePprof = pp[0], pp[0]
		}
		p, err := proc.Start(fmt.Sprintf("core%d", i+1), filepath.Join(r.o.bin, "api"), []string{"serve"}, env, r.o.out)
		if err != nil {
			return err
		}
		r.cores = append(r.cores, p)
		if err := proc.WaitHTTP(ctx, p, "http://"+addrs[0]+"/readyz", 60*time.Second); err != nil {
			return err
		}
		controlAddrs = append(controlAddrs, addrs[2])
	}
	r.coreControl = strings.Join(controlAddrs, ",")
	return nil
}

func (r *runner) startGateways(ctx context.Context) error {
	for i := range r.o.gateways {
		addrs, err := proc.FreeAddrs(1)
		if err != nil {
			return err
		}
		env := map[string]string{
			"OCPP_ADDR": addrs[0], "CORE_GRPC_ADDR": r.coreControl, "GATEWAY_SECRET": r.gatewaySecret, "AMQP_URL": r.o.amqpURL, "AMQP_PREFIX": r.prefix,
			"BUS_PARTITIONS": fmt.Sprint(bus.DefaultPartitions), "GATEWAY_ID": fmt.Sprintf("scale-gw-%d", i+1),
			"LOG_LEVEL": "warn", "DRAIN_WINDOW": "0", "LEASE_TTL": "10",
		}
		p, err := proc.Start(fmt.Sprintf("gw%d", i+1), filepath.Join(r.o.bin, "gateway"), nil, env, r.o.out)
		if err != nil {
			return err
		}
		r.gws = append(r.gws, p)
		if err := proc.WaitHTTP(ctx, p, "http://"+addrs[0]+"/healthz", 60*time.Second); err != nil {
			return err
		}
		r.gwURLs = append(r.gwURLs, "ws://"+addrs[0]+"/ocpp")
	}
	return nil
}

// sample records every process's CPU time and RSS and the upstream backlog
// once a second.
func (r *runner) sample(ctx context.Context) {
	ch, closeCh, err := r.amqpChannel()
	if err == nil {
		defer closeCh()
	}
	broker := proc.BrokerPID()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var batch []sample
		procs := r.allProcs()
		for _, p := range procs {
			if p.Exited() {
				continue
			}
			s := sample{at: now, name: p.Name, kind: kind(p)}
			s.ticks, _ = proc.CPUTicks(p.Pid())
			s.rss, _ = proc.RSS(p.Pid())
			batch = append(batch, s)
		}
		if broker > 0 {
			s := sample{at: now, name: "rabbitmq", kind: "broker"}
			s.ticks, _ = proc.CPUTicks(broker)
			s.rss, _ = proc.RSS(broker)
			batch = append(batch, s)
		}
		for _, pid := range proc.Named("postgres") {
			s := sample{at: now, name: "postgres", kind: "database"}
			s.ticks, _ = proc.CPUTicks(pid)
			batch = append(batch, s)
		}
		var d depth
		if ch != nil {
			if n, err := r.backlog(ch); err == nil {
				d = depth{at: now, messages: n, ok: true}
			}
		}
		r.mu.Lock()
		r.samples = append(r.samples, batch...)
		if d.ok {
			r.depths = append(r.depths, d)
		}
		r.mu.Unlock()
	}
}

func (r *runner) lastDepth() (depth, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.depths) == 0 {
		return depth{}, false
	}
	return r.depths[len(r.depths)-1], true
}

func (r *runner) amqpChannel() (*amqp.Channel, func(), error) {
	conn, err := amqp.Dial(r.o.amqpURL)
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return ch, func() { ch.Close(); conn.Close() }, nil
}

// backlog is the number of messages waiting in the upstream partitions.
func (r *runner) backlog(ch *amqp.Channel) (int, error) {
	total := 0
	for n := range bus.DefaultPartitions {
		q, err := ch.QueueDeclarePassive(r.prefix+".upstream."+strconv.Itoa(n), true, false, false, false, amqp.Table{"x-single-active-consumer": true})
		if err != nil {
			return 0, err
		}
		total += q.Messages
	}
	return total, nil
}

type sample struct {
	at         time.Time
	name, kind string
	ticks, rss int64
}

type depth struct {
	at       time.Time
	messages int
	ok       bool
}

// loadgen is one load-generator process and its live progress.
type loadgen struct {
	*proc.Proc
	n        int
	jsonPath string
	mu       sync.Mutex
	last     progress
	summary  *loadSummary
}

type progress struct {
	connected int
	total     uint64
	errors    map[string]uint64
}

func startLoadgen(r *runner, p, n int, backstop time.Duration) (*loadgen, error) {
	lg := &loadgen{n: n, jsonPath: filepath.Join(r.o.out, fmt.Sprintf("loadgen%d.json", p+1))}
	rate := r.o.connectRate / float64((r.o.chargers+r.o.perLoadgen-1)/r.o.perLoadgen)
	args := []string{"-url", strings.Join(rotate(r.gwURLs, p), ","), "-n", fmt.Sprint(n), "-id-prefix", stationPrefix(p),
		"-version", "mixed", "-scenario", "scale", "-tx-fraction", fmt.Sprint(r.o.txFraction), "-tx-every", r.o.txStep.String(),
		"-heartbeat-every", r.o.heartbeat.String(), "-id-tag", idTag, "-connect-rate", fmt.Sprint(rate),
		"-duration", backstop.String(), "-call-timeout", "60s", "-workers", "256", "-json", lg.jsonPath}
	pr, stdout, err := proc.StartPiped(fmt.Sprintf("loadgen%d", p+1), filepath.Join(r.o.bin, "loadgen"), args, nil, r.o.out)
	if err != nil {
		return nil, err
	}
	lg.Proc = pr
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			var at float64
			var c, total int
			var rate float64
			var tot, errs, calls uint64
			if k, _ := fmt.Sscanf(line, "%fs connected %d/%d  round trips/s %f  total %d  errors %d  CSMS calls %d", &at, &c, &total, &rate, &tot, &errs, &calls); k == 7 {
				lg.mu.Lock()
				lg.last.connected, lg.last.total = c, tot
				lg.mu.Unlock()
			}
		}
	}()
	return lg, nil
}

// rotate starts the gateway list at a different place for each load
// generator, so charger i of every process does not pick the same gateway.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(append([]string{}, s[k:]...), s[:k]...)
}

func (lg *loadgen) latest() progress {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return lg.last
}

func (lg *loadgen) interrupt() {
	if lg.Proc != nil && !lg.Exited() {
		_ = lg.Cmd.Process.Signal(os.Interrupt)
	}
}

func (lg *loadgen) wait() error {
	select {
	case <-lg.Done():
	case <-time.After(2 * time.Minute):
		_ = lg.Cmd.Process.Kill()
		<-lg.Done()
	}
	b, err := os.ReadFile(lg.jsonPath)
	if err != nil {
		return fmt.Errorf("%s wrote no summary (%w): %s", lg.Name, err, lg.Tail())
	}
	var s loadSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s summary: %w", lg.Name, err)
	}
	lg.summary = &s
	return nil
}

// loadSummary is the part of the load generator's -json output used here.
type loadSummary struct {
	StartedAt time.Time         `json:"startedAt"`
	Opened    uint64            `json:"connectionsOpened"`
	Failed    uint64            `json:"connectionsFailed"`
	Errors    map[string]uint64 `json:"errors"`
	Windows   []struct {
		At        float64           `json:"at"`
		Connected int64             `json:"connected"`
		Trips     uint64            `json:"trips"`
		Latency   map[string]uint64 `json:"latencyUs"`
		Actions   map[string]uint64 `json:"actions"`
	} `json:"windows"`
	Sessions []session `json:"sessions"`
}

type session struct {
	Station string `json:"station"`
	Version string `json:"version"`
	TxID    int    `json:"txId"`
	UID     string `json:"uid"`
	Ended   bool   `json:"ended"`
	Unacked bool   `json:"unacked"`
}

// checkDatabase compares the sessions the chargers saw acknowledged with
// the transactions table, as the fault suite does.
func (r *runner) checkDatabase(ctx context.Context) Check {
	var c Check
	db, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	defer db.Close(context.Background())
	type dbTx struct {
		id      int64
		uid     string
		version string
		status  string
	}
	byStation := map[string][]dbTx{}
	rows, err := db.Query(ctx, `SELECT id, transaction_uid, station_id, ocpp_version, status FROM transactions`)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	for rows.Next() {
		var t dbTx
		var st string
		if err := rows.Scan(&t.id, &t.uid, &st, &t.version, &t.status); err != nil {
			c.Error = err.Error()
			return c
		}
		byStation[st] = append(byStation[st], t)
		c.InDB++
	}
	rows.Close()
	acked := map[string]int{}
	unacked := map[string]int{}
	for _, lg := range r.lgs {
		if lg.summary == nil {
			c.Error = lg.Name + " has no summary: its sessions are not checked"
			continue
		}
		for _, s := range lg.summary.Sessions {
			if s.Unacked {
				unacked[s.Station]++
				continue
			}
			c.Acked++
			acked[s.Station]++
			if s.Ended {
				c.Ended++
			}
			var found *dbTx
			n := 0
			for i, t := range byStation[s.Station] {
				if (s.UID != "" && t.uid == s.UID) || (s.UID == "" && t.id == int64(s.TxID)) {
					found = &byStation[s.Station][i]
					n++
				}
			}
			switch {
			case found == nil:
				c.Lost++
			case n > 1:
				c.Doubled += n - 1
			case s.Ended && found.status != "Ended":
				c.StopsLost++
			}
		}
	}
	for st, txs := range byStation {
		if extra := len(txs) - acked[st] - unacked[st]; extra > 0 {
			c.Doubled += extra
		}
	}
	return c
}

// Check is the database against the chargers' ledgers.
type Check struct {
	Acked     int    `json:"sessionsAcknowledged"`
	Ended     int    `json:"sessionsEnded"`
	InDB      int    `json:"transactionsInDatabase"`
	Lost      int    `json:"lost"`
	Doubled   int    `json:"doubled"`
	StopsLost int    `json:"stopsLost"`
	Error     string `json:"error,omitempty"`
}

// kind is what a process of the run is, from its name.
func kind(p *proc.Proc) string {
	switch {
	case strings.HasPrefix(p.Name, "core"):
		return "core"
	case strings.HasPrefix(p.Name, "gw"):
		return "gateway"
	}
	return "loadgen"
}
