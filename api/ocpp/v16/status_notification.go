package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// StatusNotification keeps the last status of a connector (connector 0 is
// the charge point as a whole). 1.6 has no EVSE level, so EVSEID is 0.
type StatusNotification struct {
	Store ConnectorStore
	Now   func() time.Time
}

func (h StatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.StatusNotificationRequest) (*ocpp16.StatusNotificationResponse, error) {
	// timestamp is optional in 1.6; without it the status is as of now.
	at := req.Timestamp.UTC()
	if req.Timestamp.IsZero() {
		at = now(h.Now)
	}
	c := store.Connector{
		StationID:       m.StationID,
		EVSEID:          0,
		ConnectorID:     req.ConnectorId,
		Status:          string(req.Status),
		ErrorCode:       string(req.ErrorCode),
		Info:            req.Info,
		VendorID:        req.VendorId,
		VendorErrorCode: req.VendorErrorCode,
		UpdatedAt:       at,
	}
	if err := h.Store.UpsertConnector(ctx, c); err != nil {
		return nil, fmt.Errorf("upsert connector %d: %w", req.ConnectorId, err)
	}
	return &ocpp16.StatusNotificationResponse{}, nil
}
