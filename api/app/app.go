// Package app wires the core together: store, schemas, bus, OCPP router,
// gateway control plane, operator API (gRPC and REST) and, in the embedded
// mode, an in-process bus and gateway, so that one binary runs the whole
// system.
package app

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/console"
	"github.com/chargeplane/chargeplane/api/control"
	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/datatransfer"
	"github.com/chargeplane/chargeplane/api/displaymessage"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/httpapi"
	"github.com/chargeplane/chargeplane/api/ocpp"
	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/report"
	"github.com/chargeplane/chargeplane/api/runningcost"
	"github.com/chargeplane/chargeplane/api/securityevent"
	"github.com/chargeplane/chargeplane/api/smartcharging"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/api/webhook"
	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	"github.com/chargeplane/chargeplane/pkg/bus/instrumented"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/profiling"
)

// startupTimeout bounds connecting to the database and the broker in New.
const startupTimeout = 30 * time.Second

// commandSweepInterval is how often commands left pending by a dead core
// instance are marked failed (each one a sweep interval after its caller
// gave up).
const commandSweepInterval = time.Minute

// App is one core instance. Create it with New, then Start; Shutdown stops
// it (also after a failed Start).
type App struct {
	cfg config.Config
	log *slog.Logger

	// OpenAPI, when set before Start, is served at /api/v1/openapi.json.
	OpenAPI []byte

	store    *store.Store
	bus      bus.Bus
	counted  *instrumented.Bus // bus, counting
	router   *ocpp.Router
	meters   *store.MeterBatcher  // group commit of MeterValues
	statuses *store.StatusBatcher // group commit of StatusNotifications
	// last-seen times, written in batches off the reply path (≤ 1 s lost
	// in a crash: liveness, not charger data)
	lastSeen *store.LastSeenWriter
	control  *control.Service
	tokens   *auth.Tokens
	// creds checks tokens and API keys against users' and keys' state.
	creds *access.Authenticator
	// forwardKey proves to the guard that a client address comes from
	// this process's own REST gateway.
	forwardKey string

	// messages writes the per-station raw message log in the background.
	messages *store.MessageLogger
	commands *command.Dispatcher
	// events stores and relays live events; hub hands every instance's
	// events to this instance's subscribers. The recorder outlives the
	// bus consumers (recStop after the bus closes) so that no handler's
	// event is left unstored.
	events  *event.Recorder
	hub     *event.Hub
	recStop context.CancelFunc
	recDone chan struct{}
	// certs signs station CSRs and delivers their certificates.
	certs *certificates.Service
	// charging answers EV charging needs with schedules.
	charging *smartcharging.Service
	// costs sends stations the running cost of their transactions.
	costs *runningcost.Service
	// webhooks delivers the events to the webhooks this instance holds.
	webhooks *webhook.Dispatcher

	grpcSrv *grpc.Server
	// controlSrv serves the gateways' control plane on CONTROL_ADDR
	// (scale-out only), apart from the operator services.
	controlSrv *grpc.Server
	health     *health.Server
	gateway    *server.Server // embedded mode only

	httpAPI *httpapi.API
	httpSrv *http.Server
	ocppSrv *http.Server
	// metrics is the registry served on METRICS_ADDR; the core's
	// components register their collectors on it.
	metrics *prometheus.Registry
	// Optional listeners beside the APIs: /debug/pprof on PPROF_ADDR,
	// /metrics on METRICS_ADDR.
	pprof, metricsL sideListener

	grpcLis, controlLis, httpLis, ocppLis, ocppTLSLis net.Listener
	// tls serves OCPP_TLS_ADDR's certificate (embedded mode, when set).
	tls *server.TLS

	mu       sync.Mutex
	started  bool
	stopping bool
	stopped  bool
	stopRun  context.CancelFunc
	bg       sync.WaitGroup
	serveErr chan error
}

