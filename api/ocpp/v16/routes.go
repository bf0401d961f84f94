package v16

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/securityevent"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// Deps are what the 1.6 handlers share.
type Deps struct {
	Store Store
	// LastSeen records Heartbeats; nil writes each through Store.
	// Production passes a *store.LastSeenWriter (batched, off the reply path).
	LastSeen          LastSeenToucher
	Now               func() time.Time
	HeartbeatInterval time.Duration
	// Sessions answers Authorize and records transactions.
	Sessions SessionStore
	// Costs keeps final costs by tariff; nil keeps none.
	Costs Coster
	// FinalCosts sends stations the final cost of what they stopped; nil
	// sends none.
	FinalCosts FinalCostSender
	// Meters stores MeterValues (a *store.MeterBatcher in production).
	Meters MeterRecorder
	// Statuses stores StatusNotifications (a *store.StatusBatcher in
	// production); nil writes each through Store.
	Statuses ConnectorStore
	// Reports keeps firmware and log upload statuses.
	Reports StatusReportStore
	// Certificates decides SignCertificate; nil rejects every CSR.
	Certificates CSRSigner
	// SecurityEvents keeps SecurityEventNotifications.
	SecurityEvents securityevent.Recorder
	// DataTransfers answers and records vendor data transfers.
	DataTransfers DataTransferReceiver
	Logger        *slog.Logger
}

// Routes is every charger-initiated action of OCPP 1.6 (core profile and
// the security extension) and what answers it.
//
// Actions without behaviour yet get the most conservative conformant answer:
// notifications are acknowledged. Answering an error instead would make the charger
// retry forever.
func Routes(d Deps) route.Table {
	return route.NewTable(
		route.New(ocpp16.ActionBootNotification, BootNotification{Store: d.Store, Now: d.Now, Interval: d.HeartbeatInterval}),
		route.New(ocpp16.ActionHeartbeat, Heartbeat{Store: d.lastSeen(), Now: d.Now}),
		route.New(ocpp16.ActionStatusNotification, StatusNotification{Store: cmp.Or[ConnectorStore](d.Statuses, d.Store), Now: d.Now}),

		route.New(ocpp16.ActionAuthorize, Authorize{Store: d.Sessions, Now: d.Now}),
		route.New(ocpp16.ActionStartTransaction, StartTransaction{Store: d.Sessions, Logger: d.Logger}),
		route.New(ocpp16.ActionStopTransaction, StopTransaction{Store: d.Sessions, Now: d.Now, Costs: d.Costs, FinalCosts: d.FinalCosts}),
		route.New(ocpp16.ActionMeterValues, MeterValues{Store: d.Meters}),
		route.New(ocpp16.ActionDataTransfer, DataTransfer{Receiver: d.DataTransfers}),
		route.New(ocpp16.ActionDiagnosticsStatusNotification, DiagnosticsStatusNotification{Store: d.Reports, Now: d.Now}),
		route.New(ocpp16.ActionFirmwareStatusNotification, FirmwareStatusNotification{Store: d.Reports, Now: d.Now}),

		// Security extension (OCPP 1.6 security whitepaper).
		route.New(ocpp16.ActionSecurityEventNotification, SecurityEventNotification{Events: d.SecurityEvents}),
		route.New(ocpp16.ActionSignCertificate, d.signCertificate()),
		route.New(ocpp16.ActionLogStatusNotification, LogStatusNotification{Store: d.Reports, Now: d.Now}),
		route.New(ocpp16.ActionSignedFirmwareStatusNotification, SignedFirmwareStatusNotification{Store: d.Reports, Now: d.Now}),
	)
}

func (d Deps) signCertificate() route.Handler[ocpp16.SignCertificateRequest, ocpp16.SignCertificateResponse] {
	if d.Certificates == nil {
		return route.Fixed[ocpp16.SignCertificateRequest](ocpp16.SignCertificateResponse{Status: ocpp16.GenericStatusRejected})
	}
	return SignCertificate{Signer: d.Certificates}
}

func (d Deps) lastSeen() LastSeenToucher {
	if d.LastSeen != nil {
		return d.LastSeen
	}
	return d.Store
}
