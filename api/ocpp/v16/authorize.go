package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// Authorize answers from the id token table: unknown → Invalid, expired →
// Expired, blocked → Blocked, at its limit of transactions → ConcurrentTx.
type Authorize struct {
	Store Authorizer
	Now   func() time.Time
}

func (h Authorize) Handle(ctx context.Context, _ route.Meta, req *ocpp16.AuthorizeRequest) (*ocpp16.AuthorizeResponse, error) {
	a, err := h.Store.AuthorizeIDToken(ctx, req.IdTag, now(h.Now))
	if err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	return &ocpp16.AuthorizeResponse{IdTagInfo: idTagInfo(a)}, nil
}
