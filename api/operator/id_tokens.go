package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// MaxIDTokenLen is the longest token value: an OCPP 2.0.1 idToken
// (CiString36). A 1.6 idTag is at most 20 characters; longer tokens are
// accepted for 2.0.1 chargers and simply never match a 1.6 idTag.
const MaxIDTokenLen = store.MaxIDTokenLength

// IDTokenStatuses are the statuses an operator may give a token.
var IDTokenStatuses = []string{store.IDTokenAccepted, store.IDTokenBlocked, store.IDTokenExpired, store.IDTokenInvalid}

// IDTokenStore is what IdTokenService needs from the store.
type IDTokenStore interface {
	CreateIDToken(ctx context.Context, t *store.IDToken) error
	GetIDToken(ctx context.Context, id string) (*store.IDToken, error)
	ListIDTokens(ctx context.Context, f store.IDTokenFilter, p store.Page) ([]store.IDToken, int64, error)
	UpdateIDToken(ctx context.Context, id string, p store.IDTokenPatch) (*store.IDToken, error)
	DeleteIDToken(ctx context.Context, id string) error
}

// IDTokenService implements chargeplane.v1.IdTokenService.
type IDTokenService struct {
	chargeplanev1.UnimplementedIdTokenServiceServer

	tokens IDTokenStore
	logger *slog.Logger
}

// NewIDTokenService returns the id token management service.
func NewIDTokenService(tokens IDTokenStore, logger *slog.Logger) *IDTokenService {
	if logger == nil {
		logger = slog.Default()
	}
	return &IDTokenService{tokens: tokens, logger: logger}
}

// validateTokenText checks a token value or group id: OCPP identifiers are
// case-insensitive printable ASCII (CiString), so anything else could
// never be sent by a charger. Surrounding blanks are refused rather than
// trimmed, so that what is stored is what the operator typed.
func validateTokenText(what, v string, required bool) error {
	switch {
	case v == "" && required:
		return fmt.Errorf("%s is required", what)
	case len(v) > MaxIDTokenLen:
		return fmt.Errorf("%s is longer than %d characters", what, MaxIDTokenLen)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("%s must not start or end with blanks", what)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return fmt.Errorf("%s must be printable ASCII", what)
		}
	}
	return nil
}

func validateTokenType(t string) error {
	if !slices.Contains(store.IDTokenTypes, t) {
		return fmt.Errorf("type %q is not one of %s", t, strings.Join(store.IDTokenTypes, ", "))
	}
	return nil
}

func validateTokenStatus(s string) error {
	if !slices.Contains(IDTokenStatuses, s) {
		return fmt.Errorf("status %q is not one of %s", s, strings.Join(IDTokenStatuses, ", "))
	}
	return nil
}

func validateTimestamp(what string, ts *timestamppb.Timestamp) error {
	if err := ts.CheckValid(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func validateIDTokenID(id string) error {
	// Ids are UUIDs; the bound only keeps junk out of queries and logs.
	if id == "" || len(id) > 64 {
		return errors.New("id is required (at most 64 characters)")
	}
	return nil
}

func tokenNotFound(id string) string { return fmt.Sprintf("id token %q not found", id) }

// tokenStoreError maps the store's outcomes for tokens; the rest goes to
// storeError.
func (s *IDTokenService) tokenStoreError(ctx context.Context, err error, id, value string) error {
	switch {
	case errors.Is(err, store.ErrInvalid):
		// The store's message names the field and the allowed values.
		return status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), "store: "))
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Errorf(codes.AlreadyExists, "an id token with value %q already exists", value)
	}
	return storeError(ctx, s.logger, err, tokenNotFound(id))
}

