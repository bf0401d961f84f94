package operator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// DeviceModelStore serves the stored 2.0.1 device model reports and
// network profiles, and the stored 1.6 configuration keys.
type DeviceModelStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	LatestDeviceModel(ctx context.Context, stationID string) (*store.DeviceModelReport, error)
	ListNetworkProfiles(ctx context.Context, stationID string) ([]store.NetworkProfile, error)
	ListConfiguration(ctx context.Context, stationID string) ([]store.ConfigurationKey, error)
}

// ConfigurationService implements chargeplanev1.ConfigurationService.
type ConfigurationService struct {
	chargeplanev1.UnimplementedConfigurationServiceServer

	cmds    commands
	models  DeviceModelStore
	rotator PasswordRotator
	log     *slog.Logger
}

// PasswordRotator rotates a station's password (credentials.Rotator).
type PasswordRotator interface {
	Rotate(ctx context.Context, stationID, password string) (credentials.Result, error)
}

// NewConfigurationService returns the configuration commands; rotator
// changes station passwords.
func NewConfigurationService(cmds *command.Sender, models DeviceModelStore, rotator PasswordRotator, logger *slog.Logger) *ConfigurationService {
	if logger == nil {
		logger = slog.Default()
	}
	return &ConfigurationService{cmds: commands{s: cmds, log: logger}, models: models, rotator: rotator, log: logger}
}

// The station password, a configuration key in 1.6 and a variable in
// 2.0.1 (redact.StationPasswordKey, redact.StationPasswordVariable): set
// only through a rotation, so that the CSMS keeps admitting the station
// whatever it does with the new one.
const passwordThroughRotator = "the station password is changed through RotatePassword (POST /api/v1/stations/{id}/password/rotate)"

