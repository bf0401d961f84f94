package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/chargeplane/chargeplane/api/pki/pkitest"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/metrics/metricstest"
)

const partitions = 2

// core is the test double of the core's control plane: it admits CP1 only.
type core struct {
	gatewayv1.UnimplementedGatewayControlServiceServer
	leases chan *gatewayv1.RenewLeaseRequest
}

func (c *core) AdmitConnection(_ context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	if req.GetStationId() != "CP1" {
		return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_UNKNOWN_STATION}, nil
	}
	return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_ACCEPTED, ConnectionId: "conn-1"}, nil
}

func (c *core) RenewLease(_ context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	select {
	case c.leases <- req:
	default:
	}
	return &gatewayv1.RenewLeaseResponse{}, nil
}

const testSecret = "gateway-test-secret-0123456789abcdef"

// testSecretCheck is the core's side of the control plane's
// authentication, expecting testSecret.
func testSecretCheck(t *testing.T) *controlplane.Authenticator {
	t.Helper()
	a, err := controlplane.NewAuthenticator(controlplane.Config{Secret: testSecret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGatewayBinary runs the real binary against RabbitMQ and a gRPC core
// (mutual TLS and GATEWAY_SECRET, from the settings): a charger's CALL reaches the upstream queue, the core's reply reaches the
// charger, /metrics is served on METRICS_ADDR, and SIGTERM drains (1001,
// DISCONNECTED) and exits 0.
func TestGatewayBinary(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/rabbitmq/amqp091-go.(*Connection).heartbeater"))
	amqpURL := testenv.AMQPURL(t)
	prefix := testenv.UniquePrefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, rabbitmq.Config{URL: amqpURL, Prefix: prefix, Partitions: partitions}); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The core: gRPC control plane and the bus.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &core{leases: make(chan *gatewayv1.RenewLeaseRequest, 1)}
	// The core's own checks: mutual TLS, then GATEWAY_SECRET; the binary
	// must pass both, from its settings.
	pki := t.TempDir()
	ca := pkitest.NewRoot(t, "Control Plane CA", time.Time{}, time.Time{})
	coreKey, gwKey := pkitest.Key(t, "p256"), pkitest.Key(t, "p256")
	files := map[string]any{"ca.pem": ca.Cert, "core.pem": ca.ServerLeaf(t, coreKey, "127.0.0.1"), "core-key.pem": coreKey,
		"gw.pem": ca.Leaf(t, pkix.Name{CommonName: "gw-bin"}, gwKey.Public(), time.Time{}), "gw-key.pem": gwKey}
	for name, v := range files {
		pkitest.WritePEM(t, filepath.Join(pki, name), v)
	}
	serverTLS, err := controlplane.ServerTLS(filepath.Join(pki, "core.pem"), filepath.Join(pki, "core-key.pem"), filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(testSecretCheck(t).ServerOptions(), grpc.Creds(serverTLS))...)
	gatewayv1.RegisterGatewayControlServiceServer(gs, c)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(ln) }()
	defer func() { gs.Stop(); <-served }()

	b, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: amqpURL, Prefix: prefix, Partitions: partitions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	up := make(chan *busv1.Envelope, 100)
	if err := b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		up <- env
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(),
		"OCPP_ADDR="+addr,
		"CORE_GRPC_ADDR="+ln.Addr().String(),
		"GATEWAY_SECRET="+testSecret,
		"CORE_CA_FILE="+filepath.Join(pki, "ca.pem"),
		"GATEWAY_CERT_FILE="+filepath.Join(pki, "gw.pem"),
		"GATEWAY_KEY_FILE="+filepath.Join(pki, "gw-key.pem"),
		"AMQP_URL="+amqpURL,
		"AMQP_PREFIX="+prefix,
		"BUS_PARTITIONS="+strconv.Itoa(partitions),
		"GATEWAY_ID=gw-bin",
		"LEASE_TTL=3",
		"DRAIN_WINDOW=1",
		"LOG_LEVEL=debug",
		"METRICS_ADDR="+metricsAddr,
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	}()

	waitHealthy(t, "http://"+addr+"/readyz", exited)
	families := metricstest.Scrape(t, "http://"+metricsAddr+metrics.Path)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := families[name]; !ok {
			t.Errorf("gateway /metrics lacks %s", name)
		}
	}
	select {
	case l := <-c.leases:
		if l.GetGatewayId() != "gw-bin" || l.GetTtlSeconds() != 3 {
			t.Errorf("lease %v", l)
		}
	case <-ctx.Done():
		t.Fatal("no lease renewal")
	}

	if _, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ocpp/NOPE", &websocket.DialOptions{Subprotocols: []string{"ocpp1.6"}}); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown station: %v %v, want 404", resp, err)
	}
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ocpp/CP1", &websocket.DialOptions{Subprotocols: []string{"ocpp1.6"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	next := func() *busv1.Envelope {
		select {
		case env := <-up:
			return env
		case <-ctx.Done():
			t.Fatal("nothing upstream")
			return nil
		}
	}
	if env := next(); env.GetKind() != busv1.Kind_KIND_CONNECTED || env.GetGatewayId() != "gw-bin" {
		t.Fatalf("want CONNECTED, got %v", env)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`[2,"m1","Heartbeat",{}]`)); err != nil {
		t.Fatal(err)
	}
	env := next()
	if env.GetKind() != busv1.Kind_KIND_FRAME || env.GetMessageId() != "m1" || env.GetConnectionId() != "conn-1" {
		t.Fatalf("want the CALL, got %v", env)
	}
	if err := b.PublishToGateway(ctx, "gw-bin", &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: "CP1", ConnectionId: "conn-1",
		Frame: []byte(`[3,"m1",{"currentTime":"2025-01-01T00:00:00Z"}]`)}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.Read(ctx); err != nil || string(got) != `[3,"m1",{"currentTime":"2025-01-01T00:00:00Z"}]` {
		t.Fatalf("reply: %s %v", got, err)
	}

	closed := make(chan websocket.StatusCode, 1)
	go func() {
		_, _, err := ws.Read(ctx)
		closed <- websocket.CloseStatus(err)
	}()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-closed; code != websocket.StatusGoingAway {
		t.Errorf("closed with %v, want 1001", code)
	}
	if env := next(); env.GetKind() != busv1.Kind_KIND_DISCONNECTED || env.GetConnectionId() != "conn-1" {
		t.Fatalf("want DISCONNECTED, got %v", env)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("gateway exited with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("gateway did not exit")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(t *testing.T, url string, exited <-chan error) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("gateway exited early: %v", err)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("gateway never became healthy")
}
