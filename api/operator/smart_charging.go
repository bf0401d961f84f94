package operator

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// ChargingProfileStore is what SmartChargingService needs.
type ChargingProfileStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	SaveChargingProfile(ctx context.Context, p *store.ChargingProfile) error
	ClearChargingProfiles(ctx context.Context, stationID string, c store.ProfileCriteria) (int64, error)
	ListChargingProfiles(ctx context.Context, stationID string, f store.ChargingProfileFilter) ([]store.ChargingProfile, error)
}

// SmartChargingService implements chargeplane.v1.SmartChargingService.
type SmartChargingService struct {
	chargeplanev1.UnimplementedSmartChargingServiceServer

	send  commands
	store ChargingProfileStore
	log   *slog.Logger
}

// NewSmartChargingService returns the smart charging commands.
func NewSmartChargingService(cmds Commander, st ChargingProfileStore, logger *slog.Logger) *SmartChargingService {
	if logger == nil {
		logger = slog.Default()
	}
	return &SmartChargingService{send: commands{c: cmds, log: logger}, store: st, log: logger}
}

// setProfile16 and setProfile201 pass the operator's profile through
// untouched, so that the official schema judges exactly what is sent.
type setProfile16 struct {
	ConnectorID int             `json:"connectorId"`
	Profile     json.RawMessage `json:"csChargingProfiles"`
}

type setProfile201 struct {
	EvseID  int             `json:"evseId"`
	Profile json.RawMessage `json:"chargingProfile"`
}

// profileKey is what the store indexes of a profile of either version.
type profileKey struct {
	ID16          *int            `json:"chargingProfileId"`
	ID201         *int            `json:"id"`
	StackLevel    int             `json:"stackLevel"`
	Purpose       string          `json:"chargingProfilePurpose"`
	TransactionID json.RawMessage `json:"transactionId"` // 1.6 integer, 2.0.1 string
}

func (k profileKey) id() int {
	if k.ID16 != nil {
		return *k.ID16
	}
	if k.ID201 != nil {
		return *k.ID201
	}
	return 0
}

func (k profileKey) transactionID() string {
	if len(k.TransactionID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(k.TransactionID, &s) == nil {
		return s
	}
	var n int64
	if json.Unmarshal(k.TransactionID, &n) == nil {
		return strconv.FormatInt(n, 10)
	}
	return ""
}

// SetChargingProfile sends the profile; an accepted one is stored.
func (s *SmartChargingService) SetChargingProfile(ctx context.Context, req *chargeplanev1.SetChargingProfileRequest) (*chargeplanev1.SetChargingProfileResponse, error) {
	if req.GetProfile() == nil || len(req.GetProfile().GetFields()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "profile is required (1.6 csChargingProfiles or 2.0.1 chargingProfile as JSON)")
	}
	if req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	raw, err := protojson.Marshal(req.GetProfile())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "profile: %v", err)
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	var payload any = setProfile201{EvseID: int(req.GetEvseId()), Profile: raw}
	if v == ocppj.V16 {
		payload = setProfile16{ConnectorID: int(req.GetEvseId()), Profile: raw}
	}
	var ans answer
	cmdID, err := s.send.call(ctx, req.GetStationId(), "SetChargingProfile", payload, &ans)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SetChargingProfileResponse{CommandId: cmdID, Status: ans.Status, ReasonCode: ans.reason()}
	if ans.Status != "Accepted" {
		return out, nil
	}
	// The schema passed, so the key fields are there and well typed.
	var k profileKey
	if err := json.Unmarshal(raw, &k); err != nil {
		s.log.ErrorContext(ctx, "read an accepted charging profile", "station", req.GetStationId(), "err", err)
		return nil, status.Error(codes.Internal, "the accepted profile could not be recorded")
	}
	p := &store.ChargingProfile{
		StationID: req.GetStationId(), OCPPVersion: v, ProfileID: k.id(), EVSEID: int(req.GetEvseId()),
		Purpose: k.Purpose, StackLevel: k.StackLevel, TransactionID: k.transactionID(), Profile: string(raw),
		RequestedBy: RequestedBy(ctx),
	}
	// The station has it now, whether or not our caller still waits.
	if err := s.store.SaveChargingProfile(context.WithoutCancel(ctx), p); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out.ChargingProfile = ChargingProfileToProto(p)
	return out, nil
}

