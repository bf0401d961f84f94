package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// maxPasswordBytes bounds the work one login attempt can cause.
const maxPasswordBytes = 1024

// UserFinder is what Login needs from the store.
type UserFinder interface {
	UserByEmail(ctx context.Context, email string) (*store.User, error)
}

// AuthService implements chargeplane.v1.AuthService.
type AuthService struct {
	chargeplanev1.UnimplementedAuthServiceServer

	users  UserFinder
	tokens *auth.Tokens
	logger *slog.Logger
	// dummyHash is verified against when the email is unknown, so that a
	// wrong email costs as much time as a wrong password and response time
	// does not reveal which accounts exist.
	dummyHash string
}

// NewAuthService returns the login service.
func NewAuthService(users UserFinder, tokens *auth.Tokens, logger *slog.Logger) (*AuthService, error) {
	if logger == nil {
		logger = slog.Default()
	}
	dummy, err := auth.HashSecret("chargeplane-dummy-password-for-timing")
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	return &AuthService{users: users, tokens: tokens, logger: logger, dummyHash: dummy}, nil
}

var errBadLogin = status.Error(codes.Unauthenticated, "invalid email or password")

// Login exchanges an email and password for an access token.
func (s *AuthService) Login(ctx context.Context, req *chargeplanev1.LoginRequest) (*chargeplanev1.LoginResponse, error) {
	email := strings.ToLower(strings.TrimSpace(req.GetEmail()))
	if email == "" || req.GetPassword() == "" {
		return nil, status.Error(codes.InvalidArgument, "email and password are required")
	}
	if len(req.GetPassword()) > maxPasswordBytes {
		return nil, errBadLogin
	}
	u, err := s.users.UserByEmail(ctx, email)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return nil, storeError(ctx, s.logger, err, "")
		}
		_ = auth.VerifySecret(s.dummyHash, req.GetPassword())
		s.logger.InfoContext(ctx, "login refused", "reason", "unknown email")
		return nil, errBadLogin
	}
	if err := auth.VerifySecret(u.PasswordHash, req.GetPassword()); err != nil {
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
	tok, exp, err := s.tokens.Issue(auth.Subject{UserID: u.ID, Email: u.Email, Role: auth.Role(u.Role), Generation: u.TokenGeneration})
	if err != nil {
		s.logger.ErrorContext(ctx, "issue token", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	s.logger.InfoContext(ctx, "login", "user", u.ID)
	return &chargeplanev1.LoginResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(exp),
		Role:        u.Role,
	}, nil
}
