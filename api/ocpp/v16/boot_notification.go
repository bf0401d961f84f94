package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// BootRecorder stores what a station says about itself when it boots.
type BootRecorder interface {
	RecordBoot(ctx context.Context, stationID string, b store.BootInfo, at time.Time) error
	OnboardingOf(ctx context.Context, stationID string) (string, error)
}

// BootNotification records the station's identity and answers with its
// onboarding state (api/onboarding): Accepted, or Pending/Rejected for a
// station an operator has not accepted; the router refuses other messages
// of a station whose last boot was not Accepted (B02.FR.09, B03.FR.07).
type BootNotification struct {
	Store BootRecorder
	Now   func() time.Time
	// Interval is the heartbeat interval the station is told to use.
	Interval time.Duration
}

func (h BootNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.BootNotificationRequest) (*ocpp16.BootNotificationResponse, error) {
	at := now(h.Now)
	state, err := h.Store.OnboardingOf(ctx, m.StationID)
	if err != nil {
		return nil, fmt.Errorf("read onboarding: %w", err)
	}
	decided, err := onboarding.Parse(state)
	if err != nil {
		return nil, err
	}
	status := ocpp16.RegistrationStatus(decided.BootStatus())
	info := store.BootInfo{
		Vendor:                req.ChargePointVendor,
		Model:                 req.ChargePointModel,
		SerialNumber:          req.ChargePointSerialNumber,
		ChargeBoxSerialNumber: req.ChargeBoxSerialNumber,
		FirmwareVersion:       req.FirmwareVersion,
		ICCID:                 req.Iccid,
		IMSI:                  req.Imsi,
		MeterType:             req.MeterType,
		MeterSerialNumber:     req.MeterSerialNumber,
		RegistrationStatus:    string(status),
	}
	if err := h.Store.RecordBoot(ctx, m.StationID, info, at); err != nil {
		return nil, fmt.Errorf("record boot: %w", err)
	}
	return &ocpp16.BootNotificationResponse{
		Status:      status,
		CurrentTime: at,
		Interval:    float64(h.Interval / time.Second),
	}, nil
}
