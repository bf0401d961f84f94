package v201

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// MeterValues stores sampled values sent outside transactions (J01), for
// an EVSE or, with evseId 0, the main meter; a retry stores nothing twice.
type MeterValues struct {
	Store MeterRecorder
}

func (h MeterValues) Handle(ctx context.Context, m route.Meta, req *ocpp201.MeterValuesRequest) (*ocpp201.MeterValuesResponse, error) {
	err := h.Store.RecordMeterValues(ctx, store.MeterReport{
		StationID: m.StationID,
		EVSEID:    req.EvseId,
		Samples:   samples(req.MeterValue),
	})
	if err != nil {
		return nil, fmt.Errorf("record meter values: %w", err)
	}
	return &ocpp201.MeterValuesResponse{}, nil
}
