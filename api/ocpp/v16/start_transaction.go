package v16

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// StartTransaction records the transaction whatever the idTag's status and
// always answers its id (the station is already charging; a withheld reply
// only makes it retry): the idTagInfo tells the station whether to go on.
// A retry gets the same transactionId and status.
type StartTransaction struct {
	Store  TransactionStarter
	Logger *slog.Logger
}

func (h StartTransaction) Handle(ctx context.Context, m route.Meta, req *ocpp16.StartTransactionRequest) (*ocpp16.StartTransactionResponse, error) {
	res, err := h.Store.StartTransaction16(ctx, store.StartTransaction16{
		StationID:    m.StationID,
		ConnectorID:  req.ConnectorId,
		IDTag:        req.IdTag,
		MeterStartWh: req.MeterStart,
		Timestamp:    req.Timestamp,
	})
	if err != nil {
		return nil, fmt.Errorf("start transaction: %w", err)
	}
	if res.Transaction.ID > math.MaxInt32 && h.Logger != nil {
		// 1.6 transactionId is a JSON integer; most firmware keeps it in 32 bits.
		h.Logger.Warn("transaction id beyond 32 bits", "station", m.StationID, "transaction", res.Transaction.ID)
	}
	return &ocpp16.StartTransactionResponse{
		TransactionId: int(res.Transaction.ID),
		IdTagInfo:     idTagInfo(res.Authorization),
	}, nil
}
