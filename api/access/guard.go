package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/auth"
)

// ErrUnauthenticated is what an Authenticator returns for a credential that
// must not be trusted; the cause is wrapped for logs.
var ErrUnauthenticated = errors.New("access: not authenticated")

// Verifier turns a bearer credential (an access token or an API key) into
// the principal making the request (*Authenticator is the core's).
type Verifier interface {
	Authenticate(ctx context.Context, bearer string) (*auth.Principal, error)
}

// Guard is the core's one access check, as unary and stream interceptors:
// it looks the method up in Policies (refusing any method that has none),
// authenticates the caller and checks the role the method needs.
type Guard struct {
	authn      Verifier
	forwardKey string
	audit      AuditLog
	now        func() time.Time
	log        *slog.Logger
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	Credentials Verifier
	// ForwardKey, when set, is the secret the core's own REST gateway
	// sends with the address of the HTTP client it forwards
	// (ForwardedMetadata); without it the forwarded address is ignored.
	ForwardKey string
	// Audit, when set, receives the audit trail: every call a policy
	// marks Mutates, and every call refused for its role.
	Audit  AuditLog
	Now    func() time.Time
	Logger *slog.Logger
}

// NewGuard returns a Guard.
func NewGuard(c GuardConfig) *Guard {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Guard{authn: c.Credentials, forwardKey: c.ForwardKey, audit: c.Audit, now: c.Now,
		log: c.Logger.With("component", "access")}
}

var (
	errNoToken  = status.Error(codes.Unauthenticated, "missing bearer token")
	errBadToken = status.Error(codes.Unauthenticated, "invalid or expired credential")
)

// Forbidden is the error of a call the caller's role does not allow: it
// names the role the method needs.
func Forbidden(fullMethod string, need, have auth.Role) error {
	return status.Errorf(codes.PermissionDenied, "%s needs the %s role (the caller is %s)", methodName(fullMethod), need, have)
}

// methodName is "Service/Method" without the package, for messages.
func methodName(fullMethod string) string {
	m := strings.TrimPrefix(fullMethod, "/")
	if i := strings.LastIndex(m, "/"); i >= 0 {
		svc := m[:i]
		if j := strings.LastIndex(svc, "."); j >= 0 {
			svc = svc[j+1:]
		}
		return svc + "/" + m[i+1:]
	}
	return m
}

// check decides a call: it returns the context the handler runs with (the
// principal added, and the pending audit record of a mutating call) or the
// error to answer. req is nil for streams.
func (g *Guard) check(ctx context.Context, method string, req any) (context.Context, *audit.Pending, error) {
	ctx = withClientAddr(ctx, g.clientAddr(ctx))
	pol, ok := Lookup(method)
	if !ok {
		// Never open by default: a method without a policy is a bug.
		g.log.ErrorContext(ctx, "refused a method that has no access policy", "method", method)
		return nil, nil, status.Errorf(codes.PermissionDenied, "%s has no access policy", methodName(method))
	}
	if pol.Public {
		return ctx, nil, nil
	}
	p, err := g.authenticate(ctx, method)
	if err != nil {
		return nil, nil, err
	}
	if !pol.Self && !p.Role.Allows(pol.Role) {
		g.log.InfoContext(ctx, "call refused for its role", "method", method, "principal", p.Name, "role", p.Role, "needs", pol.Role)
		err := Forbidden(method, pol.Role, p.Role)
		g.denied(ctx, method, p, req, err)
		return nil, nil, err
	}
	ctx, pending := g.begin(auth.WithPrincipal(ctx, p), method, pol, p, req)
	return ctx, pending, nil
}

func (g *Guard) authenticate(ctx context.Context, method string) (*auth.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return nil, errNoToken
	}
	// Several values are ambiguous (which one did a proxy check?): refuse.
	if len(values) > 1 {
		return nil, errBadToken
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	cred = strings.TrimSpace(cred)
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return nil, errNoToken
	}
	p, err := g.authn.Authenticate(ctx, cred)
	if err != nil {
		if !errors.Is(err, ErrUnauthenticated) {
			g.log.ErrorContext(ctx, "credential check failed", "method", method, "err", err)
			return nil, status.Error(codes.Unavailable, "cannot check the credential now")
		}
		g.log.DebugContext(ctx, "credential refused", "method", method, "err", err)
		return nil, errBadToken
	}
	return p, nil
}

// Unary is the unary server interceptor.
func (g *Guard) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, pending, err := g.check(ctx, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		g.end(ctx, pending, err)
		return resp, err
	}
}

// Stream is the stream server interceptor.
func (g *Guard) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, pending, err := g.check(ss.Context(), info.FullMethod, nil)
		if err != nil {
			return err
		}
		err = handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
		g.end(ctx, pending, err)
		return err
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
// first: recovery wraps the guard so a panic anywhere is contained.
func ServerOptions(g *Guard, logger *slog.Logger) []grpc.ServerOption {
	if logger == nil {
		logger = slog.Default()
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(RecoverUnary(logger), g.Unary()),
		grpc.ChainStreamInterceptor(RecoverStream(logger), g.Stream()),
	}
}

// ServiceInfoProvider is what CheckServer reads (*grpc.Server is one).
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// HowToDeclare tells a developer who added an RPC what to do.
const HowToDeclare = `add one line per method to Policies in api/access/policy.go, e.g.
    v1.FooService_DoThing_FullMethodName: operate,
with read (a viewer may call it; it changes nothing), operate (an operator's change
or any command sent to a charger; audited), administer (an admin's change: users,
keys; audited), adminRead (only admins may read it), self (a change to the caller's
own account) or public (no credential)`

// CheckServer fails when srv serves a method that has no entry in
// Policies, naming each one and saying what to add.
func CheckServer(srv ServiceInfoProvider) error {
	var missing []string
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if _, ok := Policies[full]; !ok {
				missing = append(missing, full)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("access: gRPC methods without an access policy: %s;\n%s", strings.Join(missing, ", "), HowToDeclare)
}
