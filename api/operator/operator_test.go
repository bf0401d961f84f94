package operator_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgx and database/sql pools close asynchronously after Close.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
		// gorm's prepared-statement cache starts a sweeper it never stops
		// (documented in gorm/internal/lru); one per SQLite store.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const testSecret = "operator-test-secret-0123456789abcdef"

// stores runs f once against SQLite and once against PostgreSQL.
func stores(t *testing.T, f func(t *testing.T, st *store.Store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			cfg := store.Config{DataDir: t.TempDir()}
			if name == "postgres" {
				cfg = store.Config{DatabaseURL: testenv.PostgresURL(t)}
			}
			ctx := context.Background()
			st, err := store.Open(ctx, cfg)
			if err != nil {
				t.Fatalf("open %s store: %v", name, err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			f(t, st)
		})
	}
}

type harness struct {
	st       *store.Store
	tokens   *auth.Tokens
	conn     *grpc.ClientConn
	login    chargeplanev1.AuthServiceClient
	stations chargeplanev1.StationServiceClient
	audit    chargeplanev1.AuditServiceClient
	config   chargeplanev1.ConfigurationServiceClient
	now      time.Time
}

// serve runs the operator services behind the real interceptors on a real
// TCP listener and returns clients for them.
func serve(t *testing.T, st *store.Store) *harness {
	t.Helper()
	h := &harness{now: time.Now(), st: st}
	tokens, err := auth.NewTokens([]byte(testSecret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Now = func() time.Time { return h.now }
	h.tokens = tokens
	creds := access.NewAuthenticator(access.AuthenticatorConfig{Tokens: tokens, Store: st, Logger: quiet})
	authSvc, err := operator.NewAuthService(st, tokens, creds, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(access.ServerOptions(access.NewGuard(access.GuardConfig{Credentials: creds, Audit: st, Logger: quiet}), quiet)...)
	chargeplanev1.RegisterAuthServiceServer(srv, authSvc)
	chargeplanev1.RegisterStationServiceServer(srv, operator.NewStationService(st, quiet))
	chargeplanev1.RegisterAuditServiceServer(srv, operator.NewAuditService(st, quiet))
	// No commander: only the configuration's reads of the database answer.
	chargeplanev1.RegisterConfigurationServiceServer(srv, operator.NewConfigurationService(nil, st, nil, quiet))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	gatewayv1.RegisterGatewayControlServiceServer(srv, gatewayv1.UnimplementedGatewayControlServiceServer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	h.conn = conn
	h.login = chargeplanev1.NewAuthServiceClient(conn)
	h.stations = chargeplanev1.NewStationServiceClient(conn)
	h.audit = chargeplanev1.NewAuditServiceClient(conn)
	h.config = chargeplanev1.NewConfigurationServiceClient(conn)
	return h
}

// authed is the context of a call by an admin (the user "test-user").
func (h *harness) authed(t *testing.T) context.Context {
	t.Helper()
	ensureUser(t, h.st, "test-user", "test@example.com", auth.RoleAdmin)
	tok, _, err := h.tokens.Issue(auth.Subject{UserID: "test-user", Email: "test@example.com", Role: auth.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

// ensureUser creates a user with a fixed id unless it exists.
func ensureUser(t *testing.T, st *store.Store, id, email string, role auth.Role) {
	t.Helper()
	err := st.CreateUser(context.Background(), &store.User{ID: id, Email: email, Role: string(role)})
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

func createUser(t *testing.T, st *store.Store, email, password string) *store.User {
	t.Helper()
	hash, err := auth.HashSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: email, PasswordHash: hash, FirstName: "Ada", LastName: "Lovelace", Role: "admin"}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLogin(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		ctx := context.Background()
		u := createUser(t, st, "ops@example.com", "s3cret-password")

		resp, err := h.login.Login(ctx, &chargeplanev1.LoginRequest{Email: "  OPS@Example.COM ", Password: "s3cret-password"})
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if resp.GetTokenType() != "Bearer" || resp.GetExpiresAt() == nil {
			t.Errorf("response = %v", resp)
		}
		claims, err := h.tokens.Verify(resp.GetAccessToken())
		if err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
		if claims.UserID != u.ID || claims.Email != "ops@example.com" {
			t.Errorf("claims = %+v, want user %s", claims, u.ID)
		}
		if !resp.GetExpiresAt().AsTime().Equal(claims.ExpiresAt) {
			t.Errorf("expires_at %v != token exp %v", resp.GetExpiresAt().AsTime(), claims.ExpiresAt)
		}

		_, errPw := h.login.Login(ctx, &chargeplanev1.LoginRequest{Email: "ops@example.com", Password: "wrong-password"})
		wantCode(t, errPw, codes.Unauthenticated)
		_, errEmail := h.login.Login(ctx, &chargeplanev1.LoginRequest{Email: "nobody@example.com", Password: "s3cret-password"})
		wantCode(t, errEmail, codes.Unauthenticated)
		if status.Convert(errPw).Message() != status.Convert(errEmail).Message() {
			t.Errorf("wrong password and unknown email differ: %q vs %q", status.Convert(errPw).Message(), status.Convert(errEmail).Message())
		}
		_, err = h.login.Login(ctx, &chargeplanev1.LoginRequest{Email: "ops@example.com", Password: strings.Repeat("x", 5000)})
		wantCode(t, err, codes.Unauthenticated)
		_, err = h.login.Login(ctx, &chargeplanev1.LoginRequest{Email: "ops@example.com"})
		wantCode(t, err, codes.InvalidArgument)
	})
}

func TestInterceptor(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		list := func(ctx context.Context) error {
			_, err := h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{})
			return err
		}
		bg := context.Background()
		with := func(v ...string) context.Context {
			md := metadata.MD{}
			for _, s := range v {
				md.Append("authorization", s)
			}
			return metadata.NewOutgoingContext(bg, md)
		}
		ensureUser(t, st, "u1", "u1@example.com", auth.RoleAdmin)
		good, _, _ := h.tokens.Issue(auth.Subject{UserID: "u1", Email: "u1@example.com", Role: auth.RoleAdmin})
		other, _ := auth.NewTokens([]byte("another-secret-another-secret-another"), time.Hour)
		forged, _, _ := other.Issue(auth.Subject{UserID: "u1", Email: "u1@example.com", Role: auth.RoleAdmin})

		wantCode(t, list(bg), codes.Unauthenticated)
		for name, v := range map[string][]string{
			"empty":        {""},
			"basic":        {"Basic dXNlcjpwYXNz"},
			"bearer only":  {"Bearer "},
			"garbage":      {"Bearer not-a-jwt"},
			"other secret": {"Bearer " + forged},
			"two values":   {"Bearer " + good, "Bearer " + good},
		} {
			if err := list(with(v...)); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: code %v, want Unauthenticated", name, status.Code(err))
			}
		}
		if err := list(with("Bearer " + good)); err != nil {
			t.Fatalf("good token refused: %v", err)
		}
		if err := list(with("bearer " + good)); err != nil {
			t.Fatalf("lower-case scheme refused: %v", err)
		}

		h.now = h.now.Add(2 * time.Hour)
		wantCode(t, list(with("Bearer "+good)), codes.Unauthenticated)

		// Public methods answer without a token (with their own result).
		if _, err := healthpb.NewHealthClient(h.conn).Check(bg, &healthpb.HealthCheckRequest{}); err != nil {
			t.Errorf("health without token: %v", err)
		}
		_, err := h.login.Login(bg, &chargeplanev1.LoginRequest{Email: "x@example.com", Password: "whatever-pass"})
		wantCode(t, err, codes.Unauthenticated) // refused by Login itself, not the interceptor
		if status.Convert(err).Message() == "missing bearer token" {
			t.Error("Login was guarded by the interceptor")
		}
		// The control plane has no policy here (it is served apart, with
		// GATEWAY_SECRET): registered on a guarded server by mistake, it
		// is refused, never open.
		_, err = gatewayv1.NewGatewayControlServiceClient(h.conn).RenewLease(bg, &gatewayv1.RenewLeaseRequest{GatewayId: "g"})
		wantCode(t, err, codes.PermissionDenied)
	})
}

func TestStations(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		ctx := h.authed(t)
		svc := h.stations

		created, err := svc.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: "CP-001", Name: "Depot 1", Password: "0123456789abcdef"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		s := created.GetStation()
		if s.GetId() != "CP-001" || s.GetName() != "Depot 1" || !s.GetHasPassword() || s.GetConnected() || s.GetStatus() != "Unavailable" || s.GetCreatedAt() == nil {
			t.Errorf("created = %v", s)
		}
		stored, err := st.GetStation(context.Background(), "CP-001")
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.VerifySecret(stored.PasswordHash, "0123456789abcdef"); err != nil {
			t.Errorf("stored password hash does not verify: %v", err)
		}

		_, err = svc.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: "CP-001"})
		wantCode(t, err, codes.AlreadyExists)

		for name, id := range map[string]string{
			"empty": "", "too long": strings.Repeat("a", 49), "colon": "a:b", "space": "a b",
			"non-ascii": "café", "control": "a\tb", "slash": "a/b", "traversal": "../etc", "dot-dot": "..", "backslash": `a\b`,
		} {
			_, err := svc.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: id})
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("id %s: code %v, want InvalidArgument", name, status.Code(err))
			}
		}
		if _, err := svc.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: strings.Repeat("b", 48)}); err != nil {
			t.Errorf("48-char id refused: %v", err)
		}
		for _, pw := range []string{"short", strings.Repeat("p", 15), strings.Repeat("p", 41)} {
			_, err := svc.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: "CP-PW", Password: pw})
			wantCode(t, err, codes.InvalidArgument)
		}

		_, err = svc.GetStation(ctx, &chargeplanev1.GetStationRequest{Id: "nope"})
		wantCode(t, err, codes.NotFound)
		got, err := svc.GetStation(ctx, &chargeplanev1.GetStationRequest{Id: "CP-001"})
		if err != nil || got.GetStation().GetName() != "Depot 1" {
			t.Fatalf("get = %v, %v", got, err)
		}

		name := "Depot One"
		up, err := svc.UpdateStation(ctx, &chargeplanev1.UpdateStationRequest{Id: "CP-001", Name: &name})
		if err != nil || up.GetStation().GetName() != name || !up.GetStation().GetHasPassword() {
			t.Fatalf("rename = %v, %v", up, err)
		}
		empty := ""
		up, err = svc.UpdateStation(ctx, &chargeplanev1.UpdateStationRequest{Id: "CP-001", Password: &empty})
		if err != nil || up.GetStation().GetHasPassword() || up.GetStation().GetName() != name {
			t.Fatalf("remove password = %v, %v", up, err)
		}
		short := "short"
		_, err = svc.UpdateStation(ctx, &chargeplanev1.UpdateStationRequest{Id: "CP-001", Password: &short})
		wantCode(t, err, codes.InvalidArgument)
		_, err = svc.UpdateStation(ctx, &chargeplanev1.UpdateStationRequest{Id: "ghost", Name: &name})
		wantCode(t, err, codes.NotFound)

		if _, err := svc.DeleteStation(ctx, &chargeplanev1.DeleteStationRequest{Id: "CP-001"}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = svc.DeleteStation(ctx, &chargeplanev1.DeleteStationRequest{Id: "CP-001"})
		wantCode(t, err, codes.NotFound)
		_, err = svc.GetStation(ctx, &chargeplanev1.GetStationRequest{Id: "CP-001"})
		wantCode(t, err, codes.NotFound)

		// Registered before ids were checked: still read and deleted.
		for _, id := range []string{"a/b", "../etc"} {
			if err := st.CreateStation(context.Background(), &store.Station{ID: id, Status: "Unavailable"}); err != nil {
				t.Fatal(err)
			}
			if got, err := svc.GetStation(ctx, &chargeplanev1.GetStationRequest{Id: id}); err != nil || got.GetStation().GetId() != id {
				t.Fatalf("get %q = %v, %v", id, got, err)
			}
			if _, err := svc.DeleteStation(ctx, &chargeplanev1.DeleteStationRequest{Id: id}); err != nil {
				t.Fatalf("delete %q: %v", id, err)
			}
		}
	})
}

