package operator_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// accessAPI serves the auth, user, key and station services behind the
// real guard and authenticator, with a clock the test moves.
type accessAPI struct {
	st       *store.Store
	creds    *access.Authenticator
	now      time.Time
	auth     chargeplanev1.AuthServiceClient
	users    chargeplanev1.UserServiceClient
	keys     chargeplanev1.ApiKeyServiceClient
	stations chargeplanev1.StationServiceClient
}

func serveAccess(t *testing.T, st *store.Store) *accessAPI {
	t.Helper()
	a := &accessAPI{st: st, now: time.Now()}
	clock := func() time.Time { return a.now }
	tokens, err := auth.NewTokens([]byte(testSecret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Now = clock
	a.creds = access.NewAuthenticator(access.AuthenticatorConfig{Tokens: tokens, Store: st, Now: clock, Logger: quiet})
	authSvc, err := operator.NewAuthService(st, tokens, a.creds, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(access.ServerOptions(access.NewGuard(access.GuardConfig{Credentials: a.creds, Logger: quiet}), quiet)...)
	chargeplanev1.RegisterAuthServiceServer(srv, authSvc)
	chargeplanev1.RegisterUserServiceServer(srv, operator.NewUserService(st, a.creds, quiet))
	chargeplanev1.RegisterApiKeyServiceServer(srv, operator.NewAPIKeyService(st, a.creds, clock, quiet))
	chargeplanev1.RegisterStationServiceServer(srv, operator.NewStationService(st, quiet))
	conn := serveOn(t, srv)
	a.auth = chargeplanev1.NewAuthServiceClient(conn)
	a.users = chargeplanev1.NewUserServiceClient(conn)
	a.keys = chargeplanev1.NewApiKeyServiceClient(conn)
	a.stations = chargeplanev1.NewStationServiceClient(conn)
	return a
}

func serveOn(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := listen(t)
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
	return conn
}

func bearer(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func (a *accessAPI) login(t *testing.T, email, password string) string {
	t.Helper()
	resp, err := a.auth.Login(context.Background(), &chargeplanev1.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return resp.GetAccessToken()
}

// afterRecheck moves the clock past what another instance may have cached.
func (a *accessAPI) afterRecheck() { a.now = a.now.Add(access.DefaultRecheck + time.Millisecond) }

const strongPassword = "violet tractor wanders north"

func TestUserLifeCycle(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveAccess(t, st)
		createUser(t, st, "root@example.com", strongPassword)
		admin := bearer(a.login(t, "root@example.com", strongPassword))

		_, err := a.users.CreateUser(admin, &chargeplanev1.CreateUserRequest{Email: "ops@example.com", Password: "password1234", Role: "operator"})
		wantCode(t, err, codes.InvalidArgument) // weak
		_, err = a.users.CreateUser(admin, &chargeplanev1.CreateUserRequest{Email: "ops@example.com", Password: strongPassword, Role: "root"})
		wantCode(t, err, codes.InvalidArgument)
		created, err := a.users.CreateUser(admin, &chargeplanev1.CreateUserRequest{
			Email: "Ops@Example.com", Password: strongPassword, FirstName: "Olga", LastName: "Ops", Role: "operator"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		u := created.GetUser()
		if u.GetEmail() != "ops@example.com" || u.GetRole() != "operator" || u.GetDisabled() {
			t.Fatalf("created %v", u)
		}
		_, err = a.users.CreateUser(admin, &chargeplanev1.CreateUserRequest{Email: "ops@example.com", Password: strongPassword, Role: "viewer"})
		wantCode(t, err, codes.AlreadyExists)
		stored, _ := st.GetUser(context.Background(), u.GetId())
		if strings.Contains(stored.PasswordHash, strongPassword) || auth.VerifySecret(stored.PasswordHash, strongPassword) != nil {
			t.Fatal("password not stored as its hash")
		}

		opTok := a.login(t, "ops@example.com", strongPassword)
		op := bearer(opTok)
		if _, err := a.stations.ListStations(op, &chargeplanev1.ListStationsRequest{}); err != nil {
			t.Fatalf("operator lists stations: %v", err)
		}
		_, err = a.users.ListUsers(op, &chargeplanev1.ListUsersRequest{})
		wantCode(t, err, codes.PermissionDenied)
		if !strings.Contains(status.Convert(err).Message(), "needs the admin role") {
			t.Errorf("refusal %q does not name the role", status.Convert(err).Message())
		}
		list, err := a.users.ListUsers(admin, &chargeplanev1.ListUsersRequest{PageSize: 1})
		if err != nil || len(list.GetUsers()) != 1 || list.GetTotalSize() != 2 || list.GetNextPageToken() == "" {
			t.Fatalf("list page 1: %v %v", list, err)
		}

		// A role change ends the user's tokens on every instance within
		// the recheck time, at once on this one.
		if _, err := a.users.UpdateUser(admin, &chargeplanev1.UpdateUserRequest{Id: u.GetId(), Role: ptr("viewer")}); err != nil {
			t.Fatalf("demote: %v", err)
		}
		_, err = a.stations.ListStations(op, &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		viewer := bearer(a.login(t, "ops@example.com", strongPassword))
		me, err := a.auth.GetCaller(viewer, &chargeplanev1.GetCallerRequest{})
		if err != nil || me.GetRole() != "viewer" || me.GetName() != "ops@example.com" || me.GetKind() != "user" {
			t.Fatalf("caller: %v %v", me, err)
		}
		_, err = a.stations.CreateStation(viewer, &chargeplanev1.CreateStationRequest{Id: "CP-V"})
		wantCode(t, err, codes.PermissionDenied)

		// Disabling ends the tokens and refuses logins; enabling restores logins.
		if _, err := a.users.DisableUser(admin, &chargeplanev1.DisableUserRequest{Id: u.GetId()}); err != nil {
			t.Fatalf("disable: %v", err)
		}
		_, err = a.stations.ListStations(viewer, &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		_, err = a.auth.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "ops@example.com", Password: strongPassword})
		wantCode(t, err, codes.Unauthenticated)
		if _, err := a.users.EnableUser(admin, &chargeplanev1.EnableUserRequest{Id: u.GetId()}); err != nil {
			t.Fatalf("enable: %v", err)
		}
		viewer = bearer(a.login(t, "ops@example.com", strongPassword))

		// A password reset ends the tokens; the new password works.
		const newPassword = "marble cactus outran the ferry"
		if _, err := a.users.ResetPassword(admin, &chargeplanev1.ResetPasswordRequest{Id: u.GetId(), Password: newPassword}); err != nil {
			t.Fatalf("reset: %v", err)
		}
		_, err = a.stations.ListStations(viewer, &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		viewerTok := a.login(t, "ops@example.com", newPassword)

		// The user changes their own password: the old token ends, the
		// answer carries a new one.
		_, err = a.auth.ChangePassword(bearer(viewerTok), &chargeplanev1.ChangePasswordRequest{CurrentPassword: "wrong", NewPassword: strongPassword})
		wantCode(t, err, codes.InvalidArgument)
		changed, err := a.auth.ChangePassword(bearer(viewerTok), &chargeplanev1.ChangePasswordRequest{CurrentPassword: newPassword, NewPassword: strongPassword})
		if err != nil {
			t.Fatalf("change own password: %v", err)
		}
		_, err = a.stations.ListStations(bearer(viewerTok), &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		if _, err := a.stations.ListStations(bearer(changed.GetAccessToken()), &chargeplanev1.ListStationsRequest{}); err != nil {
			t.Fatalf("the new token: %v", err)
		}

		// The last enabled admin stays.
		root, _ := st.UserByEmail(context.Background(), "root@example.com")
		_, err = a.users.DisableUser(admin, &chargeplanev1.DisableUserRequest{Id: root.ID})
		wantCode(t, err, codes.FailedPrecondition)
		_, err = a.users.UpdateUser(admin, &chargeplanev1.UpdateUserRequest{Id: root.ID, Role: ptr("operator")})
		wantCode(t, err, codes.FailedPrecondition)
		if _, err := a.users.UpdateUser(admin, &chargeplanev1.UpdateUserRequest{Id: u.GetId(), Role: ptr("admin")}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.users.UpdateUser(admin, &chargeplanev1.UpdateUserRequest{Id: root.ID, Role: ptr("operator")}); err != nil {
			t.Fatalf("demote an admin while another remains: %v", err)
		}
		_, err = a.users.GetUser(bearer(changed.GetAccessToken()), &chargeplanev1.GetUserRequest{Id: "nobody"})
		wantCode(t, err, codes.Unauthenticated) // promoted: that token predates the change
	})
}

func TestAPIKeyLifeCycle(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveAccess(t, st)
		createUser(t, st, "root@example.com", strongPassword)
		admin := bearer(a.login(t, "root@example.com", strongPassword))

		_, err := a.keys.CreateApiKey(admin, &chargeplanev1.CreateApiKeyRequest{Name: "", Role: "viewer"})
		wantCode(t, err, codes.InvalidArgument)
		_, err = a.keys.CreateApiKey(admin, &chargeplanev1.CreateApiKeyRequest{Name: "x", Role: "viewer", ExpiresAt: timestamppb.New(a.now.Add(-time.Minute))})
		wantCode(t, err, codes.InvalidArgument)
		created, err := a.keys.CreateApiKey(admin, &chargeplanev1.CreateApiKeyRequest{Name: "billing export", Role: "viewer"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		secret, k := created.GetSecret(), created.GetApiKey()
		if !strings.HasPrefix(secret, auth.APIKeyPrefix+k.GetId()+".") || k.GetRole() != "viewer" || k.GetState() != "active" || k.GetCreatedBy() != "root@example.com" {
			t.Fatalf("created %v, secret %q", k, secret)
		}
		stored, err := st.GetAPIKey(context.Background(), k.GetId())
		if err != nil || strings.Contains(stored.SecretHash, secret[strings.Index(secret, ".")+1:]) {
			t.Fatalf("stored key %+v %v: the secret must be kept only hashed", stored, err)
		}

		key := bearer(secret)
		if _, err := a.stations.ListStations(key, &chargeplanev1.ListStationsRequest{}); err != nil {
			t.Fatalf("viewer key reads: %v", err)
		}
		_, err = a.stations.CreateStation(key, &chargeplanev1.CreateStationRequest{Id: "CP-K"})
		wantCode(t, err, codes.PermissionDenied)
		me, err := a.auth.GetCaller(key, &chargeplanev1.GetCallerRequest{})
		if err != nil || me.GetKind() != "api_key" || me.GetName() != "billing export" {
			t.Fatalf("caller %v %v", me, err)
		}
		_, err = a.auth.ChangePassword(key, &chargeplanev1.ChangePasswordRequest{CurrentPassword: "x", NewPassword: strongPassword})
		wantCode(t, err, codes.FailedPrecondition)
		last := "A"
		if strings.HasSuffix(secret, last) {
			last = "B"
		}
		for _, bad := range []string{secret + "x", secret[:len(secret)-1] + last, auth.APIKeyPrefix + "nonsense", auth.APIKeyPrefix + "AAAAAAAAAAAA." + strings.Repeat("A", 43)} {
			_, err := a.stations.ListStations(bearer(bad), &chargeplanev1.ListStationsRequest{})
			wantCode(t, err, codes.Unauthenticated)
		}

		// Last use is noted in memory and written by a flush, not per request.
		if got, _ := st.GetAPIKey(context.Background(), k.GetId()); got.LastUsedAt != nil {
			t.Fatal("last use written on the request path")
		}
		a.creds.Flush(context.Background())
		got, err := a.keys.GetApiKey(admin, &chargeplanev1.GetApiKeyRequest{Id: k.GetId()})
		if err != nil || got.GetApiKey().GetLastUsedAt() == nil {
			t.Fatalf("last used not shown: %v %v", got, err)
		}

		revoked, err := a.keys.RevokeApiKey(admin, &chargeplanev1.RevokeApiKeyRequest{Id: k.GetId()})
		if err != nil || revoked.GetApiKey().GetState() != "revoked" || revoked.GetApiKey().GetRevokedAt() == nil {
			t.Fatalf("revoke: %v %v", revoked, err)
		}
		_, err = a.stations.ListStations(key, &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		_, err = a.keys.RevokeApiKey(admin, &chargeplanev1.RevokeApiKeyRequest{Id: "unknown"})
		wantCode(t, err, codes.NotFound)

		// An expiry takes effect by itself.
		exp, err := a.keys.CreateApiKey(admin, &chargeplanev1.CreateApiKeyRequest{Name: "temp", Role: "operator", ExpiresAt: timestamppb.New(a.now.Add(30 * time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.stations.ListStations(bearer(exp.GetSecret()), &chargeplanev1.ListStationsRequest{}); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		a.now = a.now.Add(30 * time.Minute)
		_, err = a.stations.ListStations(bearer(exp.GetSecret()), &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
		all, err := a.keys.ListApiKeys(admin, &chargeplanev1.ListApiKeysRequest{})
		if err != nil || len(all.GetApiKeys()) != 2 {
			t.Fatalf("list: %v %v", all, err)
		}
		for _, k := range all.GetApiKeys() {
			if want := map[string]string{"temp": "expired", "billing export": "revoked"}[k.GetName()]; k.GetState() != want {
				t.Errorf("%s: state %s, want %s", k.GetName(), k.GetState(), want)
			}
		}
	})
}

// A revocation made through another instance (straight in the shared
// database here) is enforced once the recheck time has passed.
func TestRevocationSeenAfterRecheck(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveAccess(t, st)
		createUser(t, st, "root@example.com", strongPassword)
		admin := bearer(a.login(t, "root@example.com", strongPassword))
		created, err := a.keys.CreateApiKey(admin, &chargeplanev1.CreateApiKeyRequest{Name: "ci", Role: "operator"})
		if err != nil {
			t.Fatal(err)
		}
		key := bearer(created.GetSecret())
		if _, err := a.stations.ListStations(key, &chargeplanev1.ListStationsRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeAPIKey(context.Background(), created.GetApiKey().GetId(), a.now); err != nil {
			t.Fatal(err)
		}
		a.afterRecheck()
		_, err = a.stations.ListStations(key, &chargeplanev1.ListStationsRequest{})
		wantCode(t, err, codes.Unauthenticated)
	})
}

func TestLoginThrottle(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveAccess(t, st)
		createUser(t, st, "root@example.com", strongPassword)
		createUser(t, st, "other@example.com", strongPassword)
		bad := &chargeplanev1.LoginRequest{Email: "root@example.com", Password: "not the password"}
		for i := 0; i < 10; i++ {
			_, err := a.auth.Login(context.Background(), bad)
			wantCode(t, err, codes.Unauthenticated)
		}
		// The account is throttled, even with the right password...
		_, err := a.auth.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "root@example.com", Password: strongPassword})
		wantCode(t, err, codes.ResourceExhausted)
		// ...another account is not (until the address's own limit)...
		a.login(t, "other@example.com", strongPassword)
		// ...and the window ends.
		a.now = a.now.Add(16 * time.Minute)
		a.login(t, "root@example.com", strongPassword)

		// Per address: failures spread over many accounts add up.
		for i := 0; i < 30; i++ {
			_, err := a.auth.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com", Password: "not the password"})
			wantCode(t, err, codes.Unauthenticated)
		}
		_, err = a.auth.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "other@example.com", Password: strongPassword})
		wantCode(t, err, codes.ResourceExhausted)
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// gatedVerifier counts the password checks and holds each one until the
// test opens the gate (or the caller gives up).
type gatedVerifier struct {
	calls atomic.Int64
	gate  chan struct{}
}

func (g *gatedVerifier) Verify(ctx context.Context, hash, password string) error {
	g.calls.Add(1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return fmt.Errorf("waiting to check a password: %w", ctx.Err())
	}
	return auth.VerifySecret(hash, password)
}

// gatedAuth is a login service whose password checks wait at g's gate,
// with the user root@example.com (strongPassword).
func gatedAuth(t *testing.T, st *store.Store) (*operator.AuthService, *gatedVerifier) {
	t.Helper()
	tokens, err := auth.NewTokens([]byte(testSecret), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	creds := access.NewAuthenticator(access.AuthenticatorConfig{Tokens: tokens, Store: st, Logger: quiet})
	g := &gatedVerifier{gate: make(chan struct{})}
	svc, err := operator.NewAuthService(st, tokens, creds, g, quiet)
	if err != nil {
		t.Fatal(err)
	}
	createUser(t, st, "root@example.com", strongPassword)
	return svc, g
}

// TestLoginChecksThroughTheVerifier: every login, for an unknown email
// too, runs its Argon2id check through the core's bounded verifier (shared
// with station admissions), and a login that gives up waiting for a check
// is answered with its deadline, not counted as a failed password.
func TestLoginChecksThroughTheVerifier(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		svc, g := gatedAuth(t, st)
		right := &chargeplanev1.LoginRequest{Email: "root@example.com", Password: strongPassword}

		// Held: the caller's deadline ends the wait, eleven times over,
		// which would throttle the account were they failures.
		for range 11 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, err := svc.Login(ctx, right)
			cancel()
			wantCode(t, err, codes.DeadlineExceeded)
		}
		close(g.gate)
		if _, err := svc.Login(context.Background(), right); err != nil {
			t.Fatalf("login after the waits: %v", err)
		}
		_, err := svc.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "root@example.com", Password: "not the password"})
		wantCode(t, err, codes.Unauthenticated)
		_, err = svc.Login(context.Background(), &chargeplanev1.LoginRequest{Email: "nobody@example.com", Password: "not the password"})
		wantCode(t, err, codes.Unauthenticated)
		if n := g.calls.Load(); n != 14 {
			t.Errorf("%d checks through the verifier, want 14 (11 given up, right, wrong, unknown email)", n)
		}
	})
}

// TestLoginsBoundedWhileChecking: logins share the Argon2id turns with
// stations, so at most MaxLoginChecks wait for or run a check at once; the
// next one is answered Unavailable at once, runs no check and counts no
// failure, and logins go through again once the checks end.
func TestLoginsBoundedWhileChecking(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		svc, g := gatedAuth(t, st)
		right := &chargeplanev1.LoginRequest{Email: "root@example.com", Password: strongPassword}

		held := make(chan error, operator.MaxLoginChecks)
		for range operator.MaxLoginChecks {
			go func() {
				_, err := svc.Login(context.Background(), right)
				held <- err
			}()
		}
		for deadline := time.Now().Add(30 * time.Second); g.calls.Load() < operator.MaxLoginChecks; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d logins reached their check, want %d", g.calls.Load(), operator.MaxLoginChecks)
			}
		}
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a login that queued ends here
			_, err := svc.Login(ctx, right)
			cancel()
			wantCode(t, err, codes.Unavailable)
		}
		if n := g.calls.Load(); n != operator.MaxLoginChecks {
			t.Errorf("%d checks, want %d: a refused login ran one", n, operator.MaxLoginChecks)
		}
		close(g.gate)
		for range operator.MaxLoginChecks {
			if err := <-held; err != nil {
				t.Errorf("held login: %v", err)
			}
		}
		if _, err := svc.Login(context.Background(), right); err != nil {
			t.Fatalf("login once the checks ended: %v (the refusals must not count as failures)", err)
		}
	})
}
