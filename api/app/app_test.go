package app_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/metrics/metricstest"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	v16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// gorm's prepared-statement cache starts a sweeper it never stops.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
	)
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func load(t *testing.T, environ map[string]string) config.Config {
	t.Helper()
	base := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "GRPC_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "OCPP_ADDR": "127.0.0.1:0",
		"DATA_DIR": t.TempDir(), "DRAIN_WINDOW": "0", "SHUTDOWN_TIMEOUT": "10s",
	}
	for k, v := range environ {
		base[k] = v
	}
	cfg, err := config.LoadFrom(config.API, base)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func start(t *testing.T, cfg config.Config) *app.App {
	t.Helper()
	a, err := app.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		a.Shutdown(ctx)
		t.Fatalf("app.Start: %v", err)
	}
	return a
}

func shutdown(t *testing.T, a *app.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

type rest struct {
	base, token string
}

func (r *rest) call(t *testing.T, method, path, body string, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, r.base+path, rd)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
}

func addUser(t *testing.T, st *store.Store, email, password string) {
	t.Helper()
	hash, err := auth.HashSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), &store.User{Email: email, PasswordHash: hash, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, httpAddr string) *rest {
	t.Helper()
	r := &rest{base: "http://" + httpAddr}
	var tok struct{ AccessToken string }
	r.call(t, "POST", "/api/v1/auth/login", `{"email":"ops@example.com","password":"operator-pw"}`, http.StatusOK, &tok)
	r.token = tok.AccessToken
	return r
}

// TestEmbedded runs the whole system in one process, as `api` does without
// DATABASE_URL and AMQP_URL: an operator registers a station over REST, the
// station connects to the embedded gateway and boots, and the REST API sees
// it connected.
func TestEmbedded(t *testing.T) {
	defer goleak.VerifyNone(t,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
	)
	cfg := load(t, nil)
	a := start(t, cfg)
	stopped := false
	defer func() {
		if !stopped {
			shutdown(t, a)
		}
	}()
	httpAddr, grpcAddr, ocppAddr := a.Addrs()
	if ocppAddr == "" || strings.HasSuffix(httpAddr, ":0") || strings.HasSuffix(grpcAddr, ":0") {
		t.Fatalf("addrs = %q %q %q", httpAddr, grpcAddr, ocppAddr)
	}
	if c := a.ControlAddr(); c != "" {
		t.Errorf("the embedded mode listens for gateways on %s", c)
	}
	info, err := os.Stat(filepath.Join(cfg.DataDir, config.AuthSecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("generated secret: %v, %v", info, err)
	}

	addUser(t, a.Store(), "ops@example.com", "operator-pw")
	r := login(t, httpAddr)
	r.call(t, "GET", "/readyz", "", http.StatusOK, nil)
	r.call(t, "POST", "/api/v1/stations", `{"id":"CP-E1","password":"station-password-1"}`, http.StatusCreated, nil)

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	hc, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health = %v, %v", hc, err)
	}

	schemas, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ocppAddr + "/ocpp/CP-E1"
	_, err = chargepoint.Dial(ctx, url, chargepoint.Options{Subprotocols: []string{"ocpp1.6"}, Password: "wrong-password-123"})
	var he *chargepoint.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v, want HTTP 401", err)
	}
	cp, err := chargepoint.Dial(ctx, url, chargepoint.Options{Subprotocols: []string{"ocpp1.6"}, Password: "station-password-1", Schemas: schemas})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer cp.Close()
	var boot v16.BootNotificationResponse
	if err := cp.Call(ctx, "BootNotification", v16.BootNotificationRequest{ChargePointVendor: "Acme", ChargePointModel: "X1"}, &boot); err != nil {
		t.Fatalf("BootNotification: %v", err)
	}
	if boot.Status != "Accepted" || boot.Interval != 300 {
		t.Errorf("boot = %+v, want Accepted with HEARTBEAT_INTERVAL 300", boot)
	}

	var st struct {
		Connected bool
		Vendor    string
		Status    string
	}
	r.call(t, "GET", "/api/v1/stations/CP-E1", "", http.StatusOK, &st)
	if !st.Connected || st.Vendor != "Acme" {
		t.Errorf("station after boot = %+v", st)
	}

	shutdown(t, a)
	stopped = true
	select {
	case <-cp.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("charger socket still open after Shutdown")
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("HTTP still served after Shutdown")
	}
}