// RotatePassword gives the station a new Basic-auth password.
func (s *ConfigurationService) RotatePassword(ctx context.Context, req *chargeplanev1.RotatePasswordRequest) (*chargeplanev1.RotatePasswordResponse, error) {
	if req.GetPassword() != "" {
		if err := credentials.CheckPassword(req.GetPassword()); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	r, err := s.rotate(ctx, req.GetStationId(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.RotatePasswordResponse{CommandId: r.CommandID, Status: r.Status, Rotation: r.Rotation, ReasonCode: r.Reason}, nil
}

func (s *ConfigurationService) rotate(ctx context.Context, stationID, password string) (credentials.Result, error) {
	if err := ValidateStationRef(stationID); err != nil {
		return credentials.Result{}, invalid(err)
	}
	r, err := s.rotator.Rotate(ctx, stationID, password)
	if err != nil {
		if r.Rotation == credentials.Unconfirmed {
			s.log.WarnContext(ctx, "password rotation unconfirmed", "station", stationID, "err", err)
		}
		return credentials.Result{}, s.cmds.status(ctx, stationID, err)
	}
	return r, nil
}

// GetConfiguration reads 1.6 configuration keys.
func (s *ConfigurationService) GetConfiguration(ctx context.Context, req *chargeplanev1.GetConfigurationRequest) (*chargeplanev1.GetConfigurationResponse, error) {
	r, err := do[command.ConfigurationReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.GetConfigurationResponse{CommandId: r.CommandID, UnknownKeys: r.UnknownKeys}
	for _, k := range r.Keys {
		resp.ConfigurationKeys = append(resp.ConfigurationKeys, &chargeplanev1.ConfigurationKey{Key: k.Key, Readonly: k.Readonly, Value: k.Value})
	}
	return resp, nil
}

// GetStoredConfiguration serves the 1.6 configuration keys the station
// last reported, as api/ocpp/v16 kept them (secrets without their value):
// nothing is sent to the station.
func (s *ConfigurationService) GetStoredConfiguration(ctx context.Context, req *chargeplanev1.GetStoredConfigurationRequest) (*chargeplanev1.GetStoredConfigurationResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.models.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	keys, err := s.models.ListConfiguration(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.GetStoredConfigurationResponse{ConfigurationKeys: make([]*chargeplanev1.StoredConfigurationKey, 0, len(keys))}
	for _, k := range keys {
		out.ConfigurationKeys = append(out.ConfigurationKeys, &chargeplanev1.StoredConfigurationKey{Key: k.Key, Readonly: k.Readonly,
			Value: k.Value, AwaitingReboot: k.AwaitingReboot, ReportedAt: ts(k.ReportedAt)})
	}
	return out, nil
}

// ChangeConfiguration sets one 1.6 configuration key.
func (s *ConfigurationService) ChangeConfiguration(ctx context.Context, req *chargeplanev1.ChangeConfigurationRequest) (*chargeplanev1.ChangeConfigurationResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "key is required")
	}
	if redact.StationPasswordKey(req.GetKey()) {
		p, err := credentials.FromAuthorizationKey(req.GetValue())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		r, err := s.rotate(ctx, req.GetStationId(), p)
		if err != nil {
			return nil, err
		}
		return &chargeplanev1.ChangeConfigurationResponse{CommandId: r.CommandID, Status: r.Status}, nil
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ChangeConfigurationResponse{CommandId: r.CommandID, Status: r.Status}, nil
}

// checkVariable refuses a component or variable without a name, or with
// an EVSE that cannot be one.
func checkVariable(c *chargeplanev1.ComponentRef, v *chargeplanev1.VariableRef, i int) error {
	if c.GetName() == "" {
		return status.Errorf(codes.InvalidArgument, "variables[%d].component.name is required", i)
	}
	if err := positive(fmt.Sprintf("variables[%d].component.evse_id", i), c.EvseId); err != nil {
		return err
	}
	if c.EvseId == nil && c.ConnectorId != nil {
		return status.Errorf(codes.InvalidArgument, "variables[%d].component: connector_id needs evse_id", i)
	}
	if v.GetName() == "" {
		return status.Errorf(codes.InvalidArgument, "variables[%d].variable.name is required", i)
	}
	return nil
}

// GetVariables reads 2.0.1 variables.
func (s *ConfigurationService) GetVariables(ctx context.Context, req *chargeplanev1.GetVariablesRequest) (*chargeplanev1.GetVariablesResponse, error) {
	if len(req.GetVariables()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "variables: at least one is required")
	}
	for i, sel := range req.GetVariables() {
		if err := checkVariable(sel.GetComponent(), sel.GetVariable(), i); err != nil {
			return nil, err
		}
	}
	r, err := do[command.VariablesReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.GetVariablesResponse{CommandId: r.CommandID}
	for _, v := range r.Results {
		resp.Results = append(resp.Results, &chargeplanev1.GetVariableResult{
			Component: componentToProto(v.Component), Variable: &chargeplanev1.VariableRef{Name: v.Variable.Name, Instance: v.Variable.Instance},
			AttributeType: v.AttributeType, AttributeStatus: v.AttributeStatus, AttributeValue: v.AttributeValue,
			ReasonCode: v.ReasonCode, AdditionalInfo: v.AdditionalInfo,
		})
	}
	return resp, nil
}

// SetVariables sets 2.0.1 variables.
func (s *ConfigurationService) SetVariables(ctx context.Context, req *chargeplanev1.SetVariablesRequest) (*chargeplanev1.SetVariablesResponse, error) {
	if len(req.GetVariables()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "variables: at least one is required")
	}
	for i, val := range req.GetVariables() {
		if err := checkVariable(val.GetComponent(), val.GetVariable(), i); err != nil {
			return nil, err
		}
		if redact.StationPasswordVariable(val.GetComponent().GetName(), val.GetVariable().GetName()) {
			if len(req.GetVariables()) > 1 {
				return nil, status.Error(codes.InvalidArgument, "set BasicAuthPassword on its own: "+passwordThroughRotator)
			}
			return s.setPassword(ctx, req.GetStationId(), val)
		}
	}
	r, err := do[command.VariablesReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.SetVariablesResponse{CommandId: r.CommandID}
	for _, v := range r.Results {
		resp.Results = append(resp.Results, &chargeplanev1.SetVariableResult{
			Component: componentToProto(v.Component), Variable: &chargeplanev1.VariableRef{Name: v.Variable.Name, Instance: v.Variable.Instance},
			AttributeType: v.AttributeType, AttributeStatus: v.AttributeStatus,
			ReasonCode: v.ReasonCode, AdditionalInfo: v.AdditionalInfo,
		})
	}
	return resp, nil
}

// setPassword is SetVariables of SecurityCtrlr.BasicAuthPassword, done as
// a rotation with that password.
func (s *ConfigurationService) setPassword(ctx context.Context, stationID string, val *chargeplanev1.VariableValue) (*chargeplanev1.SetVariablesResponse, error) {
	if err := credentials.CheckPassword(val.GetAttributeValue()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	r, err := s.rotate(ctx, stationID, val.GetAttributeValue())
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.SetVariablesResponse{CommandId: r.CommandID, Results: []*chargeplanev1.SetVariableResult{{
		Component: &chargeplanev1.ComponentRef{Name: val.GetComponent().GetName()}, Variable: &chargeplanev1.VariableRef{Name: val.GetVariable().GetName()},
		AttributeType: cmp.Or(val.GetAttributeType(), "Actual"), AttributeStatus: r.Status, ReasonCode: r.Reason,
	}}}, nil
}

func componentToProto(c command.Component) *chargeplanev1.ComponentRef {
	out := &chargeplanev1.ComponentRef{Name: c.Name, Instance: c.Instance}
	if c.EVSEID != nil {
		id := int32(*c.EVSEID)
		out.EvseId = &id
		if c.ConnectorID != nil {
			cid := int32(*c.ConnectorID)
			out.ConnectorId = &cid
		}
	}
	return out
}

// GetBaseReport asks a 2.0.1 station for a report of its device model;
// the report itself arrives in NotifyReport parts (see GetDeviceModel).
func (s *ConfigurationService) GetBaseReport(ctx context.Context, req *chargeplanev1.GetBaseReportRequest) (*chargeplanev1.GetBaseReportResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	r, err := do[command.RequestReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetBaseReportResponse{CommandId: r.CommandID, RequestId: int32(r.RequestID), Status: r.Status,
		ReasonCode: r.ReasonCode, AdditionalInfo: r.AdditionalInfo}, nil
}

// GetDeviceModel serves the device model of the station's latest complete
// report.
func (s *ConfigurationService) GetDeviceModel(ctx context.Context, req *chargeplanev1.GetDeviceModelRequest) (*chargeplanev1.GetDeviceModelResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	rep, err := s.models.LatestDeviceModel(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, fmt.Sprintf("no complete device model report for station %q", req.GetStationId()))
	}
	dm, err := DeviceModelToProto(rep)
	if err != nil {
		s.log.ErrorContext(ctx, "stored device model unreadable", "station", req.GetStationId(), "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	return &chargeplanev1.GetDeviceModelResponse{DeviceModel: dm}, nil
}

// reportEntry is one ReportDataType as the station sent it; attribute
// values are read with pointers, since OCPP tells an absent value (a
// write-only variable) from an empty one.
type reportEntry struct {
	Component         ocpp201.Component `json:"component"`
	Variable          ocpp201.Variable  `json:"variable"`
	VariableAttribute []struct {
		Type       string  `json:"type"`
		Value      *string `json:"value"`
		Mutability string  `json:"mutability"`
		Persistent bool    `json:"persistent"`
		Constant   bool    `json:"constant"`
	} `json:"variableAttribute"`
	VariableCharacteristics *struct {
		Unit               string   `json:"unit"`
		DataType           string   `json:"dataType"`
		MinLimit           *float64 `json:"minLimit"`
		MaxLimit           *float64 `json:"maxLimit"`
		ValuesList         string   `json:"valuesList"`
		SupportsMonitoring bool     `json:"supportsMonitoring"`
	} `json:"variableCharacteristics"`
}

// DeviceModelToProto groups a report's entries into components and their
// variables. An entry repeated in a later part updates the earlier one
// (attributes by type), so the newest statement wins.
func DeviceModelToProto(r *store.DeviceModelReport) (*chargeplanev1.DeviceModel, error) {
	type compKey struct {
		name, instance  string
		evse, connector int32 // -1: none
	}
	type varKey struct{ name, instance string }
	comps := map[compKey]*chargeplanev1.DeviceComponent{}
	vars := map[compKey]map[varKey]*chargeplanev1.DeviceVariable{}
	for i, raw := range r.Data {
		var e reportEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("report %d entry %d: %w", r.RequestID, i, err)
		}
		cp := &chargeplanev1.ComponentRef{Name: e.Component.Name, Instance: e.Component.Instance}
		if ev := e.Component.Evse; ev != nil {
			id := int32(ev.Id)
			cp.EvseId = &id
			if ev.ConnectorId != nil {
				cid := int32(*ev.ConnectorId)
				cp.ConnectorId = &cid
			}
		}
		ck := compKey{name: cp.Name, instance: cp.Instance, evse: -1, connector: -1}
		if cp.EvseId != nil {
			ck.evse = *cp.EvseId
		}
		if cp.ConnectorId != nil {
			ck.connector = *cp.ConnectorId
		}
		comp, ok := comps[ck]
		if !ok {
			comp = &chargeplanev1.DeviceComponent{Name: cp.Name, Instance: cp.Instance, EvseId: cp.EvseId, ConnectorId: cp.ConnectorId}
			comps[ck] = comp
			vars[ck] = map[varKey]*chargeplanev1.DeviceVariable{}
		}
		vk := varKey{e.Variable.Name, e.Variable.Instance}
		dv, ok := vars[ck][vk]
		if !ok {
			dv = &chargeplanev1.DeviceVariable{Name: vk.name, Instance: vk.instance}
			vars[ck][vk] = dv
			comp.Variables = append(comp.Variables, dv)
		}
		for _, a := range e.VariableAttribute {
			attr := &chargeplanev1.DeviceVariableAttribute{
				Type:       cmp.Or(a.Type, string(ocpp201.AttributeActual)),
				Value:      a.Value,
				Mutability: cmp.Or(a.Mutability, string(ocpp201.MutabilityReadWrite)),
				Persistent: a.Persistent,
				Constant:   a.Constant,
			}
			if j := slices.IndexFunc(dv.Attributes, func(x *chargeplanev1.DeviceVariableAttribute) bool { return x.Type == attr.Type }); j >= 0 {
				dv.Attributes[j] = attr
			} else {
				dv.Attributes = append(dv.Attributes, attr)
			}
		}
		if c := e.VariableCharacteristics; c != nil {
			dv.Characteristics = &chargeplanev1.DeviceVariableCharacteristics{
				Unit: c.Unit, DataType: c.DataType, MinLimit: c.MinLimit, MaxLimit: c.MaxLimit,
				ValuesList: c.ValuesList, SupportsMonitoring: c.SupportsMonitoring,
			}
		}
	}
	out := &chargeplanev1.DeviceModel{
		StationId: r.StationID, RequestId: int32(r.RequestID), Parts: int32(r.Parts),
		GeneratedAt: ts(r.GeneratedAt), CompletedAt: ts(r.CompletedAt),
		Components: make([]*chargeplanev1.DeviceComponent, 0, len(comps)),
	}
	keys := make([]compKey, 0, len(comps))
	for k := range comps {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b compKey) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.instance, b.instance),
			cmp.Compare(a.evse, b.evse), cmp.Compare(a.connector, b.connector))
	})
	for _, k := range keys {
		c := comps[k]
		slices.SortFunc(c.Variables, func(a, b *chargeplanev1.DeviceVariable) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Instance, b.Instance))
		})
		out.Components = append(out.Components, c)
	}
	return out, nil
}

