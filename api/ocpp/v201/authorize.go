package v201

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Authorize answers from the id token table (C01): unknown → Unknown,
// expired → Expired, blocked → Blocked, at its limit of transactions →
// ConcurrentTx. A NoAuthorization token needs no check.
type Authorize struct {
	Store Authorizer
	Now   func() time.Time
}

func (h Authorize) Handle(ctx context.Context, _ route.Meta, req *ocpp201.AuthorizeRequest) (*ocpp201.AuthorizeResponse, error) {
	if req.IdToken.Type == ocpp201.IdTokenEnumNoAuthorization {
		return &ocpp201.AuthorizeResponse{IdTokenInfo: ocpp201.IdTokenInfo{Status: ocpp201.AuthorizationStatusAccepted}}, nil
	}
	a, err := h.Store.AuthorizeIDToken(ctx, req.IdToken.IdToken, now(h.Now))
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	return &ocpp201.AuthorizeResponse{IdTokenInfo: idTokenInfo(a)}, nil
}
