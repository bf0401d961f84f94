// Package monitoring decides what a 2.0.1 station's monitoring events mean
// to the operator: which of them are alerts, and where alerts go.
//
// OCPP puts no severity on an event (NotifyEvent's eventData): the
// severity is the monitor's that raised it, known to the CSMS from
// NotifyMonitoringReport and from the monitors it set. An event of an
// unknown monitor (hard-wired, never reported) has no severity and is
// never an alert; it is stored all the same.
package monitoring

import (
	"context"
	"log/slog"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
)

// Severities of OCPP 2.0.1 (part 2, 2.17 "Severity"): lower is worse.
const (
	SeverityDanger          = 0
	SeverityHardwareFailure = 1
	SeveritySystemFailure   = 2
	SeverityCritical        = 3
	SeverityError           = 4
	SeverityAlert           = 5
	SeverityWarning         = 6
	SeverityNotice          = 7
	SeverityInformational   = 8
	SeverityDebug           = 9
)

// DefaultAlertSeverity is the alert level when none is configured:
// errors and worse.
const DefaultAlertSeverity = SeverityError

// IsAlert reports whether an event of this severity (nil: unknown) is an
// alert at level: its severity is level or worse. A cleared event (the
// monitored situation is over) is an alert too, so that whoever was
// alerted hears that it ended.
func IsAlert(severity *int, level int) bool {
	return severity != nil && *severity <= level
}

// Sink receives the alerts as they are stored. The live event stream
// publishes them where it exists; Alert must not block the station's
// message path.
type Sink interface {
	Alert(ctx context.Context, e store.StationEvent)
}

// LogSink logs every alert at warning level with the station id.
type LogSink struct{ Logger *slog.Logger }

func (s LogSink) Alert(ctx context.Context, e store.StationEvent) {
	s.Logger.WarnContext(ctx, "station alert", "station", e.StationID, "event", e.EventID,
		"component", e.ComponentName, "variable", e.VariableName, "severity", *e.Severity,
		"trigger", e.EventTrigger, "cleared", e.Cleared, "value", e.ActualValue, "tech_code", e.TechCode)
}

// PublishSink logs every alert (as LogSink does) and puts it on the live
// event stream as station.alert, where the SSE and gRPC streams and the
// webhooks take it.
type PublishSink struct {
	Log    LogSink
	Events event.Publisher
}

func (s PublishSink) Alert(ctx context.Context, e store.StationEvent) {
	s.Log.Alert(ctx, e)
	s.Events.Publish(AlertEvent(e))
}

// AlertEvent is the station.alert event of an alert.
func AlertEvent(e store.StationEvent) event.Event {
	p := event.AlertPayload{
		EventID: e.EventID, Timestamp: e.OccurredAt.UTC(), Trigger: e.EventTrigger,
		Component: e.ComponentName, ComponentInstance: e.ComponentInstance, EVSEID: e.EVSEID, ConnectorID: e.ConnectorID,
		Variable: e.VariableName, VariableInstance: e.VariableInstance, ActualValue: e.ActualValue,
		Cleared: e.Cleared, TechCode: e.TechCode, MonitorID: e.MonitorID, TransactionID: e.TransactionID,
	}
	if e.Severity != nil {
		p.Severity = *e.Severity
	}
	return event.New(event.StationAlert, e.ReceivedAt, e.StationID, p)
}
