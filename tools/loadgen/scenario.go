package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// errRejected marks a CSMS answer that is well formed but refuses what the
// charger needs (a boot not Accepted, an id token not Accepted).
var errRejected = errors.New("rejected")

// whPerSample is how much energy each simulated sample adds.
const whPerSample = 250

func (r *runner) boot(c *charger) error {
	var status string
	if c.version == ocppj.V16 {
		var resp v16.BootNotificationResponse
		if err := r.call(c, "BootNotification", v16.BootNotificationRequest{
			ChargePointVendor:       "Chargeplane",
			ChargePointModel:        "loadgen",
			ChargePointSerialNumber: c.id,
		}, &resp); err != nil {
			return err
		}
		status = string(resp.Status)
	} else {
		var resp v201.BootNotificationResponse
		if err := r.call(c, "BootNotification", v201.BootNotificationRequest{
			ChargingStation: v201.ChargingStation{VendorName: "Chargeplane", Model: "loadgen", SerialNumber: c.id},
			Reason:          v201.BootReasonPowerUp,
		}, &resp); err != nil {
			return err
		}
		status = string(resp.Status)
	}
	if status != "Accepted" {
		return fmt.Errorf("BootNotification: status %s: %w", status, errRejected)
	}
	c.phase = phaseStatus
	return nil
}

func (r *runner) status(c *charger) error {
	now := r.cfg.Now().UTC()
	var err error
	if c.version == ocppj.V16 {
		err = r.call(c, "StatusNotification", v16.StatusNotificationRequest{
			ConnectorId: 1, ErrorCode: v16.ChargePointErrorCodeNoError, Status: v16.ChargePointStatusAvailable, Timestamp: now,
		}, nil)
	} else {
		err = r.call(c, "StatusNotification", v201.StatusNotificationRequest{
			Timestamp: now, ConnectorStatus: v201.ConnectorStatusAvailable, EvseId: 1, ConnectorId: 1,
		}, nil)
	}
	if err != nil {
		return err
	}
	c.phase = phaseScenario
	if !c.reached {
		c.reached = true
		r.stats.ReachedScenario(r.cfg.N)
	}
	// The scenario's rhythm starts now, not when the charger was scheduled.
	c.due = r.cfg.Now()
	return nil
}

func (r *runner) scenario(c *charger) error {
	switch r.cfg.Scenario {
	case "idle":
		return r.ping(c)
	case "heartbeat":
		if c.version == ocppj.V16 {
			return r.call(c, "Heartbeat", v16.HeartbeatRequest{}, nil)
		}
		return r.call(c, "Heartbeat", v201.HeartbeatRequest{}, nil)
	case "meter":
		return r.meterValues(c, nil)
	}
	if c.version == ocppj.V16 {
		return r.transaction16(c)
	}
	return r.transaction201(c)
}

func (r *runner) meterValues(c *charger, txID *int) error {
	c.meter += whPerSample
	now := r.cfg.Now().UTC()
	if c.version == ocppj.V16 {
		return r.call(c, "MeterValues", v16.MeterValuesRequest{
			ConnectorId:   1,
			TransactionId: txID,
			MeterValue:    []v16.MeterValue{{Timestamp: now, SampledValue: []v16.SampledValue{sample16(c.meter)}}},
		}, nil)
	}
	return r.call(c, "MeterValues", v201.MeterValuesRequest{
		EvseId:     1,
		MeterValue: []v201.MeterValue{{Timestamp: now, SampledValue: []v201.SampledValue{sample201(c.meter)}}},
	}, nil)
}

func sample16(wh int) v16.SampledValue {
	return v16.SampledValue{
		Value:     strconv.Itoa(wh),
		Context:   v16.ReadingContextSamplePeriodic,
		Measurand: v16.MeasurandEnergyActiveImportRegister,
		Unit:      v16.UnitOfMeasureWh,
	}
}