// New opens the database (migrating it when MIGRATE_ON_START), loads the
// OCPP schemas, connects the bus and builds every service. It listens on
// nothing yet.
func New(cfg config.Config, logger *slog.Logger) (_ *App, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := cfg.Validate(config.API); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: logger.With("core", cfg.CoreID), metrics: metrics.NewRegistry(), serveErr: make(chan error, 3)}
	// Release whatever was opened if a later step fails.
	defer func() {
		if err != nil {
			a.closeResources()
		}
	}()

	secret, err := cfg.ResolveAuthSecret()
	if err != nil {
		return nil, err
	}
	if a.tokens, err = auth.NewTokens(secret, cfg.AuthTokenTTL); err != nil {
		return nil, err
	}
	core := metrics.NewCore(a.metrics)
	var controlOpts []grpc.ServerOption
	if !cfg.Embedded() {
		// Like AUTH_SECRET: refused before touching the database or the broker.
		if controlOpts, err = controlServerOptions(cfg, core, logger); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()
	if a.store, err = store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: logger}); err != nil {
		return nil, fmt.Errorf("app: open store: %w", err)
	}
	if cfg.MigrateOnStart {
		if err := a.store.Migrate(ctx); err != nil {
			return nil, fmt.Errorf("app: migrate: %w", err)
		}
	}
	schemas, err := schema.Load()
	if err != nil {
		return nil, fmt.Errorf("app: load OCPP schemas: %w", err)
	}

	if cfg.Embedded() {
		a.bus = inproc.New(inproc.Config{Partitions: cfg.BusPartitions, Lanes: cfg.BusLanes, Logger: logger})
	} else {
		rb, err := rabbitmq.Dial(ctx, rabbitmq.Config{
			URL: cfg.AMQPURL, Prefix: cfg.AMQPPrefix, Partitions: cfg.BusPartitions, Lanes: cfg.BusLanes, Logger: logger,
			// The instances consuming upstream share its partitions by this id.
			InstanceID: cfg.CoreID,
		})
		if err != nil {
			return nil, fmt.Errorf("app: connect to RabbitMQ: %w", err)
		}
		a.bus = rb
	}

	if err := a.store.Instrument(a.metrics); err != nil {
		return nil, fmt.Errorf("app: instrument the store: %w", err)
	}
	if rb, ok := a.bus.(*rabbitmq.Bus); ok {
		a.metrics.MustRegister(rb.Collectors()...)
	}
	// Everything publishes and consumes through the counting bus; a.bus
	// stays the bare one for its health and lifecycle.
	a.counted = instrumented.Wrap(a.bus, a.metrics)
	counted := a.counted

	a.meters = a.store.NewMeterBatcher(store.MeterBatcherConfig{Logger: logger})
	a.statuses = a.store.NewStatusBatcher(store.BatcherConfig{Logger: logger})
	a.lastSeen = a.store.NewLastSeenWriter(store.LastSeenWriterConfig{Logger: logger})
	a.messages = a.store.NewMessageLogger(store.MessageLoggerConfig{Keep: cfg.MessageLogPerStation,
		MaxBytes: cfg.MessageLogBytes, MaxFrame: cfg.MessageLogMaxFrame, Logger: logger})
	a.hub = event.NewHub(event.HubConfig{Log: a.store, Logger: logger})
	a.events = event.NewRecorder(event.RecorderConfig{
		Log: a.store, Relay: a.bus, Hub: a.hub, Retention: cfg.EventRetention, Logger: logger,
		Enrich: event.StoreEnricher(a.store),
	})
	a.commands = command.NewDispatcher(command.Deps{
		Store: a.store, Bus: counted, Schemas: schemas, CoreID: cfg.CoreID,
		Timeout: cfg.CommandTimeout, Logger: logger, Messages: a.messages, Metrics: core, Events: a.events,
	})
	needsPolicy, ok := smartcharging.ParseNeedsPolicy(cfg.EVChargingNeeds)
	if !ok {
		return nil, fmt.Errorf("EV_CHARGING_NEEDS %q is not accept, processing or reject", cfg.EVChargingNeeds)
	}
	// Smart charging sends through the command tables, and their answers
	// to the operator's profiles have it plan again: its sender is given
	// the tables once they exist.
	chargingSender := &smartcharging.CommandSender{}
	a.charging = smartcharging.New(smartcharging.Config{Store: a.store, Sender: chargingSender, Policy: needsPolicy, Logger: logger})
	// Every command, typed or generic, goes through its version's table.
	cmds := command.NewSender(a.commands, ocpp.PlanningCommandTables(a.store, time.Now, a.charging), logger)
	chargingSender.Commands = cmds
	// Kept apart from the raw message log, never trimmed with it.
	securityEvents := securityevent.StoreRecorder{Store: a.store, Now: time.Now}
	ca, noCA, err := certificateAuthority(cfg, logger)
	if err != nil {
		return nil, err
	}
	var ocspResponder *pki.OCSPResponder
	if cfg.OCSPResponderURL != "" {
		if ocspResponder, err = pki.NewOCSPResponder(cfg.OCSPResponderURL, nil); err != nil {
			return nil, err
		}
	}
	a.certs = certificates.New(certificates.Config{
		CA: ca, NoCA: noCA, Policy: pki.CSRPolicy{Organization: cfg.CSMSOrganization},
		Store: a.store, Sender: certificates.CommandSender{Commands: cmds}, Events: securityEvents, Logger: logger,
		// An attempt's lease outlives the command it sends.
		AttemptLease: cfg.CommandTimeout + time.Minute,
	})
	a.costs = runningcost.New(runningcost.Config{Store: a.store, Costs: tariff.Coster{Store: a.store, Now: time.Now},
		Sender: runningcost.CommandSender{Commands: cmds, Store: a.store}, Interval: cfg.CostUpdateInterval,
		Send16: true, FinalCostDelay: time.Second, Logger: logger})
	// DATA_TRANSFER_VENDORS and MESSAGE_LOG_SKIP were validated when the
	// settings were loaded.
	vendors, _ := config.ParseVendorMessages(cfg.DataTransferVendors)
	unlogged, _ := config.ParseChargerActions(cfg.MessageLogSkip)
	extensions := datatransfer.NewRegistry()
	for _, v := range vendors {
		extensions.Accept(v.VendorID, v.MessageID)
	}
	a.router = ocpp.NewRouter(ocpp.Deps{
		Store: a.store, Bus: counted, Schemas: schemas, Now: time.Now,
		HeartbeatInterval: cfg.HeartbeatInterval, Logger: logger, Metrics: core,
		Meters: a.meters, Statuses: a.statuses, MessageLog: a.messages, MessageLogSkip: unlogged, LastSeen: a.lastSeen,
		Certificates: a.certs, OCSP: ocspResponder, AlertSeverity: &cfg.AlertSeverity, EVNeeds: a.charging, FinalCosts: a.costs, Events: a.events,
		SecurityEvents: securityEvents, VendorExtensions: extensions,
	})
	// Stations' and operators' passwords share one bound on Argon2id.
	passwords := auth.NewPasswordChecker(cfg.Argon2Concurrency)
	a.control = control.New(control.Deps{Store: a.store, Bus: counted, Now: time.Now, Logger: logger, Metrics: core,
		Passwords: passwords, MaxAdmissions: cfg.AdmissionConcurrency,
		Policy:          admission.Policy{MinProfile: cfg.MinSecurityProfile, Organization: cfg.CSMSOrganization},
		UnknownStations: onboarding.Mode(cfg.UnknownStations), PendingLimit: cfg.PendingStationsLimit,
		Events: securityevent.Admissions{Recorder: securityEvents, Logger: logger}})

	a.creds = access.NewAuthenticator(access.AuthenticatorConfig{Tokens: a.tokens, Store: a.store, Logger: logger})
	authSvc, err := operator.NewAuthService(a.store, a.tokens, a.creds, passwords, logger)
	if err != nil {
		return nil, err
	}
	if a.forwardKey, err = randomKey(); err != nil {
		return nil, err
	}
	guard := access.NewGuard(access.GuardConfig{Credentials: a.creds, ForwardKey: a.forwardKey, Audit: a.store, Logger: logger})
	// Operator calls start (or, from REST, continue) a trace.
	a.grpcSrv = grpc.NewServer(append(access.ServerOptions(guard, logger), grpc.StatsHandler(otelgrpc.NewServerHandler()))...)
	chargeplanev1.RegisterAuthServiceServer(a.grpcSrv, authSvc)
	chargeplanev1.RegisterUserServiceServer(a.grpcSrv, operator.NewUserService(a.store, a.creds, logger))
	chargeplanev1.RegisterApiKeyServiceServer(a.grpcSrv, operator.NewAPIKeyService(a.store, a.creds, time.Now, logger))
	chargeplanev1.RegisterAuditServiceServer(a.grpcSrv, operator.NewAuditService(a.store, logger))
	chargeplanev1.RegisterEventServiceServer(a.grpcSrv, operator.NewEventService(a.hub, logger))
	chargeplanev1.RegisterStationServiceServer(a.grpcSrv, operator.NewStationService(a.store, logger).WithDisconnector(a.control).WithCommands(cmds))
	chargeplanev1.RegisterIdTokenServiceServer(a.grpcSrv, operator.NewIDTokenService(a.store, logger))
	chargeplanev1.RegisterTransactionServiceServer(a.grpcSrv, operator.NewTransactionService(a.store, logger))
	chargeplanev1.RegisterCommandServiceServer(a.grpcSrv, operator.NewCommandService(cmds, a.store, logger))
	chargeplanev1.RegisterRemoteControlServiceServer(a.grpcSrv, operator.NewRemoteControlService(operator.RemoteControlDeps{
		Commands: cmds, Store: a.store, Logger: logger,
	}))
	rotator := credentials.Rotator{Store: a.store, Sender: credentials.CommandSender{Commands: cmds}, Logger: logger}
	chargeplanev1.RegisterConfigurationServiceServer(a.grpcSrv, operator.NewConfigurationService(cmds, a.store, rotator, logger))
	chargeplanev1.RegisterFirmwareServiceServer(a.grpcSrv, operator.NewFirmwareService(cmds, a.store, logger))
	chargeplanev1.RegisterMonitoringServiceServer(a.grpcSrv, operator.NewMonitoringService(cmds, a.store, logger))
	chargeplanev1.RegisterDisplayMessageServiceServer(a.grpcSrv, operator.NewDisplayMessageService(cmds, a.store,
		displaymessage.Messages{Store: a.store, Now: time.Now}, logger))
	chargeplanev1.RegisterCustomerInformationServiceServer(a.grpcSrv, operator.NewCustomerInformationService(cmds, a.store,
		customerinfo.Requests{Store: a.store}, logger))
	chargeplanev1.RegisterReservationServiceServer(a.grpcSrv, operator.NewReservationService(cmds, a.store, time.Now, logger))
	chargeplanev1.RegisterLocalListServiceServer(a.grpcSrv, operator.NewLocalListService(cmds, a.store, time.Now, logger))
	chargeplanev1.RegisterSmartChargingServiceServer(a.grpcSrv, operator.NewSmartChargingService(cmds, a.store, logger))
	chargeplanev1.RegisterTariffServiceServer(a.grpcSrv, operator.NewTariffService(a.store, logger))
	chargeplanev1.RegisterCertificateServiceServer(a.grpcSrv, operator.NewCertificateService(cmds, ca, a.store, logger))
	chargeplanev1.RegisterSecurityEventServiceServer(a.grpcSrv, operator.NewSecurityEventService(a.store, logger))
	chargeplanev1.RegisterDataTransferServiceServer(a.grpcSrv, operator.NewDataTransferService(a.store, logger))
	// Webhook secrets are sealed under a key derived from AUTH_SECRET,
	// which every instance shares and the database does not hold.
	sealer, err := webhook.NewSealer(secret)
	if err != nil {
		return nil, err
	}
	if a.webhooks, err = webhook.New(webhook.Config{
		Store: a.store, Sealer: sealer, Owner: cfg.CoreID, Hub: a.hub,
		Timeout: cfg.WebhookTimeout, RetryFor: cfg.WebhookRetryFor, AllowPrivate: cfg.WebhookAllowPrivate,
		Retention: cfg.EventRetention, Metrics: webhook.NewMetrics(a.metrics), Logger: logger,
	}); err != nil {
		return nil, err
	}
	chargeplanev1.RegisterWebhookServiceServer(a.grpcSrv, operator.NewWebhookService(a.store, sealer, cfg.WebhookAllowPrivate, a.webhooks.Kick, logger))
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcSrv, a.health)
	reflection.Register(a.grpcSrv)
	// The guard refuses a method without a policy; refusing to start says
	// so before any caller finds out.
	if err := access.CheckServer(a.grpcSrv); err != nil {
		return nil, err
	}

	if controlOpts != nil {
		a.controlSrv = grpc.NewServer(controlOpts...)
		gatewayv1.RegisterGatewayControlServiceServer(a.controlSrv, a.control)
	}

	if cfg.Embedded() {
		gw := server.FromSettings(cfg, logger)
		gw.GatewayID = cfg.CoreID + "-gw"
		if cfg.OCPPTLSAddr != "" {
			files := server.TLSFiles{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile}
			if files.ClientCAFile == "" && ca != nil {
				// Certificates the core signs work for profile 3 from the
				// first run.
				files.ExtraClientCAs = []*x509.Certificate{ca.Certificate()}
			}
			if a.tls, err = server.NewTLS(files, logger); err != nil {
				return nil, fmt.Errorf("app: %w", err)
			}
			gw.TLS = a.tls
		}
		gw.Metrics = metrics.NewGateway(a.metrics, gw.GatewayID)
		a.gateway = server.New(gw, counted, a.control)
	}
	return a, nil
}

