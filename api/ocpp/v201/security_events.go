package v201

import (
	"context"
	"fmt"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/securityevent"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// SecurityEventNotification keeps the station's security event; a retry
// of the same event is stored once.
type SecurityEventNotification struct {
	Events securityevent.Recorder
}

func (h SecurityEventNotification) Handle(ctx context.Context, m route.Meta, req *ocpp201.SecurityEventNotificationRequest) (*ocpp201.SecurityEventNotificationResponse, error) {
	if err := h.Events.RecordSecurityEvent(ctx, securityevent.Reported(m.StationID, req.Type, req.Timestamp, req.TechInfo)); err != nil {
		return nil, fmt.Errorf("security event: %w", err)
	}
	return &ocpp201.SecurityEventNotificationResponse{}, nil
}
