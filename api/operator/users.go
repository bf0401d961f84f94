package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// maxNameLen bounds users' names and keys' names.
const maxNameLen = 200

// UserStore is what UserService needs from the store.
type UserStore interface {
	CreateUser(ctx context.Context, u *store.User) error
	GetUser(ctx context.Context, id string) (*store.User, error)
	ListUsers(ctx context.Context, p store.Page) ([]store.User, int64, error)
	UpdateUser(ctx context.Context, id string, p store.UserPatch) (*store.User, error)
}

// CredentialCache is told about changes that must end credentials at once
// on this instance (*access.Authenticator).
type CredentialCache interface {
	Forget(kind auth.PrincipalKind, id string)
}

// UserService implements chargeplane.v1.UserService.
type UserService struct {
	chargeplanev1.UnimplementedUserServiceServer

	users  UserStore
	creds  CredentialCache
	logger *slog.Logger
}

// NewUserService returns the user management service.
func NewUserService(users UserStore, creds CredentialCache, logger *slog.Logger) *UserService {
	if logger == nil {
		logger = slog.Default()
	}
	return &UserService{users: users, creds: creds, logger: logger}
}

// ValidateEmail returns the normalised form of an email address.
func ValidateEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 {
		return "", fmt.Errorf("invalid email address")
	}
	return strings.ToLower(email), nil
}

func validateUserName(field, v string) error {
	if utf8.RuneCountInString(v) > maxNameLen {
		return fmt.Errorf("%s is longer than %d characters", field, maxNameLen)
	}
	return nil
}

func parseRole(s string) (auth.Role, error) {
	r, err := auth.ParseRole(s)
	if err != nil {
		return "", invalid(err)
	}
	return r, nil
}

func userNotFound(id string) string { return fmt.Sprintf("user %q not found", id) }

// CreateUser adds a user with a role.
func (s *UserService) CreateUser(ctx context.Context, req *chargeplanev1.CreateUserRequest) (*chargeplanev1.CreateUserResponse, error) {
	email, err := ValidateEmail(req.GetEmail())
	if err != nil {
		return nil, invalid(err)
	}
	role, err := parseRole(req.GetRole())
	if err != nil {
		return nil, err
	}
	first, last := strings.TrimSpace(req.GetFirstName()), strings.TrimSpace(req.GetLastName())
	if err := errors.Join(validateUserName("first_name", first), validateUserName("last_name", last)); err != nil {
		return nil, invalid(err)
	}
	if err := auth.CheckPassword(req.GetPassword(), email, first, last); err != nil {
		return nil, invalid(err)
	}
	hash, err := auth.HashSecret(req.GetPassword())
	if err != nil {
		s.logger.ErrorContext(ctx, "hash user password", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	u := &store.User{Email: email, PasswordHash: hash, FirstName: first, LastName: last, Role: string(role)}
	if err := s.users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil, status.Errorf(codes.AlreadyExists, "a user with email %s already exists", email)
		}
		return nil, storeError(ctx, s.logger, err, "")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(HTTPCodeHeader, "201"))
	s.logger.InfoContext(ctx, "user created", "user", u.ID, "role", u.Role, "by", RequestedBy(ctx))
	return &chargeplanev1.CreateUserResponse{User: UserToProto(u)}, nil
}

// ListUsers returns users ordered by id, one page at a time.
func (s *UserService) ListUsers(ctx context.Context, req *chargeplanev1.ListUsersRequest) (*chargeplanev1.ListUsersResponse, error) {
	// Ids are UUIDs: a token holding anything a station id may not hold is
	// not one of this list's.
	page, err := readPage(req, pageTokenPrefix, ValidateStationRef)
	if err != nil {
		return nil, err
	}
	rows, total, err := s.users.ListUsers(ctx, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	resp := &chargeplanev1.ListUsersResponse{TotalSize: total}
	rows, resp.NextPageToken = cutPage(page, rows, func(u *store.User) string { return u.ID })
	resp.Users = make([]*chargeplanev1.User, 0, len(rows))
	for i := range rows {
		resp.Users = append(resp.Users, UserToProto(&rows[i]))
	}
	return resp, nil
}

// GetUser returns one user.
func (s *UserService) GetUser(ctx context.Context, req *chargeplanev1.GetUserRequest) (*chargeplanev1.GetUserResponse, error) {
	u, err := s.users.GetUser(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, userNotFound(req.GetId()))
	}
	return &chargeplanev1.GetUserResponse{User: UserToProto(u)}, nil
}

