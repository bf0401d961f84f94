package event

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Call is a charger's CALL the core answered with a CALLRESULT (its
// effects committed).
type Call struct {
	StationID string
	Version   ocppj.Version
	Action    string
	Request   json.RawMessage
	Response  json.RawMessage
	At        time.Time
}

// The payloads of the events made from charger messages (their JSON is
// the public format, docs/integrations.md).
type (
	// BootPayload: station.booted and station.pending.
	BootPayload struct {
		Status          string `json:"status"`
		Vendor          string `json:"vendor,omitempty"`
		Model           string `json:"model,omitempty"`
		SerialNumber    string `json:"serialNumber,omitempty"`
		FirmwareVersion string `json:"firmwareVersion,omitempty"`
		Reason          string `json:"reason,omitempty"`
	}
	// StatusPayload: station.status (connector 0 / no EVSE: the station).
	StatusPayload struct {
		EVSEID      int    `json:"evseId,omitempty"`
		ConnectorID int    `json:"connectorId"`
		Status      string `json:"status"`
		ErrorCode   string `json:"errorCode,omitempty"`
		Info        string `json:"info,omitempty"`
	}
	// TransactionPayload: transaction.started, .updated and .ended.
	TransactionPayload struct {
		TransactionID string          `json:"transactionId"`
		EVSEID        int             `json:"evseId,omitempty"`
		ConnectorID   int             `json:"connectorId,omitempty"`
		IDToken       string          `json:"idToken,omitempty"`
		TriggerReason string          `json:"triggerReason,omitempty"`
		ChargingState string          `json:"chargingState,omitempty"`
		MeterStartWh  *float64        `json:"meterStartWh,omitempty"`
		MeterStopWh   *float64        `json:"meterStopWh,omitempty"`
		StopReason    string          `json:"stopReason,omitempty"`
		MeterValue    json.RawMessage `json:"meterValue,omitempty"`
		// EnergyWh (transaction.ended): the session's energy as stored.
		EnergyWh *float64 `json:"energyWh,omitempty"`
	}
	// DataTransferPayload: station.data_transfer, a station's DataTransfer
	// with the status it was answered (the data as sent, a string in 1.6,
	// any JSON in 2.0.1, without its secrets: the router hands over the
	// redacted request).
	DataTransferPayload struct {
		VendorID  string          `json:"vendorId"`
		MessageID string          `json:"messageId,omitempty"`
		Data      json.RawMessage `json:"data,omitempty"`
		Status    string          `json:"status"`
	}
	// AlertPayload: station.alert, a 2.0.1 NotifyEvent entry raised by a
	// monitor whose severity is the alert level or worse (api/monitoring).
	AlertPayload struct {
		EventID           int       `json:"eventId"`
		Timestamp         time.Time `json:"timestamp"`
		Trigger           string    `json:"trigger"`
		Severity          int       `json:"severity"`
		Component         string    `json:"component"`
		ComponentInstance string    `json:"componentInstance,omitempty"`
		EVSEID            *int      `json:"evseId,omitempty"`
		ConnectorID       *int      `json:"connectorId,omitempty"`
		Variable          string    `json:"variable"`
		VariableInstance  string    `json:"variableInstance,omitempty"`
		ActualValue       string    `json:"actualValue"`
		Cleared           bool      `json:"cleared,omitempty"`
		TechCode          string    `json:"techCode,omitempty"`
		MonitorID         *int      `json:"monitorId,omitempty"`
		TransactionID     string    `json:"transactionId,omitempty"`
	}
	// SecurityPayload: security.event.
	SecurityPayload struct {
		// "station": the station reported it; "core": the core saw it.
		Source   string `json:"source"`
		Type     string `json:"type"`
		TechInfo string `json:"techInfo,omitempty"`
	}
)

