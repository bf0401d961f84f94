package operator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// APIKeyStore is what ApiKeyService needs from the store.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *store.APIKey) error
	GetAPIKey(ctx context.Context, id string) (*store.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]store.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*store.APIKey, error)
}

// APIKeyService implements chargeplane.v1.ApiKeyService.
type APIKeyService struct {
	chargeplanev1.UnimplementedApiKeyServiceServer

	keys   APIKeyStore
	creds  CredentialCache
	now    func() time.Time
	logger *slog.Logger
}

// NewAPIKeyService returns the API key service.
func NewAPIKeyService(keys APIKeyStore, creds CredentialCache, now func() time.Time, logger *slog.Logger) *APIKeyService {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &APIKeyService{keys: keys, creds: creds, now: now, logger: logger}
}

func keyNotFound(id string) string { return fmt.Sprintf("API key %q not found", id) }

// CreateApiKey makes a key and shows its secret this once.
func (s *APIKeyService) CreateApiKey(ctx context.Context, req *chargeplanev1.CreateApiKeyRequest) (*chargeplanev1.CreateApiKeyResponse, error) {
	name := strings.TrimSpace(req.GetName())
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return nil, status.Errorf(codes.InvalidArgument, "name is required (at most %d characters)", maxNameLen)
	}
	role, err := parseRole(req.GetRole())
	if err != nil {
		return nil, err
	}
	k := &store.APIKey{Name: name, Role: string(role), CreatedBy: RequestedBy(ctx), CreatedAt: s.now()}
	if req.GetExpiresAt() != nil {
		if err := req.GetExpiresAt().CheckValid(); err != nil {
			return nil, status.Error(codes.InvalidArgument, "expires_at is not a valid time")
		}
		exp := req.GetExpiresAt().AsTime()
		if !exp.After(s.now()) {
			return nil, status.Error(codes.InvalidArgument, "expires_at must be in the future")
		}
		k.ExpiresAt = &exp
	}
	var secret string
	if k.ID, secret, k.SecretHash, err = auth.NewAPIKey(); err != nil {
		s.logger.ErrorContext(ctx, "make API key", "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	if err := s.keys.CreateAPIKey(ctx, k); err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(HTTPCodeHeader, "201"))
	s.logger.InfoContext(ctx, "API key created", "key", k.ID, "name", k.Name, "role", k.Role, "by", k.CreatedBy)
	return &chargeplanev1.CreateApiKeyResponse{ApiKey: s.toProto(k), Secret: secret}, nil
}

// ListApiKeys lists every key, revoked and expired ones included.
func (s *APIKeyService) ListApiKeys(ctx context.Context, _ *chargeplanev1.ListApiKeysRequest) (*chargeplanev1.ListApiKeysResponse, error) {
	rows, err := s.keys.ListAPIKeys(ctx)
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	out := &chargeplanev1.ListApiKeysResponse{ApiKeys: make([]*chargeplanev1.ApiKey, 0, len(rows))}
	for i := range rows {
		out.ApiKeys = append(out.ApiKeys, s.toProto(&rows[i]))
	}
	return out, nil
}

// GetApiKey returns one key.
func (s *APIKeyService) GetApiKey(ctx context.Context, req *chargeplanev1.GetApiKeyRequest) (*chargeplanev1.GetApiKeyResponse, error) {
	k, err := s.keys.GetAPIKey(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, keyNotFound(req.GetId()))
	}
	return &chargeplanev1.GetApiKeyResponse{ApiKey: s.toProto(k)}, nil
}

// RevokeApiKey ends a key: at once on this instance, within
// access.DefaultRecheck on the others.
func (s *APIKeyService) RevokeApiKey(ctx context.Context, req *chargeplanev1.RevokeApiKeyRequest) (*chargeplanev1.RevokeApiKeyResponse, error) {
	k, err := s.keys.RevokeAPIKey(ctx, req.GetId(), s.now())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, keyNotFound(req.GetId()))
	}
	s.creds.Forget(auth.PrincipalAPIKey, k.ID)
	s.logger.InfoContext(ctx, "API key revoked", "key", k.ID, "name", k.Name, "by", RequestedBy(ctx))
	return &chargeplanev1.RevokeApiKeyResponse{ApiKey: s.toProto(k)}, nil
}

func (s *APIKeyService) toProto(k *store.APIKey) *chargeplanev1.ApiKey {
	state := "active"
	switch {
	case k.RevokedAt != nil:
		state = "revoked"
	case k.ExpiresAt != nil && !s.now().Before(*k.ExpiresAt):
		state = "expired"
	}
	return &chargeplanev1.ApiKey{
		Id:         k.ID,
		Name:       k.Name,
		Role:       k.Role,
		CreatedBy:  k.CreatedBy,
		CreatedAt:  ts(k.CreatedAt),
		ExpiresAt:  tsp(k.ExpiresAt),
		RevokedAt:  tsp(k.RevokedAt),
		LastUsedAt: tsp(k.LastUsedAt),
		State:      state,
	}
}
