package v16

import (
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// Deps are what the 1.6 handlers share.
type Deps struct {
	Store             Store
	Now               func() time.Time
	HeartbeatInterval time.Duration
}

// Routes is every charger-initiated action of OCPP 1.6 (core profile and
// the security extension) and what answers it.
//
// Actions without behaviour yet get the most conservative conformant answer:
// an identifier is never authorised (Invalid), a vendor extension is never
// understood (UnknownVendorId), a certificate is never signed (Rejected);
// notifications are acknowledged. Answering an error instead would make the
// charger retry forever.
func Routes(d Deps) route.Table {
	invalid := ocpp16.IdTagInfo{Status: ocpp16.AuthorizationStatusInvalid}
	return route.NewTable(
		route.New(ocpp16.ActionBootNotification, BootNotification{Store: d.Store, Now: d.Now, Interval: d.HeartbeatInterval}),
		route.New(ocpp16.ActionHeartbeat, Heartbeat{Store: d.Store, Now: d.Now}),
		route.New(ocpp16.ActionStatusNotification, StatusNotification{Store: d.Store, Now: d.Now}),

		route.New(ocpp16.ActionAuthorize, route.Fixed[ocpp16.AuthorizeRequest](
			ocpp16.AuthorizeResponse{IdTagInfo: invalid})),
		// transactionId 0 with Invalid: the charger ends the session at once
		// (StopTransactionOnInvalidId) instead of charging unrecorded.
		route.New(ocpp16.ActionStartTransaction, route.Fixed[ocpp16.StartTransactionRequest](
			ocpp16.StartTransactionResponse{TransactionId: 0, IdTagInfo: invalid})),
		route.New(ocpp16.ActionStopTransaction, route.Fixed[ocpp16.StopTransactionRequest](
			ocpp16.StopTransactionResponse{})),
		route.New(ocpp16.ActionMeterValues, route.Fixed[ocpp16.MeterValuesRequest](
			ocpp16.MeterValuesResponse{})),
		route.New(ocpp16.ActionDataTransfer, route.Fixed[ocpp16.DataTransferRequest](
			ocpp16.DataTransferResponse{Status: ocpp16.DataTransferStatusUnknownVendorId})),
		route.New(ocpp16.ActionDiagnosticsStatusNotification, route.Fixed[ocpp16.DiagnosticsStatusNotificationRequest](
			ocpp16.DiagnosticsStatusNotificationResponse{})),
		route.New(ocpp16.ActionFirmwareStatusNotification, route.Fixed[ocpp16.FirmwareStatusNotificationRequest](
			ocpp16.FirmwareStatusNotificationResponse{})),

		// Security extension (OCPP 1.6 security whitepaper).
		route.New(ocpp16.ActionSecurityEventNotification, route.Fixed[ocpp16.SecurityEventNotificationRequest](
			ocpp16.SecurityEventNotificationResponse{})),
		route.New(ocpp16.ActionSignCertificate, route.Fixed[ocpp16.SignCertificateRequest](
			ocpp16.SignCertificateResponse{Status: ocpp16.GenericStatusRejected})),
		route.New(ocpp16.ActionLogStatusNotification, route.Fixed[ocpp16.LogStatusNotificationRequest](
			ocpp16.LogStatusNotificationResponse{})),
		route.New(ocpp16.ActionSignedFirmwareStatusNotification, route.Fixed[ocpp16.SignedFirmwareStatusNotificationRequest](
			ocpp16.SignedFirmwareStatusNotificationResponse{})),
	)
}
