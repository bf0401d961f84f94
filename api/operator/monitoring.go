package operator

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// MonitoringStore is what MonitoringService reads.
type MonitoringStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListMonitors(ctx context.Context, stationID string) ([]store.Monitor, error)
	ListEvents(ctx context.Context, f store.EventFilter, p store.Page) ([]store.StationEvent, int64, error)
}

// MonitoringService implements chargeplane.v1.MonitoringService.
type MonitoringService struct {
	chargeplanev1.UnimplementedMonitoringServiceServer

	send  commands
	store MonitoringStore
	log   *slog.Logger
}

// NewMonitoringService returns the monitoring commands and listings.
func NewMonitoringService(cmds *command.Sender, st MonitoringStore, logger *slog.Logger) *MonitoringService {
	if logger == nil {
		logger = slog.Default()
	}
	return &MonitoringService{send: commands{s: cmds, log: logger}, store: st, log: logger}
}

const eventCursor = "ev1:"

func checkSeverity(field string, v int32) error {
	if v < 0 || v > 9 {
		return status.Errorf(codes.InvalidArgument, "%s must be 0 (Danger) … 9 (Debug)", field)
	}
	return nil
}

// SetVariableMonitoring sets monitors on a 2.0.1 station.
func (s *MonitoringService) SetVariableMonitoring(ctx context.Context, req *chargeplanev1.SetVariableMonitoringRequest) (*chargeplanev1.SetVariableMonitoringResponse, error) {
	if len(req.GetMonitors()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "monitors: at least one")
	}
	var errs []error
	for i, m := range req.GetMonitors() {
		if m.GetComponent().GetName() == "" || m.GetVariable().GetName() == "" {
			errs = append(errs, status.Errorf(codes.InvalidArgument, "monitors[%d]: component and variable names are required", i))
		}
		errs = append(errs, checkSeverity("monitors["+strconv.Itoa(i)+"].severity", m.GetSeverity()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	r, err := do[command.MonitorsReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.SetVariableMonitoringResponse{CommandId: r.CommandID}
	for _, res := range r.Results {
		out.Results = append(out.Results, &chargeplanev1.SetMonitorResult{Monitor: MonitorToProto(&res.Monitor),
			Status: res.Status, ReasonCode: res.ReasonCode})
	}
	return out, nil
}

// ClearVariableMonitoring removes monitors from a 2.0.1 station.
func (s *MonitoringService) ClearVariableMonitoring(ctx context.Context, req *chargeplanev1.ClearVariableMonitoringRequest) (*chargeplanev1.ClearVariableMonitoringResponse, error) {
	if len(req.GetIds()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "ids: at least one")
	}
	r, err := do[command.ClearMonitorsReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	out := &chargeplanev1.ClearVariableMonitoringResponse{CommandId: r.CommandID}
	for _, res := range r.Results {
		out.Results = append(out.Results, &chargeplanev1.ClearMonitorResult{Id: int32(res.ID), Status: res.Status, ReasonCode: res.ReasonCode})
	}
	return out, nil
}

// SetMonitoringBase restores a 2.0.1 station's monitors to a base set.
func (s *MonitoringService) SetMonitoringBase(ctx context.Context, req *chargeplanev1.SetMonitoringBaseRequest) (*chargeplanev1.SetMonitoringBaseResponse, error) {
	switch req.GetMonitoringBase() {
	case "All", "FactoryDefault", "HardWiredOnly":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "monitoring_base %q is not All, FactoryDefault or HardWiredOnly", req.GetMonitoringBase())
	}
	r, err := do[command.Reply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.SetMonitoringBaseResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// SetMonitoringLevel sets the worst severity a 2.0.1 station reports.
func (s *MonitoringService) SetMonitoringLevel(ctx context.Context, req *chargeplanev1.SetMonitoringLevelRequest) (*chargeplanev1.SetMonitoringLevelResponse, error) {
	if err := checkSeverity("severity", req.GetSeverity()); err != nil {
		return nil, err
	}
	r, err := do[command.Reply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.SetMonitoringLevelResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// GetMonitoringReport asks a 2.0.1 station for its monitors.
func (s *MonitoringService) GetMonitoringReport(ctx context.Context, req *chargeplanev1.GetMonitoringReportRequest) (*chargeplanev1.GetMonitoringReportResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	for _, c := range req.GetMonitoringCriteria() {
		switch c {
		case "ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring":
		default:
			return nil, status.Errorf(codes.InvalidArgument, "monitoring_criteria %q is not ThresholdMonitoring, DeltaMonitoring or PeriodicMonitoring", c)
		}
	}
	r, err := do[command.RequestReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetMonitoringReportResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		RequestId: int32(r.RequestID)}, nil
}

// ListMonitors returns the station's known monitors.
func (s *MonitoringService) ListMonitors(ctx context.Context, req *chargeplanev1.ListMonitorsRequest) (*chargeplanev1.ListMonitorsResponse, error) {
	if err := s.station(ctx, req.GetStationId()); err != nil {
		return nil, err
	}
	rows, err := s.store.ListMonitors(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListMonitorsResponse{Monitors: make([]*chargeplanev1.Monitor, 0, len(rows))}
	for i := range rows {
		out.Monitors = append(out.Monitors, MonitorToProto(&rows[i]))
	}
	return out, nil
}

// ListStationEvents returns the station's events newest first, one page
// at a time.
func (s *MonitoringService) ListStationEvents(ctx context.Context, req *chargeplanev1.ListStationEventsRequest) (*chargeplanev1.ListStationEventsResponse, error) {
	page, err := readNewestPage(req, eventCursor)
	if err != nil {
		return nil, err
	}
	f := store.EventFilter{StationID: req.GetStationId(), ComponentName: req.GetComponent(), VariableName: req.GetVariable(),
		Trigger: req.GetTrigger(), AlertsOnly: req.GetAlertsOnly()}
	if req.MaxSeverity != nil {
		if err := checkSeverity("max_severity", req.GetMaxSeverity()); err != nil {
			return nil, err
		}
		v := int(req.GetMaxSeverity())
		f.MaxSeverity = &v
	}
	switch f.Trigger {
	case "", "Alerting", "Delta", "Periodic":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "trigger %q is not Alerting, Delta or Periodic", f.Trigger)
	}
	if req.From != nil {
		if err := validateTimestamp("from", req.From); err != nil {
			return nil, invalid(err)
		}
		f.From = req.From.AsTime()
	}
	if req.To != nil {
		if err := validateTimestamp("to", req.To); err != nil {
			return nil, invalid(err)
		}
		f.To = req.To.AsTime()
	}
	if err := s.station(ctx, f.StationID); err != nil {
		return nil, err
	}
	rows, total, err := s.store.ListEvents(ctx, f, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp := &chargeplanev1.ListStationEventsResponse{Total: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(e *store.StationEvent) int64 { return e.ID })
	resp.Events = make([]*chargeplanev1.StationEvent, 0, len(rows))
	for i := range rows {
		resp.Events = append(resp.Events, StationEventToProto(&rows[i]))
	}
	return resp, nil
}

// station checks that the station exists.
func (s *MonitoringService) station(ctx context.Context, id string) error {
	if err := ValidateStationRef(id); err != nil {
		return invalid(err)
	}
	if _, err := s.store.GetStation(ctx, id); err != nil {
		return storeError(ctx, s.log, err, notFoundMsg(id))
	}
	return nil
}

func componentRef(name, instance string, evse, connector *int) *chargeplanev1.ComponentRef {
	return &chargeplanev1.ComponentRef{Name: name, Instance: instance, EvseId: int32Ptr(evse), ConnectorId: int32Ptr(connector)}
}

func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

// MonitorToProto converts a stored monitor; an id of 0 (none answered)
// stays unset.
func MonitorToProto(m *store.Monitor) *chargeplanev1.Monitor {
	out := &chargeplanev1.Monitor{Component: componentRef(m.ComponentName, m.ComponentInstance, m.EVSEID, m.ConnectorID),
		Variable: &chargeplanev1.VariableRef{Name: m.VariableName, Instance: m.VariableInstance},
		Type:     m.Type, Value: m.Value, Severity: int32(m.Severity), Transaction: m.PerTransaction}
	if m.MonitorID != 0 {
		id := int32(m.MonitorID)
		out.Id = &id
	}
	return out
}

// StationEventToProto converts a stored event.
func StationEventToProto(e *store.StationEvent) *chargeplanev1.StationEvent {
	return &chargeplanev1.StationEvent{Id: e.ID, EventId: int32(e.EventID), OccurredAt: ts(e.OccurredAt), Trigger: e.EventTrigger,
		Cause: int32Ptr(e.Cause), ActualValue: e.ActualValue, TechCode: e.TechCode, TechInfo: e.TechInfo, Cleared: e.Cleared,
		TransactionId: e.TransactionID, MonitorId: int32Ptr(e.MonitorID), NotificationType: e.NotificationType,
		Component: componentRef(e.ComponentName, e.ComponentInstance, e.EVSEID, e.ConnectorID),
		Variable:  &chargeplanev1.VariableRef{Name: e.VariableName, Instance: e.VariableInstance},
		Severity:  int32Ptr(e.Severity), Alert: e.Alert, ReceivedAt: ts(e.ReceivedAt)}
}
