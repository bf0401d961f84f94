package v16

import (
	"context"
	"encoding/json"

	"github.com/chargeplane/chargeplane/api/datatransfer"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// DataTransferReceiver answers and records vendor data transfers.
type DataTransferReceiver interface {
	Receive(ctx context.Context, m datatransfer.Message) (datatransfer.Answer, error)
}

// DataTransfer hands a vendor extension to its registered handler (P01).
type DataTransfer struct {
	Receiver DataTransferReceiver
}

func (h DataTransfer) Handle(ctx context.Context, m route.Meta, req *ocpp16.DataTransferRequest) (*ocpp16.DataTransferResponse, error) {
	msg := datatransfer.Message{StationID: m.StationID, Version: ocppj.V16, VendorID: req.VendorId, MessageID: req.MessageId}
	if req.Data != "" {
		msg.Data, _ = json.Marshal(req.Data) // a string always encodes
	}
	a, err := h.Receiver.Receive(ctx, msg)
	if err != nil {
		return nil, err
	}
	resp := &ocpp16.DataTransferResponse{Status: ocpp16.DataTransferStatus(a.Status)}
	if len(a.Data) > 0 {
		if err := json.Unmarshal(a.Data, &resp.Data); err != nil {
			return nil, err
		}
	}
	return resp, nil
}