// CreateIdToken adds a token; its value must be new regardless of case.
func (s *IDTokenService) CreateIdToken(ctx context.Context, req *chargeplanev1.CreateIdTokenRequest) (*chargeplanev1.CreateIdTokenResponse, error) {
	t := &store.IDToken{
		Value:  req.GetValue(),
		Type:   cmpOrStr(req.GetType(), store.DefaultIDTokenType),
		Status: cmpOrStr(req.GetStatus(), store.IDTokenAccepted),
	}
	if err := validateTokenText("value", t.Value, true); err != nil {
		return nil, invalid(err)
	}
	if err := validateTokenType(t.Type); err != nil {
		return nil, invalid(err)
	}
	if err := validateTokenStatus(t.Status); err != nil {
		return nil, invalid(err)
	}
	if req.ExpiresAt != nil {
		if err := validateTimestamp("expires_at", req.ExpiresAt); err != nil {
			return nil, invalid(err)
		}
		at := req.ExpiresAt.AsTime()
		t.ExpiresAt = &at
	}
	if g := req.GetGroupId(); g != "" {
		if err := validateTokenText("group_id", g, false); err != nil {
			return nil, invalid(err)
		}
		t.GroupID = &g
	}
	if req.MaxActiveTransactions != nil {
		n := int(req.GetMaxActiveTransactions())
		if n < 1 {
			return nil, status.Error(codes.InvalidArgument, "max_active_transactions must be at least 1 (leave it out for no limit)")
		}
		t.MaxActiveTransactions = &n
	}
	if err := s.tokens.CreateIDToken(ctx, t); err != nil {
		return nil, s.tokenStoreError(ctx, err, t.ID, t.Value)
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(HTTPCodeHeader, "201"))
	s.logger.InfoContext(ctx, "id token created", "id_token_id", t.ID, "type", t.Type, "status", t.Status)
	return &chargeplanev1.CreateIdTokenResponse{IdToken: IDTokenToProto(t)}, nil
}

// GetIdToken returns one token.
func (s *IDTokenService) GetIdToken(ctx context.Context, req *chargeplanev1.GetIdTokenRequest) (*chargeplanev1.GetIdTokenResponse, error) {
	if err := validateIDTokenID(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	t, err := s.tokens.GetIDToken(ctx, req.GetId())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, tokenNotFound(req.GetId()))
	}
	return &chargeplanev1.GetIdTokenResponse{IdToken: IDTokenToProto(t)}, nil
}

// ListIdTokens returns tokens ordered by id, one page at a time.
func (s *IDTokenService) ListIdTokens(ctx context.Context, req *chargeplanev1.ListIdTokensRequest) (*chargeplanev1.ListIdTokensResponse, error) {
	page, err := readPage(req, idTokenCursor, nil)
	if err != nil {
		return nil, err
	}
	f := store.IDTokenFilter{Status: req.GetStatus(), Type: req.GetType(), ValuePrefix: req.GetValuePrefix()}
	if f.Status != "" {
		if err := validateTokenStatus(f.Status); err != nil {
			return nil, invalid(err)
		}
	}
	if f.Type != "" {
		if err := validateTokenType(f.Type); err != nil {
			return nil, invalid(err)
		}
	}
	if len(f.ValuePrefix) > MaxIDTokenLen {
		return nil, status.Errorf(codes.InvalidArgument, "value_prefix is longer than %d characters", MaxIDTokenLen)
	}
	rows, total, err := s.tokens.ListIDTokens(ctx, f, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.logger, err, "")
	}
	resp := &chargeplanev1.ListIdTokensResponse{TotalSize: total}
	rows, resp.NextPageToken = cutPage(page, rows, func(t *store.IDToken) string { return t.ID })
	resp.IdTokens = make([]*chargeplanev1.IdToken, 0, len(rows))
	for i := range rows {
		resp.IdTokens = append(resp.IdTokens, IDTokenToProto(&rows[i]))
	}
	return resp, nil
}