// ClearChargingProfile sends the criteria; on Accepted or Unknown (the
// station has no such profile either) the matching stored profiles go.
func (s *SmartChargingService) ClearChargingProfile(ctx context.Context, req *chargeplanev1.ClearChargingProfileRequest) (*chargeplanev1.ClearChargingProfileResponse, error) {
	if req.EvseId != nil && req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	crit := store.ProfileCriteria{ProfileID: intPtr(req.ProfileId), EVSEID: intPtr(req.EvseId), Purpose: req.GetPurpose(), StackLevel: intPtr(req.StackLevel)}
	var payload any
	if v == ocppj.V16 {
		payload = ocpp16.ClearChargingProfileRequest{Id: crit.ProfileID, ConnectorId: crit.EVSEID,
			ChargingProfilePurpose: ocpp16.ChargingProfilePurpose(crit.Purpose), StackLevel: crit.StackLevel}
	} else {
		p := ocpp201.ClearChargingProfileRequest{ChargingProfileId: crit.ProfileID}
		if crit.EVSEID != nil || crit.Purpose != "" || crit.StackLevel != nil {
			p.ChargingProfileCriteria = &ocpp201.ClearChargingProfile{EvseId: crit.EVSEID,
				ChargingProfilePurpose: ocpp201.ChargingProfilePurposeEnum(crit.Purpose), StackLevel: crit.StackLevel}
		}
		payload = p
	}
	var ans answer
	cmdID, err := s.send.call(ctx, req.GetStationId(), "ClearChargingProfile", payload, &ans)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.ClearChargingProfileResponse{CommandId: cmdID, Status: ans.Status, ReasonCode: ans.reason()}
	n, err := s.store.ClearChargingProfiles(context.WithoutCancel(ctx), req.GetStationId(), crit)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out.Removed = int32(n)
	return out, nil
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
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	var payload any = ocpp201.GetCompositeScheduleRequest{Duration: int(req.GetDuration()), EvseId: int(req.GetEvseId()),
		ChargingRateUnit: ocpp201.ChargingRateUnitEnum(req.GetChargingRateUnit())}
	if v == ocppj.V16 {
		payload = ocpp16.GetCompositeScheduleRequest{ConnectorId: int(req.GetEvseId()), Duration: int(req.GetDuration()),
			ChargingRateUnit: ocpp16.ChargingRateUnit(req.GetChargingRateUnit())}
	}
	var raw json.RawMessage
	cmdID, err := s.send.call(ctx, req.GetStationId(), "GetCompositeSchedule", payload, &raw)
	if err != nil {
		return nil, err
	}
	var ans answer
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ans); err != nil || json.Unmarshal(raw, &fields) != nil {
		return nil, status.Error(codes.Internal, "the station's answer could not be read")
	}
	out := &chargeplanev1.GetCompositeScheduleResponse{CommandId: cmdID, Status: ans.Status, ReasonCode: ans.reason()}
	if v == ocppj.V16 {
		// 1.6 puts the schedule's parts beside the status.
		delete(fields, "status")
		if len(fields) > 0 {
			b, _ := json.Marshal(fields)
			out.Schedule = toStruct(b)
		}
	} else if sch, ok := fields["schedule"]; ok {
		out.Schedule = toStruct(sch)
	}
	return out, nil
}

// GetChargingProfiles (2.0.1) asks the station to report its profiles;
// the reports arrive afterwards and are stored under the request id.
func (s *SmartChargingService) GetChargingProfiles(ctx context.Context, req *chargeplanev1.GetChargingProfilesRequest) (*chargeplanev1.GetChargingProfilesResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	if req.EvseId != nil && req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if v != ocppj.V201 {
		return nil, status.Errorf(codes.InvalidArgument, "GetChargingProfiles exists only in OCPP 2.0.1; the station speaks OCPP %s", v)
	}
	reqID := int(req.GetRequestId())
	if reqID == 0 {
		reqID = newOCPPRequestID()
	}
	crit := ocpp201.ChargingProfileCriterion{ChargingProfilePurpose: ocpp201.ChargingProfilePurposeEnum(req.GetPurpose()),
		StackLevel: intPtr(req.StackLevel)}
	for _, id := range req.GetProfileIds() {
		crit.ChargingProfileId = append(crit.ChargingProfileId, int(id))
	}
	for _, src := range req.GetChargingLimitSources() {
		crit.ChargingLimitSource = append(crit.ChargingLimitSource, ocpp201.ChargingLimitSourceEnum(src))
	}
	p := ocpp201.GetChargingProfilesRequest{RequestId: reqID, EvseId: intPtr(req.EvseId), ChargingProfile: crit}
	var ans answer
	cmdID, err := s.send.call(ctx, req.GetStationId(), ocpp201.ActionGetChargingProfiles, p, &ans)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetChargingProfilesResponse{CommandId: cmdID, Status: ans.Status, RequestId: int32(reqID), ReasonCode: ans.reason()}, nil
}

// ListChargingProfiles returns the stored profiles of a station.
func (s *SmartChargingService) ListChargingProfiles(ctx context.Context, req *chargeplanev1.ListChargingProfilesRequest) (*chargeplanev1.ListChargingProfilesResponse, error) {
	if err := ValidateStationID(req.GetStationId()); err != nil {
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
