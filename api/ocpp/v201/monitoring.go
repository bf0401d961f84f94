package v201

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/api/monitoring"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// MonitorStore keeps a station's monitors and events; *store.Store has it.
type MonitorStore interface {
	DeviceModelRecorder
	SaveMonitors(ctx context.Context, ms []store.Monitor) error
	MonitorSeverities(ctx context.Context, stationID string, ids []int) (map[int]int, error)
	RecordEvents(ctx context.Context, evs []store.StationEvent) ([]store.StationEvent, error)
}

// NotifyEvent stores each event a station reports (N07, N08) with the
// severity of the monitor that raised it, and raises those at or above
// the alert level. Each eventData entry stands on its own, so parts are
// stored as they come; a retried message stores nothing twice.
type NotifyEvent struct {
	Store MonitorStore
	// AlertSeverity: events of a known severity ≤ it are alerts.
	AlertSeverity int
	Alerts        monitoring.Sink
	Now           func() time.Time
	Logger        *slog.Logger
}

func (h NotifyEvent) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyEventRequest) (*ocpp201.NotifyEventResponse, error) {
	var ids []int
	for _, e := range req.EventData {
		if e.VariableMonitoringId != nil {
			ids = append(ids, *e.VariableMonitoringId)
		}
	}
	sev, err := h.Store.MonitorSeverities(ctx, m.StationID, ids)
	if err != nil {
		return nil, err
	}
	at := reportedAt(m, h.Now)
	evs := make([]store.StationEvent, 0, len(req.EventData))
	for _, e := range req.EventData {
		ev := store.StationEvent{StationID: m.StationID, EventID: e.EventId, OccurredAt: e.Timestamp,
			EventTrigger: string(e.Trigger), Cause: e.Cause, ActualValue: e.ActualValue, TechCode: e.TechCode,
			TechInfo: e.TechInfo, Cleared: e.Cleared != nil && *e.Cleared, TransactionID: e.TransactionId,
			MonitorID: e.VariableMonitoringId, NotificationType: string(e.EventNotificationType),
			ComponentName: e.Component.Name, ComponentInstance: e.Component.Instance,
			VariableName: e.Variable.Name, VariableInstance: e.Variable.Instance, ReceivedAt: at}
		if c := e.Component.Evse; c != nil {
			id := c.Id
			ev.EVSEID, ev.ConnectorID = &id, c.ConnectorId
		}
		if e.VariableMonitoringId != nil {
			if s, ok := sev[*e.VariableMonitoringId]; ok {
				ev.Severity = &s
			}
		}
		ev.Alert = monitoring.IsAlert(ev.Severity, h.AlertSeverity)
		evs = append(evs, ev)
	}
	stored, err := h.Store.RecordEvents(ctx, evs)
	if err != nil {
		return nil, fmt.Errorf("record events: %w", err)
	}
	if h.Alerts != nil {
		for _, e := range stored {
			if e.Alert {
				h.Alerts.Alert(ctx, e)
			}
		}
	}
	return &ocpp201.NotifyEventResponse{}, nil
}

// NotifyMonitoringReportRequest keeps monitor as the station sent it, so
// that the stored report loses nothing.
type NotifyMonitoringReportRequest struct {
	RequestID   int             `json:"requestId"`
	GeneratedAt time.Time       `json:"generatedAt"`
	Monitor     json.RawMessage `json:"monitor,omitempty"`
	Tbc         bool            `json:"tbc,omitempty"`
	SeqNo       int             `json:"seqNo"`
}

// NotifyMonitoringReport stores each part of a monitoring report (N02,
// N03), reassembled like NotifyReport, and takes its monitors into the
// station's device model as they arrive.
type NotifyMonitoringReport struct {
	Store MonitorStore
	// Parts records the report's parts (report.Parts); nil: Store.
	Parts DeviceModelRecorder
}

func (h NotifyMonitoringReport) Handle(ctx context.Context, m route.Meta, req *NotifyMonitoringReportRequest) (*ocpp201.NotifyMonitoringReportResponse, error) {
	var data []ocpp201.MonitoringData
	if len(req.Monitor) > 0 {
		if err := json.Unmarshal(req.Monitor, &data); err != nil {
			return nil, &route.DecodeError{Action: ocpp201.ActionNotifyMonitoringReport, Err: err}
		}
	}
	if err := h.Store.SaveMonitors(ctx, monitors(m.StationID, data)); err != nil {
		return nil, fmt.Errorf("save monitors: %w", err)
	}
	parts := h.Parts
	if parts == nil {
		parts = h.Store
	}
	if err := recordPart(ctx, parts, store.ReportPart{StationID: m.StationID, Kind: store.ReportKindMonitoring,
		RequestID: req.RequestID, SeqNo: req.SeqNo, Tbc: req.Tbc, GeneratedAt: req.GeneratedAt, Data: req.Monitor}); err != nil {
		return nil, err
	}
	return &ocpp201.NotifyMonitoringReportResponse{}, nil
}

// monitors flattens MonitoringData into one row per monitor.
func monitors(stationID string, data []ocpp201.MonitoringData) []store.Monitor {
	var out []store.Monitor
	for _, d := range data {
		for _, vm := range d.VariableMonitoring {
			out = append(out, monitor(stationID, d.Component, d.Variable, vm.Id, string(vm.Type), vm.Value, vm.Severity, vm.Transaction))
		}
	}
	return out
}

func monitor(stationID string, c ocpp201.Component, v ocpp201.Variable, id int, typ string, value float64, severity int, perTx bool) store.Monitor {
	mo := store.Monitor{StationID: stationID, MonitorID: id, ComponentName: c.Name, ComponentInstance: c.Instance,
		VariableName: v.Name, VariableInstance: v.Instance, Type: typ, Value: value, Severity: severity, PerTransaction: perTx}
	if c.Evse != nil {
		e := c.Evse.Id
		mo.EVSEID, mo.ConnectorID = &e, c.Evse.ConnectorId
	}
	return mo
}

// recordPart stores one part of a split report.
func recordPart(ctx context.Context, s DeviceModelRecorder, p store.ReportPart) error {
	if _, err := s.RecordReportPart(ctx, p); err != nil {
		return fmt.Errorf("record %s %d part %d: %w", p.Kind, p.RequestID, p.SeqNo, err)
	}
	return nil
}