// controlServerOptions make the gateways' control plane: a gRPC server of
// its own, so that it can listen on an internal address, where every call
// must carry GATEWAY_SECRET before any method runs (checked first;
// recovery wraps the handlers), over TLS (and mutual TLS) when configured.
// No reflection, no health, no traces (admissions and lease renewals
// would only be noise).
func controlServerOptions(cfg config.Config, core *metrics.Core, log *slog.Logger) ([]grpc.ServerOption, error) {
	gateways, err := controlplane.NewAuthenticator(controlplane.Config{Secret: cfg.GatewaySecret, Logger: log, Refused: core.ControlUnauthenticated})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	opts := append(gateways.ServerOptions(),
		grpc.ChainUnaryInterceptor(access.RecoverUnary(log)), grpc.ChainStreamInterceptor(access.RecoverStream(log)))
	if cfg.ControlTLSCertFile != "" {
		creds, err := controlplane.ServerTLS(cfg.ControlTLSCertFile, cfg.ControlTLSKeyFile, cfg.ControlClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	return opts, nil
}

// randomKey is a fresh 256-bit secret, hex-encoded.
func randomKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("app: random key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// certificateAuthority loads the CSMS CA: the operator's CA_CERT_FILE and
// CA_KEY_FILE, or, when the core keeps its state in DATA_DIR (no
// DATABASE_URL), the CA generated and kept there, so that security
// profile 3 works on the first run. Core instances sharing a database
// must all sign with one CA, which they cannot generate each on their
// own: without the files they sign nothing, and noCA says why.
func certificateAuthority(cfg config.Config, log *slog.Logger) (ca *pki.CA, noCA string, err error) {
	opts := pki.Options{Validity: cfg.StationCertValidity}
	switch {
	case cfg.CACertFile != "":
		if ca, err = pki.Load(cfg.CACertFile, cfg.CAKeyFile, opts); err != nil {
			return nil, "", fmt.Errorf("app: %w", err)
		}
		log.Info("certificate authority loaded", "ca_cert_file", cfg.CACertFile, "subject", ca.Certificate().Subject.String(),
			"not_after", ca.Certificate().NotAfter)
	case cfg.DatabaseURL == "":
		var created bool
		if ca, created, err = pki.LoadOrCreate(cfg.DataDir, cfg.CSMSOrganization, opts); err != nil {
			return nil, "", fmt.Errorf("app: %w", err)
		}
		path := filepath.Join(cfg.DataDir, pki.GeneratedCertFile)
		if created {
			log.Info("certificate authority generated: give its certificate to chargers as their CSMS root", "ca_cert_file", path)
		} else {
			log.Info("certificate authority loaded", "ca_cert_file", path, "not_after", ca.Certificate().NotAfter)
		}
	default:
		noCA = "CA_CERT_FILE and CA_KEY_FILE are not set (with DATABASE_URL every core must sign with the same CA)"
		log.Warn("station certificates cannot be signed: SignCertificate is rejected", "reason", noCA)
		return nil, noCA, nil
	}
	if left := time.Until(ca.Certificate().NotAfter); left < certificates.DefaultExpiryWarning {
		log.Warn("the certificate authority's certificate expires soon", "not_after", ca.Certificate().NotAfter)
	}
	return ca, "", nil
}

// Store returns the core's store (tools and tests create users with it).
func (a *App) Store() *store.Store { return a.store }

// ServiceInfo lists the gRPC services and methods the core serves.
func (a *App) ServiceInfo() map[string]grpc.ServiceInfo { return a.grpcSrv.GetServiceInfo() }

// Commands returns the dispatcher that sends this instance's CALLs to
// chargers (typed command services build on it).
func (a *App) Commands() *command.Dispatcher { return a.commands }

// Start listens on the configured addresses, starts consuming the bus and
// serving. It returns once everything accepts work.
func (a *App) Start(ctx context.Context) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.stopped {
		return errors.New("app: already started")
	}
	a.started = true

	var lc net.ListenConfig
	if a.grpcLis, err = lc.Listen(ctx, "tcp", a.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("app: listen GRPC_ADDR %s: %w", a.cfg.GRPCAddr, err)
	}
	if a.controlSrv != nil {
		if a.controlLis, err = lc.Listen(ctx, "tcp", a.cfg.ControlAddr); err != nil {
			return fmt.Errorf("app: listen CONTROL_ADDR %s: %w", a.cfg.ControlAddr, err)
		}
	}
	if a.httpLis, err = lc.Listen(ctx, "tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("app: listen HTTP_ADDR %s: %w", a.cfg.HTTPAddr, err)
	}
	if a.gateway != nil && a.cfg.OCPPAddr != "" {
		if a.ocppLis, err = lc.Listen(ctx, "tcp", a.cfg.OCPPAddr); err != nil {
			return fmt.Errorf("app: listen OCPP_ADDR %s: %w", a.cfg.OCPPAddr, err)
		}
	}
	if a.gateway != nil && a.tls != nil {
		if a.ocppTLSLis, err = lc.Listen(ctx, "tcp", a.cfg.OCPPTLSAddr); err != nil {
			return fmt.Errorf("app: listen OCPP_TLS_ADDR %s: %w", a.cfg.OCPPTLSAddr, err)
		}
	}

	// Background work lives until Shutdown, not until ctx: Shutdown must be
	// able to drain the gateway while the consumers still run.
	runCtx, stop := context.WithCancel(context.Background())
	a.stopRun = stop

	// Events: the hub starts where the log ends, before anything can
	// record one; the recorder runs until the bus has stopped (closeResources).
	if err := a.hub.Start(ctx); err != nil {
		return fmt.Errorf("app: read the event log: %w", err)
	}
	recCtx, recStop := context.WithCancel(context.Background())
	a.recStop, a.recDone = recStop, make(chan struct{})
	go func() {
		defer close(a.recDone)
		a.events.Run(recCtx)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.hub.Run(runCtx)
	}()
	if err := a.bus.ConsumeEvents(runCtx, a.cfg.CoreID, a.hub.HandleRelay); err != nil {
		return fmt.Errorf("app: consume events: %w", err)
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.webhooks.Run(runCtx)
	}()

	// Before the first SignCertificate can come in.
	a.certs.Start(runCtx)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.certs.Wait()
	}()
	// Before the first NotifyEVChargingNeeds can come in.
	a.charging.Start(runCtx)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		<-runCtx.Done()
		a.charging.Wait()
	}()
	// Before the first StopTransaction can come in.
	a.costs.Start(runCtx)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		<-runCtx.Done()
		a.costs.Wait()
	}()
	// Before anything can send a command: answers come back here.
	if err := a.counted.ConsumeCore(runCtx, a.cfg.CoreID, a.commands.HandleReply); err != nil {
		return fmt.Errorf("app: consume core replies: %w", err)
	}
	if err := a.counted.ConsumeUpstream(runCtx, a.router.HandleUpstream); err != nil {
		return fmt.Errorf("app: consume upstream: %w", err)
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.commands.RunSweeper(runCtx, commandSweepInterval)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.control.RunLeaseSweeper(runCtx, a.cfg.LeaseSweepInterval)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		// As often as leases are swept: a command to a station whose
		// gateway died answers 409 one sweep after the lease expired.
		a.commands.RunConnectionCheck(runCtx, a.cfg.LeaseSweepInterval)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.creds.Run(runCtx)
	}()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		// Every core sweeps: the delete is idempotent and cheap when
		// nothing is abandoned.
		report.Sweeper{Store: a.store, Logger: a.log}.Run(runCtx)
	}()

	a.serve("grpc", func() error { return a.grpcSrv.Serve(a.grpcLis) })
	if a.controlSrv != nil {
		a.serve("control", func() error { return a.controlSrv.Serve(a.controlLis) })
	}

	web, err := console.New()
	if err != nil {
		return err
	}
	if a.httpAPI, err = httpapi.New(httpapi.Config{
		GRPCEndpoint: loopback(a.grpcLis.Addr()),
		Console:      web,
		ForwardKey:   a.forwardKey,
		Ready:        a.ready,
		OpenAPI:      a.OpenAPI,
		Logger:       a.log,
	}); err != nil {
		return err
	}
	rest := otelhttp.NewHandler(a.httpAPI, "rest", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return "HTTP " + r.Method // paths hold station ids: not for span names
	}))
	a.httpSrv = &http.Server{Handler: rest, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	a.serve("http", func() error { return a.httpSrv.Serve(a.httpLis) })

	if a.gateway != nil {
		if err := a.gateway.Start(runCtx); err != nil {
			return fmt.Errorf("app: start embedded gateway: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle(server.PathPrefix, a.gateway)
		a.ocppSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
			// Sockets are drained by the gateway's Shutdown, not cut by a
			// cancelled base context.
			BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(runCtx) },
		}
		if a.ocppLis != nil {
			a.serve("ocpp", func() error { return a.ocppSrv.Serve(a.ocppLis) })
		}
		if a.ocppTLSLis != nil {
			tlsLis := a.tls.Listener(a.ocppTLSLis)
			a.serve("ocpp-tls", func() error { return a.ocppSrv.Serve(tlsLis) })
			hup, stopHUP := server.NotifyReload()
			a.bg.Add(1)
			go func() {
				defer a.bg.Done()
				defer stopHUP()
				a.tls.Watch(runCtx, a.cfg.TLSReloadInterval, hup)
			}()
		}
	}
	if err := a.listenSide(ctx, &a.pprof, "PPROF_ADDR", a.cfg.PprofAddr, profiling.Handler()); err != nil {
		return err
	}
	if err := a.listenSide(ctx, &a.metricsL, "METRICS_ADDR", a.cfg.MetricsAddr, metrics.Handler(a.metrics)); err != nil {
		return err
	}

	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	http, grpcAddr, ocppAddr := a.addrsLocked()
	a.log.Info("core started", "http", http, "grpc", grpcAddr, "control", a.controlAddrLocked(), "ocpp", ocppAddr, "ocpp_tls", a.tlsAddrLocked(),
		"embedded", a.cfg.Embedded(),
		// The same words `api user create` prints, to compare the two.
		"database", store.Config{DatabaseURL: a.cfg.DatabaseURL, DataDir: a.cfg.DataDir}.Describe())
	return nil
}

