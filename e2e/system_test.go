package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/instrumented"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
)

// heartbeatInterval is deliberately unusual so that a core returning a
// hard-coded or default interval fails the BootNotification assertions.
const heartbeatInterval = 42

const (
	operatorEmail    = "operator@e2e.example"
	operatorPassword = "correct horse battery staple"
)

// system is one running deployment, seen from outside: where chargers
// connect, and the operator's REST client.
type system struct {
	mode string
	rest *restClient
	// gateways are the OCPP endpoints, "ws://host:port/ocpp/"; one in the
	// embedded mode, two in scale-out.
	gateways []string
	// tlsGateways are the gateways' wss:// endpoints, same order, when the
	// deployment was started with OCPP_TLS_ADDR.
	tlsGateways []string
	schemas     *schema.Registry
	// extraGateway starts one more gateway for the calling test (scale-out
	// only), so a test may stop it without disturbing the others.
	extraGateway func(t *testing.T, tune func(*server.Config)) gatewayHandle
	// gatewayWithSecret starts one more gateway that calls the control
	// plane with secret as its GATEWAY_SECRET (scale-out only).
	gatewayWithSecret func(t *testing.T, secret string) gatewayHandle
	// metrics are the /metrics URLs of every process: the core's first,
	// then each stand-alone gateway's.
	metrics []string
}

// gateway returns the endpoint for the i-th charger: in scale-out, chargers
// alternate between the two gateways.
func (s *system) gateway(i int) string { return s.gateways[i%len(s.gateways)] }

type mode struct {
	name string
	// start runs the deployment; tune, when given, changes the core's
	// environment first.
	start func(t *testing.T, tune ...func(env map[string]string)) *system
}

var modes = []mode{
	{"embedded", startEmbedded},
	{"scaleout", startScaleOut},
}

// Compiling every official schema once is enough for the whole package.
var schemas = sync.OnceValues(schema.Load)

func coreEnv(t *testing.T) map[string]string {
	return map[string]string{
		"HTTP_ADDR":            "127.0.0.1:0",
		"GRPC_ADDR":            "127.0.0.1:0",
		"CONTROL_ADDR":         "127.0.0.1:0",
		"GATEWAY_SECRET":       "e2e-gateway-secret-" + strings.Repeat("g", 40),
		"OCPP_ADDR":            "127.0.0.1:0",
		"HEARTBEAT_INTERVAL":   strconv.Itoa(heartbeatInterval),
		"AUTH_SECRET":          "e2e-secret-" + strings.Repeat("x", 40),
		"LOG_LEVEL":            "debug",
		"PING_INTERVAL":        "5",
		"PING_TIMEOUT":         "5",
		"DRAIN_WINDOW":         "50ms",
		"SHUTDOWN_TIMEOUT":     "10s",
		"LEASE_SWEEP_INTERVAL": "1s",
		"CORE_ID":              "e2e-core-" + uuid.NewString()[:8],
		"METRICS_ADDR":         "127.0.0.1:0",
	}
}