// The stations list filters by the console's live state, by OCPP version
// and by text on the server, so that neither the console nor a script has
// to page through every station to find or count some.
func TestListStationsFilters(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		ctx := h.authed(t)
		bg := context.Background()
		now := time.Now()
		connect := func(id string, v ocppj.Version, boot store.BootInfo, connectors ...string) {
			t.Helper()
			ev := store.ConnectionEvent{StationID: id, GatewayID: "gw", ConnectionID: "conn-" + id, OCPPVersion: v, At: now}
			if _, err := st.RecordAdmission(bg, ev); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.MarkConnected(bg, ev); err != nil || !ok {
				t.Fatalf("connect %s: %v %v", id, ok, err)
			}
			if err := st.RecordBoot(bg, id, boot, now); err != nil {
				t.Fatal(err)
			}
			for i, status := range connectors {
				c := store.Connector{StationID: id, ConnectorID: i + 1, Status: status, UpdatedAt: now, ReportedAt: now}
				if err := st.UpsertConnector(bg, c); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range []string{"on", "faulty", "off", "boot-pending"} {
			if _, err := h.stations.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: id}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.CreatePendingStation(bg, "unknown", 0, 10); err != nil {
			t.Fatal(err)
		}
		accepted := store.BootInfo{RegistrationStatus: "Accepted"}
		connect("on", ocppj.V16, store.BootInfo{Vendor: "Acme_Corp", Model: "Wall", RegistrationStatus: "Accepted"}, "Available", "Charging")
		connect("faulty", ocppj.V201, accepted, "Available", "Faulted")
		connect("boot-pending", ocppj.V16, store.BootInfo{RegistrationStatus: "Pending"})
		connect("unknown", ocppj.V201, accepted)

		for name, c := range map[string]struct {
			req  *chargeplanev1.ListStationsRequest
			want string
		}{
			"online":             {&chargeplanev1.ListStationsRequest{State: "online"}, "on"},
			"faulted":            {&chargeplanev1.ListStationsRequest{State: "faulted"}, "faulty"},
			"offline":            {&chargeplanev1.ListStationsRequest{State: "offline"}, "off"},
			"pending either way": {&chargeplanev1.ListStationsRequest{State: "pending"}, "boot-pending,unknown"},
			"2.0.1":              {&chargeplanev1.ListStationsRequest{OcppVersion: "2.0.1"}, "faulty,unknown"},
			"vendor, any case":   {&chargeplanev1.ListStationsRequest{Search: " acme_c "}, "on"},
			"id":                 {&chargeplanev1.ListStationsRequest{Search: "FAUL"}, "faulty"},
			"wildcards are text": {&chargeplanev1.ListStationsRequest{Search: "%"}, ""},
			"underscore is text": {&chargeplanev1.ListStationsRequest{Search: "e_c"}, "on"},
			"combined":           {&chargeplanev1.ListStationsRequest{State: "online", OcppVersion: "2.0.1"}, ""},
			"with onboarding":    {&chargeplanev1.ListStationsRequest{Status: "pending", State: "pending"}, "unknown"},
		} {
			resp, err := h.stations.ListStations(ctx, c.req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var ids []string
			for _, s := range resp.GetStations() {
				ids = append(ids, s.GetId())
			}
			if got := strings.Join(ids, ","); got != c.want || resp.GetTotalSize() != int64(len(ids)) {
				t.Errorf("%s: %q (total %d), want %q", name, got, resp.GetTotalSize(), c.want)
			}
		}
		for _, req := range []*chargeplanev1.ListStationsRequest{
			{State: "asleep"}, {OcppVersion: "1.5"}, {Search: strings.Repeat("x", 65)},
		} {
			_, err := h.stations.ListStations(ctx, req)
			wantCode(t, err, codes.InvalidArgument)
		}
	})
}

func TestListPaging(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		h := serve(t, st)
		ctx := h.authed(t)
		ids := []string{"a1", "a2", "b1", "b2", "c1", "c2", "d1"}
		for _, id := range ids {
			if _, err := h.stations.CreateStation(ctx, &chargeplanev1.CreateStationRequest{Id: id}); err != nil {
				t.Fatal(err)
			}
		}
		var seen []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > len(ids) {
				t.Fatal("paging does not end")
			}
			resp, err := h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{PageSize: 3, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTotalSize() != int64(len(ids)) {
				t.Errorf("total = %d", resp.GetTotalSize())
			}
			if len(resp.GetStations()) > 3 {
				t.Fatalf("page of %d", len(resp.GetStations()))
			}
			for _, s := range resp.GetStations() {
				seen = append(seen, s.GetId())
			}
			token = resp.GetNextPageToken()
			if token == "" {
				break
			}
		}
		if strings.Join(seen, ",") != strings.Join(ids, ",") {
			t.Errorf("paged ids = %v, want %v", seen, ids)
		}

		all, err := h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{})
		if err != nil || len(all.GetStations()) != len(ids) || all.GetNextPageToken() != "" {
			t.Errorf("default page = %d stations, token %q, err %v", len(all.GetStations()), all.GetNextPageToken(), err)
		}
		_, err = h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{PageToken: "!!not-a-token"})
		wantCode(t, err, codes.InvalidArgument)
		_, err = h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{PageSize: -1})
		wantCode(t, err, codes.InvalidArgument)
		if _, err := h.stations.ListStations(ctx, &chargeplanev1.ListStationsRequest{PageSize: 5000}); err != nil {
			t.Errorf("oversized page_size should be capped, got %v", err)
		}
	})
}
