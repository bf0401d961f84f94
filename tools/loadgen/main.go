// Command loadgen simulates many OCPP chargers against a Chargeplane
// gateway (or any OCPP-J CSMS) and measures what it sustains: connections,
// round trips per second, latency percentiles and errors by kind.
//
//	go run ./tools/loadgen -url ws://127.0.0.1:8887/ocpp -n 200 -scenario heartbeat -duration 10s
//
// Each charger connects (at most -connect-rate per second overall), sends
// BootNotification and StatusNotification, then runs the scenario until
// -duration has passed since the start:
//
//	idle          WebSocket pings every -ping-interval
//	heartbeat     Heartbeat, as fast as answered or at -rate per charger
//	meter         MeterValues (Energy.Active.Import.Register) at -rate
//	transactions  1.6: Authorize, StartTransaction, -tx-meter-values MeterValues, StopTransaction;
//	              2.0.1: TransactionEvent Started, Updated × -tx-meter-values, Ended
//	scale         -tx-fraction of the chargers run transactions, one message every -tx-every;
//	              the others send a Heartbeat every -heartbeat-every (make scale)
//
// Transaction messages are sent again, with the same content, until they
// are answered, as real chargers do; the JSON summary lists the sessions
// whose start was acknowledged (and whether their end was) for checking
// against the database.
// With -rate 0 every charger keeps exactly one CALL in flight. CSMS commands
// get minimal conformant answers. -register first creates the stations (and
// the id token) through the REST API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line: a run plus what surrounds it.
type options struct {
	cfg      Config
	register bool
	reg      Registration
	jsonPath string
	verbose  bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8887/ocpp", "gateway base URL; the station id is appended; several comma-separated: chargers are spread over them and move to the next when their connection is lost")
	fs.IntVar(&c.N, "n", 100, "number of simulated chargers")
	fs.StringVar(&c.Version, "version", "1.6", "OCPP version: 1.6, 2.0.1 or mixed (alternating)")
	fs.StringVar(&c.IDPrefix, "id-prefix", "LOADGEN-", "station ids are this prefix followed by 0..n-1")
	fs.StringVar(&c.Password, "password", "", "station password for HTTP Basic auth (username = station id); empty = no auth")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 500, "new connections per second overall; 0 = unlimited")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "length of the whole run, connecting included")
	fs.StringVar(&c.Scenario, "scenario", "heartbeat", "idle, heartbeat, meter, transactions or scale")
	fs.Float64Var(&c.TxFraction, "tx-fraction", 0.1, "scale scenario: fraction of the chargers running charging sessions")
	fs.DurationVar(&c.TxEvery, "tx-every", 10*time.Second, "scale scenario: time between a session's messages (MeterValues every ...)")
	fs.DurationVar(&c.HeartbeatEvery, "heartbeat-every", 60*time.Second, "scale scenario: time between the other chargers' Heartbeats")
	fs.Float64Var(&c.Rate, "rate", 0, "CALLs per second per charger; 0 = as fast as answered (one CALL in flight per charger)")
	fs.DurationVar(&c.PingInterval, "ping-interval", 30*time.Second, "idle scenario: time between a charger's WebSocket pings")
	fs.IntVar(&c.TxMeterValues, "tx-meter-values", 3, "transactions scenario: meter values per transaction")
	fs.StringVar(&c.IDTag, "id-tag", "LOADGEN", "transactions scenario: id token presented (at most 20 characters)")
	fs.IntVar(&c.Workers, "workers", 0, "goroutines driving the chargers, which bounds CALLs in flight; 0 = min(n, 1024)")
	fs.DurationVar(&c.CallTimeout, "call-timeout", 30*time.Second, "how long a CALL or a connection attempt may take")
	fs.BoolVar(&c.Compress, "compress", false, "offer permessage-deflate")
	fs.BoolVar(&o.register, "register", false, "create the stations (and id token) through the REST API first")
	fs.StringVar(&o.reg.API, "api", "http://127.0.0.1:8080", "REST API base URL for -register")
	fs.StringVar(&o.reg.Email, "email", "", "operator e-mail for -register")
	fs.StringVar(&o.reg.Password, "password-user", "", "operator password for -register")
	fs.StringVar(&o.jsonPath, "json", "", "also write the final summary as JSON to this file")
	fs.BoolVar(&o.verbose, "v", false, "log protocol oddities to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if o.register && (o.reg.Email == "" || o.reg.Password == "") {
		return o, errors.New("-register needs -email and -password-user")
	}
	return o, o.cfg.validate()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if o.verbose {
		o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	o.cfg.Progress = stdout
	if o.register {
		fmt.Fprintf(stdout, "registering %d stations through %s\n", o.cfg.N, o.reg.API)
		if err := Register(ctx, o.reg, o.cfg); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	sum, err := Run(ctx, o.cfg)
	sum.Print(stdout)
	if o.jsonPath != "" {
		if werr := writeJSONFile(o.jsonPath, sum); werr != nil {
			fmt.Fprintln(stderr, "loadgen:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	return 0
}

func writeJSONFile(path string, sum Summary) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("summary file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("summary file: %w", cerr)
		}
	}()
	return sum.WriteJSON(f)
}