func startEmbedded(t *testing.T, tune ...func(env map[string]string)) *system {
	env := coreEnv(t)
	env["DATA_DIR"] = t.TempDir()
	for _, f := range tune {
		f(env)
	}
	cfg, err := config.LoadFrom(config.API, env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	addrs := startCore(t, cfg)
	sys := newSystem(t, "embedded", addrs.HTTP, []string{"ws://" + addrs.OCPP + "/ocpp/"})
	sys.metrics = []string{addrs.metricsURL()}
	if addrs.TLS != "" {
		sys.tlsGateways = []string{"wss://" + addrs.TLS + "/ocpp/"}
	}
	return sys
}

func startScaleOut(t *testing.T, tune ...func(env map[string]string)) *system {
	env := coreEnv(t)
	env["DATABASE_URL"] = testenv.PostgresURL(t)
	env["AMQP_URL"] = testenv.AMQPURL(t)
	env["AMQP_PREFIX"] = testenv.UniquePrefix(t)
	// Upstream queues are durable: remove them once everything using the
	// prefix has stopped (cleanups run last-registered first).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: env["AMQP_URL"], Prefix: env["AMQP_PREFIX"]}); err != nil {
			t.Errorf("delete RabbitMQ topology %s: %v", env["AMQP_PREFIX"], err)
		}
	})
	env["DATA_DIR"] = t.TempDir()
	for _, f := range tune {
		f(env)
	}
	cfg, err := config.LoadFrom(config.API, env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	addrs := startCore(t, cfg)
	conn := dialControl(t, addrs, cfg.GatewaySecret)

	var gws, tlsGWs []string
	urls := []string{addrs.metricsURL()}
	var gwTune func(*server.Config)
	if cfg.OCPPTLSAddr != "" {
		// The gateways read the same settings as the core.
		tl, err := server.NewTLS(server.TLSFiles{CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, ClientCAFile: cfg.TLSClientCAFile}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go tl.Watch(ctx, cfg.TLSReloadInterval, nil)
		proxies, _ := config.ParsePrefixes(cfg.TrustedProxies)
		gwTune = func(c *server.Config) { c.TLS, c.TrustedProxies = tl, proxies }
	}
	for i := 1; i <= 2; i++ {
		gw := startGateway(t, cfg, "e2e-gw"+strconv.Itoa(i)+"-"+uuid.NewString()[:8], conn, gwTune)
		gws = append(gws, gw.url)
		urls = append(urls, gw.metrics)
		if gw.tlsURL != "" {
			tlsGWs = append(tlsGWs, gw.tlsURL)
		}
	}
	sys := newSystem(t, "scaleout", addrs.HTTP, gws)
	sys.tlsGateways = tlsGWs
	sys.metrics = urls
	sys.extraGateway = func(t *testing.T, tune func(*server.Config)) gatewayHandle {
		return startGateway(t, cfg, "e2e-extra-"+uuid.NewString()[:8], conn, tune)
	}
	sys.gatewayWithSecret = func(t *testing.T, secret string) gatewayHandle {
		return startGateway(t, cfg, "e2e-secret-"+uuid.NewString()[:8], dialControl(t, addrs, secret), nil)
	}
	return sys
}

// startCore runs one core and creates the operator, as an installer would:
// migrate the database, add the user, then serve.
func startCore(t *testing.T, cfg config.Config) coreAddrs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	st, err := store.Open(ctx, store.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("store.Migrate: %v", err)
	}
	hash, err := auth.HashSecret(operatorPassword)
	if err != nil {
		t.Fatalf("HashSecret: %v", err)
	}
	if err := st.CreateUser(ctx, &store.User{ID: uuid.NewString(), Email: operatorEmail, PasswordHash: hash, FirstName: "E2E", LastName: "Operator", Role: "admin"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("store.Close: %v", err)
	}

	a, err := app.New(cfg, testLogger(t).With("part", "core"))
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
	var ad coreAddrs
	ad.HTTP, ad.GRPC, ad.OCPP = a.Addrs()
	ad.Control = a.ControlAddr()
	ad.Metrics = a.MetricsAddr()
	ad.TLS = a.OCPPTLSAddr()
	return ad
}

// coreAddrs are where a started core listens (OCPP only in the embedded
// mode, Control only in scale-out, metrics only with METRICS_ADDR, TLS only
// with OCPP_TLS_ADDR).
type coreAddrs struct{ HTTP, GRPC, Control, OCPP, Metrics, TLS string }

// dialControl connects to a scale-out core's control plane as a gateway
// does, with secret as its GATEWAY_SECRET.
func dialControl(t *testing.T, addrs coreAddrs, secret string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addrs.Control, grpc.WithTransportCredentials(insecure.NewCredentials()), controlplane.DialOption(secret))
	if err != nil {
		t.Fatalf("grpc client for %s: %v", addrs.Control, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func (a coreAddrs) metricsURL() string { return "http://" + a.Metrics + metrics.Path }

// startGateway runs a stand-alone gateway, as cmd/gateway would, on its own
// RabbitMQ connection and HTTP listener.
func startGateway(t *testing.T, cfg config.Config, id string, conn *grpc.ClientConn, tune func(*server.Config)) gatewayHandle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := testLogger(t).With("part", id)

	b, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: cfg.AMQPURL, Prefix: cfg.AMQPPrefix, Partitions: cfg.BusPartitions, Logger: log})
	if err != nil {
		t.Fatalf("rabbitmq.Dial: %v", err)
	}
	var killed atomic.Bool
	closeBus := sync.OnceValue(b.Close)
	t.Cleanup(func() {
		if err := closeBus(); err != nil && !killed.Load() {
			t.Errorf("gateway bus close: %v", err)
		}
	})

	gcfg := server.Config{
		GatewayID:       id,
		PingInterval:    5 * time.Second,
		PingTimeout:     5 * time.Second,
		CallTimeout:     10 * time.Second,
		DrainWindow:     50 * time.Millisecond,
		LeaseTTL:        30 * time.Second,
		MaxMessageBytes: 1 << 20,
		Logger:          log,
	}
	// Counted as gateway/main.go counts, served on a listener of its own.
	reg := metrics.NewRegistry()
	gcfg.Metrics = metrics.NewGateway(reg, id)
	if tune != nil {
		tune(&gcfg)
	}
	ctl := &cuttableControl{Control: server.NewGRPCControl(conn)}
	srv := server.New(gcfg, instrumented.Wrap(b, reg), ctl)
	metricsSrv := httptest.NewServer(metrics.Handler(reg))
	t.Cleanup(metricsSrv.Close)
	// Start's context bounds the subscription and the lease for the
	// gateway's whole life, not just the start-up: it ends at cleanup, after
	// Shutdown has drained.
	runCtx, cancelRun := context.WithCancel(context.Background())
	t.Cleanup(cancelRun)
	if err := srv.Start(runCtx); err != nil {
		t.Fatalf("gateway Start: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 2)
	go func() { served <- hs.Serve(ln) }()
	var tlsURL string
	if gcfg.TLS != nil {
		tln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		tlsURL = "wss://" + tln.Addr().String() + "/ocpp/"
		go func() { served <- hs.Serve(gcfg.TLS.Listener(tln)) }()
	}
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// The gateway drains its sockets first (hijacked: http.Server does
		// not track them), then the listener goes.
		if err := srv.Shutdown(ctx); err != nil && !killed.Load() {
			t.Errorf("gateway Shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http Shutdown: %v", err)
		}
		listeners := 1
		if tlsURL != "" {
			listeners = 2
		}
		for range listeners {
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("http Serve: %v", err)
			}
		}
	})
	t.Cleanup(stop)
	kill := func() {
		// What the core sees of a crashed gateway: no more lease renewals and
		// no more messages, not even "disconnected" for its sockets (they
		// stay open here, like half-open TCP connections after a crash).
		killed.Store(true)
		_ = closeBus()
		cancelRun()
	}
	return gatewayHandle{url: "ws://" + ln.Addr().String() + "/ocpp/", metrics: metricsSrv.URL + metrics.Path, tlsURL: tlsURL, stop: stop, kill: kill, cut: ctl.cut.Store}
}

