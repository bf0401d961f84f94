package server_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chargeplane/chargeplane/gateway/server"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// grpcCore serves fakeCore's judgement over real gRPC.
type grpcCore struct {
	gatewayv1.UnimplementedGatewayControlServiceServer
	*fakeCore
}

func (g grpcCore) AdmitConnection(ctx context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	return g.fakeCore.AdmitConnection(ctx, req)
}

func (g grpcCore) RenewLease(ctx context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	return g.fakeCore.RenewLease(ctx, req)
}

// TestGRPCControl runs admissions through NewGRPCControl against a real gRPC
// server, and turns the core going away into 503.
func TestGRPCControl(t *testing.T) {
	h := newHarness(t, server.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gatewayv1.RegisterGatewayControlServiceServer(gs, grpcCore{fakeCore: h.core})
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(ln) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			gs.Stop()
			<-served
		}
	}
	t.Cleanup(stop)

	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	ctl := server.NewGRPCControl(cc)

	// Swap the harness's gateway for one that asks over gRPC.
	gw := server.New(server.Config{GatewayID: "gw-grpc", Logger: h.gw2Logger()}, h.bus, ctl)
	srv := newHTTPServer(t, gw)

	if _, resp, err := dialURL(t, srv+"/ocpp/NOPE", "ocpp1.6"); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown station over gRPC: %v %v, want 404", resp, err)
	}
	if _, resp, err := dialURL(t, srv+"/ocpp/SECURE", "ocpp1.6"); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("missing password over gRPC: %v %v, want 401", resp, err)
	}
	c, _, err := dialURL(t, srv+"/ocpp/CP1", "ocpp1.6")
	if err != nil {
		t.Fatalf("known station over gRPC: %v", err)
	}
	env := h.nextUp()
	if env.GetKind() != busv1.Kind_KIND_CONNECTED || env.GetGatewayId() != "gw-grpc" {
		t.Fatalf("got %v", env)
	}
	c.CloseNow()
	h.disconnected(env.GetConnectionId())

	if _, err := ctl.RenewLease(context.Background(), &gatewayv1.RenewLeaseRequest{GatewayId: "gw-grpc", TtlSeconds: 15}); err != nil {
		t.Fatalf("RenewLease over gRPC: %v", err)
	}

	stop()
	if _, resp, err := dialURL(t, srv+"/ocpp/CP1", "ocpp1.6"); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("core down: %v %v, want 503", resp, err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}
