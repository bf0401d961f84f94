package operator

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// ChargingProfileStore is what SmartChargingService reads.
type ChargingProfileStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListChargingProfiles(ctx context.Context, stationID string, f store.ChargingProfileFilter) ([]store.ChargingProfile, error)
	Report(ctx context.Context, stationID, kind string, requestID int) (*store.DeviceModelReport, error)
	ListChargingLimits(ctx context.Context, stationID string) ([]store.ChargingLimit, error)
	ListEVChargingNeeds(ctx context.Context, stationID string) ([]store.EVChargingNeeds, error)
	ListEVChargingSchedules(ctx context.Context, stationID string) ([]store.EVChargingSchedule, error)
}

// SmartChargingService implements chargeplane.v1.SmartChargingService.
type SmartChargingService struct {
	chargeplanev1.UnimplementedSmartChargingServiceServer

	send  commands
	store ChargingProfileStore
	log   *slog.Logger
}

// NewSmartChargingService returns the smart charging commands.
func NewSmartChargingService(cmds *command.Sender, st ChargingProfileStore, logger *slog.Logger) *SmartChargingService {
	if logger == nil {
		logger = slog.Default()
	}
	return &SmartChargingService{send: commands{s: cmds, log: logger}, store: st, log: logger}
}

// SetChargingProfile sends the profile; an accepted one is stored.
func (s *SmartChargingService) SetChargingProfile(ctx context.Context, req *chargeplanev1.SetChargingProfileRequest) (*chargeplanev1.SetChargingProfileResponse, error) {
	if req.GetProfile() == nil || len(req.GetProfile().GetFields()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "profile is required (1.6 csChargingProfiles or 2.0.1 chargingProfile as JSON)")
	}
	if req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	r, err := do[command.ProfileReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SetChargingProfileResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}
	if r.Profile != nil {
		out.ChargingProfile = ChargingProfileToProto(r.Profile)
	}
	return out, nil
}

// ClearChargingProfile sends the criteria; the matching stored profiles go.
func (s *SmartChargingService) ClearChargingProfile(ctx context.Context, req *chargeplanev1.ClearChargingProfileRequest) (*chargeplanev1.ClearChargingProfileResponse, error) {
	if err := nonNegative("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	r, err := do[command.ClearProfilesReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ClearChargingProfileResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, Removed: int32(r.Removed)}, nil
}

// GetCompositeSchedule asks the station what it will deliver.
func (s *SmartChargingService) GetCompositeSchedule(ctx context.Context, req *chargeplanev1.GetCompositeScheduleRequest) (*chargeplanev1.GetCompositeScheduleResponse, error) {
	if req.GetDuration() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "duration (seconds) must be positive")
	}
	if req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	switch req.GetChargingRateUnit() {
	case "", "A", "W":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "charging_rate_unit %q is not A or W", req.GetChargingRateUnit())
	}
	r, err := do[command.JSONReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetCompositeScheduleResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		Schedule: toStruct(r.Data)}, nil
}

