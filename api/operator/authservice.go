package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/access"
	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// Login throttling: failures are counted per account and per client
// address in 15-minute windows; past the limit, attempts are refused
// without checking the password until the window ends. An address gets more
// tries than an account, since several people may share one (a NAT).
const (
	loginWindow          = 15 * time.Minute
	loginFailsPerAccount = 10
	loginFailsPerAddress = 30
	throttleEntries      = 100_000
)

// MaxLoginChecks bounds the logins waiting for or running their password
// check at once. Logins share the Argon2id turns (ARGON2_CONCURRENCY) with
// stations' admissions and need no credentials: unbounded, a flood of them
// would queue ahead of every station and keep chargers out. Past the bound
// a login is answered Unavailable at once, and nothing is counted against
// the account or address.
const (
	MaxLoginChecks = 8
	loginBusyRetry = time.Second
)

// AuthStore is what AuthService needs from the store.
type AuthStore interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	UpdateUser(ctx context.Context, id string, p store.UserPatch) (*store.User, error)
}

// PasswordVerifier checks a password against its stored hash (an
// *auth.PasswordChecker: anyone can make the core run Argon2id by trying
// to log in, so the checks share the core's bound, ARGON2_CONCURRENCY).
type PasswordVerifier interface {
	Verify(ctx context.Context, hash, password string) error
}

// defaultPasswordChecks bounds the checks when NewAuthService is given no
// verifier.
const defaultPasswordChecks = 4

// AuthService implements chargeplane.v1.AuthService.
type AuthService struct {
	chargeplanev1.UnimplementedAuthServiceServer

	users     AuthStore
	passwords PasswordVerifier
	tokens    *auth.Tokens
	creds     CredentialCache
	logger    *slog.Logger
	// Failed logins by account (email) and by client address.
	accounts, addrs *auth.Throttle
	// checking holds a place per login checking its password
	// (MaxLoginChecks).
	checking chan struct{}
	// dummyHash is verified against when the email is unknown, so that a
	// wrong email costs as much time as a wrong password and response time
	// does not reveal which accounts exist.
	dummyHash string
}

// NewAuthService returns the login service. passwords nil: a checker of
// its own, bounded to defaultPasswordChecks.
func NewAuthService(users AuthStore, tokens *auth.Tokens, creds CredentialCache, passwords PasswordVerifier, logger *slog.Logger) (*AuthService, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if passwords == nil {
		passwords = auth.NewPasswordChecker(defaultPasswordChecks)
	}
	dummy, err := auth.HashSecret("chargeplane-dummy-password-for-timing")
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	now := func() time.Time { return tokens.Now() } // the tokens' clock, also when a test replaces it
	return &AuthService{
		users: users, passwords: passwords, tokens: tokens, creds: creds, logger: logger, dummyHash: dummy,
		checking: make(chan struct{}, MaxLoginChecks),
		accounts: auth.NewThrottle(loginFailsPerAccount, loginWindow, throttleEntries, now),
		addrs:    auth.NewThrottle(loginFailsPerAddress, loginWindow, throttleEntries, now),
	}, nil
}

var errBadLogin = status.Error(codes.Unauthenticated, "invalid email or password")

// Login exchanges an email and password for an access token.
func (s *AuthService) Login(ctx context.Context, req *chargeplanev1.LoginRequest) (*chargeplanev1.LoginResponse, error) {
	email := strings.ToLower(strings.TrimSpace(req.GetEmail()))
	if email == "" || req.GetPassword() == "" {
		return nil, status.Error(codes.InvalidArgument, "email and password are required")
	}
	if len(req.GetPassword()) > auth.MaxPasswordBytes || len(email) > 254 {
		return nil, errBadLogin
	}
	addr := access.ClientAddr(ctx)
	if wait := max(s.accounts.Wait(email), s.addrs.Wait(addressKey(addr))); wait > 0 {
		s.logger.WarnContext(ctx, "login throttled", "addr", addr)
		return nil, throttled(wait)
	}
	select {
	case s.checking <- struct{}{}:
	default:
		s.logger.WarnContext(ctx, "login refused: too many at once", "addr", addr)
		return nil, retryLater(codes.Unavailable, "too many logins at once: retry in 1 s", loginBusyRetry)
	}
	u, err := s.login(ctx, email, req.GetPassword())
	<-s.checking
	if err != nil {
		if status.Code(err) == codes.Unauthenticated {
			s.accounts.Fail(email)
			s.addrs.Fail(addressKey(addr))
		}
		return nil, err
	}
	s.accounts.Reset(email)
	tok, exp, err := s.issue(ctx, u)
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "login", "user", u.ID, "addr", addr)
	return &chargeplanev1.LoginResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(exp),
		Role:        u.Role,
	}, nil
}