// UpdateUser changes names or the role; a role change ends the user's tokens.
func (s *UserService) UpdateUser(ctx context.Context, req *chargeplanev1.UpdateUserRequest) (*chargeplanev1.UpdateUserResponse, error) {
	var p store.UserPatch
	if req.FirstName != nil {
		v := strings.TrimSpace(req.GetFirstName())
		if err := validateUserName("first_name", v); err != nil {
			return nil, invalid(err)
		}
		p.FirstName = &v
	}
	if req.LastName != nil {
		v := strings.TrimSpace(req.GetLastName())
		if err := validateUserName("last_name", v); err != nil {
			return nil, invalid(err)
		}
		p.LastName = &v
	}
	if req.Role != nil {
		r, err := parseRole(req.GetRole())
		if err != nil {
			return nil, err
		}
		v := string(r)
		p.Role = &v
	}
	u, err := s.update(ctx, req.GetId(), p)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.UpdateUserResponse{User: u}, nil
}

// DisableUser stops a user from logging in and ends their tokens.
func (s *UserService) DisableUser(ctx context.Context, req *chargeplanev1.DisableUserRequest) (*chargeplanev1.DisableUserResponse, error) {
	yes := true
	u, err := s.update(ctx, req.GetId(), store.UserPatch{Disabled: &yes})
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.DisableUserResponse{User: u}, nil
}

// EnableUser lets a disabled user log in again.
func (s *UserService) EnableUser(ctx context.Context, req *chargeplanev1.EnableUserRequest) (*chargeplanev1.EnableUserResponse, error) {
	no := false
	u, err := s.update(ctx, req.GetId(), store.UserPatch{Disabled: &no})
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.EnableUserResponse{User: u}, nil
}

// ResetPassword sets a user's password; their tokens end.
func (s *UserService) ResetPassword(ctx context.Context, req *chargeplanev1.ResetPasswordRequest) (*chargeplanev1.ResetPasswordResponse, error) {
	cur, err := s.users.GetUser(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, userNotFound(req.GetId()))
	}
	if err := auth.CheckPassword(req.GetPassword(), cur.Email, cur.FirstName, cur.LastName); err != nil {
		return nil, invalid(err)
	}
	hash, err := auth.HashSecret(req.GetPassword())
	if err != nil {
		s.logger.ErrorContext(ctx, "hash user password", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	u, err := s.update(ctx, req.GetId(), store.UserPatch{PasswordHash: &hash})
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ResetPasswordResponse{User: u}, nil
}

func (s *UserService) update(ctx context.Context, id string, p store.UserPatch) (*chargeplanev1.User, error) {
	u, err := s.users.UpdateUser(ctx, id, p)
	if errors.Is(err, store.ErrLastAdmin) {
		return nil, status.Error(codes.FailedPrecondition, "the last enabled admin cannot be disabled or demoted: make another user admin first")
	}
	if err != nil {
		return nil, storeError(ctx, s.logger, err, userNotFound(id))
	}
	s.creds.Forget(auth.PrincipalUser, id)
	s.logger.InfoContext(ctx, "user updated", "user", id, "role", u.Role, "disabled", u.DisabledAt != nil, "by", RequestedBy(ctx))
	return UserToProto(u), nil
}

// UserToProto converts a stored user; the password hash never leaves.
func UserToProto(u *store.User) *chargeplanev1.User {
	return &chargeplanev1.User{
		Id:         u.ID,
		Email:      u.Email,
		FirstName:  u.FirstName,
		LastName:   u.LastName,
		Role:       u.Role,
		Disabled:   u.DisabledAt != nil,
		DisabledAt: tsp(u.DisabledAt),
		CreatedAt:  ts(u.CreatedAt),
		UpdatedAt:  ts(u.UpdatedAt),
	}
}
