package controlplane_test

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/pkg/controlplane"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/logtest"
)

const secret = "control-plane-test-secret-0123456789abcdef"

// reached counts the calls that got past the check.
type reached struct {
	gatewayv1.UnimplementedGatewayControlServiceServer
	calls atomic.Int64
}

func (r *reached) RenewLease(context.Context, *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	r.calls.Add(1)
	return &gatewayv1.RenewLeaseResponse{}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOnlyTheSecretGetsIn serves the control plane on a real listener:
// without the secret, every call (a real method or a made-up one) gets
// Unauthenticated alone and reaches no handler; with it, calls are served.
// Refusals are counted each and logged at most once a minute.
func TestOnlyTheSecretGetsIn(t *testing.T) {
	var logs logtest.Buffer
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var refused atomic.Int64
	a, err := controlplane.NewAuthenticator(controlplane.Config{Secret: secret, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Refused: func() { refused.Add(1) }, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(a.ServerOptions()...)
	r := &reached{}
	gatewayv1.RegisterGatewayControlServiceServer(srv, r)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() { srv.Stop(); <-served }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(opts ...grpc.DialOption) *grpc.ClientConn {
		cc, err := grpc.NewClient(ln.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	renew := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := gatewayv1.NewGatewayControlServiceClient(cc).RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: "g", TtlSeconds: 10})
		return err
	}
	madeUp := func(ctx context.Context, cc *grpc.ClientConn) error {
		return cc.Invoke(ctx, "/chargeplane.v1.StationService/DeleteStation", &gatewayv1.RenewLeaseRequest{}, &gatewayv1.RenewLeaseResponse{})
	}
	onlyUnauthenticated := func(what string, err error) {
		t.Helper()
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != "unauthenticated" || len(st.Details()) != 0 {
			t.Errorf("%s: %v, want Unauthenticated and nothing else", what, err)
		}
	}

	none := dial()
	attempts := 0
	for name, cc := range map[string]*grpc.ClientConn{
		"no secret":      none,
		"wrong secret":   dial(controlplane.DialOption(strings.Repeat("x", len(secret)))),
		"longer secret":  dial(controlplane.DialOption(secret + "x")),
		"shorter secret": dial(controlplane.DialOption(secret[1:])),
		"empty secret":   dial(controlplane.DialOption("")),
	} {
		onlyUnauthenticated(name, renew(ctx, cc))
		onlyUnauthenticated(name+", made-up method", madeUp(ctx, cc))
		attempts += 2
	}
	two := metadata.NewOutgoingContext(ctx, metadata.Pairs(controlplane.SecretMetadata, secret, controlplane.SecretMetadata, secret))
	onlyUnauthenticated("the secret twice", renew(two, none))
	attempts++
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("%d unauthenticated calls reached the service", n)
	}
	if n := refused.Load(); n != int64(attempts) {
		t.Errorf("refusals counted %d, want %d", n, attempts)
	}
	if n := strings.Count(logs.String(), "refused an unauthenticated call"); n != 1 {
		t.Errorf("%d log lines for %d refusals within a minute, want 1:\n%s", n, attempts, logs.String())
	}
	clk.add(time.Minute)
	onlyUnauthenticated("a minute later", renew(ctx, none))
	if out := logs.String(); strings.Count(out, "refused an unauthenticated call") != 2 ||
		!strings.Contains(out, logbound.SuppressedKey+"="+strconv.Itoa(attempts-1)) || strings.Contains(out, secret[:8]) {
		t.Errorf("log after a minute:\n%s", out)
	}

	good := dial(controlplane.DialOption(secret))
	if err := renew(ctx, good); err != nil {
		t.Fatalf("with the secret: %v", err)
	}
	if r.calls.Load() != 1 {
		t.Errorf("calls reached: %d, want 1", r.calls.Load())
	}
	if err := madeUp(ctx, good); status.Code(err) != codes.Unimplemented {
		t.Errorf("made-up method with the secret: %v, want Unimplemented", err)
	}
}

func TestNoSecretNoAuthenticator(t *testing.T) {
	for _, s := range []string{"", strings.Repeat("s", controlplane.MinSecretBytes-1)} {
		if _, err := controlplane.NewAuthenticator(controlplane.Config{Secret: s}); err == nil || !strings.Contains(err.Error(), "GATEWAY_SECRET") {
			t.Errorf("secret of %d bytes: %v, want a refusal naming GATEWAY_SECRET", len(s), err)
		}
	}
}