func throttled(wait time.Duration) error {
	return retryLater(codes.ResourceExhausted, fmt.Sprintf("too many failed logins: retry in %d s", int(wait.Seconds()+1)), wait)
}

func retryLater(code codes.Code, msg string, wait time.Duration) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = d
	}
	return st.Err()
}

// addressKey is what failed logins are counted by: the address, or for
// IPv6 its /64, which one client usually holds whole (counted one address
// at a time, its 2^64 addresses would never be throttled).
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

func (s *AuthService) issue(ctx context.Context, u *store.User) (string, time.Time, error) {
	tok, exp, err := s.tokens.Issue(auth.Subject{UserID: u.ID, Email: u.Email, Role: auth.Role(u.Role), Generation: u.TokenGeneration})
	if err != nil {
		s.logger.ErrorContext(ctx, "issue token", "err", err)
		return "", time.Time{}, status.Error(codes.Internal, "internal error")
	}
	return tok, exp, nil
}

// login checks an email and password; every failure is errBadLogin.
func (s *AuthService) login(ctx context.Context, email, password string) (*store.User, error) {
	u, err := s.users.UserByEmail(ctx, email)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return nil, storeError(ctx, s.logger, err, "")
		}
		if err := s.passwords.Verify(ctx, s.dummyHash, password); ctx.Err() != nil {
			return nil, status.FromContextError(err).Err()
		}
		s.logger.InfoContext(ctx, "login refused", "reason", "unknown email")
		return nil, errBadLogin
	}
	if err := s.passwords.Verify(ctx, u.PasswordHash, password); err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(err).Err()
		}
		if !errors.Is(err, auth.ErrMismatch) {
			s.logger.ErrorContext(ctx, "stored password hash unusable", "user", u.ID, "err", err)
		}
		s.logger.InfoContext(ctx, "login refused", "user", u.ID, "reason", "wrong password")
		return nil, errBadLogin
	}
	if u.DisabledAt != nil {
		// Same answer as a wrong password: only someone who knows the
		// password would learn anything, and they would learn little.
		s.logger.InfoContext(ctx, "login refused", "user", u.ID, "reason", "disabled")
		return nil, errBadLogin
	}
	return u, nil
}

// GetCaller tells who the caller is.
func (s *AuthService) GetCaller(ctx context.Context, _ *chargeplanev1.GetCallerRequest) (*chargeplanev1.GetCallerResponse, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not signed in")
	}
	return &chargeplanev1.GetCallerResponse{Kind: string(p.Kind), Id: p.ID, Name: p.Name, Role: string(p.Role)}, nil
}

// ChangePassword lets a user change their own password. It ends every
// token of theirs, this one included, and answers with a fresh one.
func (s *AuthService) ChangePassword(ctx context.Context, req *chargeplanev1.ChangePasswordRequest) (*chargeplanev1.ChangePasswordResponse, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok || p.Kind != auth.PrincipalUser {
		return nil, status.Error(codes.FailedPrecondition, "only a signed-in user has a password to change")
	}
	cur, err := s.users.GetUser(ctx, p.ID)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "user not found")
	}
	// A stolen token must not become a way to guess the password: the
	// same per-account throttle as Login.
	if wait := s.accounts.Wait(cur.Email); wait > 0 {
		return nil, throttled(wait)
	}
	if len(req.GetCurrentPassword()) > auth.MaxPasswordBytes || s.passwords.Verify(ctx, cur.PasswordHash, req.GetCurrentPassword()) != nil {
		s.accounts.Fail(cur.Email)
		return nil, status.Error(codes.InvalidArgument, "current_password is wrong")
	}
	if err := auth.CheckPassword(req.GetNewPassword(), cur.Email, cur.FirstName, cur.LastName); err != nil {
		return nil, invalid(err)
	}
	hash, err := auth.HashSecret(req.GetNewPassword())
	if err != nil {
		s.logger.ErrorContext(ctx, "hash user password", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	u, err := s.users.UpdateUser(ctx, p.ID, store.UserPatch{PasswordHash: &hash})
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "user not found")
	}
	s.creds.Forget(auth.PrincipalUser, u.ID)
	tok, exp, err := s.issue(ctx, u)
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "password changed", "user", u.ID)
	return &chargeplanev1.ChangePasswordResponse{AccessToken: tok, TokenType: "Bearer", ExpiresAt: timestamppb.New(exp)}, nil
}
