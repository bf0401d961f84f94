package operator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// DeviceModelStore serves the stored 2.0.1 device model reports.
type DeviceModelStore interface {
	LatestDeviceModel(ctx context.Context, stationID string) (*store.DeviceModelReport, error)
}

// ConfigurationService implements chargeplane.v1.ConfigurationService.
type ConfigurationService struct {
	chargeplanev1.UnimplementedConfigurationServiceServer

	cmds   commands
	models DeviceModelStore
	log    *slog.Logger
}

// NewConfigurationService returns the configuration commands.
func NewConfigurationService(cmds Commander, models DeviceModelStore, logger *slog.Logger) *ConfigurationService {
	if logger == nil {
		logger = slog.Default()
	}
	return &ConfigurationService{cmds: commands{c: cmds, log: logger}, models: models, log: logger}
}

// requireVersion refuses a method of the other protocol version, naming
// what to use instead.
func (s *ConfigurationService) requireVersion(ctx context.Context, stationID, method string, want ocppj.Version, instead string) error {
	v, err := s.cmds.version(ctx, stationID)
	if err != nil {
		return err
	}
	if v != want {
		return status.Errorf(codes.InvalidArgument, "%s is OCPP %s; station %q speaks OCPP %s (use %s)", method, want, stationID, v, instead)
	}
	return nil
}

// GetConfiguration reads 1.6 configuration keys.
func (s *ConfigurationService) GetConfiguration(ctx context.Context, req *chargeplanev1.GetConfigurationRequest) (*chargeplanev1.GetConfigurationResponse, error) {
	if err := s.requireVersion(ctx, req.GetStationId(), "GetConfiguration", ocppj.V16, "GetVariables or GetBaseReport"); err != nil {
		return nil, err
	}
	var a struct {
		ConfigurationKey []struct {
			Key      string  `json:"key"`
			Readonly bool    `json:"readonly"`
			Value    *string `json:"value"`
		} `json:"configurationKey"`
		UnknownKey []string `json:"unknownKey"`
	}
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionGetConfiguration, ocpp16.GetConfigurationRequest{Key: req.GetKeys()}, &a)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.GetConfigurationResponse{CommandId: id, UnknownKeys: a.UnknownKey}
	for _, k := range a.ConfigurationKey {
		resp.ConfigurationKeys = append(resp.ConfigurationKeys, &chargeplanev1.ConfigurationKey{Key: k.Key, Readonly: k.Readonly, Value: k.Value})
	}
	return resp, nil
}

// ChangeConfiguration sets one 1.6 configuration key.
func (s *ConfigurationService) ChangeConfiguration(ctx context.Context, req *chargeplanev1.ChangeConfigurationRequest) (*chargeplanev1.ChangeConfigurationResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "key is required")
	}
	if err := s.requireVersion(ctx, req.GetStationId(), "ChangeConfiguration", ocppj.V16, "SetVariables"); err != nil {
		return nil, err
	}
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp16.ActionChangeConfiguration,
		ocpp16.ChangeConfigurationRequest{Key: req.GetKey(), Value: req.GetValue()}, &a)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ChangeConfigurationResponse{CommandId: id, Status: a.Status}, nil
}

func component201(c *chargeplanev1.ComponentRef, i int) (ocpp201.Component, error) {
	if c.GetName() == "" {
		return ocpp201.Component{}, status.Errorf(codes.InvalidArgument, "variables[%d].component.name is required", i)
	}
	if err := positive(fmt.Sprintf("variables[%d].component.evse_id", i), c.EvseId); err != nil {
		return ocpp201.Component{}, err
	}
	evse, err := evse201(c.EvseId, c.ConnectorId)
	if err != nil {
		return ocpp201.Component{}, status.Errorf(codes.InvalidArgument, "variables[%d].component: %s", i, status.Convert(err).Message())
	}
	return ocpp201.Component{Name: c.GetName(), Instance: c.GetInstance(), Evse: evse}, nil
}

