package v201

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Heartbeat records that the station is alive and gives it the time (G02).
type Heartbeat struct {
	Store LastSeenToucher
	Now   func() time.Time
}

func (h Heartbeat) Handle(ctx context.Context, m route.Meta, _ *ocpp201.HeartbeatRequest) (*ocpp201.HeartbeatResponse, error) {
	at := now(h.Now)
	if err := h.Store.TouchLastSeen(ctx, m.StationID, at); err != nil {
		return nil, fmt.Errorf("touch last seen: %w", err)
	}
	return &ocpp201.HeartbeatResponse{CurrentTime: at}, nil
}
