package v201

import (
	"context"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// TransactionEvent acknowledges transaction events. Transactions are not
// recorded yet; when the event carries an idToken the answer must say
// whether it is authorised (E01.FR.09), and with no authorisation source
// yet that is Unknown, so the station does not charge on an unchecked token.
type TransactionEvent struct{}

func (TransactionEvent) Handle(_ context.Context, _ route.Meta, req *ocpp201.TransactionEventRequest) (*ocpp201.TransactionEventResponse, error) {
	resp := &ocpp201.TransactionEventResponse{}
	if req.IdToken != nil {
		resp.IdTokenInfo = &ocpp201.IdTokenInfo{Status: ocpp201.AuthorizationStatusUnknown}
	}
	return resp, nil
}