func variable201(v *chargeplanev1.VariableRef, i int) (ocpp201.Variable, error) {
	if v.GetName() == "" {
		return ocpp201.Variable{}, status.Errorf(codes.InvalidArgument, "variables[%d].variable.name is required", i)
	}
	return ocpp201.Variable{Name: v.GetName(), Instance: v.GetInstance()}, nil
}

// Answers of GetVariables/SetVariables: read with pointers where OCPP
// tells "absent" from "empty".
type componentAnswer struct {
	Name     string `json:"name"`
	Instance string `json:"instance"`
	Evse     *struct {
		ID          int  `json:"id"`
		ConnectorID *int `json:"connectorId"`
	} `json:"evse"`
}

func (c componentAnswer) proto() *chargeplanev1.ComponentRef {
	out := &chargeplanev1.ComponentRef{Name: c.Name, Instance: c.Instance}
	if c.Evse != nil {
		id := int32(c.Evse.ID)
		out.EvseId = &id
		if c.Evse.ConnectorID != nil {
			cid := int32(*c.Evse.ConnectorID)
			out.ConnectorId = &cid
		}
	}
	return out
}

type variableAnswer struct {
	Name     string `json:"name"`
	Instance string `json:"instance"`
}

func (v variableAnswer) proto() *chargeplanev1.VariableRef {
	return &chargeplanev1.VariableRef{Name: v.Name, Instance: v.Instance}
}

type statusInfoAnswer struct {
	ReasonCode     string `json:"reasonCode"`
	AdditionalInfo string `json:"additionalInfo"`
}

func (s *statusInfoAnswer) split() (string, string) {
	if s == nil {
		return "", ""
	}
	return s.ReasonCode, s.AdditionalInfo
}

// GetVariables reads 2.0.1 variables.
func (s *ConfigurationService) GetVariables(ctx context.Context, req *chargeplanev1.GetVariablesRequest) (*chargeplanev1.GetVariablesResponse, error) {
	if len(req.GetVariables()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "variables: at least one is required")
	}
	p := ocpp201.GetVariablesRequest{}
	for i, sel := range req.GetVariables() {
		c, err := component201(sel.GetComponent(), i)
		if err != nil {
			return nil, err
		}
		v, err := variable201(sel.GetVariable(), i)
		if err != nil {
			return nil, err
		}
		p.GetVariableData = append(p.GetVariableData, ocpp201.GetVariableData{
			Component: c, Variable: v, AttributeType: ocpp201.AttributeEnum(sel.GetAttributeType()),
		})
	}
	if err := s.requireVersion(ctx, req.GetStationId(), "GetVariables", ocppj.V201, "GetConfiguration"); err != nil {
		return nil, err
	}
	var a struct {
		GetVariableResult []struct {
			AttributeStatus     string            `json:"attributeStatus"`
			AttributeStatusInfo *statusInfoAnswer `json:"attributeStatusInfo"`
			AttributeType       string            `json:"attributeType"`
			AttributeValue      *string           `json:"attributeValue"`
			Component           componentAnswer   `json:"component"`
			Variable            variableAnswer    `json:"variable"`
		} `json:"getVariableResult"`
	}
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp201.ActionGetVariables, p, &a)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.GetVariablesResponse{CommandId: id}
	for _, r := range a.GetVariableResult {
		reason, info := r.AttributeStatusInfo.split()
		resp.Results = append(resp.Results, &chargeplanev1.GetVariableResult{
			Component: r.Component.proto(), Variable: r.Variable.proto(),
			AttributeType: cmp.Or(r.AttributeType, string(ocpp201.AttributeActual)), AttributeStatus: r.AttributeStatus,
			AttributeValue: r.AttributeValue, ReasonCode: reason, AdditionalInfo: info,
		})
	}
	return resp, nil
}

