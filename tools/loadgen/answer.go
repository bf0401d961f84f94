package main

import (
	"context"
	"encoding/json"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// A simulated charger does not charge, reboot or store anything, so it
// answers every CSMS command with the smallest answer its schema allows,
// refusing what it cannot do rather than pretending to have done it. The
// answers are static: answering costs no allocation beyond the frame.
var (
	answers16 = map[string]json.RawMessage{
		"CancelReservation":          json.RawMessage(`{"status":"Rejected"}`),
		"ChangeAvailability":         json.RawMessage(`{"status":"Rejected"}`),
		"ChangeConfiguration":        json.RawMessage(`{"status":"NotSupported"}`),
		"ClearCache":                 json.RawMessage(`{"status":"Rejected"}`),
		"ClearChargingProfile":       json.RawMessage(`{"status":"Unknown"}`),
		"DataTransfer":               json.RawMessage(`{"status":"UnknownVendorId"}`),
		"GetCompositeSchedule":       json.RawMessage(`{"status":"Rejected"}`),
		"GetConfiguration":           json.RawMessage(`{}`),
		"GetDiagnostics":             json.RawMessage(`{}`),
		"GetLocalListVersion":        json.RawMessage(`{"listVersion":0}`),
		"RemoteStartTransaction":     json.RawMessage(`{"status":"Rejected"}`),
		"RemoteStopTransaction":      json.RawMessage(`{"status":"Rejected"}`),
		"ReserveNow":                 json.RawMessage(`{"status":"Rejected"}`),
		"Reset":                      json.RawMessage(`{"status":"Rejected"}`),
		"SendLocalList":              json.RawMessage(`{"status":"NotSupported"}`),
		"SetChargingProfile":         json.RawMessage(`{"status":"NotSupported"}`),
		"TriggerMessage":             json.RawMessage(`{"status":"NotImplemented"}`),
		"UnlockConnector":            json.RawMessage(`{"status":"NotSupported"}`),
		"UpdateFirmware":             json.RawMessage(`{}`),
		"CertificateSigned":          json.RawMessage(`{"status":"Rejected"}`),
		"DeleteCertificate":          json.RawMessage(`{"status":"NotFound"}`),
		"ExtendedTriggerMessage":     json.RawMessage(`{"status":"NotImplemented"}`),
		"GetInstalledCertificateIds": json.RawMessage(`{"status":"NotFound"}`),
		"GetLog":                     json.RawMessage(`{"status":"Rejected"}`),
		"InstallCertificate":         json.RawMessage(`{"status":"Rejected"}`),
		"SignedUpdateFirmware":       json.RawMessage(`{"status":"Rejected"}`),
	}
	answers201 = map[string]json.RawMessage{
		"CancelReservation":          json.RawMessage(`{"status":"Rejected"}`),
		"CertificateSigned":          json.RawMessage(`{"status":"Rejected"}`),
		"ChangeAvailability":         json.RawMessage(`{"status":"Rejected"}`),
		"ClearCache":                 json.RawMessage(`{"status":"Rejected"}`),
		"ClearChargingProfile":       json.RawMessage(`{"status":"Unknown"}`),
		"ClearDisplayMessage":        json.RawMessage(`{"status":"Unknown"}`),
		"CostUpdated":                json.RawMessage(`{}`),
		"CustomerInformation":        json.RawMessage(`{"status":"Rejected"}`),
		"DataTransfer":               json.RawMessage(`{"status":"UnknownVendorId"}`),
		"DeleteCertificate":          json.RawMessage(`{"status":"NotFound"}`),
		"GetBaseReport":              json.RawMessage(`{"status":"NotSupported"}`),
		"GetChargingProfiles":        json.RawMessage(`{"status":"NoProfiles"}`),
		"GetCompositeSchedule":       json.RawMessage(`{"status":"Rejected"}`),
		"GetDisplayMessages":         json.RawMessage(`{"status":"Unknown"}`),
		"GetInstalledCertificateIds": json.RawMessage(`{"status":"NotFound"}`),
		"GetLocalListVersion":        json.RawMessage(`{"versionNumber":0}`),
		"GetLog":                     json.RawMessage(`{"status":"Rejected"}`),
		"GetMonitoringReport":        json.RawMessage(`{"status":"NotSupported"}`),
		"GetReport":                  json.RawMessage(`{"status":"NotSupported"}`),
		"GetTransactionStatus":       json.RawMessage(`{"messagesInQueue":false}`),
		"InstallCertificate":         json.RawMessage(`{"status":"Rejected"}`),
		"PublishFirmware":            json.RawMessage(`{"status":"Rejected"}`),
		"RequestStartTransaction":    json.RawMessage(`{"status":"Rejected"}`),
		"RequestStopTransaction":     json.RawMessage(`{"status":"Rejected"}`),
		"ReserveNow":                 json.RawMessage(`{"status":"Rejected"}`),
		"Reset":                      json.RawMessage(`{"status":"Rejected"}`),
		"SendLocalList":              json.RawMessage(`{"status":"Failed"}`),
		"SetChargingProfile":         json.RawMessage(`{"status":"Rejected"}`),
		"SetDisplayMessage":          json.RawMessage(`{"status":"Rejected"}`),
		"SetMonitoringBase":          json.RawMessage(`{"status":"NotSupported"}`),
		"SetMonitoringLevel":         json.RawMessage(`{"status":"Rejected"}`),
		"SetNetworkProfile":          json.RawMessage(`{"status":"Rejected"}`),
		"TriggerMessage":             json.RawMessage(`{"status":"NotImplemented"}`),
		"UnlockConnector":            json.RawMessage(`{"status":"UnknownConnector"}`),
		"UnpublishFirmware":          json.RawMessage(`{"status":"NoFirmware"}`),
		"UpdateFirmware":             json.RawMessage(`{"status":"Rejected"}`),
	}
)

// answerCSMS is the chargepoint OnCall of every simulated charger.
// Commands whose answer must echo per-item results (SetVariables and the
// like) get NotSupported, which OCPP allows for any command.
func answerCSMS(v ocppj.Version, count func(action string)) func(context.Context, string, json.RawMessage) (any, error) {
	table := answers201
	if v == ocppj.V16 {
		table = answers16
	}
	return func(_ context.Context, action string, _ json.RawMessage) (any, error) {
		count(action)
		if a, ok := table[action]; ok {
			return a, nil
		}
		return nil, &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: action + " is not supported by the load generator"}
	}
}
