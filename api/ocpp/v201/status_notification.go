package v201

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// StatusNotification keeps the last status of a connector of an EVSE (G01).
type StatusNotification struct {
	Store ConnectorStore
}

func (h StatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp201.StatusNotificationRequest) (*ocpp201.StatusNotificationResponse, error) {
	c := store.Connector{
		StationID:   m.StationID,
		EVSEID:      req.EvseId,
		ConnectorID: req.ConnectorId,
		Status:      string(req.ConnectorStatus),
		UpdatedAt:   req.Timestamp.UTC(),
	}
	if err := h.Store.UpsertConnector(ctx, c); err != nil {
		return nil, fmt.Errorf("upsert connector %d/%d: %w", req.EvseId, req.ConnectorId, err)
	}
	return &ocpp201.StatusNotificationResponse{}, nil
}
