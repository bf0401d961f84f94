package operator

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// newOCPPRequestID picks a 2.0.1 requestId: positive and random, so that
// ids chosen by several core instances do not collide.
func newOCPPRequestID() int { return 1 + rand.IntN(1<<31-2) }

func nonNegative(field string, v *int32) error {
	if v != nil && *v < 0 {
		return status.Errorf(codes.InvalidArgument, "%s must not be negative", field)
	}
	return nil
}

func intPtr(v *int32) *int {
	if v == nil {
		return nil
	}
	i := int(*v)
	return &i
}

// optTime is a timestamp the caller may leave out (zero: omitted).
func optTime(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, status.Errorf(codes.InvalidArgument, "%s: %v", field, err)
	}
	return ocppTime(ts.AsTime()), nil
}

// ocppTime is how times go to stations: UTC, to the millisecond (some
// chargers cannot parse more fractional digits).
func ocppTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func toStruct(b []byte) *structpb.Struct {
	st := &structpb.Struct{}
	if len(b) == 0 || st.UnmarshalJSON(b) != nil {
		return nil
	}
	return st
}

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
	now   func() time.Time
	log   *slog.Logger
}

// NewFirmwareService returns the firmware and log commands; now nil means
// time.Now.
func NewFirmwareService(cmds Commander, st FirmwareStore, now func() time.Time, logger *slog.Logger) *FirmwareService {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &FirmwareService{send: commands{c: cmds, log: logger}, store: st, now: now, log: logger}
}

// UpdateFirmware sends UpdateFirmware in the station's version.
func (s *FirmwareService) UpdateFirmware(ctx context.Context, req *chargeplanev1.UpdateFirmwareRequest) (*chargeplanev1.UpdateFirmwareResponse, error) {
	if req.GetLocation() == "" {
		return nil, status.Error(codes.InvalidArgument, "location is required")
	}
	if err := nonNegative("retries", req.Retries); err != nil {
		return nil, err
	}
	if err := nonNegative("retry_interval", req.RetryInterval); err != nil {
		return nil, err
	}
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	retrieve, err := optTime("retrieve_time", req.GetRetrieveTime())
	if err != nil {
		return nil, err
	}
	if retrieve.IsZero() {
		retrieve = ocppTime(s.now())
	}
	install, err := optTime("install_time", req.GetInstallTime())
	if err != nil {
		return nil, err
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"install_time", !install.IsZero()}, {"signing_certificate", req.GetSigningCertificate() != ""},
		{"signature", req.GetSignature() != ""}, {"request_id", req.GetRequestId() != 0},
	} {
		if err := onlyIn(v, ocppj.V201, f.name, f.set); err != nil {
			return nil, err
		}
	}

	out := &chargeplanev1.UpdateFirmwareResponse{}
	if v == ocppj.V16 {
		p := ocpp16.UpdateFirmwareRequest{Location: req.GetLocation(), RetrieveDate: retrieve}
		if req.Retries != nil {
			r := float64(req.GetRetries())
			p.Retries = &r
		}
		if req.RetryInterval != nil {
			r := float64(req.GetRetryInterval())
			p.RetryInterval = &r
		}
		if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp16.ActionUpdateFirmware, p, nil); err != nil {
			return nil, err
		}
		// 1.6 answers with an empty payload: the acknowledgement is all.
		out.Status = "Accepted"
		return out, nil
	}
	reqID := int(req.GetRequestId())
	if reqID == 0 {
		reqID = newOCPPRequestID()
	}
	p := ocpp201.UpdateFirmwareRequest{
		RequestId: reqID, Retries: intPtr(req.Retries), RetryInterval: intPtr(req.RetryInterval),
		Firmware: ocpp201.Firmware{Location: req.GetLocation(), RetrieveDateTime: retrieve, InstallDateTime: install,
			SigningCertificate: req.GetSigningCertificate(), Signature: req.GetSignature()},
	}
	var ans answer
	if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp201.ActionUpdateFirmware, p, &ans); err != nil {
		return nil, err
	}
	out.Status, out.ReasonCode, out.RequestId = ans.Status, ans.reason(), int32(reqID)
	return out, nil
}

