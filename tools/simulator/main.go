// Command simulator is a minimal charging station: it connects to a CSMS,
// boots, reports its connectors Available, sends heartbeats, answers the
// CSMS's CALLs, and reconnects with back-off when the connection drops.
//
//	go run ./tools/simulator -url ws://localhost:8887/ocpp -id CP-1 -version 1.6 -password 0123456789abcdef
//
// Strict mode (on by default) checks everything the CSMS sends against the
// official OCPP schemas and logs each violation.
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

	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	cfg, logLevel, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	if cfg.Strict {
		if cfg.Schemas, err = schema.Load(); err != nil {
			logger.Error("loading the OCPP schemas failed", "err", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newStation(cfg, logger).Run(ctx); err != nil {
		logger.Error("simulator stopped", "err", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (Config, slog.Level, error) {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg     Config
		version string
		verbose bool
	)
	fs.StringVar(&cfg.URL, "url", "ws://localhost:8887/ocpp", "CSMS OCPP endpoint; the station id is appended as a path segment")
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
	fs.BoolVar(&verbose, "v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return Config{}, 0, err
	}
	if fs.NArg() > 0 {
		return Config{}, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	v, ok := ocppj.ParseVersion(version)
	if !ok {
		v, ok = ocppj.ParseSubprotocol(version)
	}
	if !ok {
		return Config{}, 0, fmt.Errorf("-version %q: want 1.6 or 2.0.1", version)
	}
	cfg.Version = v
	if cfg.ID == "" {
		return Config{}, 0, errors.New("-id must not be empty")
	}
	if cfg.Connectors < 0 {
		return Config{}, 0, errors.New("-connectors must not be negative")
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return cfg, level, nil
}
