// Command gateway holds chargers' OCPP WebSocket connections and relays
// their frames to the Chargeplane core over RabbitMQ. Run any number of them;
// chargers may connect to any.
//
// Configuration is read from the environment (see config below).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/profiling"
)

type config struct {
	OCPPAddr      string `env:"OCPP_ADDR" envDefault:":8887"`
	CoreGRPCAddr  string `env:"CORE_GRPC_ADDR" envDefault:"localhost:9090"`
	AMQPURL       string `env:"AMQP_URL,required"`
	AMQPPrefix    string `env:"AMQP_PREFIX" envDefault:"chargeplane"`
	BusPartitions int    `env:"BUS_PARTITIONS" envDefault:"16"`
	GatewayID     string `env:"GATEWAY_ID"`
	// Durations are whole seconds, as operators write them in .env files.
	PingInterval int    `env:"PING_INTERVAL" envDefault:"30"`
	PingTimeout  int    `env:"PING_TIMEOUT" envDefault:"10"`
	CallTimeout  int    `env:"CALL_TIMEOUT" envDefault:"30"`
	DrainWindow  int    `env:"DRAIN_WINDOW" envDefault:"10"`
	LeaseTTL     int    `env:"LEASE_TTL" envDefault:"10"`
	LogLevel     string `env:"LOG_LEVEL" envDefault:"info"`
	// PprofAddr serves /debug/pprof on a loopback address; empty = off.
	PprofAddr string `env:"PPROF_ADDR"`
}

func main() {
	if err := run(); err != nil {
		slog.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	if err := env.Parse(&cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(cfg.LogLevel))); err != nil {
		return fmt.Errorf("configuration: LOG_LEVEL: %w", err)
	}
	for name, v := range map[string]int{"PING_TIMEOUT": cfg.PingTimeout, "CALL_TIMEOUT": cfg.CallTimeout, "LEASE_TTL": cfg.LeaseTTL} {
		if v <= 0 {
			return fmt.Errorf("configuration: %s must be a positive number of seconds, got %d", name, v)
		}
	}
	if cfg.PingInterval < 0 || cfg.DrainWindow < 0 {
		return errors.New("configuration: PING_INTERVAL and DRAIN_WINDOW must not be negative")
	}
	if err := profiling.CheckAddr(cfg.PprofAddr); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	if cfg.GatewayID == "" {
		cfg.GatewayID = server.DefaultGatewayID()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cc, err := dialCore(cfg.CoreGRPCAddr)
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

	pingInterval := time.Duration(cfg.PingInterval) * time.Second
	if cfg.PingInterval == 0 {
		pingInterval = -1 // 0 in the environment means "do not ping", as in OCPP's WebSocketPingInterval
	}
	drain := time.Duration(cfg.DrainWindow) * time.Second
	if cfg.DrainWindow == 0 {
		drain = -1 // close everything at once
	}
	gw := server.New(server.Config{
		GatewayID:    cfg.GatewayID,
		PingInterval: pingInterval,
		PingTimeout:  time.Duration(cfg.PingTimeout) * time.Second,
		CallTimeout:  time.Duration(cfg.CallTimeout) * time.Second,
		DrainWindow:  drain,
		LeaseTTL:     time.Duration(cfg.LeaseTTL) * time.Second,
		Logger:       log,
	}, b, server.NewGRPCControl(cc))
	// The subscription must outlive the signal: replies to CALLs read during
	// the drain still have to reach their chargers. Shutdown ends it.
	if err := gw.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle(server.PathPrefix, gw)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if gw.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{
		Addr:              cfg.OCPPAddr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// The gateway's own signal context must not cancel requests whose
		// sockets Shutdown is draining gracefully.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.OCPPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.OCPPAddr, err)
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "gateway", cfg.GatewayID, "core", cfg.CoreGRPCAddr)

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.PprofAddr != "" {
		pln, err := net.Listen("tcp", cfg.PprofAddr)
		if err != nil {
			return fmt.Errorf("listen PPROF_ADDR %s: %w", cfg.PprofAddr, err)
		}
		psrv := &http.Server{Handler: profiling.Handler(), ReadHeaderTimeout: 10 * time.Second}
		defer psrv.Close()
		go func() {
			if err := psrv.Serve(pln); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("profiler: %w", err)
			}
		}()
		log.Info("profiler listening", "addr", pln.Addr().String())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	log.Info("shutting down")

	// Drain the sockets first (hijacked connections are invisible to
	// http.Server.Shutdown), then stop the listener for /healthz.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain+30*time.Second)
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
