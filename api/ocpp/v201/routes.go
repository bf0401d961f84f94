package v201

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/monitoring"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/report"
	"github.com/chargeplane/chargeplane/api/securityevent"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Deps are what the 2.0.1 handlers share.
type Deps struct {
	Store Store
	// LastSeen records Heartbeats; nil writes each through Store.
	// Production passes a *store.LastSeenWriter (batched, off the reply path).
	LastSeen          LastSeenToucher
	Now               func() time.Time
	HeartbeatInterval time.Duration
	// Sessions answers Authorize and records transactions.
	Sessions SessionStore
	// Meters stores MeterValues (a *store.MeterBatcher in production).
	Meters MeterRecorder
	// Statuses stores StatusNotifications (a *store.StatusBatcher in
	// production); nil writes each through Store.
	Statuses ConnectorStore
	// Reports keeps firmware and log statuses, reservation updates and
	// reported charging profiles.
	Reports ReportStore
	// DeviceModels keeps the split reports (device model, monitoring,
	// display messages, customer information), monitors and events.
	DeviceModels MonitorStore
	// DisplayMessages applies complete display message reports.
	DisplayMessages DisplayMessageReports
	// AlertSeverity: events of a known severity ≤ it are alerts.
	AlertSeverity int
	// Alerts receives the alerts; nil only stores them.
	Alerts monitoring.Sink
	// Costs prices transactions by tariff; nil prices none.
	Costs Coster
	// Charging keeps reported limits and EV needs and schedules.
	Charging ChargingStore
	// Planner sends schedules for EV needs; nil answers them Rejected.
	Planner NeedsPlanner
	// DataTransfers answers and records vendor data transfers.
	DataTransfers DataTransferReceiver
	// Certificates decides SignCertificate; nil rejects every CSR.
	Certificates CSRSigner
	// SecurityEvents keeps SecurityEventNotifications.
	SecurityEvents securityevent.Recorder
	// OCSP answers GetCertificateStatus; nil answers Failed.
	OCSP OCSPQuerier
	// ReportLimits bound the split reports (zero fields: report.DefaultLimits').
	ReportLimits report.Limits
	Logger       *slog.Logger
}

// Routes is every charger-initiated action of OCPP 2.0.1 and what answers it.
//
// Actions without behaviour yet get the most conservative conformant answer:
// an ISO 15118 EV certificate is never obtained (Failed). Answering
// an error instead would make the station retry forever.
func Routes(d Deps) route.Table {
	// Every split report goes through the same bounds.
	parts := report.NewParts(d.DeviceModels, d.ReportLimits, d.Logger, d.Now)
	return route.NewTable(
		route.New(ocpp201.ActionBootNotification, BootNotification{Store: d.Store, Now: d.Now, Interval: d.HeartbeatInterval}),
		route.New(ocpp201.ActionHeartbeat, Heartbeat{Store: d.lastSeen(), Now: d.Now}),
		route.New(ocpp201.ActionStatusNotification, StatusNotification{Store: cmp.Or[ConnectorStore](d.Statuses, d.Store)}),
		route.New(ocpp201.ActionTransactionEvent, TransactionEvent{Store: d.Sessions, Costs: d.Costs, Planner: d.Planner}),
		route.New(ocpp201.ActionAuthorize, Authorize{Store: d.Sessions, Now: d.Now}),
		route.New(ocpp201.ActionMeterValues, MeterValues{Store: d.Meters}),

		route.New(ocpp201.ActionDataTransfer, DataTransfer{Receiver: d.DataTransfers}),

		// Device model and monitoring reports (B07, N).
		route.New(ocpp201.ActionNotifyReport, NotifyReport{Store: parts}),
		route.New(ocpp201.ActionNotifyEvent, NotifyEvent{Store: d.DeviceModels, AlertSeverity: d.AlertSeverity,
			Alerts: d.Alerts, Now: d.Now, Logger: d.Logger}),
		route.New(ocpp201.ActionNotifyMonitoringReport, NotifyMonitoringReport{Store: d.DeviceModels, Parts: parts}),
		route.New(ocpp201.ActionNotifyCustomerInformation, NotifyCustomerInformation{Store: parts}),
		route.New(ocpp201.ActionNotifyDisplayMessages, NotifyDisplayMessages{Store: parts, Messages: d.DisplayMessages, Now: d.Now}),
		route.New(ocpp201.ActionSecurityEventNotification, SecurityEventNotification{Events: d.SecurityEvents}),

		// Firmware and logs (L, N).
		route.New(ocpp201.ActionFirmwareStatusNotification, FirmwareStatusNotification{Store: d.Reports, Now: d.Now}),
		route.New(ocpp201.ActionPublishFirmwareStatusNotification, PublishFirmwareStatusNotification{Store: d.Reports, Now: d.Now}),
		route.New(ocpp201.ActionLogStatusNotification, LogStatusNotification{Store: d.Reports, Now: d.Now}),

		// Smart charging and reservations (K, H).
		route.New(ocpp201.ActionNotifyChargingLimit, NotifyChargingLimit{Store: d.Charging, Planner: d.Planner, Now: d.Now}),
		route.New(ocpp201.ActionClearedChargingLimit, ClearedChargingLimit{Store: d.Charging, Planner: d.Planner}),
		route.New(ocpp201.ActionReportChargingProfiles, ReportChargingProfiles{Store: d.Reports, Reports: parts, Now: d.Now}),
		route.New(ocpp201.ActionNotifyEVChargingNeeds, NotifyEVChargingNeeds{Store: d.Charging, Planner: d.Planner, Now: d.Now}),
		route.New(ocpp201.ActionNotifyEVChargingSchedule, NotifyEVChargingSchedule{Store: d.Charging, Now: d.Now}),
		route.New(ocpp201.ActionReservationStatusUpdate, ReservationStatusUpdate{Store: d.Reports, Logger: d.Logger}),

		// Certificates (A, M).
		route.New(ocpp201.ActionSignCertificate, d.signCertificate()),
		route.New(ocpp201.ActionGet15118EVCertificate, route.Fixed[ocpp201.Get15118EVCertificateRequest](
			ocpp201.Get15118EVCertificateResponse{Status: ocpp201.Iso15118EVCertificateStatusFailed, ExiResponse: ""})),
		route.New(ocpp201.ActionGetCertificateStatus, GetCertificateStatus{OCSP: d.OCSP, Logger: d.Logger}),
	)
}

func (d Deps) signCertificate() route.Handler[ocpp201.SignCertificateRequest, ocpp201.SignCertificateResponse] {
	if d.Certificates == nil {
		return route.Fixed[ocpp201.SignCertificateRequest](ocpp201.SignCertificateResponse{Status: ocpp201.GenericStatusRejected,
			StatusInfo: &ocpp201.StatusInfo{ReasonCode: certificates.ReasonNoCA}})
	}
	return SignCertificate{Signer: d.Certificates}
}

func (d Deps) lastSeen() LastSeenToucher {
	if d.LastSeen != nil {
		return d.LastSeen
	}
	return d.Store
}