// TestScaleOut starts a core against PostgreSQL and RabbitMQ: no embedded
// gateway, the REST API and readiness work.
func TestScaleOut(t *testing.T) {
	amqpURL, prefix := testenv.AMQPURL(t), testenv.UniquePrefix(t)
	t.Cleanup(func() {
		// The upstream topology is durable: leave the shared broker clean.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: amqpURL, Prefix: prefix}); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	cfg := load(t, map[string]string{
		"DATABASE_URL":   testenv.PostgresURL(t),
		"AMQP_URL":       amqpURL,
		"AMQP_PREFIX":    prefix,
		"AUTH_SECRET":    "scale-out-test-secret-0123456789abcdef",
		"GATEWAY_SECRET": testGatewaySecret,
	})
	a := start(t, cfg)
	defer shutdown(t, a)
	httpAddr, grpcAddr, ocppAddr := a.Addrs()
	if ocppAddr != "" {
		t.Errorf("embedded gateway runs with AMQP_URL set: %s", ocppAddr)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, config.AuthSecretFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("production mode wrote a secret file: %v", err)
	}
	addUser(t, a.Store(), "ops@example.com", "operator-pw")
	r := login(t, httpAddr)
	r.call(t, "GET", "/readyz", "", http.StatusOK, nil)
	r.call(t, "POST", "/api/v1/stations", `{"id":"CP-S1"}`, http.StatusCreated, nil)
	var list struct{ Stations []struct{ ID string } }
	r.call(t, "GET", "/api/v1/stations", "", http.StatusOK, &list)
	if len(list.Stations) != 1 || list.Stations[0].ID != "CP-S1" {
		t.Errorf("list = %+v", list)
	}
	checkControlPlane(t, a, grpcAddr)
}

const testGatewaySecret = "gateway-secret-for-tests-0123456789abcdef"