// SetVariables sets 2.0.1 variables.
func (s *ConfigurationService) SetVariables(ctx context.Context, req *chargeplanev1.SetVariablesRequest) (*chargeplanev1.SetVariablesResponse, error) {
	if len(req.GetVariables()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "variables: at least one is required")
	}
	p := ocpp201.SetVariablesRequest{}
	for i, val := range req.GetVariables() {
		c, err := component201(val.GetComponent(), i)
		if err != nil {
			return nil, err
		}
		v, err := variable201(val.GetVariable(), i)
		if err != nil {
			return nil, err
		}
		p.SetVariableData = append(p.SetVariableData, ocpp201.SetVariableData{
			Component: c, Variable: v, AttributeType: ocpp201.AttributeEnum(val.GetAttributeType()),
			AttributeValue: val.GetAttributeValue(),
		})
	}
	if err := s.requireVersion(ctx, req.GetStationId(), "SetVariables", ocppj.V201, "ChangeConfiguration"); err != nil {
		return nil, err
	}
	var a struct {
		SetVariableResult []struct {
			AttributeStatus     string            `json:"attributeStatus"`
			AttributeStatusInfo *statusInfoAnswer `json:"attributeStatusInfo"`
			AttributeType       string            `json:"attributeType"`
			Component           componentAnswer   `json:"component"`
			Variable            variableAnswer    `json:"variable"`
		} `json:"setVariableResult"`
	}
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp201.ActionSetVariables, p, &a)
	if err != nil {
		return nil, err
	}
	resp := &chargeplanev1.SetVariablesResponse{CommandId: id}
	for _, r := range a.SetVariableResult {
		reason, info := r.AttributeStatusInfo.split()
		resp.Results = append(resp.Results, &chargeplanev1.SetVariableResult{
			Component: r.Component.proto(), Variable: r.Variable.proto(),
			AttributeType: cmp.Or(r.AttributeType, string(ocpp201.AttributeActual)), AttributeStatus: r.AttributeStatus,
			ReasonCode: reason, AdditionalInfo: info,
		})
	}
	return resp, nil
}

// GetBaseReport asks a 2.0.1 station for a report of its device model;
// the report itself arrives in NotifyReport parts (see GetDeviceModel).
func (s *ConfigurationService) GetBaseReport(ctx context.Context, req *chargeplanev1.GetBaseReportRequest) (*chargeplanev1.GetBaseReportResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	if err := s.requireVersion(ctx, req.GetStationId(), "GetBaseReport", ocppj.V201, "GetConfiguration"); err != nil {
		return nil, err
	}
	reqID := int(req.GetRequestId())
	if reqID == 0 {
		reqID = newRequestID()
	}
	base := cmp.Or(req.GetReportBase(), string(ocpp201.ReportBaseFullInventory))
	var a answer
	id, err := s.cmds.call(ctx, req.GetStationId(), ocpp201.ActionGetBaseReport,
		ocpp201.GetBaseReportRequest{RequestId: reqID, ReportBase: ocpp201.ReportBaseEnum(base)}, &a)
	if err != nil {
		return nil, err
	}
	r, info := a.info()
	return &chargeplanev1.GetBaseReportResponse{CommandId: id, RequestId: int32(reqID), Status: a.Status, ReasonCode: r, AdditionalInfo: info}, nil
}

// GetDeviceModel serves the device model of the station's latest complete
// report.
func (s *ConfigurationService) GetDeviceModel(ctx context.Context, req *chargeplanev1.GetDeviceModelRequest) (*chargeplanev1.GetDeviceModelResponse, error) {
	if err := ValidateStationID(req.GetStationId()); err != nil {
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

// reportEntry is one ReportDataType as the station sent it.
type reportEntry struct {
	Component         componentAnswer `json:"component"`
	Variable          variableAnswer  `json:"variable"`
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
		cp := e.Component.proto()
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