// GetChargingProfiles (2.0.1) asks the station to report its profiles;
// the reports arrive afterwards and are stored under the request id.
func (s *SmartChargingService) GetChargingProfiles(ctx context.Context, req *chargeplanev1.GetChargingProfilesRequest) (*chargeplanev1.GetChargingProfilesResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	if err := nonNegative("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetChargingProfilesResponse{CommandId: r.CommandID, Status: r.Status, RequestId: int32(r.RequestID), ReasonCode: r.ReasonCode}, nil
}

// ListChargingProfiles returns the stored profiles of a station.
func (s *SmartChargingService) ListChargingProfiles(ctx context.Context, req *chargeplanev1.ListChargingProfilesRequest) (*chargeplanev1.ListChargingProfilesResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	switch req.GetSource() {
	case "", store.ProfileSourceSet, store.ProfileSourceReported:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "source %q is not %q or %q", req.GetSource(), store.ProfileSourceSet, store.ProfileSourceReported)
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, err := s.store.ListChargingProfiles(ctx, req.GetStationId(), store.ChargingProfileFilter{Source: req.GetSource(), RequestID: int(req.GetRequestId())})
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListChargingProfilesResponse{ChargingProfiles: make([]*chargeplanev1.ChargingProfile, 0, len(rows))}
	for i := range rows {
		out.ChargingProfiles = append(out.ChargingProfiles, ChargingProfileToProto(&rows[i]))
	}
	if req.GetRequestId() != 0 {
		_, err := s.store.Report(ctx, req.GetStationId(), store.ReportKindChargingProfiles, int(req.GetRequestId()))
		switch {
		case err == nil:
			out.Complete = true
		case !errors.Is(err, store.ErrNotFound):
			return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
		}
	}
	return out, nil
}

// GetChargingState returns what the station reported for smart charging.
func (s *SmartChargingService) GetChargingState(ctx context.Context, req *chargeplanev1.GetChargingStateRequest) (*chargeplanev1.GetChargingStateResponse, error) {
	id := req.GetStationId()
	if err := ValidateStationRef(id); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, id); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	limits, err := s.store.ListChargingLimits(ctx, id)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	needs, err := s.store.ListEVChargingNeeds(ctx, id)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	scheds, err := s.store.ListEVChargingSchedules(ctx, id)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(id))
	}
	out := &chargeplanev1.GetChargingStateResponse{}
	for _, l := range limits {
		lv := &structpb.ListValue{}
		if lv.UnmarshalJSON([]byte(l.Schedules)) != nil {
			lv = nil
		}
		out.ChargingLimits = append(out.ChargingLimits, &chargeplanev1.ChargingLimit{EvseId: int32(l.EVSEID), Source: l.Source,
			GridCritical: l.GridCritical, ChargingSchedules: lv, ReportedAt: ts(l.ReportedAt)})
	}
	for _, n := range needs {
		e := &chargeplanev1.EVChargingNeeds{EvseId: int32(n.EVSEID), ChargingNeeds: toStruct([]byte(n.Needs)),
			ReceivedAt: ts(n.ReceivedAt), PlanStatus: n.PlanStatus, PlanDetail: n.PlanDetail, PlanCommandId: n.PlanCommandID,
			PlannedAt: tsp(n.PlannedAt)}
		if n.MaxScheduleTuples != nil {
			v := int32(*n.MaxScheduleTuples)
			e.MaxScheduleTuples = &v
		}
		if n.PlanProfileID != nil {
			v := int32(*n.PlanProfileID)
			e.PlanProfileId = &v
		}
		out.EvChargingNeeds = append(out.EvChargingNeeds, e)
	}
	for _, e := range scheds {
		out.EvChargingSchedules = append(out.EvChargingSchedules, &chargeplanev1.EVChargingSchedule{EvseId: int32(e.EVSEID),
			TimeBase: ts(e.TimeBase), ChargingSchedule: toStruct([]byte(e.Schedule)), ReceivedAt: ts(e.ReceivedAt)})
	}
	return out, nil
}

// ChargingProfileToProto converts a stored profile.
func ChargingProfileToProto(p *store.ChargingProfile) *chargeplanev1.ChargingProfile {
	return &chargeplanev1.ChargingProfile{
		StationId: p.StationID, Source: p.Source, OcppVersion: p.OCPPVersion.Text(), ProfileId: int32(p.ProfileID),
		EvseId: int32(p.EVSEID), Purpose: p.Purpose, StackLevel: int32(p.StackLevel), TransactionId: p.TransactionID,
		RequestId: int32(p.RequestID), ChargingLimitSource: p.ChargingLimitSource, Profile: toStruct([]byte(p.Profile)),
		RequestedBy: p.RequestedBy, CreatedAt: ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt),
	}
}

// toStruct is a JSON object for the API; nil if it is none.
func toStruct(b []byte) *structpb.Struct {
	st := &structpb.Struct{}
	if len(b) == 0 || st.UnmarshalJSON(b) != nil {
		return nil
	}
	return st
}
