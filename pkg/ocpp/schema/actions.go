package schema

import "github.com/chargeplane/chargeplane/pkg/ocppj"

// Who may send which CALL. Listed from the specs rather than derived from the
// schema files, so that a test can prove the two agree.
//
// 1.6: OCPP 1.6 edition 2 §4 (operations initiated by the charge point) and
// §5 (by the central system), plus the 1.6 security whitepaper (edition 3).
// 2.0.1: Part 2 (the messages of each use case; see also the message list in
// Part 2 appendix "Messages").
var directions = map[ocppj.Version]struct{ charger, csms []string }{
	ocppj.V16: {
		charger: []string{
			"Authorize", "BootNotification", "DataTransfer",
			"DiagnosticsStatusNotification", "FirmwareStatusNotification",
			"Heartbeat", "MeterValues", "StartTransaction",
			"StatusNotification", "StopTransaction",
			// Security whitepaper.
			"LogStatusNotification", "SecurityEventNotification",
			"SignCertificate", "SignedFirmwareStatusNotification",
		},
		csms: []string{
			"CancelReservation", "ChangeAvailability", "ChangeConfiguration",
			"ClearCache", "ClearChargingProfile", "DataTransfer",
			"GetCompositeSchedule", "GetConfiguration", "GetDiagnostics",
			"GetLocalListVersion", "RemoteStartTransaction",
			"RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
			"SetChargingProfile", "TriggerMessage", "UnlockConnector",
			"UpdateFirmware",
			// Security whitepaper.
			"CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
			"GetInstalledCertificateIds", "GetLog", "InstallCertificate",
			"SignedUpdateFirmware",
		},
	},
	ocppj.V201: {
		charger: []string{
			"Authorize", "BootNotification", "ClearedChargingLimit",
			"DataTransfer", "FirmwareStatusNotification",
			"Get15118EVCertificate", "GetCertificateStatus", "Heartbeat",
			"LogStatusNotification", "MeterValues", "NotifyChargingLimit",
			"NotifyCustomerInformation", "NotifyDisplayMessages",
			"NotifyEVChargingNeeds", "NotifyEVChargingSchedule", "NotifyEvent",
			"NotifyMonitoringReport", "NotifyReport",
			"PublishFirmwareStatusNotification", "ReportChargingProfiles",
			"ReservationStatusUpdate", "SecurityEventNotification",
			"SignCertificate", "StatusNotification", "TransactionEvent",
		},
		csms: []string{
			"CancelReservation", "CertificateSigned", "ChangeAvailability",
			"ClearCache", "ClearChargingProfile", "ClearDisplayMessage",
			"ClearVariableMonitoring", "CostUpdated", "CustomerInformation",
			"DataTransfer", "DeleteCertificate", "GetBaseReport",
			"GetChargingProfiles", "GetCompositeSchedule", "GetDisplayMessages",
			"GetInstalledCertificateIds", "GetLocalListVersion", "GetLog",
			"GetMonitoringReport", "GetReport", "GetTransactionStatus",
			"GetVariables", "InstallCertificate", "PublishFirmware",
			"RequestStartTransaction", "RequestStopTransaction", "ReserveNow",
			"Reset", "SendLocalList", "SetChargingProfile", "SetDisplayMessage",
			"SetMonitoringBase", "SetMonitoringLevel", "SetNetworkProfile",
			"SetVariableMonitoring", "SetVariables", "TriggerMessage",
			"UnlockConnector", "UnpublishFirmware", "UpdateFirmware",
		},
	},
}
