// Command gateway holds chargers' OCPP WebSocket connections and relays
// their frames to the Chargeplane core over RabbitMQ. Run any number of them;
// chargers may connect to any.
//
// Configuration is read from the environment: gateway --help lists it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus/instrumented"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/profiling"
	"github.com/chargeplane/chargeplane/pkg/tracing"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintf(os.Stderr, "gateway: %v\nRun gateway --help for the settings.\n", err)
		os.Exit(2)
	default:
		slog.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

// usageError is a bad command line, as opposed to a failure while running.
type usageError struct{ error }

// run parses the command line (only --help: settings come from the
// environment), then serves until SIGINT or SIGTERM and drains.
func run(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("gateway", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	switch err := flags.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return writeHelp(stdout)
	case err != nil:
		return usageError{err}
	case flags.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q: settings come from the environment", flags.Arg(0))}
	}
	cfg, err := config.Load(config.Gateway)
	if err != nil {
		return err
	}
	log := cfg.NewLogger(os.Stderr)
	slog.SetDefault(log)
	stopTracing, err := tracing.Setup(context.Background(), "chargeplane-gateway", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	if cfg.GatewayID == "" {
		cfg.GatewayID = server.DefaultGatewayID()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	transport, err := coreTransport(cfg)
	if err != nil {
		return err
	}
	cc, err := dialCore(cfg.CoreGRPCAddr, cfg.GatewaySecret, transport)
	if err != nil {
		return fmt.Errorf("core gRPC client %s: %w", cfg.CoreGRPCAddr, err)
	}
	defer cc.Close()

	b, err := rabbitmq.Dial(ctx, rabbitmq.Config{
		URL:        cfg.AMQPURL,
		Prefix:     cfg.AMQPPrefix,
		Partitions: cfg.BusPartitions,
		Logger:     log,
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: %w", err)
	}
	defer b.Close()

	// The gateway's registry, served on METRICS_ADDR; its components
	// register their collectors on it.
	reg := metrics.NewRegistry()
	gwCfg := server.FromSettings(cfg, log)
	if cfg.OCPPTLSAddr != "" {
		if gwCfg.TLS, err = server.NewTLS(server.TLSFiles{
			CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile,
		}, log); err != nil {
			return err
		}
		hup, stopHUP := server.NotifyReload()
		defer stopHUP()
		go gwCfg.TLS.Watch(ctx, cfg.TLSReloadInterval, hup)
	}
	gwCfg.Metrics = metrics.NewGateway(reg, gwCfg.GatewayID)
	gw := server.New(gwCfg, instrumented.Wrap(b, reg), server.NewGRPCControl(cc))
	// The subscription must outlive the signal: replies to CALLs read during
	// the drain still have to reach their chargers. Shutdown ends it.
	if err := gw.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle(server.PathPrefix, gw)
	handleHealth(mux, gw.Draining, b)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// The gateway's own signal context must not cancel requests whose
		// sockets Shutdown is draining gracefully.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 4)
	// One server, two listeners: the plain one (OCPP_ADDR) and the TLS one
	// (OCPP_TLS_ADDR), each off when its address is empty.
	for _, l := range []struct{ setting, addr string }{{"OCPP_ADDR", cfg.OCPPAddr}, {"OCPP_TLS_ADDR", cfg.OCPPTLSAddr}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("listen %s %s: %w", l.setting, l.addr, err)
		}
		if l.setting == "OCPP_TLS_ADDR" {
			ln = gwCfg.TLS.Listener(ln)
		}
		log.Info("gateway listening", "setting", l.setting, "addr", ln.Addr().String(), "gateway", cfg.GatewayID, "core", cfg.CoreGRPCAddr)
		go func() { serveErr <- srv.Serve(ln) }()
	}
	for _, side := range []struct {
		setting, addr string
		handler       http.Handler
	}{
		{"PPROF_ADDR", cfg.PprofAddr, profiling.Handler()},
		{"METRICS_ADDR", cfg.MetricsAddr, metrics.Handler(reg)},
	} {
		closeSide, err := serveSide(side.setting, side.addr, side.handler, serveErr, log)
		if err != nil {
			return err
		}
		defer closeSide()
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	log.Info("shutting down")

	// Drain the sockets first (hijacked connections are invisible to
	// http.Server.Shutdown), then stop the listener for /healthz and /readyz. The drain
	// takes at most half of SHUTDOWN_TIMEOUT, leaving the rest to publish
	// the disconnections.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	drainErr := gw.Shutdown(shutdownCtx)
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if drainErr != nil {
		return drainErr
	}
	log.Info("gateway stopped")
	return nil
}

// serveSide serves h on addr, the value of the variable named setting, on a
// listener of its own beside the OCPP one; an empty addr leaves it off. A
// failure goes to errs; the returned func closes it at once (a profile or
// a scrape is not worth delaying a shutdown for).
func serveSide(setting, addr string, h http.Handler, errs chan<- error, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", setting, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("%s: %w", setting, err)
		}
	}()
	log.Info("listening", "setting", setting, "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

func writeHelp(w io.Writer) error {
	if _, err := fmt.Fprint(w, `gateway holds chargers' OCPP WebSocket connections and relays their frames
to the Chargeplane core over RabbitMQ. Run any number of them; chargers may
connect to any. It drains on SIGTERM: new connections are refused and open
sockets closed over DRAIN_WINDOW.

Usage: gateway

`); err != nil {
		return err
	}
	return config.WriteHelp(w, config.Gateway)
}