// serve runs a server loop; an unexpected end is reported on Done.
func (a *App) serve(name string, run func() error) {
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		err := run()
		if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
			return
		}
		a.mu.Lock()
		stopping := a.stopping
		a.mu.Unlock()
		if stopping {
			return
		}
		a.log.Error("server stopped unexpectedly", "server", name, "err", err)
		select {
		case a.serveErr <- fmt.Errorf("app: %s server: %w", name, err):
		default:
		}
	}()
}

// Failed delivers the error of a server that stopped on its own; the
// caller should then Shutdown.
func (a *App) Failed() <-chan error { return a.serveErr }

// loopback turns a listener address into one the core can dial itself:
// a wildcard host (":9090", "[::]:9090") becomes 127.0.0.1.
func loopback(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

// pinger is implemented by buses that can tell whether they are connected.
type pinger interface {
	Ping(ctx context.Context) error
}

// ready backs /readyz: the database answers, the bus is connected, and the
// core is not shutting down.
func (a *App) ready(ctx context.Context) error {
	a.mu.Lock()
	stopping := a.stopping
	a.mu.Unlock()
	if stopping {
		return errors.New("shutting down")
	}
	if err := a.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if p, ok := a.bus.(pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
	}
	return nil
}

// Addrs returns the addresses actually listened on (useful with ":0");
// ocpp is empty without the embedded gateway.
func (a *App) Addrs() (httpAddr, grpcAddr, ocppAddr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrsLocked()
}

func (a *App) addrsLocked() (httpAddr, grpcAddr, ocppAddr string) {
	if a.httpLis != nil {
		httpAddr = a.httpLis.Addr().String()
	}
	if a.grpcLis != nil {
		grpcAddr = a.grpcLis.Addr().String()
	}
	if a.ocppLis != nil {
		ocppAddr = a.ocppLis.Addr().String()
	}
	return
}

// ControlAddr returns the address of the gateways' control plane
// (CONTROL_ADDR); empty in the embedded mode.
func (a *App) ControlAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.controlAddrLocked()
}

