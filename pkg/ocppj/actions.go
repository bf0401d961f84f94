package ocppj

import "sync"

// Who may send which CALL. Listed from the specs; pkg/ocpp/schema's test
// proves the list agrees with the official schema files.
//
// 1.6: OCPP 1.6 edition 2 §4 (operations initiated by the charge point) and
// §5 (by the central system), plus the 1.6 security whitepaper (edition 3).
// 2.0.1: Part 2 (the messages of each use case; see also the message list in
// Part 2 appendix "Messages").
var actions = map[Version]struct{ charger, csms []string }{
	V16: {
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
	V201: {
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

// ChargerActions returns the CALLs a charging station may send under v.
func ChargerActions(v Version) []string { return actions[v].charger }

// CSMSActions returns the CALLs the CSMS may send under v.
func CSMSActions(v Version) []string { return actions[v].csms }

var known = sync.OnceValue(func() map[Version]map[string]bool {
	m := map[Version]map[string]bool{}
	for v, a := range actions {
		m[v] = map[string]bool{}
		for _, n := range a.charger {
			m[v][n] = true
		}
		for _, n := range a.csms {
			m[v][n] = true
		}
	}
	return m
})

// KnownAction reports whether action is a CALL of version v, in either
// direction: a cheap check, without the schemas, for bounding what a
// charger's text may become (a metric label, say).
func KnownAction(v Version, action string) bool { return known()[v][action] }

// ErrorCodes returns every CALLERROR code of every version.
func ErrorCodes() []ErrorCode {
	return []ErrorCode{
		CodeNotImplemented, CodeNotSupported, CodeInternalError, CodeProtocolError,
		CodeSecurityError, CodeGenericError, CodeTypeConstraintViolation,
		CodePropertyConstraintViolation, CodeFormationViolation, CodeFormatViolation,
		CodeOccurenceConstraintViolation, CodeOccurrenceConstraintViolation,
		CodeRpcFrameworkError, CodeMessageTypeNotSupported,
	}
}
