package main

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// countingCore is the test double of one core: it admits everyone and
// counts the admissions it answered.
type countingCore struct {
	gatewayv1.UnimplementedGatewayControlServiceServer
	admitted atomic.Int64
}

func (c *countingCore) AdmitConnection(context.Context, *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	c.admitted.Add(1)
	return &gatewayv1.AdmitConnectionResponse{Decision: gatewayv1.Decision_DECISION_ACCEPTED, ConnectionId: "c"}, nil
}

func serveCore(t *testing.T) (c *countingCore, addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c = &countingCore{}
	gs := grpc.NewServer(testSecretCheck(t).ServerOptions()...)
	gatewayv1.RegisterGatewayControlServiceServer(gs, c)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(ln) }()
	var once atomic.Bool
	return c, ln.Addr().String(), func() {
		if once.CompareAndSwap(false, true) {
			gs.Stop()
			<-served
		}
	}
}

// With several cores listed, admissions are spread over them, and they go
// on while one core is down.
func TestDialCoreSpreadsAndSurvivesOneCoreDown(t *testing.T) {
	defer goleak.VerifyNone(t)
	coreA, a, stopA := serveCore(t)
	defer stopA()
	coreB, b, stopB := serveCore(t)
	defer stopB()
	cc, err := dialCore(" "+a+", "+b+" ", testSecret, insecure.NewCredentials())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := gatewayv1.NewGatewayControlServiceClient(cc)
	admit := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := client.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{GatewayId: "g", StationId: "CP1"}, grpc.WaitForReady(true))
		return err
	}
	// Round robin over the cores that are ready: once both connections are
	// up, both cores get admissions.
	for deadline := time.Now().Add(30 * time.Second); coreA.admitted.Load() == 0 || coreB.admitted.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("admissions not spread: core A %d, core B %d", coreA.admitted.Load(), coreB.admitted.Load())
		}
		if err := admit(); err != nil {
			t.Fatalf("both cores up: %v", err)
		}
	}

	stopA()
	failed := 0
	for range 10 {
		// A call already on its way to the core that just died may fail;
		// the charger's reconnect retries it. Later ones must reach B.
		if err := admit(); err != nil {
			failed++
		}
	}
	if failed > 1 {
		t.Errorf("%d of 10 admissions failed with one core down", failed)
	}
}

func TestDialCoreNeedsAnAddress(t *testing.T) {
	if _, err := dialCore(" , ", testSecret, insecure.NewCredentials()); err == nil {
		t.Fatal("dialCore accepted no address")
	}
}
