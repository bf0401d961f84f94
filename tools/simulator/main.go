// Command simulator is a charging station one can play with: it connects to
// a CSMS, boots, reports its connectors, sends heartbeats, answers the CSMS's
// CALLs, charges (remote start and stop, a local tag, meter values on a
// realistic power curve), reports faults on demand, and reconnects with
// back-off, moving to the next gateway when one fails.
//
//	go run ./tools/simulator -url ws://localhost:8887/ocpp -id CP-1 -version 1.6 -password 0123456789abcdef
//
// Over wss:// (security profiles 2 and 3), -ca names the roots to trust and
// -cert/-key the client certificate (or -cert-dir the one the CSMS signed).
//
// Lines typed on stdin drive it: start [tag] [connector], stop [connector],
// fault [connector] [errorCode], clear [connector], status; "@CP-2 stop"
// speaks to one station of -n.
//
// Strict mode (on by default) checks everything the CSMS sends against the
// official OCPP schemas and logs each violation.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	level := slog.LevelInfo
	if opts.verbose {
		level = slog.LevelDebug
	} else if opts.n > 1 {
		level = slog.LevelWarn // the progress line says what goes on
	}
	out := &lineWriter{w: stderr}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	if cfg.Strict {
		if cfg.Schemas, err = schema.Load(); err != nil {
			logger.Error("loading the OCPP schemas failed", "err", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stations, inputs, err := fleet(cfg, opts.n, logger)
	if err != nil {
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	go readCommands(os.Stdin, stations, inputs, logger)
	if opts.n > 1 {
		go showProgress(ctx, out, stations, isTerminal(stderr))
	}
	var wg sync.WaitGroup
	for _, st := range stations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.Run(ctx); err != nil {
				logger.Error("simulator stopped", "station", st.cfg.ID, "err", err)
			}
		}()
	}
	wg.Wait()
	return 0
}

// fleet makes n stations of cfg: cfg.ID itself, or ID-1 … ID-n.
func fleet(cfg Config, n int, logger *slog.Logger) ([]*Station, []chan string, error) {
	var (
		stations []*Station
		inputs   []chan string
	)
	for i := 1; i <= n; i++ {
		c := cfg
		if n > 1 {
			c.ID = cfg.ID + "-" + strconv.Itoa(i)
		}
		in := make(chan string, 16)
		c.Commands = in
		st, err := newStation(c, logger)
		if err != nil {
			return nil, nil, err
		}
		stations = append(stations, st)
		inputs = append(inputs, in)
	}
	return stations, inputs, nil
}

// readCommands hands each line typed in to every station, or to the one a
// leading "@ID" names. It ends with its input (at exit, for the terminal).
func readCommands(r io.Reader, stations []*Station, inputs []chan string, logger *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		target := ""
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			target, line, _ = strings.Cut(rest, " ")
		}
		sent := false
		for i, st := range stations {
			if target != "" && st.cfg.ID != target {
				continue
			}
			sent = true
			select {
			case inputs[i] <- line:
			default:
				logger.Warn("station busy: command dropped", "station", st.cfg.ID, "command", line)
			}
		}
		if !sent {
			logger.Warn("no such station", "station", target)
		}
	}
}

// options are the flags that are not a station's.
type options struct {
	n       int
	verbose bool
}