// cuttableControl is a gateway's control plane that a test can cut off, as
// a network partition from the core would.
type cuttableControl struct {
	server.Control
	cut atomic.Bool
}

var errCut = status.Error(codes.Unavailable, "e2e: control plane cut off")

func (c *cuttableControl) AdmitConnection(ctx context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.Control.AdmitConnection(ctx, req)
}

func (c *cuttableControl) RenewLease(ctx context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.Control.RenewLease(ctx, req)
}

// gatewayHandle is a stand-alone gateway started by a test.
type gatewayHandle struct {
	url     string
	metrics string // its /metrics URL
	tlsURL  string // with a TLS listener only
	// stop drains it as a deployment would on SIGTERM; it also runs at cleanup.
	stop func()
	// kill makes it go silent, as if its process died.
	kill func()
	// cut(true) cuts it off from the core's control plane (admissions and
	// lease renewals fail) while it and its sockets live on; cut(false)
	// restores it.
	cut func(bool)
}

func newSystem(t *testing.T, name, httpAddr string, gateways []string) *system {
	t.Helper()
	reg, err := schemas()
	if err != nil {
		t.Fatalf("schema.Load: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rc := newRESTClient(t, "http://"+httpAddr)
	rc.login(ctx, t, operatorEmail, operatorPassword)
	return &system{mode: name, rest: rc, gateways: gateways, schemas: reg}
}

// newStationID returns an id unique to this test run, valid as an OCPP
// identity (≤ 48 chars, no ':').
func newStationID(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
}

// startTwoCores runs two core instances on one database and broker, and
// two gateways (on the first core's control plane); it returns each
// core's system (REST client) and the gateways' URLs. tune, when given,
// changes both cores' environment first.
func startTwoCores(t *testing.T, gwPrefix string, tune ...func(env map[string]string)) (*system, *system, []string) {
	t.Helper()
	env := coreEnv(t)
	env["DATABASE_URL"] = testenv.PostgresURL(t)
	env["AMQP_URL"] = testenv.AMQPURL(t)
	env["AMQP_PREFIX"] = testenv.UniquePrefix(t)
	env["DATA_DIR"] = t.TempDir()
	for _, f := range tune {
		f(env)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: env["AMQP_URL"], Prefix: env["AMQP_PREFIX"]}); err != nil {
			t.Errorf("delete RabbitMQ topology: %v", err)
		}
	})
	cfg, err := config.LoadFrom(config.API, env)
	if err != nil {
		t.Fatal(err)
	}
	core1 := startCore(t, cfg)

	// The second instance: same database and prefix, its own id, reply
	// queue and listeners.
	cfg2 := cfg
	cfg2.CoreID = "e2e-core2-" + uuid.NewString()[:8]
	cfg2.MigrateOnStart = false
	a2, err := app.New(cfg2, testLogger(t).With("part", "core2"))
	if err != nil {
		t.Fatalf("second core: %v", err)
	}
	ctx := testCtx(t)
	if err := a2.Start(ctx); err != nil {
		t.Fatalf("second core start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a2.Shutdown(sctx); err != nil {
			t.Errorf("second core shutdown: %v", err)
		}
	})
	http2, _, _ := a2.Addrs()

	conn := dialControl(t, core1, cfg.GatewaySecret)
	var gws []string
	for i := 1; i <= 2; i++ {
		gws = append(gws, startGateway(t, cfg, gwPrefix+strconv.Itoa(i)+"-"+uuid.NewString()[:8], conn, nil).url)
	}
	sys1 := newSystem(t, "core1", core1.HTTP, gws)
	sys2 := newSystem(t, "core2", http2, gws)
	return sys1, sys2, gws
}
