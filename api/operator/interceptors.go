package operator

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/auth"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// publicPrefixes are the gRPC methods reachable without a token: login
// itself, health and reflection (probes and tooling), and the gateways'
// control plane. The control plane is trusted by network placement: expose
// GRPC_ADDR's GatewayControlService only on the private network the gateways
// share with the core.
var publicPrefixes = []string{
	chargeplanev1.AuthService_Login_FullMethodName,
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
	"/chargeplane.gateway.v1.GatewayControlService/",
}

// IsPublicMethod reports whether fullMethod needs no access token.
func IsPublicMethod(fullMethod string) bool {
	for _, p := range publicPrefixes {
		if fullMethod == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(fullMethod, p)) {
			return true
		}
	}
	return false
}

// TokenVerifier checks an access token (auth.Tokens).
type TokenVerifier interface {
	Verify(token string) (*auth.Claims, error)
}

type claimsKey struct{}

// ClaimsFromContext returns the authenticated operator of a request.
func ClaimsFromContext(ctx context.Context) (*auth.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*auth.Claims)
	return c, ok
}

// Authenticator requires "authorization: Bearer <token>" on every
// non-public gRPC method (and so on every REST route, which the gateway
// forwards over gRPC).
type Authenticator struct {
	verifier TokenVerifier
	logger   *slog.Logger
}

// NewAuthenticator returns an Authenticator checking tokens with v.
func NewAuthenticator(v TokenVerifier, logger *slog.Logger) *Authenticator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Authenticator{verifier: v, logger: logger}
}

var (
	errNoToken  = status.Error(codes.Unauthenticated, "missing bearer token")
	errBadToken = status.Error(codes.Unauthenticated, "invalid or expired token")
)

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	if IsPublicMethod(method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return nil, errNoToken
	}
	// Several values are ambiguous (which one did the proxy check?): refuse.
	if len(values) > 1 {
		return nil, errBadToken
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, errNoToken
	}
	claims, err := a.verifier.Verify(strings.TrimSpace(token))
	if err != nil {
		if !errors.Is(err, auth.ErrInvalidToken) {
			a.logger.ErrorContext(ctx, "token verification failed", "method", method, "err", err)
		} else {
			a.logger.DebugContext(ctx, "token refused", "method", method, "err", err)
		}
		return nil, errBadToken
	}
	return context.WithValue(ctx, claimsKey{}, claims), nil
}

// Unary is the unary server interceptor.
func (a *Authenticator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the stream server interceptor.
func (a *Authenticator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// RecoverUnary turns a handler panic into an Internal error so one bad
// request cannot take the core down.
func RecoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.ErrorContext(ctx, "panic in gRPC handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// RecoverStream is RecoverUnary for streams.
func RecoverStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.ErrorContext(ss.Context(), "panic in gRPC stream handler", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(srv, ss)
	}
}

// ServerOptions are the interceptors of the core's gRPC server, outermost
// first: recovery wraps authentication so a panic anywhere is contained.
func ServerOptions(a *Authenticator, logger *slog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(RecoverUnary(logger), a.Unary()),
		grpc.ChainStreamInterceptor(RecoverStream(logger), a.Stream()),
	}
}