func sample201(wh int) v201.SampledValue {
	return v201.SampledValue{
		Value:     float64(wh),
		Context:   v201.ReadingContextSamplePeriodic,
		Measurand: v201.MeasurandEnergyActiveImportRegister,
	}
}

// transaction16 runs one step of Authorize, StartTransaction, k MeterValues,
// StopTransaction, over and over.
func (r *runner) transaction16(c *charger) error {
	k := r.cfg.TxMeterValues
	step := c.step
	c.step++
	switch {
	case step == 0:
		var resp v16.AuthorizeResponse
		if err := r.call(c, "Authorize", v16.AuthorizeRequest{IdTag: r.cfg.IDTag}, &resp); err != nil {
			c.step = 0
			return err
		}
		return accepted16("Authorize", resp.IdTagInfo)
	case step == 1:
		var resp v16.StartTransactionResponse
		if err := r.call(c, "StartTransaction", v16.StartTransactionRequest{
			ConnectorId: 1, IdTag: r.cfg.IDTag, MeterStart: c.meter, Timestamp: r.cfg.Now().UTC(),
		}, &resp); err != nil {
			c.step = 0
			return err
		}
		c.txID16 = resp.TransactionId
		return accepted16("StartTransaction", resp.IdTagInfo)
	case step < 2+k:
		id := c.txID16
		return r.meterValues(c, &id)
	default:
		c.step = 0
		c.meter += whPerSample
		return r.call(c, "StopTransaction", v16.StopTransactionRequest{
			MeterStop: c.meter, Timestamp: r.cfg.Now().UTC(), TransactionId: c.txID16, Reason: v16.ReasonLocal,
		}, nil)
	}
}

func accepted16(action string, info v16.IdTagInfo) error {
	if info.Status != v16.AuthorizationStatusAccepted {
		return fmt.Errorf("%s: idTag %s: %w", action, info.Status, errRejected)
	}
	return nil
}

// transaction201 runs one step of TransactionEvent Started, k Updated,
// Ended, over and over.
func (r *runner) transaction201(c *charger) error {
	k := r.cfg.TxMeterValues
	step := c.step
	c.step++
	c.meter += whPerSample
	ev := v201.TransactionEventRequest{
		Timestamp:       r.cfg.Now().UTC(),
		SeqNo:           step,
		TransactionInfo: v201.Transaction{TransactionId: c.txID, ChargingState: v201.ChargingStateCharging},
		MeterValue:      []v201.MeterValue{{Timestamp: r.cfg.Now().UTC(), SampledValue: []v201.SampledValue{sample201(c.meter)}}},
	}
	switch {
	case step == 0:
		c.txID = uuid.NewString()
		connector := 1
		ev.EventType = v201.TransactionEventStarted
		ev.TriggerReason = v201.TriggerReasonAuthorized
		ev.TransactionInfo.TransactionId = c.txID
		ev.Evse = &v201.EVSE{Id: 1, ConnectorId: &connector}
		ev.IdToken = &v201.IdToken{IdToken: r.cfg.IDTag, Type: v201.IdTokenEnumISO14443}
	case step <= k:
		ev.EventType = v201.TransactionEventUpdated
		ev.TriggerReason = v201.TriggerReasonMeterValuePeriodic
	default:
		c.step = 0
		ev.EventType = v201.TransactionEventEnded
		ev.TriggerReason = v201.TriggerReasonStopAuthorized
		ev.TransactionInfo.ChargingState = v201.ChargingStateEVConnected
		ev.TransactionInfo.StoppedReason = v201.ReasonLocal
	}
	var resp v201.TransactionEventResponse
	if err := r.call(c, "TransactionEvent", ev, &resp); err != nil {
		return err
	}
	if resp.IdTokenInfo != nil && resp.IdTokenInfo.Status != v201.AuthorizationStatusAccepted {
		return fmt.Errorf("TransactionEvent: idToken %s: %w", resp.IdTokenInfo.Status, errRejected)
	}
	return nil
}
