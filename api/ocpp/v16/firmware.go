package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// StatusReportStore keeps what stations report about firmware updates and
// log uploads.
type StatusReportStore interface {
	RecordStatusReport(ctx context.Context, r *store.StatusReport) error
}

// reportedAt is when the gateway read the message: 1.6 status
// notifications carry no timestamp of their own.
func reportedAt(m route.Meta, clock func() time.Time) time.Time {
	if !m.ReceivedAt.IsZero() {
		return m.ReceivedAt
	}
	return now(clock)
}

func recordStatus(ctx context.Context, st StatusReportStore, clock func() time.Time, m route.Meta, kind, action, status string, requestID *int) error {
	r := &store.StatusReport{StationID: m.StationID, Kind: kind, Action: action, Status: status,
		RequestID: requestID, ReportedAt: reportedAt(m, clock)}
	if err := st.RecordStatusReport(ctx, r); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// FirmwareStatusNotification records the progress of a firmware update.
type FirmwareStatusNotification struct {
	Store StatusReportStore
	Now   func() time.Time
}

func (h FirmwareStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.FirmwareStatusNotificationRequest) (*ocpp16.FirmwareStatusNotificationResponse, error) {
	if err := recordStatus(ctx, h.Store, h.Now, m, store.StatusKindFirmware, ocpp16.ActionFirmwareStatusNotification, string(req.Status), nil); err != nil {
		return nil, err
	}
	return &ocpp16.FirmwareStatusNotificationResponse{}, nil
}

// DiagnosticsStatusNotification records the progress of a diagnostics
// upload (GetDiagnostics), shown as the station's log status.
type DiagnosticsStatusNotification struct {
	Store StatusReportStore
	Now   func() time.Time
}

func (h DiagnosticsStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.DiagnosticsStatusNotificationRequest) (*ocpp16.DiagnosticsStatusNotificationResponse, error) {
	if err := recordStatus(ctx, h.Store, h.Now, m, store.StatusKindLog, ocpp16.ActionDiagnosticsStatusNotification, string(req.Status), nil); err != nil {
		return nil, err
	}
	return &ocpp16.DiagnosticsStatusNotificationResponse{}, nil
}

// LogStatusNotification (security extension) records the progress of a
// GetLog upload.
type LogStatusNotification struct {
	Store StatusReportStore
	Now   func() time.Time
}

func (h LogStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.LogStatusNotificationRequest) (*ocpp16.LogStatusNotificationResponse, error) {
	if err := recordStatus(ctx, h.Store, h.Now, m, store.StatusKindLog, ocpp16.ActionLogStatusNotification, string(req.Status), req.RequestId); err != nil {
		return nil, err
	}
	return &ocpp16.LogStatusNotificationResponse{}, nil
}

// SignedFirmwareStatusNotification records the progress of a signed
// firmware update (security whitepaper), including the signature and
// certificate failures the station reports.
type SignedFirmwareStatusNotification struct {
	Store StatusReportStore
	Now   func() time.Time
}

func (h SignedFirmwareStatusNotification) Handle(ctx context.Context, m route.Meta, req *ocpp16.SignedFirmwareStatusNotificationRequest) (*ocpp16.SignedFirmwareStatusNotificationResponse, error) {
	if err := recordStatus(ctx, h.Store, h.Now, m, store.StatusKindFirmware, ocpp16.ActionSignedFirmwareStatusNotification, string(req.Status), req.RequestId); err != nil {
		return nil, err
	}
	return &ocpp16.SignedFirmwareStatusNotificationResponse{}, nil
}
