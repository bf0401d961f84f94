package command

import (
	"encoding/json"

	"github.com/chargeplane/chargeplane/api/store"
)

// The replies below are what the typed operations return: the station's
// answer in terms that do not depend on its OCPP version, plus what the
// answer's effect recorded. Each version's table maps its own answers to
// them; the operator services map them to the API.

// Reply is what every status-bearing answer tells: the recorded command,
// the station's status and, in 2.0.1, the reason it may give.
type Reply struct {
	CommandID      string
	Status         string
	ReasonCode     string
	AdditionalInfo string
}

// RemoteStartReply is the answer to a remote start and how to find the
// transaction it starts: by Find, or by TransactionUID when the station
// named a transaction it had going already (2.0.1).
type RemoteStartReply struct {
	Reply
	// RemoteStartID is the 2.0.1 remoteStartId sent (0 in 1.6).
	RemoteStartID  int
	TransactionUID string
	// Find selects the transaction; the caller sets AfterID (see
	// store.RemoteStartQuery) to the station's last transaction id read
	// before sending.
	Find store.RemoteStartQuery
}

// RequestReply is the answer to a command whose results follow in
// notifications tagged with RequestID.
type RequestReply struct {
	Reply
	RequestID int
	// Filename is the log file a log upload will produce (GetLog).
	Filename string
}

// ReservationReply is the answer to ReserveNow or CancelReservation with
// the reservation as recorded since (nil if the CSMS has none of that id).
type ReservationReply struct {
	Reply
	Reservation *store.Reservation
}

// LocalListReply is the answer to SendLocalList: what was sent and, once
// accepted, the list version the station now holds.
type LocalListReply struct {
	Reply
	Version    int
	UpdateType string
	Updated    int
	Removed    int
	// Accepted is the recorded list version (nil unless accepted).
	Accepted *store.LocalListVersion
}

// ListVersionReply is the local list version the station reports.
type ListVersionReply struct {
	CommandID string
	Version   int
}

// ProfileReply is the answer to SetChargingProfile with the profile as
// stored once accepted (nil otherwise).
type ProfileReply struct {
	Reply
	Profile *store.ChargingProfile
}

// NetworkProfileReply is the answer to a 2.0.1 SetNetworkProfile with the
// profile as kept once accepted (nil otherwise).
type NetworkProfileReply struct {
	Reply
	Profile *store.NetworkProfile
}

// ClearProfilesReply is the answer to ClearChargingProfile with how many
// stored profiles it removed.
type ClearProfilesReply struct {
	Reply
	Removed int64
}

// JSONReply is an answer that carries a document passed on to the
// operator as JSON: the composite schedule, or DataTransfer's data.
type JSONReply struct {
	Reply
	Data json.RawMessage // nil when the station sent none
}

// ConfigurationReply is a 1.6 GetConfiguration answer.
type ConfigurationReply struct {
	CommandID   string
	Keys        []ConfigurationKey
	UnknownKeys []string
}

// ConfigurationKey is one 1.6 configuration key.
type ConfigurationKey struct {
	Key      string
	Readonly bool
	Value    *string // nil when the station reports no value
}

// VariablesReply is a 2.0.1 GetVariables or SetVariables answer.
type VariablesReply struct {
	CommandID string
	Results   []VariableResult
}

// VariableResult is one variable of a GetVariables/SetVariables answer.
type VariableResult struct {
	Component       Component
	Variable        Variable
	AttributeType   string
	AttributeStatus string
	// AttributeValue is GetVariables' value (nil if none).
	AttributeValue *string
	ReasonCode     string
	AdditionalInfo string
}

// Component names a 2.0.1 device model component.
type Component struct {
	Name, Instance string
	EVSEID         *int
	ConnectorID    *int
}

// Variable names a 2.0.1 device model variable.
type Variable struct {
	Name, Instance string
}

// RemoteStop is a remote stop with the transaction it names, looked up
// by the caller: which transaction it is does not depend on the version,
// how the station knows it does.
type RemoteStop struct {
	Transaction *store.Transaction
}

// TransactionStatus asks about a transaction looked up by the caller (nil:
// about any).
type TransactionStatus struct {
	Transaction *store.Transaction
}

// TransactionStatusReply is the answer to GetTransactionStatus.
type TransactionStatusReply struct {
	CommandID       string
	MessagesInQueue bool
	// Ongoing is unset when no transaction was asked about.
	Ongoing *bool
}

// CostUpdate is a transaction's running cost, the transaction looked up
// by the caller.
type CostUpdate struct {
	Transaction *store.Transaction
	TotalCost   float64
}

// MonitorsReply is a 2.0.1 SetVariableMonitoring answer: per monitor
// asked for, the station's status and, once accepted, the monitor as
// stored (with the id the station gave it).
type MonitorsReply struct {
	CommandID string
	Results   []MonitorResult
}

// MonitorResult is one monitor of a SetVariableMonitoring answer.
type MonitorResult struct {
	Monitor    store.Monitor
	Status     string
	ReasonCode string
}

// ClearMonitorsReply is a 2.0.1 ClearVariableMonitoring answer.
type ClearMonitorsReply struct {
	CommandID string
	Results   []ClearMonitorResult
}

// ClearMonitorResult is one monitor id of a ClearVariableMonitoring answer.
type ClearMonitorResult struct {
	ID         int
	Status     string
	ReasonCode string
}

// CustomerInfoReply is the answer to CustomerInformation with the request
// as recorded since and, when asked, the CSMS's own data about the
// customer (exported before any erasure; nil when not asked).
type CustomerInfoReply struct {
	Reply
	Request  *store.CustomerRequest
	CSMSData json.RawMessage
}
