// Package controlplane authenticates gateways to the core's control plane
// (admission, leases). Every gateway sends the shared secret GATEWAY_SECRET
// with every call as gRPC metadata; the core compares it in constant time
// before any method runs, and answers anything else with Unauthenticated
// alone. Both sides live here so that they cannot disagree on the key.
package controlplane

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/pkg/logbound"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// SecretMetadata is the gRPC metadata key that carries the gateway secret.
const SecretMetadata = "x-chargeplane-gateway-secret"

// MinSecretBytes is the shortest secret accepted: long enough that it
// cannot be guessed one call at a time.
const MinSecretBytes = 32

// DialOption makes every call of a client connection carry secret.
func DialOption(secret string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(secretCredentials(secret))
}

type secretCredentials string

func (c secretCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{SecretMetadata: string(c)}, nil
}

// RequireTransportSecurity is false: the control plane may be plain gRPC
// on a private network (CONTROL_ADDR, docs/security.md); ClientTLS puts
// it under TLS.
func (secretCredentials) RequireTransportSecurity() bool { return false }

// errUnauthenticated is the only answer a caller without the secret gets,
// whatever it asked for: it learns neither which methods exist nor why.
var errUnauthenticated = status.Error(codes.Unauthenticated, "unauthenticated")

// refusalLogEvery bounds the log: a caller hammering the listener without
// the secret produces one line per interval (with the count), not one per
// call.
const refusalLogEvery = time.Minute

// Authenticator checks the secret of every call to the control plane.
type Authenticator struct {
	// digest of the secret: comparing fixed-length digests keeps the
	// comparison constant-time whatever length the caller sends.
	want [sha256.Size]byte
	// log writes one refusal line per refusalLogEvery, the next saying how
	// many were dropped (logbound's suppressed_lines), values clipped.
	log     *slog.Logger
	refused func() // counts a refusal (a metric); may be nil
}

// Config configures an Authenticator.
type Config struct {
	// Secret is GATEWAY_SECRET, at least MinSecretBytes long.
	Secret string
	Logger *slog.Logger
	// Refused, when set, is called for every refused call.
	Refused func()
	Now     func() time.Time
}

// NewAuthenticator returns the core's side of the check; a missing or
// short secret is an error, never an open door.
func NewAuthenticator(c Config) (*Authenticator, error) {
	if len(c.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("controlplane: GATEWAY_SECRET is required in scale-out (AMQP_URL set), at least %d bytes "+
			"(e.g. openssl rand -hex 32), the same on every api and gateway: the gateways authenticate to the control plane with it", MinSecretBytes)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	log := logbound.NewLimiter(logbound.Limit{Burst: 1, Every: refusalLogEvery}, c.Now).Logger(logbound.Clipped(c.Logger.With("component", "control")))
	return &Authenticator{want: sha256.Sum256([]byte(c.Secret)), log: log, refused: c.Refused}, nil
}

// Check returns nil when ctx's call carries the secret, otherwise the
// Unauthenticated error to answer (and logs why, rate-limited).
func (a *Authenticator) Check(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(SecretMetadata)
	var why string
	switch {
	case len(values) == 0:
		why = "no gateway secret"
	case len(values) > 1:
		why = "several gateway secrets"
	default:
		got := sha256.Sum256([]byte(values[0]))
		if subtle.ConstantTimeCompare(got[:], a.want[:]) == 1 {
			return nil
		}
		why = "wrong gateway secret"
	}
	a.refuse(ctx, method, why)
	return errUnauthenticated
}

func (a *Authenticator) refuse(ctx context.Context, method, why string) {
	if a.refused != nil {
		a.refused()
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	a.log.WarnContext(ctx, "control plane: refused an unauthenticated call", "remote", remote, "method", method, "reason", why)
}

// ServerOptions make a gRPC server check the secret before anything else:
// every registered method, and every unknown one (answered Unimplemented
// only to an authenticated caller).
func (a *Authenticator) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := a.Check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		// Runs for unknown methods too (grpc applies stream interceptors
		// to the UnknownServiceHandler).
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := a.Check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
			return status.Error(codes.Unimplemented, "unknown method")
		}),
	}
}
