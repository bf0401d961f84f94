package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// Heartbeat records that the station is alive and gives it the time.
type Heartbeat struct {
	Store LastSeenToucher
	Now   func() time.Time
}

func (h Heartbeat) Handle(ctx context.Context, m route.Meta, _ *ocpp16.HeartbeatRequest) (*ocpp16.HeartbeatResponse, error) {
	at := now(h.Now)
	if err := h.Store.TouchLastSeen(ctx, m.StationID, at); err != nil {
		return nil, fmt.Errorf("touch last seen: %w", err)
	}
	return &ocpp16.HeartbeatResponse{CurrentTime: at}, nil
}