func (a *App) controlAddrLocked() string {
	if a.controlLis == nil {
		return ""
	}
	return a.controlLis.Addr().String()
}

// OCPPTLSAddr returns the address of the embedded gateway's TLS listener
// (OCPP_TLS_ADDR); empty when off.
func (a *App) OCPPTLSAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tlsAddrLocked()
}

func (a *App) tlsAddrLocked() string {
	if a.ocppTLSLis == nil {
		return ""
	}
	return a.ocppTLSLis.Addr().String()
}

// ReloadTLS reads the TLS files again now (as SIGHUP does).
func (a *App) ReloadTLS() (changed bool, err error) {
	if a.tls == nil {
		return false, errors.New("app: no TLS listener")
	}
	return a.tls.Reload()
}

// sideListener is an optional HTTP listener beside the APIs, off when its
// address is empty.
type sideListener struct {
	lis net.Listener
	srv *http.Server
}

// listenSide starts l on addr (the value of the variable named setting)
// serving h; an empty addr leaves it off.
func (a *App) listenSide(ctx context.Context, l *sideListener, setting, addr string, h http.Handler) (err error) {
	if addr == "" {
		return nil
	}
	var lc net.ListenConfig
	if l.lis, err = lc.Listen(ctx, "tcp", addr); err != nil {
		return fmt.Errorf("app: listen %s %s: %w", setting, addr, err)
	}
	l.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	a.serve(setting, func() error { return l.srv.Serve(l.lis) })
	a.log.Info("listening", "setting", setting, "addr", l.lis.Addr().String())
	return nil
}