// checkControlPlane calls the control plane as an attacker and as a
// gateway, over real listeners: without the secret (none, a wrong one, two)
// every call, to a real method or a made-up one, gets Unauthenticated and
// nothing else; with it, admissions and leases are answered; the operator
// port does not serve the control plane at all.
func checkControlPlane(t *testing.T, a *app.App, grpcAddr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dial := func(addr string, opts ...grpc.DialOption) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	controlAddr := a.ControlAddr()
	if controlAddr == "" || controlAddr == grpcAddr {
		t.Fatalf("control plane at %q (operator gRPC at %q)", controlAddr, grpcAddr)
	}
	admit := &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-attacker", StationId: "CP-S1", HasBasicAuth: true, Username: "CP-S1", Password: "guess"}
	attackers := map[string]*grpc.ClientConn{
		"no secret":    dial(controlAddr),
		"wrong secret": dial(controlAddr, controlplane.DialOption(strings.Repeat("x", len(testGatewaySecret)))),
		"prefix":       dial(controlAddr, controlplane.DialOption(testGatewaySecret[:len(testGatewaySecret)-1])),
	}
	for name, cc := range attackers {
		c := gatewayv1.NewGatewayControlServiceClient(cc)
		_, err := c.AdmitConnection(ctx, admit)
		wantOnlyUnauthenticated(t, name+": AdmitConnection", err)
		_, err = c.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "gw-victim", TtlSeconds: 3600})
		wantOnlyUnauthenticated(t, name+": RenewLease", err)
		err = cc.Invoke(ctx, "/chargeplane.v1.StationService/ListStations", &gatewayv1.RenewLeaseRequest{}, &gatewayv1.RenewLeaseResponse{})
		wantOnlyUnauthenticated(t, name+": an operator method", err)
		err = cc.Invoke(ctx, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", &gatewayv1.RenewLeaseRequest{}, &gatewayv1.RenewLeaseResponse{})
		wantOnlyUnauthenticated(t, name+": reflection", err)
	}
	md := metadata.Pairs(controlplane.SecretMetadata, testGatewaySecret, controlplane.SecretMetadata, "other")
	_, err := gatewayv1.NewGatewayControlServiceClient(attackers["no secret"]).AdmitConnection(metadata.NewOutgoingContext(ctx, md), admit)
	wantOnlyUnauthenticated(t, "two secrets", err)

	gw := dial(controlAddr, controlplane.DialOption(testGatewaySecret))
	c := gatewayv1.NewGatewayControlServiceClient(gw)
	resp, err := c.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: "NOPE", Subprotocol: "ocpp1.6"})
	if err != nil || resp.GetDecision() != gatewayv1.Decision_DECISION_UNKNOWN_STATION {
		t.Errorf("gateway's admission of an unknown station: %v %v", resp, err)
	}
	if _, err := c.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "gw-1", TtlSeconds: 10}); err != nil {
		t.Errorf("gateway's lease renewal: %v", err)
	}
	err = gw.Invoke(ctx, "/chargeplane.v1.StationService/ListStations", &gatewayv1.RenewLeaseRequest{}, &gatewayv1.RenewLeaseResponse{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("an operator method on the control plane, with the secret: %v, want Unimplemented", err)
	}
	// The operator port is not a second way in.
	_, err = gatewayv1.NewGatewayControlServiceClient(dial(grpcAddr, controlplane.DialOption(testGatewaySecret))).AdmitConnection(ctx, admit)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("AdmitConnection on GRPC_ADDR: %v, want Unimplemented", err)
	}
	// 4 calls × 3 attackers + two secrets, counted for alerting.
	if got := counterValue(t, a.Metrics(), "chargeplane_control_unauthenticated_total"); got != 13 {
		t.Errorf("chargeplane_control_unauthenticated_total = %v, want 13", got)
	}
}

func wantOnlyUnauthenticated(t *testing.T, what string, err error) {
	t.Helper()
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "unauthenticated" || len(st.Details()) > 0 {
		t.Errorf("%s: %v, want Unauthenticated and nothing else", what, err)
	}
}

func counterValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			var sum float64
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// With CONTROL_TLS_* and CONTROL_CLIENT_CA_FILE the core's control plane
// is mutual TLS, then the secret: a gateway with a certificate of that CA
// is served, a plaintext caller is not, whatever it sends.
func TestControlPlaneMutualTLS(t *testing.T) {
	amqpURL, prefix := testenv.AMQPURL(t), testenv.UniquePrefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: amqpURL, Prefix: prefix}); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	dir := t.TempDir()
	file := func(name string, v any) string {
		p := filepath.Join(dir, name)
		pkitest.WritePEM(t, p, v)
		return p
	}
	ca := pkitest.NewRoot(t, "Control Plane CA", time.Time{}, time.Time{})
	coreKey, gwKey := pkitest.Key(t, "p256"), pkitest.Key(t, "p256")
	caFile := file("ca.pem", ca.Cert)
	a := start(t, load(t, map[string]string{
		"DATABASE_URL": testenv.PostgresURL(t), "AMQP_URL": amqpURL, "AMQP_PREFIX": prefix,
		"AUTH_SECRET": "scale-out-test-secret-0123456789abcdef", "GATEWAY_SECRET": testGatewaySecret,
		"CONTROL_TLS_CERT_FILE": file("core.pem", ca.ServerLeaf(t, coreKey, "127.0.0.1")),
		"CONTROL_TLS_KEY_FILE":  file("core-key.pem", coreKey), "CONTROL_CLIENT_CA_FILE": caFile,
	}))
	defer shutdown(t, a)
	gwTLS, err := controlplane.ClientTLS(caFile, file("gw.pem", ca.Leaf(t, pkix.Name{CommonName: "gw-1"}, gwKey.Public(), time.Time{})), file("gw-key.pem", gwKey))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	renew := func(transport credentials.TransportCredentials) error {
		cc, err := grpc.NewClient(a.ControlAddr(), grpc.WithTransportCredentials(transport), controlplane.DialOption(testGatewaySecret))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		_, err = gatewayv1.NewGatewayControlServiceClient(cc).RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "gw-1", TtlSeconds: 10})
		return err
	}
	if err := renew(insecure.NewCredentials()); err == nil {
		t.Error("a plaintext caller with the secret was served")
	}
	if err := renew(gwTLS); err != nil {
		t.Errorf("gateway with its certificate and the secret: %v", err)
	}
}