// UpdateIdToken changes the fields present in the request.
func (s *IDTokenService) UpdateIdToken(ctx context.Context, req *chargeplanev1.UpdateIdTokenRequest) (*chargeplanev1.UpdateIdTokenResponse, error) {
	if err := validateIDTokenID(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	var p store.IDTokenPatch
	if req.Value != nil {
		if err := validateTokenText("value", req.GetValue(), true); err != nil {
			return nil, invalid(err)
		}
		p.Value = req.Value
	}
	if req.Type != nil {
		if err := validateTokenType(req.GetType()); err != nil {
			return nil, invalid(err)
		}
		p.Type = req.Type
	}
	if req.Status != nil {
		if err := validateTokenStatus(req.GetStatus()); err != nil {
			return nil, invalid(err)
		}
		p.Status = req.Status
	}
	switch {
	case req.ExpiresAt != nil && req.GetClearExpiresAt():
		return nil, status.Error(codes.InvalidArgument, "expires_at and clear_expires_at exclude each other")
	case req.ExpiresAt != nil:
		if err := validateTimestamp("expires_at", req.ExpiresAt); err != nil {
			return nil, invalid(err)
		}
		at := req.ExpiresAt.AsTime()
		p.ExpiresAt = &at
	case req.GetClearExpiresAt():
		p.ClearExpiresAt = true
	}
	if req.GroupId != nil {
		if err := validateTokenText("group_id", req.GetGroupId(), false); err != nil {
			return nil, invalid(err)
		}
		p.GroupID = req.GroupId
	}
	if req.MaxActiveTransactions != nil {
		switch n := int(req.GetMaxActiveTransactions()); {
		case n < 0:
			return nil, status.Error(codes.InvalidArgument, "max_active_transactions must not be negative (0 removes the limit)")
		case n == 0:
			p.ClearMaxActiveTransactions = true
		default:
			p.MaxActiveTransactions = &n
		}
	}
	t, err := s.tokens.UpdateIDToken(ctx, req.GetId(), p)
	if err != nil {
		return nil, s.tokenStoreError(ctx, err, req.GetId(), req.GetValue())
	}
	s.logger.InfoContext(ctx, "id token updated", "id_token_id", t.ID, "status", t.Status)
	return &chargeplanev1.UpdateIdTokenResponse{IdToken: IDTokenToProto(t)}, nil
}

// DeleteIdToken removes a token: chargers presenting it are answered
// Invalid from then on; transactions keep the value they recorded.
func (s *IDTokenService) DeleteIdToken(ctx context.Context, req *chargeplanev1.DeleteIdTokenRequest) (*chargeplanev1.DeleteIdTokenResponse, error) {
	if err := validateIDTokenID(req.GetId()); err != nil {
		return nil, invalid(err)
	}
	if err := s.tokens.DeleteIDToken(ctx, req.GetId()); err != nil {
		return nil, storeError(ctx, s.logger, err, tokenNotFound(req.GetId()))
	}
	s.logger.InfoContext(ctx, "id token deleted", "id_token_id", req.GetId())
	return &chargeplanev1.DeleteIdTokenResponse{}, nil
}

// IDTokenToProto converts a stored token for the API.
func IDTokenToProto(t *store.IDToken) *chargeplanev1.IdToken {
	out := &chargeplanev1.IdToken{
		Id:        t.ID,
		Value:     t.Value,
		Type:      t.Type,
		Status:    t.Status,
		ExpiresAt: tsp(t.ExpiresAt),
		CreatedAt: ts(t.CreatedAt),
		UpdatedAt: ts(t.UpdatedAt),
	}
	if t.GroupID != nil {
		out.GroupId = *t.GroupID
	}
	if t.MaxActiveTransactions != nil {
		n := int32(*t.MaxActiveTransactions)
		out.MaxActiveTransactions = &n
	}
	return out
}

func cmpOrStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Page-token kinds: a token of one listing is refused by another.
const (
	idTokenCursor     = "idt1:"
	transactionCursor = "tx1:"
)