// addr is where l listens; empty when off.
func (l *sideListener) addr() string {
	if l.lis == nil {
		return ""
	}
	return l.lis.Addr().String()
}

// close stops l at once: a profile or a scrape in progress is not worth
// delaying a shutdown for.
func (l *sideListener) close() {
	if l.srv != nil {
		_ = l.srv.Close()
	} else if l.lis != nil {
		l.lis.Close()
	}
}

// PprofAddr is the address the profiler listens on; empty without PPROF_ADDR.
func (a *App) PprofAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pprof.addr()
}

// MetricsAddr is the address /metrics is served on; empty without
// METRICS_ADDR.
func (a *App) MetricsAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.metricsL.addr()
}

// Metrics is the core's Prometheus registry, served on METRICS_ADDR.
func (a *App) Metrics() *prometheus.Registry { return a.metrics }

// Shutdown stops the core gracefully, in dependency order: stop accepting
// (readiness fails, listeners close), drain the embedded gateway (chargers
// are told to go away and their disconnections processed), finish in-flight
// API calls, stop the consumers and the lease sweeper, then close the bus
// and the store. If ctx ends first the rest is cut short.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopping = true
	a.stopped = true
	a.mu.Unlock()
	a.log.Info("core shutting down")

	var errs []error
	if a.health != nil {
		a.health.Shutdown()
	}
	// New chargers and API clients go elsewhere first.
	if a.ocppSrv != nil {
		// Only stops the listener and idle connections; hijacked WebSockets
		// are the gateway's to drain.
		if err := a.ocppSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ocpp listener: %w", err))
		}
	} else {
		for _, l := range []net.Listener{a.ocppLis, a.ocppTLSLis} {
			if l != nil {
				l.Close()
			}
		}
	}
	if a.gateway != nil && a.started {
		if err := a.gateway.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway drain: %w", err))
		}
	}
	// Event streams never end on their own.
	if a.hub != nil {
		a.hub.Close()
	}
	if a.httpSrv != nil {
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	} else if a.httpLis != nil {
		a.httpLis.Close()
	}
	if a.httpAPI != nil {
		a.httpAPI.Close()
	}
	a.pprof.close()
	a.metricsL.close()
	for _, g := range []struct {
		srv *grpc.Server
		lis net.Listener
	}{{a.grpcSrv, a.grpcLis}, {a.controlSrv, a.controlLis}} {
		stopGRPC(ctx, g.srv)
		if g.lis != nil {
			g.lis.Close() // no-op once Serve owned it
		}
	}
	if a.stopRun != nil {
		a.stopRun()
	}
	waited := make(chan struct{})
	go func() { a.bg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("background work: %w", ctx.Err()))
	}
	a.closeResources()
	if err := errors.Join(errs...); err != nil {
		a.log.Warn("core shutdown incomplete", "err", err)
		return err
	}
	a.log.Info("core stopped")
	return nil
}

