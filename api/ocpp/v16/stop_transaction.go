package v16

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// StopTransaction ends the transaction with its meterStop, reason and
// transactionData. It cannot be refused: a retry changes nothing and is
// acknowledged again, and an unknown transactionId is still recorded (see
// store.StopTransaction16).
type StopTransaction struct {
	Store interface {
		TransactionStopper
		Authorizer
	}
	Now func() time.Time
	// Costs keeps the final cost by the station's tariff; nil keeps none.
	Costs Coster
	// FinalCosts sends the station that final cost; nil sends none.
	FinalCosts FinalCostSender
}

// FinalCostSender sends a station the final cost of a transaction it
// stopped, off the message path: it must not block
// (api/runningcost.Service).
type FinalCostSender interface {
	Ended(t store.Transaction, p tariff.Price)
}

// Coster prices transactions (api/tariff.Coster).
type Coster interface {
	Settle(ctx context.Context, t *store.Transaction) (tariff.Price, error)
}

func (h StopTransaction) Handle(ctx context.Context, m route.Meta, req *ocpp16.StopTransactionRequest) (*ocpp16.StopTransactionResponse, error) {
	res, err := h.Store.StopTransaction16(ctx, store.StopTransaction16{
		StationID:     m.StationID,
		TransactionID: int64(req.TransactionId),
		IDTag:         req.IdTag,
		MeterStopWh:   req.MeterStop,
		Timestamp:     req.Timestamp,
		Reason:        string(req.Reason),
		Samples:       samples(req.TransactionData),
	})
	if err != nil {
		return nil, fmt.Errorf("stop transaction %d: %w", req.TransactionId, err)
	}
	if t := res.Transaction; h.Costs != nil && t != nil && t.Status == store.TxEnded {
		p, err := h.Costs.Settle(ctx, t)
		if err != nil && !errors.Is(err, tariff.ErrNoTariff) {
			return nil, fmt.Errorf("cost of transaction %d: %w", t.ID, err)
		}
		// A retried stop (Duplicate) got its final cost the first time.
		if err == nil && h.FinalCosts != nil && !res.Duplicate {
			h.FinalCosts.Ended(*t, p)
		}
	}
	resp := &ocpp16.StopTransactionResponse{}
	if req.IdTag != "" {
		a, err := h.Store.AuthorizeIDToken(ctx, req.IdTag, now(h.Now))
		if err != nil {
			return nil, fmt.Errorf("authorize stop tag: %w", err)
		}
		// The session is over: a limit on concurrent sessions says
		// nothing about whether the tag may stop it.
		if a.Status == store.AuthConcurrentTx {
			a.Status = store.IDTokenAccepted
		}
		info := idTagInfo(a)
		resp.IdTagInfo = &info
	}
	return resp, nil
}
