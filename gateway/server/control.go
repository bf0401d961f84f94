package server

import (
	"context"

	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"google.golang.org/grpc"
)

// Control is what the gateway needs from the core's control plane. The
// core's gRPC service implementation satisfies it directly (embedded mode);
// NewGRPCControl adapts a gRPC client connection (scale-out mode).
type Control interface {
	AdmitConnection(ctx context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error)
	RenewLease(ctx context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error)
}

// NewGRPCControl returns a Control that calls the core over conn.
func NewGRPCControl(conn grpc.ClientConnInterface) Control {
	return grpcControl{c: gatewayv1.NewGatewayControlServiceClient(conn)}
}

type grpcControl struct {
	c gatewayv1.GatewayControlServiceClient
}

func (g grpcControl) AdmitConnection(ctx context.Context, req *gatewayv1.AdmitConnectionRequest) (*gatewayv1.AdmitConnectionResponse, error) {
	return g.c.AdmitConnection(ctx, req)
}

func (g grpcControl) RenewLease(ctx context.Context, req *gatewayv1.RenewLeaseRequest) (*gatewayv1.RenewLeaseResponse, error) {
	return g.c.RenewLease(ctx, req)
}