// stopGRPC lets srv's in-flight calls finish unless ctx ends first.
func stopGRPC(ctx context.Context, srv *grpc.Server) {
	if srv == nil {
		return
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		srv.Stop()
		<-done
	}
}

func (a *App) closeResources() {
	if a.bus != nil {
		if err := a.bus.Close(); err != nil && !errors.Is(err, bus.ErrClosed) {
			a.log.Warn("close bus", "err", err)
		}
	}
	// After the bus (no handler is running any more), before the store.
	if a.recStop != nil {
		a.recStop()
		<-a.recDone
	}
	if a.creds != nil {
		a.creds.Flush(context.Background())
	}
	if a.meters != nil {
		if err := a.meters.Close(); err != nil {
			a.log.Warn("close meter batcher", "err", err)
		}
	}
	if a.statuses != nil {
		if err := a.statuses.Close(); err != nil {
			a.log.Warn("close status batcher", "err", err)
		}
	}
	if a.lastSeen != nil {
		if err := a.lastSeen.Close(); err != nil {
			a.log.Warn("close last seen writer", "err", err)
		}
	}
	if a.messages != nil {
		if err := a.messages.Close(); err != nil {
			a.log.Warn("close message log", "err", err)
		}
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Warn("close store", "err", err)
		}
	}
}
