package v201

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// ReportChargingProfiles stores the profiles a station lists in answer to
// GetChargingProfiles, keyed by the request id, so that a report of several
// messages (tbc) ends up complete and a retried message changes nothing.
//
// The message has no seqNo: its parts are also recorded in arrival order
// (one CALL of a station at a time) as a split report of kind
// store.ReportKindChargingProfiles, which is complete once the part
// without tbc has arrived.
type ReportChargingProfiles struct {
	Store   ReportStore
	Reports DeviceModelRecorder
	Now     func() time.Time
}

func (h ReportChargingProfiles) Handle(ctx context.Context, m route.Meta, req *ocpp201.ReportChargingProfilesRequest) (*ocpp201.ReportChargingProfilesResponse, error) {
	rows := make([]store.ChargingProfile, 0, len(req.ChargingProfile))
	for _, p := range req.ChargingProfile {
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode reported profile %d: %w", p.Id, err)
		}
		rows = append(rows, store.ChargingProfile{
			StationID: m.StationID, OCPPVersion: ocppj.V201, ProfileID: p.Id, EVSEID: req.EvseId,
			Purpose: string(p.ChargingProfilePurpose), StackLevel: p.StackLevel, TransactionID: p.TransactionId,
			RequestID: req.RequestId, ChargingLimitSource: string(req.ChargingLimitSource), Profile: string(raw),
		})
	}
	if err := h.Store.SaveReportedChargingProfiles(ctx, rows); err != nil {
		return nil, fmt.Errorf("store reported profiles: %w", err)
	}
	ids := make([]int, 0, len(req.ChargingProfile))
	for _, p := range req.ChargingProfile {
		ids = append(ids, p.Id)
	}
	data, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	if err := recordPart(ctx, h.Reports, store.ReportPart{StationID: m.StationID, Kind: store.ReportKindChargingProfiles,
		RequestID: req.RequestId, Append: true, Tbc: req.Tbc != nil && *req.Tbc, GeneratedAt: reportedAt(m, h.Now), Data: data}); err != nil {
		return nil, err
	}
	return &ocpp201.ReportChargingProfilesResponse{}, nil
}
