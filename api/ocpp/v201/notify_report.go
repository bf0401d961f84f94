package v201

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// DeviceModelRecorder stores NotifyReport parts; *store.Store has it.
type DeviceModelRecorder interface {
	RecordReportPart(ctx context.Context, p store.ReportPart) (store.ReportPartResult, error)
}

// NotifyReportRequest is NotifyReport with reportData kept as the station
// sent it, so that the stored device model loses nothing (an absent value
// stays absent, custom data stays).
type NotifyReportRequest struct {
	RequestID   int             `json:"requestId"`
	GeneratedAt time.Time       `json:"generatedAt"`
	ReportData  json.RawMessage `json:"reportData,omitempty"`
	Tbc         bool            `json:"tbc,omitempty"`
	SeqNo       int             `json:"seqNo"`
}

// NotifyReport stores each part of a device model report (B07, B08). Parts
// may come out of order or twice; the store reassembles the tbc sequence
// and serves the device model once every part is in.
type NotifyReport struct {
	Store DeviceModelRecorder
}

func (h NotifyReport) Handle(ctx context.Context, m route.Meta, req *NotifyReportRequest) (*ocpp201.NotifyReportResponse, error) {
	_, err := h.Store.RecordReportPart(ctx, store.ReportPart{
		StationID:   m.StationID,
		RequestID:   req.RequestID,
		SeqNo:       req.SeqNo,
		Tbc:         req.Tbc,
		GeneratedAt: req.GeneratedAt,
		Data:        req.ReportData,
	})
	if err != nil {
		return nil, fmt.Errorf("record report %d part %d: %w", req.RequestID, req.SeqNo, err)
	}
	return &ocpp201.NotifyReportResponse{}, nil
}