// SetNetworkProfile stores a connection profile in one of a 2.0.1
// station's slots. The security profile is settled here, against the one
// the CSMS admits the station with: a profile the CSMS would refuse locks
// the station out once it switches to it.
func (s *ConfigurationService) SetNetworkProfile(ctx context.Context, req *chargeplanev1.SetNetworkProfileRequest) (*chargeplanev1.SetNetworkProfileResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if req.GetConfigurationSlot() < 0 {
		return nil, status.Error(codes.InvalidArgument, "configuration_slot must not be negative")
	}
	if err := checkCSMSURL(req.GetCsmsUrl()); err != nil {
		return nil, err
	}
	if req.GetMessageTimeout() < 0 {
		return nil, status.Error(codes.InvalidArgument, "message_timeout must not be negative")
	}
	st, err := s.models.GetStation(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	in := proto.Clone(req).(*chargeplanev1.SetNetworkProfileRequest)
	profile := int32(st.SecurityProfile)
	if req.SecurityProfile != nil {
		profile = req.GetSecurityProfile()
	}
	switch {
	case req.SecurityProfile != nil && (profile < 1 || profile > 3):
		return nil, status.Errorf(codes.InvalidArgument, "security_profile %d: OCPP 2.0.1 profiles are 1, 2 and 3", profile)
	case profile < int32(st.SecurityProfile):
		return nil, status.Errorf(codes.InvalidArgument, "security_profile %d is below the %d the CSMS admits station %q with: it could not connect with it",
			profile, st.SecurityProfile, st.ID)
	case profile == 0:
		// A lab station admitted without any check: OCPP has no profile 0.
		return nil, status.Errorf(codes.InvalidArgument, "station %q has security profile 0, which OCPP cannot send: give security_profile", st.ID)
	}
	in.SecurityProfile = &profile
	r, err := do[command.NetworkProfileReply](ctx, s.cmds, req.GetStationId(), in)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SetNetworkProfileResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}
	if r.Profile != nil {
		if out.Profile, err = NetworkProfileToProto(r.Profile); err != nil {
			return nil, status.Error(codes.Internal, "internal error")
		}
	}
	return out, nil
}

