// Command bench measures what Chargeplane sustains on this machine and
// prints it beside the targets and beside what the hardware allows.
// `make bench` builds bin/api, bin/gateway and bin/loadgen, then runs
//
//	go run ./tools/bench -bin bin -out bin/bench
//
// It starts the system in both modes, embedded (api alone, SQLite) and
// scale-out (one api core and one gateway over RabbitMQ, PostgreSQL), each
// with fresh state that is deleted afterwards; registers stations through
// REST; drives them with the load generator as a separate process; and
// prints a table per scenario: idle capacity, heartbeat round trips,
// persisted meter values, latency at a steady load, password admission and
// the physical limits (a raw WebSocket echo, raw RabbitMQ round trips).
// It also takes CPU and heap profiles (PPROF_ADDR) and runs the Go
// benchmarks of the hot paths. Everything is written as JSON to
// <out>/results-<time>.json.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/tools/internal/proc"
)

type options struct {
	binDir, outDir      string
	modes               []string
	idleN               int
	connectRate         float64
	runFor              time.Duration
	rawFor              time.Duration
	amqpURL, pgAdminURL string
	goBench             bool
	goBenchPkgs         string
	profile             bool
	timeout             time.Duration
	partitions          int
	remote              bool
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
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.binDir, "bin", "bin", "directory holding api, gateway and loadgen")
	fs.StringVar(&o.outDir, "out", "bin/bench", "where results, logs and profiles go (git-ignored)")
	modes := fs.String("modes", "embedded,scale-out", "deployments to measure, comma-separated")
	fs.IntVar(&o.idleN, "idle", 19000, "idle capacity scenario: chargers held open on one gateway")
	fs.Float64Var(&o.connectRate, "connect-rate", 0, "idle scenario: new connections per second; 0 = as fast as admitted")
	fs.DurationVar(&o.runFor, "run", 15*time.Second, "length of each load scenario")
	fs.DurationVar(&o.rawFor, "raw", 5*time.Second, "length of each physical-limit measurement")
	fs.StringVar(&o.amqpURL, "amqp", envOr("amqp://guest:guest@127.0.0.1:5672/", "BENCH_AMQP_URL", "TEST_AMQP_URL"), "RabbitMQ for the scale-out mode")
	fs.StringVar(&o.pgAdminURL, "pg", envOr("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "BENCH_DATABASE_URL", "TEST_DATABASE_URL"),
		"PostgreSQL role that may CREATE DATABASE, for the scale-out mode")
	fs.BoolVar(&o.goBench, "gobench", true, "also run the Go benchmarks of the hot paths")
	fs.StringVar(&o.goBenchPkgs, "gobench-pkgs", "./pkg/ocppj ./pkg/ocpp/schema ./pkg/bus/... ./api/ocpp ./api/store ./gateway/server", "packages for -gobench")
	fs.BoolVar(&o.profile, "profile", true, "take CPU and heap profiles of api and gateway")
	fs.DurationVar(&o.timeout, "timeout", 25*time.Minute, "give up after this long")
	fs.IntVar(&o.partitions, "partitions", bus.DefaultPartitions, "BUS_PARTITIONS of api and gateway")
	fs.BoolVar(&o.remote, "remote", true, "scale-out: also run Heartbeat with PostgreSQL and RabbitMQ 1 ms away each way (latency proxy)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	for m := range strings.SplitSeq(*modes, ",") {
		m = strings.TrimSpace(m)
		if m != "embedded" && m != "scale-out" {
			return nil, fmt.Errorf("-modes: unknown mode %q (embedded, scale-out)", m)
		}
		o.modes = append(o.modes, m)
	}
	if o.partitions < 1 || o.partitions > 1024 {
		return nil, errors.New("-partitions must be between 1 and 1024")
	}
	if o.idleN < 1 || o.runFor < 3*time.Second || o.rawFor <= 0 {
		return nil, errors.New("-idle must be positive, -run at least 3s, -raw positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := raiseFDLimit(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
	}
	if err := os.MkdirAll(filepath.Join(o.outDir, "profiles"), 0o755); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	for _, b := range []string{"api", "gateway", "loadgen"} {
		if _, err := os.Stat(filepath.Join(o.binDir, b)); err != nil {
			fmt.Fprintf(stderr, "bench: %s/%s missing: run make bench (it builds them)\n", o.binDir, b)
			return 1
		}
	}

	res := &Results{Started: time.Now().UTC(), Command: "make bench (go run ./tools/bench " + strings.Join(args, " ") + ")", Machine: proc.ReadMachine()}
	fmt.Fprintln(stdout, res.Machine)
	b := &bench{o: o, res: res, out: stdout, log: stderr}
	failed := false
	if err := b.physical(ctx); err != nil {
		fmt.Fprintln(stderr, "bench: physical limits:", err)
		failed = true
	}
	for _, mode := range o.modes {
		mr := b.mode(ctx, mode)
		res.Modes = append(res.Modes, mr)
		if mr.Error != "" {
			fmt.Fprintf(stderr, "bench: %s: %s\n", mode, mr.Error)
			failed = true
		}
	}
	if o.goBench && ctx.Err() == nil {
		fmt.Fprintln(stdout, "\n== Go benchmarks of the hot paths ==")
		out, err := goBench(ctx, o.goBenchPkgs)
		res.GoBench = out
		fmt.Fprint(stdout, out)
		if err != nil {
			fmt.Fprintln(stderr, "bench: go benchmarks:", err)
			failed = true
		}
	}
	res.Tables = buildTables(res)
	fmt.Fprintln(stdout, "\n\n######## Results ########")
	fmt.Fprintln(stdout, res.Machine)
	for i := range res.Tables {
		res.Tables[i].Render(stdout)
	}
	path := filepath.Join(o.outDir, "results-"+res.Started.Format("20060102-150405")+".json")
	if err := writeJSON(path, res); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nresults: %s\nlogs and profiles: %s\n", path, o.outDir)
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

// raiseFDLimit lifts the soft open-files limit to the hard one; the
// children (api, gateway, loadgen) inherit it. Go programs also do this
// for themselves at start-up since Go 1.19.
func raiseFDLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	return nil
}

// Results is everything one `make bench` measured.
type Results struct {
	Started  time.Time    `json:"started"`
	Command  string       `json:"command"`
	Machine  proc.Machine `json:"machine"`
	Physical []RawResult  `json:"physical"`
	Modes    []ModeResult `json:"modes"`
	GoBench  string       `json:"goBenchmarks,omitempty"`
	Tables   []Table      `json:"tables"`
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func goBench(ctx context.Context, pkgs string) (string, error) {
	args := append([]string{"test", "-run=^$", "-bench=.", "-benchmem", "-timeout=10m"}, strings.Fields(pkgs)...)
	cmd := exec.CommandContext(ctx, "go", args...)
	if g := os.Getenv("GO"); g != "" {
		cmd = exec.CommandContext(ctx, g, args...)
	}
	out, err := cmd.CombinedOutput()
	return "$ go " + strings.Join(args, " ") + "\n" + string(out), err
}
