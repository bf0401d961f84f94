package main

import (
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/controlplane"
)

// coreTransport is how the gateway reaches the control plane: TLS when
// CORE_CA_FILE is set (with GATEWAY_CERT_FILE for mutual TLS), plain gRPC
// otherwise.
func coreTransport(cfg config.Config) (credentials.TransportCredentials, error) {
	if cfg.CoreCAFile == "" {
		return insecure.NewCredentials(), nil
	}
	return controlplane.ClientTLS(cfg.CoreCAFile, cfg.GatewayCertFile, cfg.GatewayKeyFile)
}

// dialCore connects to the core's control plane. addrs is one gRPC target
// (host:port, or dns:///name for a name with several addresses) or a
// comma-separated list of host:port: with several cores, calls go round
// robin to the ones that are up, so admissions and lease renewals go on
// while one core is down. The client connects lazily and reconnects by
// itself: a gateway started before the core answers 503 until one is up.
// Every call carries secret (GATEWAY_SECRET), over transport (TLS when
// CORE_CA_FILE is set).
func dialCore(addrs, secret string, transport credentials.TransportCredentials) (*grpc.ClientConn, error) {
	var list []resolver.Address
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			list = append(list, resolver.Address{Addr: a})
		}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(transport), controlplane.DialOption(secret)}
	switch len(list) {
	case 0:
		return nil, fmt.Errorf("no core address in %q", addrs)
	case 1:
		return grpc.NewClient(list[0].Addr, opts...)
	}
	r := manual.NewBuilderWithScheme("cores")
	r.InitialState(resolver.State{Addresses: list})
	return grpc.NewClient(r.Scheme()+":///core", append(opts, grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))...)
}
