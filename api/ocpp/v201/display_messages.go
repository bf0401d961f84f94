package v201

import (
	"context"
	"encoding/json"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// NotifyDisplayMessagesRequest keeps messageInfo as the station sent it.
type NotifyDisplayMessagesRequest struct {
	RequestID   int             `json:"requestId"`
	MessageInfo json.RawMessage `json:"messageInfo,omitempty"`
	Tbc         bool            `json:"tbc,omitempty"`
}

// NotifyDisplayMessages stores the messages a station reports after
// GetDisplayMessages (O04), reassembled: the latest complete report is the
// station's current messages. The message carries no seqNo; parts are
// numbered in the order they arrive (one CALL at a time per station).
type NotifyDisplayMessages struct {
	Store DeviceModelRecorder
	Now   func() time.Time
}

func (h NotifyDisplayMessages) Handle(ctx context.Context, m route.Meta, req *NotifyDisplayMessagesRequest) (*ocpp201.NotifyDisplayMessagesResponse, error) {
	if err := recordPart(ctx, h.Store, store.ReportPart{StationID: m.StationID, Kind: store.ReportKindDisplayMessages,
		RequestID: req.RequestID, Append: true, Tbc: req.Tbc, GeneratedAt: reportedAt(m, h.Now), Data: req.MessageInfo}); err != nil {
		return nil, err
	}
	return &ocpp201.NotifyDisplayMessagesResponse{}, nil
}

// NotifyCustomerInformation stores each part of what a station holds about
// a customer (N09, N10), reassembled under the CustomerInformation
// request's id: the request's result.
type NotifyCustomerInformation struct {
	Store DeviceModelRecorder
}

func (h NotifyCustomerInformation) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyCustomerInformationRequest) (*ocpp201.NotifyCustomerInformationResponse, error) {
	data, err := json.Marshal([]string{req.Data})
	if err != nil {
		return nil, err
	}
	if err := recordPart(ctx, h.Store, store.ReportPart{StationID: m.StationID, Kind: store.ReportKindCustomerInformation,
		RequestID: req.RequestId, SeqNo: req.SeqNo, Tbc: req.Tbc != nil && *req.Tbc, GeneratedAt: req.GeneratedAt, Data: data}); err != nil {
		return nil, err
	}
	return &ocpp201.NotifyCustomerInformationResponse{}, nil
}
