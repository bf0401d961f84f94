package v201

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// TransactionEvent records Started/Updated/Ended events in any order (E01–
// E07, offline backlogs): a retry (same transactionId and seqNo) changes
// nothing and is answered as before. When the event carries an idToken the
// answer says whether it is authorised (E01.FR.09).
type TransactionEvent struct {
	Store TransactionEventRecorder
}

func (h TransactionEvent) Handle(ctx context.Context, m route.Meta, req *ocpp201.TransactionEventRequest) (*ocpp201.TransactionEventResponse, error) {
	ev := store.TransactionEvent{
		StationID:      m.StationID,
		TransactionUID: req.TransactionInfo.TransactionId,
		EventType:      string(req.EventType),
		TriggerReason:  string(req.TriggerReason),
		SeqNo:          req.SeqNo,
		Timestamp:      req.Timestamp,
		Offline:        req.Offline != nil && *req.Offline,
		StoppedReason:  string(req.TransactionInfo.StoppedReason),
		Samples:        samples(req.MeterValue),
		// Links the transaction to the RequestStartTransaction that asked
		// for it (F01.FR.25).
		RemoteStartID: req.TransactionInfo.RemoteStartId,
	}
	if req.Evse != nil {
		ev.EVSEID = req.Evse.Id
		if req.Evse.ConnectorId != nil {
			ev.ConnectorID = *req.Evse.ConnectorId
		}
	}
	if req.IdToken != nil {
		ev.IDToken, ev.IDTokenType = req.IdToken.IdToken, string(req.IdToken.Type)
	}
	res, err := h.Store.RecordTransactionEvent(ctx, ev)
	if err != nil {
		return nil, fmt.Errorf("record transaction event %s/%d: %w", ev.TransactionUID, ev.SeqNo, err)
	}
	resp := &ocpp201.TransactionEventResponse{}
	if req.IdToken != nil && res.Authorization != nil {
		info := idTokenInfo(*res.Authorization)
		resp.IdTokenInfo = &info
	}
	return resp, nil
}
