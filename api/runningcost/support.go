// Package runningcost sends the cost so far of an active transaction to
// its station while it charges: 2.0.1 CostUpdated, and for a 1.6 station
// the OCA "OCPP & California Pricing Requirements" DataTransfer messages
// (RunningCost during the session, FinalCost once it ended). The domain
// decides which transaction gets an update and what it says; the store
// keeps what was sent and fences core instances against sending it twice;
// the command table sends it and records it in the station's history.
//
// A station gets the running cost only once it has said it shows it: a
// 2.0.1 station by TariffCostCtrlr.Enabled[Cost] (its stored device model,
// or, when it never reported one, its answer to GetVariables), a 1.6
// station by its CustomDisplayCostAndPrice key (as it last reported or
// accepted it, kept by api/ocpp/v16, or else asked with GetConfiguration). OCPP 2.0.1 (I02) lets the CSMS send
// CostUpdated to any station, but the cost so far already reaches every
// 2.0.1 station in each TransactionEvent answer, while an unsolicited CALL
// at every interval to a station that may not implement the Tariff and
// Cost block would hold its connection's one outstanding CALL (delaying
// the operator's commands) and fill its command history with errors.
package runningcost

import (
	"encoding/json"
	"slices"
	"strings"
)

// Support is what a station said about showing the running cost.
type Support int

const (
	// Unknown: the station has not said (no report, no such variable or
	// key, or it could not be asked).
	Unknown Support = iota
	// Shown: the station shows the cost it is sent.
	Shown
	// NotShown: the station said it does not.
	NotShown
)

func (s Support) String() string {
	switch s {
	case Shown:
		return "shown"
	case NotShown:
		return "not shown"
	}
	return "unknown"
}

// The 2.0.1 device model variable that says a station shows the cost a
// CSMS sends (OCPP 2.0.1 Part 2, referenced components: TariffCostCtrlr,
// variable Enabled, instance "Cost"; "Tariff" is the one for prices).
const (
	TariffCostCtrlr = "TariffCostCtrlr"
	EnabledVariable = "Enabled"
	CostInstance    = "Cost"
)

// CustomDisplayCostAndPrice is the 1.6 configuration key by which a
// station says it takes the California Pricing messages (readonly,
// "true" when it does).
const CustomDisplayCostAndPrice = "CustomDisplayCostAndPrice"

// reportData is the part of a 2.0.1 ReportDataType read here.
type reportData struct {
	Component struct {
		Name string `json:"name"`
	} `json:"component"`
	Variable struct {
		Name     string `json:"name"`
		Instance string `json:"instance"`
	} `json:"variable"`
	VariableAttribute []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"variableAttribute"`
}

// FromDeviceModel reads TariffCostCtrlr.Enabled[Cost] (its Actual value)
// from the entries of a 2.0.1 device model report. OCPP compares
// component and variable names case-insensitively. The entries are in the
// order the station sent them (its report's parts by seqNo), so where one
// repeats the variable the last entry is the one that holds.
func FromDeviceModel(entries []json.RawMessage) Support {
	for _, raw := range slices.Backward(entries) {
		var d reportData
		if json.Unmarshal(raw, &d) != nil || !costEnabledVariable(d.Component.Name, d.Variable.Name, d.Variable.Instance) {
			continue
		}
		for _, a := range d.VariableAttribute {
			if a.Type == "" || a.Type == "Actual" {
				return FromValue(a.Value)
			}
		}
	}
	return Unknown
}

func costEnabledVariable(component, variable, instance string) bool {
	return strings.EqualFold(component, TariffCostCtrlr) && strings.EqualFold(variable, EnabledVariable) &&
		strings.EqualFold(instance, CostInstance)
}

// FromValue reads a boolean variable or configuration value; anything
// but true or false says nothing.
func FromValue(v string) Support {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return Shown
	case "false":
		return NotShown
	}
	return Unknown
}
