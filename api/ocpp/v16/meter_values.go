package v16

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// MeterValues stores every sampled value, inside a transaction
// (transactionId) or outside; a retry stores nothing twice.
type MeterValues struct {
	Store MeterRecorder
}

func (h MeterValues) Handle(ctx context.Context, m route.Meta, req *ocpp16.MeterValuesRequest) (*ocpp16.MeterValuesResponse, error) {
	r := store.MeterReport{
		StationID:   m.StationID,
		ConnectorID: req.ConnectorId,
		Samples:     samples(req.MeterValue),
	}
	if req.TransactionId != nil {
		id := int64(*req.TransactionId)
		r.OCPP16TransactionID = &id
	}
	if err := h.Store.RecordMeterValues(ctx, r); err != nil {
		return nil, fmt.Errorf("record meter values: %w", err)
	}
	return &ocpp16.MeterValuesResponse{}, nil
}
