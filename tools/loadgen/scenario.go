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
	case "scale":
		if !c.tx {
			if c.version == ocppj.V16 {
				return r.call(c, "Heartbeat", v16.HeartbeatRequest{}, nil)
			}
			return r.call(c, "Heartbeat", v201.HeartbeatRequest{}, nil)
		}
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

// pendingCall is a transaction message waiting for its answer.
type pendingCall struct {
	action string
	req    any
	resp   func() any           // a fresh response value
	done   func(resp any) error // applies the answer
}

// Session is one charging session as its charger saw it acknowledged:
// the start (1.6 StartTransaction answered with TxID; 2.0.1 TransactionEvent
// Started answered, UID) and, once answered, the end.
type Session struct {
	Station string `json:"station"`
	Version string `json:"version"`
	TxID    int    `json:"txId,omitempty"`
	UID     string `json:"uid,omitempty"`
	Ended   bool   `json:"ended"`
	// MeterStart and MeterStop are the register readings sent (Wh).
	MeterStart int `json:"meterStart"`
	MeterStop  int `json:"meterStop,omitempty"`
	// Unacked: its start was sent, never answered before the run ended; the
	// database may or may not hold it.
	Unacked bool `json:"unacked,omitempty"`
}

// ledger gathers every charger's sessions (after the run: workers
// stopped), and a start still unanswered at the end, marked Unacked.
func (r *runner) ledger() []Session {
	var out []Session
	for _, c := range r.chargers {
		out = append(out, c.sessions...)
		if p := c.pending; p != nil && (p.action == "StartTransaction" || (p.action == "TransactionEvent" && c.step == 0)) {
			s := Session{Station: c.id, Version: c.version.String(), Unacked: true}
			if p.action == "TransactionEvent" {
				s.UID = c.txID
			}
			out = append(out, s)
		}
	}
	return out
}

// sendPending sends c's pending transaction message (building it with next
// when there is none) and, once answered, applies the answer. Until then
// it stays pending and is sent again, with the same content, at the next
// step: as a real charger does, so the CSMS deduplicates it.
func (r *runner) sendPending(c *charger, next func() *pendingCall) error {
	if c.pending == nil {
		c.pending = next()
	}
	p := c.pending
	resp := p.resp()
	if err := r.call(c, p.action, p.req, resp); err != nil {
		return err // unanswered or refused for now: sent again as it is
	}
	c.pending = nil
	return p.done(resp)
}

// transaction16 runs one step of Authorize, StartTransaction, k MeterValues,
// StopTransaction, over and over.
func (r *runner) transaction16(c *charger) error {
	return r.sendPending(c, func() *pendingCall {
		k := r.cfg.TxMeterValues
		step := c.step
		now := r.cfg.Now().UTC()
		switch {
		case step == 0:
			return &pendingCall{action: "Authorize", req: v16.AuthorizeRequest{IdTag: r.cfg.IDTag},
				resp: func() any { return &v16.AuthorizeResponse{} },
				done: func(resp any) error {
					if err := accepted16("Authorize", resp.(*v16.AuthorizeResponse).IdTagInfo); err != nil {
						return err
					}
					c.step = 1
					return nil
				}}
		case step == 1:
			start := c.meter
			return &pendingCall{action: "StartTransaction", req: v16.StartTransactionRequest{ConnectorId: 1, IdTag: r.cfg.IDTag, MeterStart: start, Timestamp: now},
				resp: func() any { return &v16.StartTransactionResponse{} },
				done: func(resp any) error {
					sr := resp.(*v16.StartTransactionResponse)
					c.txID16 = sr.TransactionId
					c.sessions = append(c.sessions, Session{Station: c.id, Version: "1.6", TxID: sr.TransactionId, MeterStart: start})
					c.step = 2
					return accepted16("StartTransaction", sr.IdTagInfo)
				}}
		case step < 2+k:
			c.meter += whPerSample
			id := c.txID16
			return &pendingCall{action: "MeterValues", req: v16.MeterValuesRequest{ConnectorId: 1, TransactionId: &id,
				MeterValue: []v16.MeterValue{{Timestamp: now, SampledValue: []v16.SampledValue{sample16(c.meter)}}}},
				resp: func() any { return nil },
				done: func(any) error { c.step++; return nil }}
		default:
			c.meter += whPerSample
			stop := c.meter
			return &pendingCall{action: "StopTransaction", req: v16.StopTransactionRequest{MeterStop: stop, Timestamp: now, TransactionId: c.txID16, Reason: v16.ReasonLocal},
				resp: func() any { return nil },
				done: func(any) error {
					if n := len(c.sessions); n > 0 {
						c.sessions[n-1].Ended, c.sessions[n-1].MeterStop = true, stop
					}
					c.step = 0
					return nil
				}}
		}
	})
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
	return r.sendPending(c, func() *pendingCall {
		k := r.cfg.TxMeterValues
		step := c.step
		c.meter += whPerSample
		now := r.cfg.Now().UTC()
		ev := v201.TransactionEventRequest{
			Timestamp:       now,
			SeqNo:           step,
			TransactionInfo: v201.Transaction{TransactionId: c.txID, ChargingState: v201.ChargingStateCharging},
			MeterValue:      []v201.MeterValue{{Timestamp: now, SampledValue: []v201.SampledValue{sample201(c.meter)}}},
		}
		meter := c.meter
		var done func() error
		switch {
		case step == 0:
			c.txID = uuid.NewString()
			connector := 1
			ev.EventType = v201.TransactionEventStarted
			ev.TriggerReason = v201.TriggerReasonAuthorized
			ev.TransactionInfo.TransactionId = c.txID
			ev.Evse = &v201.EVSE{Id: 1, ConnectorId: &connector}
			ev.IdToken = &v201.IdToken{IdToken: r.cfg.IDTag, Type: v201.IdTokenEnumISO14443}
			uid := c.txID
			done = func() error {
				c.sessions = append(c.sessions, Session{Station: c.id, Version: "2.0.1", UID: uid, MeterStart: meter})
				c.step = 1
				return nil
			}
		case step <= k:
			ev.EventType = v201.TransactionEventUpdated
			ev.TriggerReason = v201.TriggerReasonMeterValuePeriodic
			done = func() error { c.step++; return nil }
		default:
			ev.EventType = v201.TransactionEventEnded
			ev.TriggerReason = v201.TriggerReasonStopAuthorized
			ev.TransactionInfo.ChargingState = v201.ChargingStateEVConnected
			ev.TransactionInfo.StoppedReason = v201.ReasonLocal
			done = func() error {
				if n := len(c.sessions); n > 0 {
					c.sessions[n-1].Ended, c.sessions[n-1].MeterStop = true, meter
				}
				c.step = 0
				return nil
			}
		}
		return &pendingCall{action: "TransactionEvent", req: ev,
			resp: func() any { return &v201.TransactionEventResponse{} },
			done: func(resp any) error {
				tr := resp.(*v201.TransactionEventResponse)
				if err := done(); err != nil {
					return err
				}
				if tr.IdTokenInfo != nil && tr.IdTokenInfo.Status != v201.AuthorizationStatusAccepted {
					return fmt.Errorf("TransactionEvent: idToken %s: %w", tr.IdTokenInfo.Status, errRejected)
				}
				return nil
			}}
	})
}
