package v201

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// ReportStore keeps what stations report about firmware updates, log
// uploads, reservations and charging profiles.
type ReportStore interface {
	RecordStatusReport(ctx context.Context, r *store.StatusReport) error
	SetReservationStatus(ctx context.Context, stationID string, id int64, status, errText string) (*store.Reservation, error)
	SaveReportedChargingProfiles(ctx context.Context, profiles []store.ChargingProfile) error
}

// reportedAt is when the gateway read the message: these notifications
// carry no timestamp of their own.
func reportedAt(m route.Meta, clock func() time.Time) time.Time {
	if !m.ReceivedAt.IsZero() {
		return m.ReceivedAt
	}
	if clock == nil {
		clock = time.Now
	}
	return clock().UTC()
}

// FirmwareStatusNotification records the progress of a firmware update.
type FirmwareStatusNotification struct {
	Store ReportStore
	Now   func() time.Time
}

func (h FirmwareStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp201.FirmwareStatusNotificationRequest) (*ocpp201.FirmwareStatusNotificationResponse, error) {
	r := &store.StatusReport{StationID: m.StationID, Kind: store.StatusKindFirmware, Action: ocpp201.ActionFirmwareStatusNotification,
		Status: string(req.Status), RequestID: req.RequestId, ReportedAt: reportedAt(m, h.Now)}
	if err := h.Store.RecordStatusReport(ctx, r); err != nil {
		return nil, fmt.Errorf("record firmware status: %w", err)
	}
	return &ocpp201.FirmwareStatusNotificationResponse{}, nil
}

// LogStatusNotification records the progress of a GetLog upload.
type LogStatusNotification struct {
	Store ReportStore
	Now   func() time.Time
}

func (h LogStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp201.LogStatusNotificationRequest) (*ocpp201.LogStatusNotificationResponse, error) {
	r := &store.StatusReport{StationID: m.StationID, Kind: store.StatusKindLog, Action: ocpp201.ActionLogStatusNotification,
		Status: string(req.Status), RequestID: req.RequestId, ReportedAt: reportedAt(m, h.Now)}
	if err := h.Store.RecordStatusReport(ctx, r); err != nil {
		return nil, fmt.Errorf("record log status: %w", err)
	}
	return &ocpp201.LogStatusNotificationResponse{}, nil
}

// ReservationStatusUpdate records that a reservation expired or was
// removed (H01.FR.*). A reservation the CSMS does not know is acknowledged
// all the same: refusing would only make the station retry.
type ReservationStatusUpdate struct {
	Store  ReportStore
	Logger *slog.Logger
}

func (h ReservationStatusUpdate) Handle(ctx context.Context, m route.Meta, req *ocpp201.ReservationStatusUpdateRequest) (*ocpp201.ReservationStatusUpdateResponse, error) {
	status := store.ReservationExpired
	if req.ReservationUpdateStatus == ocpp201.ReservationUpdateStatusRemoved {
		status = store.ReservationRemoved
	}
	_, err := h.Store.SetReservationStatus(ctx, m.StationID, int64(req.ReservationId), status, "")
	switch {
	case errors.Is(err, store.ErrNotFound):
		if h.Logger != nil {
			h.Logger.WarnContext(ctx, "status update for an unknown reservation", "station", m.StationID, "reservation", req.ReservationId)
		}
	case err != nil:
		return nil, fmt.Errorf("update reservation %d: %w", req.ReservationId, err)
	}
	return &ocpp201.ReservationStatusUpdateResponse{}, nil
}

// PublishFirmwareStatusNotification records the progress of publishing
// firmware on a local controller (L03) with, once Published, where it can
// be downloaded.
type PublishFirmwareStatusNotification struct {
	Store ReportStore
	Now   func() time.Time
}

func (h PublishFirmwareStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp201.PublishFirmwareStatusNotificationRequest) (*ocpp201.PublishFirmwareStatusNotificationResponse, error) {
	r := &store.StatusReport{StationID: m.StationID, Kind: store.StatusKindPublish, Action: ocpp201.ActionPublishFirmwareStatusNotification,
		Status: string(req.Status), RequestID: req.RequestId, ReportedAt: reportedAt(m, h.Now)}
	if len(req.Location) > 0 {
		b, err := json.Marshal(req.Location)
		if err != nil {
			return nil, err
		}
		r.Locations = string(b)
	}
	if err := h.Store.RecordStatusReport(ctx, r); err != nil {
		return nil, fmt.Errorf("record publish firmware status: %w", err)
	}
	return &ocpp201.PublishFirmwareStatusNotificationResponse{}, nil
}