// GetLog asks for a log upload: 1.6 GetDiagnostics, 2.0.1 GetLog.
func (s *FirmwareService) GetLog(ctx context.Context, req *chargeplanev1.GetLogRequest) (*chargeplanev1.GetLogResponse, error) {
	if req.GetLocation() == "" {
		return nil, status.Error(codes.InvalidArgument, "location is required")
	}
	if err := nonNegative("retries", req.Retries); err != nil {
		return nil, err
	}
	if err := nonNegative("retry_interval", req.RetryInterval); err != nil {
		return nil, err
	}
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	logType := req.GetLogType()
	switch logType {
	case "":
		logType = string(ocpp201.LogDiagnosticsLog)
	case string(ocpp201.LogDiagnosticsLog), string(ocpp201.LogSecurityLog):
	default:
		return nil, status.Errorf(codes.InvalidArgument, "log_type %q is not DiagnosticsLog or SecurityLog", logType)
	}
	oldest, err := optTime("oldest_time", req.GetOldestTime())
	if err != nil {
		return nil, err
	}
	latest, err := optTime("latest_time", req.GetLatestTime())
	if err != nil {
		return nil, err
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "request_id", req.GetRequestId() != 0); err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "log_type SecurityLog", logType == string(ocpp201.LogSecurityLog)); err != nil {
		return nil, err
	}

	out := &chargeplanev1.GetLogResponse{}
	if v == ocppj.V16 {
		p := ocpp16.GetDiagnosticsRequest{Location: req.GetLocation(), Retries: intPtr(req.Retries),
			RetryInterval: intPtr(req.RetryInterval), StartTime: oldest, StopTime: latest}
		var ans ocpp16.GetDiagnosticsResponse
		if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp16.ActionGetDiagnostics, p, &ans); err != nil {
			return nil, err
		}
		out.Status, out.Filename = "Accepted", ans.FileName
		return out, nil
	}
	reqID := int(req.GetRequestId())
	if reqID == 0 {
		reqID = newOCPPRequestID()
	}
	p := ocpp201.GetLogRequest{
		LogType: ocpp201.LogEnum(logType), RequestId: reqID, Retries: intPtr(req.Retries), RetryInterval: intPtr(req.RetryInterval),
		Log: ocpp201.LogParameters{RemoteLocation: req.GetLocation(), OldestTimestamp: oldest, LatestTimestamp: latest},
	}
	var ans struct {
		answer
		Filename string `json:"filename"`
	}
	if out.CommandId, err = s.send.call(ctx, req.GetStationId(), ocpp201.ActionGetLog, p, &ans); err != nil {
		return nil, err
	}
	out.Status, out.ReasonCode, out.Filename, out.RequestId = ans.Status, ans.reason(), ans.Filename, int32(reqID)
	return out, nil
}

// ListStatusReports returns the station's recent firmware and log statuses.
func (s *FirmwareService) ListStatusReports(ctx context.Context, req *chargeplanev1.ListStatusReportsRequest) (*chargeplanev1.ListStatusReportsResponse, error) {
	if err := ValidateStationID(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	switch req.GetKind() {
	case "", store.StatusKindFirmware, store.StatusKindLog:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "kind %q is not %q or %q", req.GetKind(), store.StatusKindFirmware, store.StatusKindLog)
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
		out.Reports = append(out.Reports, StatusReportToProto(&rows[i]))
	}
	return out, nil
}

// StatusReportToProto converts a stored status report; nil stays nil.
func StatusReportToProto(r *store.StatusReport) *chargeplanev1.StatusReport {
	if r == nil {
		return nil
	}
	out := &chargeplanev1.StatusReport{Kind: r.Kind, Action: r.Action, Status: r.Status, ReportedAt: ts(r.ReportedAt)}
	if r.RequestID != nil {
		id := int32(*r.RequestID)
		out.RequestId = &id
	}
	return out
}

// statusReportReader gives the station's newest firmware and log statuses
// (*store.Store has it).
type statusReportReader interface {
	LatestStatusReports(ctx context.Context, stationID string) (firmware, log *store.StatusReport, err error)
}

// addStatusReports puts the newest firmware and log statuses on a station.
func addStatusReports(ctx context.Context, r statusReportReader, out *chargeplanev1.Station) error {
	fw, lg, err := r.LatestStatusReports(ctx, out.GetId())
	if err != nil {
		return fmt.Errorf("latest status reports: %w", err)
	}
	out.FirmwareStatus, out.LogStatus = StatusReportToProto(fw), StatusReportToProto(lg)
	return nil
}
