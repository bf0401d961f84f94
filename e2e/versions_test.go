package e2e

import (
	"time"
)

// ocppVersion holds what differs between 1.6 and 2.0.1 for these tests.
type ocppVersion struct {
	name        string // as the REST API reports it
	subprotocol string
	// index picks the gateway in scale-out: the 1.6 charger on gateway 1,
	// the 2.0.1 charger on gateway 2.
	index int

	boot func(serial string) map[string]any
	// statuses are two connectors' StatusNotifications and what the REST
	// API must show for them afterwards.
	statuses func(at time.Time) []map[string]any
	want     []apiConnector

	// codes of the CALLERRORs the CSMS must send.
	formatViolation string
	badFrame        string // a frame that is not a valid RPC
}

const (
	vendor   = "E2E Vendor"
	model16  = "E2E-Model-16"
	model201 = "E2E-Model-201"
	fw16     = "1.6.42"
	fw201    = "2.0.1-e2e"
)

var v16 = ocppVersion{
	name:        "1.6",
	subprotocol: "ocpp1.6",
	index:       0,
	boot: func(serial string) map[string]any {
		return map[string]any{
			"chargePointVendor":       vendor,
			"chargePointModel":        model16,
			"chargePointSerialNumber": serial,
			"firmwareVersion":         fw16,
		}
	},
	statuses: func(at time.Time) []map[string]any {
		ts := at.UTC().Format(time.RFC3339)
		return []map[string]any{
			{"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": ts},
			{"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": ts},
		}
	},
	want: []apiConnector{
		{EVSEID: 0, ConnectorID: 1, Status: "Available", ErrorCode: "NoError"},
		{EVSEID: 0, ConnectorID: 2, Status: "Faulted", ErrorCode: "GroundFailure"},
	},
	formatViolation: "FormationViolation",
	badFrame:        "FormationViolation",
}

var v201 = ocppVersion{
	name:        "2.0.1",
	subprotocol: "ocpp2.0.1",
	index:       1,
	boot: func(serial string) map[string]any {
		return map[string]any{
			"reason": "PowerUp",
			"chargingStation": map[string]any{
				"vendorName":      vendor,
				"model":           model201,
				"serialNumber":    serial,
				"firmwareVersion": fw201,
			},
		}
	},
	statuses: func(at time.Time) []map[string]any {
		ts := at.UTC().Format(time.RFC3339)
		return []map[string]any{
			{"timestamp": ts, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
			{"timestamp": ts, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1},
		}
	},
	want: []apiConnector{
		{EVSEID: 1, ConnectorID: 1, Status: "Available"},
		{EVSEID: 2, ConnectorID: 1, Status: "Occupied"},
	},
	formatViolation: "FormatViolation",
	badFrame:        "RpcFrameworkError",
}

var versions = []ocppVersion{v16, v201}

func (v ocppVersion) model() string {
	if v.name == "1.6" {
		return model16
	}
	return model201
}

func (v ocppVersion) firmware() string {
	if v.name == "1.6" {
		return fw16
	}
	return fw201
}

// bootResponse covers both versions' BootNotification answers.
type bootResponse struct {
	Status      string    `json:"status"`
	CurrentTime time.Time `json:"currentTime"`
	Interval    int       `json:"interval"`
}

type heartbeatResponse struct {
	CurrentTime time.Time `json:"currentTime"`
}
