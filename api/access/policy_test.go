package access_test

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/app"
	"github.com/chargeplane/chargeplane/api/audit"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/config"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// gorm's prepared-statement cache starts a sweeper it never stops.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startCore runs a real embedded core: the policy table is checked against
// the methods its gRPC server actually serves.
func startCore(t *testing.T) *app.App {
	t.Helper()
	cfg, err := config.LoadFrom(config.API, map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "GRPC_ADDR": "127.0.0.1:0", "OCPP_ADDR": "127.0.0.1:0",
		"DATA_DIR": t.TempDir(), "DRAIN_WINDOW": "0", "SHUTDOWN_TIMEOUT": "10s",
		"AUTH_SECRET": strings.Repeat("k", 40), "LOG_LEVEL": "error",
	})
	if err != nil {
		t.Fatal(err)
	}
	// app.New itself refuses a server with a method that has no policy
	// (access.CheckServer), with the same instructions.
	a, err := app.New(cfg, quiet)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		a.Shutdown(ctx)
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return a
}

type method struct {
	full                       string
	clientStream, serverStream bool
}

func servedMethods(a *app.App) []method {
	var out []method
	for svc, info := range a.ServiceInfo() {
		for _, m := range info.Methods {
			out = append(out, method{full: "/" + svc + "/" + m.Name, clientStream: m.IsClientStream, serverStream: m.IsServerStream})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].full < out[j].full })
	return out
}

func TestEveryMethodHasAPolicy(t *testing.T) {
	a := startCore(t)
	served := map[string]bool{}
	for _, m := range servedMethods(a) {
		served[m.full] = true
		if _, ok := access.Lookup(m.full); !ok {
			t.Errorf("gRPC method %s has no access policy: %s", m.full, access.HowToDeclare)
		}
	}
	for full, p := range access.Policies {
		if !served[full] {
			t.Errorf("Policies has %s, which the core does not serve: remove its line from api/access/policy.go", full)
		}
		name := full[strings.LastIndex(full, "/")+1:]
		switch {
		case p.Public:
			if p.Role != "" || p.Mutates || p.Self {
				t.Errorf("%s: a public policy names no role and is nothing else: %+v", full, p)
			}
		case !p.Role.Valid():
			t.Errorf("%s: policy without a valid role: %+v", full, p)
		case p.Mutates && !p.Self && p.Role == auth.RoleViewer:
			t.Errorf("%s mutates but a viewer may call it", full)
		case p.Self && (!p.Mutates || p.Role != auth.RoleViewer):
			t.Errorf("%s: a self-service policy is any signed-in user's change: %+v", full, p)
		case !p.Mutates && !hasReadName(name):
			// A read is named like one; anything else (Reset, Send…) is
			// a change that must be audited and kept from viewers.
			t.Errorf("%s is declared read-only but is not named Get…/List…: declare it operate or administer", full)
		}
	}
}