// In scale-out the control plane never runs without its secret.
func TestScaleOutWithoutGatewaySecretRefused(t *testing.T) {
	cfg := load(t, map[string]string{
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "AMQP_URL": "amqp://nobody@127.0.0.1:1/",
		"AUTH_SECRET": "scale-out-test-secret-0123456789abcdef",
	})
	_, err := app.New(cfg, testLogger(t))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "GATEWAY_SECRET") {
		t.Fatalf("app.New = %v, want the GATEWAY_SECRET refusal before touching the database", err)
	}
}

func TestProductionWithoutSecretRefused(t *testing.T) {
	cfg := load(t, map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"})
	_, err := app.New(cfg, testLogger(t))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "AUTH_SECRET") {
		t.Fatalf("app.New = %v, want the AUTH_SECRET refusal before touching the database", err)
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	first := start(t, load(t, nil))
	defer shutdown(t, first)
	httpAddr, _, _ := first.Addrs()
	cfg := load(t, map[string]string{"HTTP_ADDR": httpAddr})
	a, err := app.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Errorf("Start on a busy port = %v", err)
	}
	shutdown(t, a)
}

// TestPprof: PPROF_ADDR serves the profiler on its own listener, and the
// REST listener does not.
func TestPprof(t *testing.T) {
	a := start(t, load(t, map[string]string{"PPROF_ADDR": "127.0.0.1:0"}))
	defer shutdown(t, a)
	httpAddr, _, _ := a.Addrs()
	addr := a.PprofAddr()
	if addr == "" {
		t.Fatal("no profiler address")
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("profiler: %d %.200s", resp.StatusCode, body)
	}
	resp, err = http.Get("http://" + httpAddr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the REST listener serves the profiler")
	}
}

// TestMetrics: METRICS_ADDR serves /metrics from the core's own registry
// (Go runtime and process collectors, and what components register), off
// by default and never on the REST listener.
func TestMetrics(t *testing.T) {
	a := start(t, load(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"}))
	defer shutdown(t, a)
	addr := a.MetricsAddr()
	if addr == "" {
		t.Fatal("no metrics address")
	}
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: "chargeplane_app_test", Help: "registered by the test"})
	a.Metrics().MustRegister(probe)
	probe.Set(7)
	families := metricstest.Scrape(t, "http://"+addr+metrics.Path)
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := families[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if got := families["chargeplane_app_test"].GetMetric()[0].GetGauge().GetValue(); got != 7 {
		t.Errorf("registered gauge = %v, want 7", got)
	}
	httpAddr, _, _ := a.Addrs()
	resp, err := http.Get("http://" + httpAddr + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the REST listener serves /metrics")
	}

	off := start(t, load(t, nil))
	defer shutdown(t, off)
	if off.MetricsAddr() != "" {
		t.Errorf("metrics listen on %s without METRICS_ADDR", off.MetricsAddr())
	}
}
