package v201

import (
	"context"

	"github.com/chargeplane/chargeplane/api/datatransfer"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// DataTransferReceiver answers and records vendor data transfers.
type DataTransferReceiver interface {
	Receive(ctx context.Context, m datatransfer.Message) (datatransfer.Answer, error)
}

// DataTransfer hands a vendor extension to its registered handler (P02).
type DataTransfer struct {
	Receiver DataTransferReceiver
}

func (h DataTransfer) Handle(ctx context.Context, m route.Meta, req *ocpp201.DataTransferRequest) (*ocpp201.DataTransferResponse, error) {
	a, err := h.Receiver.Receive(ctx, datatransfer.Message{StationID: m.StationID, Version: ocppj.V201,
		VendorID: req.VendorId, MessageID: req.MessageId, Data: req.Data})
	if err != nil {
		return nil, err
	}
	return &ocpp201.DataTransferResponse{Status: ocpp201.DataTransferStatusEnum(a.Status), Data: a.Data}, nil
}