func hasReadName(name string) bool {
	for _, p := range []string{"Get", "List", "Watch", "Stream"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestEveryRoleAgainstEveryMethod calls every method the core serves with
// no credential and as each role, over a real connection: a method is
// refused exactly to the roles its policy excludes, with PermissionDenied
// naming the role it needs, and never to the roles it allows.
func TestEveryRoleAgainstEveryMethod(t *testing.T) {
	a := startCore(t)
	_, grpcAddr, _ := a.Addrs()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	tokens := map[auth.Role]string{}
	for _, r := range auth.Roles {
		tokens[r] = userToken(t, a, conn, r)
	}

	for _, m := range servedMethods(a) {
		pol, ok := access.Lookup(m.full)
		if !ok {
			continue // TestEveryMethodHasAPolicy names it
		}
		t.Run(strings.TrimPrefix(m.full, "/"), func(t *testing.T) {
			anon := invoke(t, conn, m, "")
			switch {
			case pol.Public:
				if c := status.Code(anon); c == codes.Unauthenticated || c == codes.PermissionDenied {
					t.Errorf("without a credential: %v, want the method's own answer", anon)
				}
				return
			default:
				if c := status.Code(anon); c != codes.Unauthenticated {
					t.Errorf("without a credential: %v, want Unauthenticated", anon)
				}
			}
			for _, r := range auth.Roles {
				err := invoke(t, conn, m, tokens[r])
				allowed := pol.Self || r.Allows(pol.Role)
				code := status.Code(err)
				switch {
				case allowed && (code == codes.PermissionDenied || code == codes.Unauthenticated):
					t.Errorf("%s refused: %v", r, err)
				case !allowed && code != codes.PermissionDenied:
					t.Errorf("%s allowed (%v), want PermissionDenied", r, err)
				case !allowed && !strings.Contains(status.Convert(err).Message(), "needs the "+string(pol.Role)+" role"):
					t.Errorf("%s refused without naming the role needed: %q", r, status.Convert(err).Message())
				}
				if pol.Mutates && !pol.Self && r == auth.RoleViewer && code != codes.PermissionDenied {
					t.Errorf("a viewer may call %s, which mutates", m.full)
				}
			}
		})
	}
	checkAuditTrail(t, a)
}

// checkAuditTrail proves, for the calls TestEveryRoleAgainstEveryMethod
// made, that every call of a mutating method was recorded with its caller,
// address and outcome, that every call refused for its role was recorded
// as denied, that reads were not recorded, and that calls without a
// credential left nothing.
func checkAuditTrail(t *testing.T, a *app.App) {
	t.Helper()
	type key struct{ actor, method string }
	got := map[key][]audit.Record{}
	var before int64
	for {
		rows, err := a.Store().ListAudit(context.Background(), store.AuditFilter{}, store.SeqPage{Limit: store.MaxPageLimit, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got[key{r.Actor, r.Method}] = append(got[key{r.Actor, r.Method}], r)
			if r.Actor == "" {
				t.Errorf("record without an actor (an unauthenticated call?): %+v", r)
			}
		}
		if len(rows) < store.MaxPageLimit {
			break
		}
		before = rows[len(rows)-1].Seq
	}
	for _, m := range servedMethods(a) {
		pol, ok := access.Lookup(m.full)
		if !ok || pol.Public {
			continue
		}
		// Records name "Service/Method", without the package.
		svc, method, _ := strings.Cut(strings.TrimPrefix(m.full, "/"), "/")
		name := svc[strings.LastIndex(svc, ".")+1:] + "/" + method
		for _, r := range auth.Roles {
			recs := got[key{string(r) + "@example.com", name}]
			allowed := pol.Self || r.Allows(pol.Role)
			switch {
			case !allowed:
				if len(recs) != 1 || recs[0].Outcome != audit.OutcomeDenied || recs[0].Code != codes.PermissionDenied.String() {
					t.Errorf("%s refused to %s: records %+v, want one denied", name, r, recs)
				}
			case pol.Mutates:
				if len(recs) != 1 || recs[0].Outcome == audit.OutcomeDenied {
					t.Errorf("%s called by %s: records %+v, want one with its outcome", name, r, recs)
				}
			default:
				if len(recs) != 0 {
					t.Errorf("read %s by %s was recorded: %+v", name, r, recs)
				}
			}
			for _, rec := range recs {
				if rec.Addr != "127.0.0.1" || rec.ActorKind != audit.ActorUser || rec.ActorID == "" || rec.At.IsZero() {
					t.Errorf("%s by %s: record lacks who/where/when: %+v", name, r, rec)
				}
			}
		}
	}
}

// userToken creates a user with the role and logs in as it.
func userToken(t *testing.T, a *app.App, conn *grpc.ClientConn, r auth.Role) string {
	t.Helper()
	const password = "a long enough password for " + "tests"
	hash, err := auth.HashSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	email := string(r) + "@example.com"
	if err := a.Store().CreateUser(context.Background(), &store.User{Email: email, PasswordHash: hash, Role: string(r)}); err != nil {
		t.Fatal(err)
	}
	resp, err := chargeplanev1.NewAuthServiceClient(conn).Login(context.Background(), &chargeplanev1.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("login as %s: %v", r, err)
	}
	if resp.GetRole() != string(r) {
		t.Errorf("login as %s answered role %q", r, resp.GetRole())
	}
	return resp.GetAccessToken()
}

// invoke calls m with an empty request: enough to learn whether the guard
// let it through (an empty request then fails the method's own checks, and
// changes nothing).
func invoke(t *testing.T, conn *grpc.ClientConn, m method, token string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	if !m.clientStream && !m.serverStream {
		return conn.Invoke(ctx, m.full, &emptypb.Empty{}, &emptypb.Empty{})
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: m.clientStream, ServerStreams: m.serverStream}, m.full)
	if err != nil {
		return err
	}
	if err := s.SendMsg(&emptypb.Empty{}); err != nil && err != io.EOF {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	err = s.RecvMsg(&emptypb.Empty{})
	if err == io.EOF {
		return nil
	}
	return err
}

func TestForbiddenNamesTheRole(t *testing.T) {
	err := access.Forbidden(chargeplanev1.StationService_DeleteStation_FullMethodName, auth.RoleOperator, auth.RoleViewer)
	want := "StationService/DeleteStation needs the operator role (the caller is viewer)"
	if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != want {
		t.Errorf("Forbidden = %v, want PermissionDenied %q", err, want)
	}
}

func TestUnknownMethodIsRefused(t *testing.T) {
	g := access.NewGuard(access.GuardConfig{Logger: quiet})
	called := false
	_, err := g.Unary()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/chargeplane.v1.NewService/Undeclared"},
		func(context.Context, any) (any, error) { called = true; return nil, nil })
	if status.Code(err) != codes.PermissionDenied || called {
		t.Errorf("undeclared method: err %v, handler called %v", err, called)
	}
	err = g.Stream()(nil, fakeStream{}, &grpc.StreamServerInfo{FullMethod: "/chargeplane.v1.NewService/Watch"},
		func(any, grpc.ServerStream) error { called = true; return nil })
	if status.Code(err) != codes.PermissionDenied || called {
		t.Errorf("undeclared stream: err %v, handler called %v", err, called)
	}
}

type fakeStream struct{ grpc.ServerStream }

func (fakeStream) Context() context.Context { return context.Background() }

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		have, need auth.Role
		want       bool
	}{
		{auth.RoleAdmin, auth.RoleViewer, true},
		{auth.RoleAdmin, auth.RoleAdmin, true},
		{auth.RoleOperator, auth.RoleAdmin, false},
		{auth.RoleOperator, auth.RoleOperator, true},
		{auth.RoleViewer, auth.RoleOperator, false},
		{auth.Role(""), auth.RoleViewer, false},
		{auth.Role("root"), auth.RoleViewer, false},
		{auth.RoleAdmin, auth.Role(""), false},
	} {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%q.Allows(%q) = %v", c.have, c.need, got)
		}
	}
	for in, want := range map[string]auth.Role{"Admin": auth.RoleAdmin, " viewer ": auth.RoleViewer, "OPERATOR": auth.RoleOperator} {
		if got, err := auth.ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "root", "admins"} {
		if _, err := auth.ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) accepted", in)
		}
	}
}
