package access

import (
	"context"
	"crypto/subtle"
	"net"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Metadata the core's REST gateway sends with every call it forwards: the
// HTTP client's address, and the per-process key that proves the address
// comes from the gateway rather than from a gRPC client making it up.
const (
	ForwardedAddrHeader = "x-chargeplane-client-addr"
	ForwardedKeyHeader  = "x-chargeplane-forward-key"
)

// ForwardedMetadata is what the REST gateway adds to a forwarded call.
func ForwardedMetadata(key, remoteAddr string) metadata.MD {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	return metadata.Pairs(ForwardedAddrHeader, host, ForwardedKeyHeader, key)
}

type clientAddrKey struct{}

func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the address the request came from (an IP address, no
// port): the HTTP client's for REST calls, the gRPC peer's otherwise.
func ClientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

func (g *Guard) clientAddr(ctx context.Context) string {
	if g.forwardKey != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		keys, addrs := md.Get(ForwardedKeyHeader), md.Get(ForwardedAddrHeader)
		if len(keys) == 1 && len(addrs) == 1 &&
			subtle.ConstantTimeCompare([]byte(keys[0]), []byte(g.forwardKey)) == 1 {
			if ip := net.ParseIP(addrs[0]); ip != nil {
				return ip.String()
			}
		}
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return host
}