// checkCSMSURL refuses a URL a station could not connect to.
func checkCSMSURL(raw string) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || len(raw) > 512 {
		return status.Error(codes.InvalidArgument, "csms_url must be a ws:// or wss:// URL of at most 512 characters")
	}
	return nil
}

// ListNetworkProfiles returns the profiles the station accepted.
func (s *ConfigurationService) ListNetworkProfiles(ctx context.Context, req *chargeplanev1.ListNetworkProfilesRequest) (*chargeplanev1.ListNetworkProfilesResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.models.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, err := s.models.ListNetworkProfiles(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListNetworkProfilesResponse{Profiles: make([]*chargeplanev1.NetworkProfile, 0, len(rows))}
	for i := range rows {
		p, err := NetworkProfileToProto(&rows[i])
		if err != nil {
			s.log.ErrorContext(ctx, "stored network profile unreadable", "station", req.GetStationId(), "err", err)
			return nil, status.Error(codes.Internal, "internal error")
		}
		out.Profiles = append(out.Profiles, p)
	}
	return out, nil
}

// NetworkProfileToProto converts a stored network profile.
func NetworkProfileToProto(p *store.NetworkProfile) (*chargeplanev1.NetworkProfile, error) {
	data, err := jsonStruct(json.RawMessage(p.ConnectionData))
	if err != nil {
		return nil, fmt.Errorf("network profile %s/%d: %w", p.StationID, p.Slot, err)
	}
	return &chargeplanev1.NetworkProfile{ConfigurationSlot: int32(p.Slot), CsmsUrl: p.CSMSURL, SecurityProfile: int32(p.SecurityProfile),
		ConnectionData: data, RequestedBy: p.RequestedBy, CommandId: p.CommandID, AcceptedAt: ts(p.AcceptedAt)}, nil
}
