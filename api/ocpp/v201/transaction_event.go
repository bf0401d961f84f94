package v201

import (
	"context"
	"errors"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// TransactionEvent records Started/Updated/Ended events in any order (E01–
// E07, offline backlogs): a retry (same transactionId and seqNo) changes
// nothing and is answered as before. When the event carries an idToken the
// answer says whether it is authorised (E01.FR.09).
//
// With a tariff on the EVSE or station, the answer carries the cost so
// far (I02), and an ended transaction keeps its final cost.
//
// Once a transaction has ended, the schedules of its EVSE are planned
// again (its EV's needs no longer have a transaction to apply to).
type TransactionEvent struct {
	Store TransactionEventRecorder
	// Costs prices transactions; nil prices none.
	Costs Coster
	// Planner, when set, plans schedules again.
	Planner NeedsPlanner
}

// Coster prices transactions (api/tariff.Coster).
type Coster interface {
	Cost(ctx context.Context, t *store.Transaction) (tariff.Price, error)
	Settle(ctx context.Context, t *store.Transaction) (tariff.Price, error)
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
	if t := res.Transaction; t != nil && req.EventType == ocpp201.TransactionEventEnded && t.Status == store.TxEnded {
		replanAfterReply(h.Planner, m, t.EVSEID)
	}
	resp := &ocpp201.TransactionEventResponse{}
	if req.IdToken != nil && res.Authorization != nil {
		info := idTokenInfo(*res.Authorization)
		resp.IdTokenInfo = &info
	}
	if t := res.Transaction; h.Costs != nil && t != nil {
		price := h.Costs.Cost
		if t.Status == store.TxEnded {
			price = h.Costs.Settle
		}
		p, err := price(ctx, t)
		switch {
		case err == nil:
			resp.TotalCost = &p.Amount
		case !errors.Is(err, tariff.ErrNoTariff):
			return nil, fmt.Errorf("cost of transaction %s: %w", t.TransactionUID, err)
		}
	}
	return resp, nil
}
