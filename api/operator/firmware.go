package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// FirmwareStore is what FirmwareService reads.
type FirmwareStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListStatusReports(ctx context.Context, stationID, kind string) ([]store.StatusReport, error)
}

// FirmwareService implements chargeplane.v1.FirmwareService.
type FirmwareService struct {
	chargeplanev1.UnimplementedFirmwareServiceServer

	send  commands
	store FirmwareStore
	log   *slog.Logger
}

// NewFirmwareService returns the firmware and log commands.
func NewFirmwareService(cmds *command.Sender, st FirmwareStore, logger *slog.Logger) *FirmwareService {
	if logger == nil {
		logger = slog.Default()
	}
	return &FirmwareService{send: commands{s: cmds, log: logger}, store: st, log: logger}
}

// checkUpload refuses what no version accepts of a firmware or log upload.
func checkUpload(location string, retries, retryInterval *int32, requestID int32) error {
	if location == "" {
		return status.Error(codes.InvalidArgument, "location is required")
	}
	if requestID < 0 {
		return status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	return errors.Join(nonNegative("retries", retries), nonNegative("retry_interval", retryInterval))
}

// UpdateFirmware sends UpdateFirmware in the station's version.
func (s *FirmwareService) UpdateFirmware(ctx context.Context, req *chargeplanev1.UpdateFirmwareRequest) (*chargeplanev1.UpdateFirmwareResponse, error) {
	if err := errors.Join(checkUpload(req.GetLocation(), req.Retries, req.RetryInterval, req.GetRequestId()),
		checkTime("retrieve_time", req.GetRetrieveTime()), checkTime("install_time", req.GetInstallTime())); err != nil {
		return nil, err
	}
	// A signed update is its own action in 1.6 (SignedUpdateFirmware).
	var in any = req
	if req.GetSigningCertificate() != "" || req.GetSignature() != "" {
		if req.GetSigningCertificate() == "" || req.GetSignature() == "" {
			return nil, status.Error(codes.InvalidArgument, "a signed update needs both signing_certificate and signature")
		}
		in = command.SignedFirmwareUpdate{UpdateFirmwareRequest: req}
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), in)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.UpdateFirmwareResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, RequestId: int32(r.RequestID)}, nil
}

// GetLog asks for a log upload: 1.6 GetDiagnostics, 2.0.1 GetLog.
func (s *FirmwareService) GetLog(ctx context.Context, req *chargeplanev1.GetLogRequest) (*chargeplanev1.GetLogResponse, error) {
	if err := checkUpload(req.GetLocation(), req.Retries, req.RetryInterval, req.GetRequestId()); err != nil {
		return nil, err
	}
	switch req.GetLogType() {
	case "", string(ocpp201.LogDiagnosticsLog), string(ocpp201.LogSecurityLog):
	default:
		return nil, status.Errorf(codes.InvalidArgument, "log_type %q is not DiagnosticsLog or SecurityLog", req.GetLogType())
	}
	if err := errors.Join(checkTime("oldest_time", req.GetOldestTime()), checkTime("latest_time", req.GetLatestTime())); err != nil {
		return nil, err
	}
	// A log type or request id is the security whitepaper's GetLog in
	// 1.6, whose plain form is GetDiagnostics.
	var in any = req
	if req.GetLogType() != "" || req.GetRequestId() != 0 {
		in = command.LogUpload{GetLogRequest: req}
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), in)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetLogResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		Filename: r.Filename, RequestId: int32(r.RequestID)}, nil
}

// md5Hex is a PublishFirmware checksum: MD5 as 32 hexadecimal characters.
var md5Hex = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

func checkChecksum(c string) error {
	if !md5Hex.MatchString(c) {
		return status.Error(codes.InvalidArgument, "checksum must be the firmware's MD5 as 32 hexadecimal characters")
	}
	return nil
}

// PublishFirmware asks a 2.0.1 local controller to publish firmware to
// the stations behind it.
func (s *FirmwareService) PublishFirmware(ctx context.Context, req *chargeplanev1.PublishFirmwareRequest) (*chargeplanev1.PublishFirmwareResponse, error) {
	if err := errors.Join(checkUpload(req.GetLocation(), req.Retries, req.RetryInterval, req.GetRequestId()),
		checkChecksum(req.GetChecksum())); err != nil {
		return nil, err
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.PublishFirmwareResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, RequestId: int32(r.RequestID)}, nil
}

// UnpublishFirmware asks a 2.0.1 local controller to stop publishing the
// firmware of that checksum.
func (s *FirmwareService) UnpublishFirmware(ctx context.Context, req *chargeplanev1.UnpublishFirmwareRequest) (*chargeplanev1.UnpublishFirmwareResponse, error) {
	if err := checkChecksum(req.GetChecksum()); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.UnpublishFirmwareResponse{CommandId: r.CommandID, Status: r.Status}, nil
}

// ListStatusReports returns the station's recent firmware, log and
// publish statuses.
func (s *FirmwareService) ListStatusReports(ctx context.Context, req *chargeplanev1.ListStatusReportsRequest) (*chargeplanev1.ListStatusReportsResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	switch req.GetKind() {
	case "", store.StatusKindFirmware, store.StatusKindLog, store.StatusKindPublish:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "kind %q is not %q, %q or %q", req.GetKind(),
			store.StatusKindFirmware, store.StatusKindLog, store.StatusKindPublish)
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, err := s.store.ListStatusReports(ctx, req.GetStationId(), req.GetKind())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListStatusReportsResponse{Reports: make([]*chargeplanev1.StatusReport, 0, len(rows))}
	for i := range rows {
		r, err := StatusReportToProto(&rows[i])
		if err != nil {
			return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
		}
		out.Reports = append(out.Reports, r)
	}
	return out, nil
}

// StatusReportToProto converts a stored status report; nil stays nil.
func StatusReportToProto(r *store.StatusReport) (*chargeplanev1.StatusReport, error) {
	if r == nil {
		return nil, nil
	}
	out := &chargeplanev1.StatusReport{Kind: r.Kind, Action: r.Action, Status: r.Status, ReportedAt: ts(r.ReportedAt)}
	if r.RequestID != nil {
		id := int32(*r.RequestID)
		out.RequestId = &id
	}
	if r.Locations != "" {
		if err := json.Unmarshal([]byte(r.Locations), &out.Locations); err != nil {
			return nil, fmt.Errorf("status report %d locations: %w", r.ID, err)
		}
	}
	return out, nil
}

// statusReportReader gives the station's newest firmware, log and publish
// statuses (*store.Store has it).
type statusReportReader interface {
	LatestStatusReports(ctx context.Context, stationID string) (store.LatestReports, error)
}

// addStatusReports puts the newest firmware, log and publish statuses on a
// station.
func addStatusReports(ctx context.Context, r statusReportReader, out *chargeplanev1.Station) error {
	latest, err := r.LatestStatusReports(ctx, out.GetId())
	if err != nil {
		return fmt.Errorf("latest status reports: %w", err)
	}
	for _, x := range []struct {
		from *store.StatusReport
		to   **chargeplanev1.StatusReport
	}{{latest.Firmware, &out.FirmwareStatus}, {latest.Log, &out.LogStatus}, {latest.Publish, &out.PublishStatus}} {
		if *x.to, err = StatusReportToProto(x.from); err != nil {
			return err
		}
	}
	return nil
}
