package v201

import (
	"context"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Monitoring commands (N): what an operator's request maps to, and what
// an answer changes in the station's known monitors.

// MonitorStoreWriter keeps the monitors stations accepted or cleared.
type MonitorStoreWriter interface {
	SaveMonitors(ctx context.Context, ms []store.Monitor) error
	DeleteMonitors(ctx context.Context, stationID string, ids []int) (int64, error)
}

func setVariableMonitoring(_ context.Context, _ command.Meta, in *chargeplanev1.SetVariableMonitoringRequest) (*ocpp201.SetVariableMonitoringRequest, error) {
	req := &ocpp201.SetVariableMonitoringRequest{}
	for i, m := range in.GetMonitors() {
		c, err := component(m.GetComponent())
		if err != nil {
			return nil, command.Invalid("monitors[%d].component: %s", i, command.Describe(err))
		}
		tx := m.GetTransaction()
		req.SetMonitoringData = append(req.SetMonitoringData, ocpp201.SetMonitoringData{Id: command.Int(m.Id),
			Transaction: &tx, Value: m.GetValue(), Type: ocpp201.MonitorEnum(m.GetType()), Severity: int(m.GetSeverity()),
			Component: c, Variable: ocpp201.Variable{Name: m.GetVariable().GetName(), Instance: m.GetVariable().GetInstance()}})
	}
	return req, nil
}

// monitorsSet keeps the monitors the station accepted, under the id it
// answered. A result names its monitor by component, variable, type and
// severity (not by position); it takes the value and transaction flag of
// the first request entry that matches.
func (c commands) monitorsSet(ctx context.Context, a answer[ocpp201.SetVariableMonitoringRequest, ocpp201.SetVariableMonitoringResponse]) ([]command.MonitorResult, error) {
	used := make([]bool, len(a.Request.SetMonitoringData))
	var out []command.MonitorResult
	var accepted []store.Monitor
	for _, r := range a.Response.SetMonitoringResult {
		res := command.MonitorResult{Status: string(r.Status)}
		if r.StatusInfo != nil {
			res.ReasonCode = r.StatusInfo.ReasonCode
		}
		var value float64
		var perTx bool
		for i, d := range a.Request.SetMonitoringData {
			if !used[i] && d.Type == r.Type && d.Severity == r.Severity && sameComponent(d.Component, r.Component) &&
				d.Variable.Name == r.Variable.Name && d.Variable.Instance == r.Variable.Instance &&
				(d.Id == nil || r.Id == nil || *d.Id == *r.Id) {
				used[i] = true
				value, perTx = d.Value, d.Transaction != nil && *d.Transaction
				break
			}
		}
		res.Monitor = monitor(a.StationID, r.Component, r.Variable, deref(r.Id), string(r.Type), value, r.Severity, perTx)
		if r.Status == ocpp201.SetMonitoringStatusAccepted && r.Id != nil {
			accepted = append(accepted, res.Monitor)
		}
		out = append(out, res)
	}
	if err := c.Monitors.SaveMonitors(ctx, accepted); err != nil {
		return nil, err
	}
	return out, nil
}

func sameComponent(a, b ocpp201.Component) bool {
	if a.Name != b.Name || a.Instance != b.Instance || (a.Evse == nil) != (b.Evse == nil) {
		return false
	}
	return a.Evse == nil || (a.Evse.Id == b.Evse.Id && deref(a.Evse.ConnectorId) == deref(b.Evse.ConnectorId))
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func monitoringSet(a answer[ocpp201.SetVariableMonitoringRequest, ocpp201.SetVariableMonitoringResponse], rs []command.MonitorResult) (command.MonitorsReply, error) {
	return command.MonitorsReply{CommandID: a.CommandID, Results: rs}, nil
}

func clearVariableMonitoring(_ context.Context, _ command.Meta, in *chargeplanev1.ClearVariableMonitoringRequest) (*ocpp201.ClearVariableMonitoringRequest, error) {
	req := &ocpp201.ClearVariableMonitoringRequest{}
	for _, id := range in.GetIds() {
		req.Id = append(req.Id, int(id))
	}
	return req, nil
}

// monitorsCleared forgets the monitors the station cleared, or says it
// does not have (NotFound).
func (c commands) monitorsCleared(ctx context.Context, a answer[ocpp201.ClearVariableMonitoringRequest, ocpp201.ClearVariableMonitoringResponse]) (command.None, error) {
	var gone []int
	for _, r := range a.Response.ClearMonitoringResult {
		if r.Status == ocpp201.ClearMonitoringStatusAccepted || r.Status == ocpp201.ClearMonitoringStatusNotFound {
			gone = append(gone, r.Id)
		}
	}
	_, err := c.Monitors.DeleteMonitors(ctx, a.StationID, gone)
	return command.None{}, err
}

func monitoringCleared(a answer[ocpp201.ClearVariableMonitoringRequest, ocpp201.ClearVariableMonitoringResponse], _ command.None) (command.ClearMonitorsReply, error) {
	out := command.ClearMonitorsReply{CommandID: a.CommandID}
	for _, r := range a.Response.ClearMonitoringResult {
		res := command.ClearMonitorResult{ID: r.Id, Status: string(r.Status)}
		if r.StatusInfo != nil {
			res.ReasonCode = r.StatusInfo.ReasonCode
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func setMonitoringBase(_ context.Context, _ command.Meta, in *chargeplanev1.SetMonitoringBaseRequest) (*ocpp201.SetMonitoringBaseRequest, error) {
	return &ocpp201.SetMonitoringBaseRequest{MonitoringBase: ocpp201.MonitoringBaseEnum(in.GetMonitoringBase())}, nil
}

func monitoringBaseSet(a answer[ocpp201.SetMonitoringBaseRequest, ocpp201.SetMonitoringBaseResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func setMonitoringLevel(_ context.Context, _ command.Meta, in *chargeplanev1.SetMonitoringLevelRequest) (*ocpp201.SetMonitoringLevelRequest, error) {
	return &ocpp201.SetMonitoringLevelRequest{Severity: int(in.GetSeverity())}, nil
}

func monitoringLevelSet(a answer[ocpp201.SetMonitoringLevelRequest, ocpp201.SetMonitoringLevelResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func getMonitoringReport(_ context.Context, _ command.Meta, in *chargeplanev1.GetMonitoringReportRequest) (*ocpp201.GetMonitoringReportRequest, error) {
	req := &ocpp201.GetMonitoringReportRequest{RequestId: command.RequestID(in.GetRequestId())}
	for _, c := range in.GetMonitoringCriteria() {
		req.MonitoringCriteria = append(req.MonitoringCriteria, ocpp201.MonitoringCriterionEnum(c))
	}
	for i, cv := range in.GetComponentVariables() {
		c, err := component(cv.GetComponent())
		if err != nil {
			return nil, command.Invalid("component_variables[%d].component: %s", i, command.Describe(err))
		}
		e := ocpp201.ComponentVariable{Component: c}
		if v := cv.GetVariable(); v.GetName() != "" {
			e.Variable = &ocpp201.Variable{Name: v.GetName(), Instance: v.GetInstance()}
		}
		req.ComponentVariable = append(req.ComponentVariable, e)
	}
	return req, nil
}

// monitoringReportRequested: the report arrives in NotifyMonitoringReport.
func monitoringReportRequested(a answer[ocpp201.GetMonitoringReportRequest, ocpp201.GetMonitoringReportResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), RequestID: a.Request.RequestId}, nil
}