// FromCall turns an answered CALL into its events (none for most actions).
// Inputs passed schema validation; an undecodable one yields nothing.
func FromCall(c Call) []Event {
	ev := func(t Type, v any) Event { return New(t, c.At, c.StationID, v) }
	switch c.Action {
	case "BootNotification":
		var resp struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(c.Response, &resp)
		p := BootPayload{Status: resp.Status}
		if c.Version == ocppj.V16 {
			var req struct {
				Vendor          string `json:"chargePointVendor"`
				Model           string `json:"chargePointModel"`
				SerialNumber    string `json:"chargePointSerialNumber"`
				FirmwareVersion string `json:"firmwareVersion"`
			}
			if json.Unmarshal(c.Request, &req) != nil {
				return nil
			}
			p.Vendor, p.Model, p.SerialNumber, p.FirmwareVersion = req.Vendor, req.Model, req.SerialNumber, req.FirmwareVersion
		} else {
			var req struct {
				Reason string `json:"reason"`
				CS     struct {
					Vendor          string `json:"vendorName"`
					Model           string `json:"model"`
					SerialNumber    string `json:"serialNumber"`
					FirmwareVersion string `json:"firmwareVersion"`
				} `json:"chargingStation"`
			}
			if json.Unmarshal(c.Request, &req) != nil {
				return nil
			}
			p.Vendor, p.Model, p.SerialNumber, p.FirmwareVersion, p.Reason = req.CS.Vendor, req.CS.Model, req.CS.SerialNumber, req.CS.FirmwareVersion, req.Reason
		}
		out := []Event{ev(StationBooted, p)}
		if p.Status == "Pending" {
			out = append(out, ev(StationPending, p))
		}
		return out
	case "DataTransfer":
		var req DataTransferPayload
		var resp struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(c.Request, &req) != nil || json.Unmarshal(c.Response, &resp) != nil {
			return nil
		}
		req.Status = resp.Status
		return []Event{ev(DataTransfer, req)}
	case "StatusNotification":
		var req struct {
			ConnectorID     int    `json:"connectorId"`
			EVSEID          int    `json:"evseId"`
			Status          string `json:"status"`
			ConnectorStatus string `json:"connectorStatus"`
			ErrorCode       string `json:"errorCode"`
			Info            string `json:"info"`
		}
		if json.Unmarshal(c.Request, &req) != nil {
			return nil
		}
		p := StatusPayload{EVSEID: req.EVSEID, ConnectorID: req.ConnectorID, Status: req.Status, ErrorCode: req.ErrorCode, Info: req.Info}
		if c.Version != ocppj.V16 {
			p.Status = req.ConnectorStatus
		}
		return []Event{ev(StationStatus, p)}
	case "StartTransaction": // 1.6
		var req struct {
			ConnectorID int     `json:"connectorId"`
			IDTag       string  `json:"idTag"`
			MeterStart  float64 `json:"meterStart"`
		}
		var resp struct {
			TransactionID int64 `json:"transactionId"`
		}
		if json.Unmarshal(c.Request, &req) != nil || json.Unmarshal(c.Response, &resp) != nil {
			return nil
		}
		return []Event{ev(TransactionStarted, TransactionPayload{
			TransactionID: strconv.FormatInt(resp.TransactionID, 10), ConnectorID: req.ConnectorID,
			IDToken: req.IDTag, MeterStartWh: &req.MeterStart,
		})}
	case "StopTransaction": // 1.6
		var req struct {
			TransactionID int64   `json:"transactionId"`
			MeterStop     float64 `json:"meterStop"`
			Reason        string  `json:"reason"`
			IDTag         string  `json:"idTag"`
		}
		if json.Unmarshal(c.Request, &req) != nil {
			return nil
		}
		return []Event{ev(TransactionEnded, TransactionPayload{
			TransactionID: strconv.FormatInt(req.TransactionID, 10), IDToken: req.IDTag,
			MeterStopWh: &req.MeterStop, StopReason: req.Reason,
		})}
	case "MeterValues":
		var req struct {
			ConnectorID   int             `json:"connectorId"`
			TransactionID *int64          `json:"transactionId"`
			MeterValue    json.RawMessage `json:"meterValue"`
		}
		// 2.0.1 MeterValues carry no transaction: its samples of a
		// transaction come in TransactionEvent.
		if c.Version != ocppj.V16 || json.Unmarshal(c.Request, &req) != nil || req.TransactionID == nil {
			return nil
		}
		return []Event{ev(TransactionUpdated, TransactionPayload{
			TransactionID: strconv.FormatInt(*req.TransactionID, 10), ConnectorID: req.ConnectorID, MeterValue: req.MeterValue,
		})}
	case "TransactionEvent": // 2.0.1
		var req struct {
			EventType     string `json:"eventType"`
			TriggerReason string `json:"triggerReason"`
			Info          struct {
				TransactionID string `json:"transactionId"`
				ChargingState string `json:"chargingState"`
				StoppedReason string `json:"stoppedReason"`
			} `json:"transactionInfo"`
			EVSE *struct {
				ID          int `json:"id"`
				ConnectorID int `json:"connectorId"`
			} `json:"evse"`
			IDToken *struct {
				IDToken string `json:"idToken"`
			} `json:"idToken"`
			MeterValue json.RawMessage `json:"meterValue"`
		}
		if json.Unmarshal(c.Request, &req) != nil {
			return nil
		}
		t := map[string]Type{"Started": TransactionStarted, "Updated": TransactionUpdated, "Ended": TransactionEnded}[req.EventType]
		if t == "" {
			return nil
		}
		p := TransactionPayload{
			TransactionID: req.Info.TransactionID, TriggerReason: req.TriggerReason, ChargingState: req.Info.ChargingState,
			StopReason: req.Info.StoppedReason, MeterValue: req.MeterValue,
		}
		if req.EVSE != nil {
			p.EVSEID, p.ConnectorID = req.EVSE.ID, req.EVSE.ConnectorID
		}
		if req.IDToken != nil {
			p.IDToken = req.IDToken.IDToken
		}
		return []Event{ev(t, p)}
	case "SecurityEventNotification":
		var req struct {
			Type     string `json:"type"`
			TechInfo string `json:"techInfo"`
		}
		if json.Unmarshal(c.Request, &req) != nil {
			return nil
		}
		return []Event{ev(SecurityEvent, SecurityPayload{Source: "station", Type: req.Type, TechInfo: req.TechInfo})}
	}
	return nil
}