func parseFlags(args []string, stderr io.Writer) (Config, options, error) {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg           Config
		opts          options
		version, urls string
		faults        string
	)
	fs.StringVar(&urls, "url", "ws://localhost:8887/ocpp", "CSMS OCPP endpoints, comma-separated, tried in turn when one fails; the station id is appended as a path segment")
	fs.IntVar(&opts.n, "n", 1, "number of stations: more than 1 runs <id>-1 … <id>-n with a progress line")
	fs.StringVar(&cfg.Tag, "tag", "", "an id tag plugged in and authorized on connector 1 after boot (and the tag of a \"start\" typed without one)")
	fs.Float64Var(&cfg.PowerKW, "power", 11, "maximum charging power, kW")
	fs.Float64Var(&cfg.BatteryKWh, "battery", 60, "capacity of the car that plugs in, kWh: it arrives at 20% and draws less past 80% (0: never full)")
	fs.Float64Var(&cfg.EnergyKWh, "energy", 0, "stop a session after this energy, kWh (0: when the car is full or when told)")
	fs.DurationVar(&cfg.MeterInterval, "meter-interval", 10*time.Second, "time between meter values while charging")
	fs.StringVar(&faults, "fault", "", "connectors reported Faulted at boot: N or N:errorCode, comma-separated (e.g. 2:GroundFailure)")
	fs.StringVar(&cfg.ID, "id", "CP-1", "station id (also the Basic-auth username)")
	fs.StringVar(&version, "version", "1.6", "OCPP version: 1.6 or 2.0.1")
	fs.StringVar(&cfg.Password, "password", "", "Basic-auth password (security profile 1); empty sends no credentials")
	fs.IntVar(&cfg.Connectors, "connectors", 2, "number of connectors (EVSEs in 2.0.1), reported Available after boot")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 0, "heartbeat interval; 0 uses the one the CSMS returns in BootNotification")
	fs.BoolVar(&cfg.Strict, "strict", true, "validate everything the CSMS sends against the official OCPP schemas")
	fs.BoolVar(&cfg.Compress, "compress", false, "offer permessage-deflate")
	fs.StringVar(&cfg.Vendor, "vendor", "Chargeplane", "vendor name sent in BootNotification")
	fs.StringVar(&cfg.Model, "model", "Simulator", "model sent in BootNotification")
	fs.DurationVar(&cfg.MaxBackoff, "max-backoff", time.Minute, "longest wait between reconnection attempts")
	fs.StringVar(&cfg.CertDir, "cert-dir", "", "directory receiving the key and certificate the CSMS signs (<id>.key.pem, <id>.pem: the client certificate of security profile 3); empty = memory only")
	fs.StringVar(&cfg.Organization, "organization", "", "subject O of the station's CSRs (the CSMS's CSMS_ORGANIZATION)")
	fs.BoolVar(&cfg.SignCertificate, "sign-certificate", false, "after booting, ask the CSMS to sign a certificate (SignCertificate) unless -cert-dir holds one")
	fs.StringVar(&cfg.CAFile, "ca", "", "PEM bundle the CSMS's server certificate must chain to on wss:// URLs (e.g. the CSMS CA, DATA_DIR/ca.pem); empty = the system's roots")
	fs.StringVar(&cfg.CertFile, "cert", "", "client certificate (PEM chain, leaf first) shown on wss:// URLs: security profile 3; empty = the one -cert-dir holds, if any")
	fs.StringVar(&cfg.KeyFile, "key", "", "key of -cert (PEM)")
	fs.BoolVar(&opts.verbose, "v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return Config{}, options{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			if _, err := url.Parse(u); err != nil || !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
				return Config{}, options{}, fmt.Errorf("-url %q: want ws:// or wss:// URLs", u)
			}
			cfg.URLs = append(cfg.URLs, u)
		}
	}
	if len(cfg.URLs) == 0 {
		return Config{}, options{}, errors.New("-url must name at least one endpoint")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return Config{}, options{}, errors.New("-cert and -key go together")
	}
	if cfg.CertFile != "" && opts.n > 1 {
		return Config{}, options{}, errors.New("-cert is one station's certificate: with -n, give each station its own in -cert-dir (<id>.pem, <id>.key.pem)")
	}
	if opts.n < 1 || opts.n > 100000 {
		return Config{}, options{}, errors.New("-n must be between 1 and 100000")
	}
	if cfg.PowerKW <= 0 || cfg.BatteryKWh < 0 || cfg.EnergyKWh < 0 {
		return Config{}, options{}, errors.New("-power must be positive, -battery and -energy not negative")
	}
	if cfg.MeterInterval <= 0 {
		return Config{}, options{}, errors.New("-meter-interval must be positive")
	}
	v, ok := ocppj.ParseVersion(version)
	if !ok {
		v, ok = ocppj.ParseSubprotocol(version)
	}
	if !ok {
		return Config{}, options{}, fmt.Errorf("-version %q: want 1.6 or 2.0.1", version)
	}
	cfg.Version = v
	if cfg.ID == "" {
		return Config{}, options{}, errors.New("-id must not be empty")
	}
	if cfg.Connectors < 0 {
		return Config{}, options{}, errors.New("-connectors must not be negative")
	}
	var err error
	if cfg.Faults, err = parseFaults(faults, cfg.Connectors, v); err != nil {
		return Config{}, options{}, err
	}
	return cfg, opts, nil
}

// parseFaults reads -fault: "2" or "2:GroundFailure", comma-separated.
func parseFaults(s string, connectors int, v ocppj.Version) (map[int]string, error) {
	if s == "" {
		return nil, nil
	}
	var proto protocol = v16Protocol{}
	if v == ocppj.V201 {
		proto = v201Protocol{}
	}
	out := map[int]string{}
	for _, f := range strings.Split(s, ",") {
		num, code, _ := strings.Cut(strings.TrimSpace(f), ":")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > connectors {
			return nil, fmt.Errorf("-fault %q: want a connector from 1 to %d", f, connectors)
		}
		if code == "" {
			code = proto.defaultFault()
		}
		if err := proto.faultCode(code); err != nil {
			return nil, fmt.Errorf("-fault: %w", err)
		}
		out[n] = code
	}
	return out, nil
}
