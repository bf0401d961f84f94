package main

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

type v201Protocol struct{}

func (v201Protocol) boot(ctx context.Context, s *Station, c *chargepoint.Client) (string, time.Duration, error) {
	var resp v201.BootNotificationResponse
	err := c.Call(ctx, "BootNotification", v201.BootNotificationRequest{
		ChargingStation: v201.ChargingStation{
			VendorName:      s.cfg.Vendor,
			Model:           s.cfg.Model,
			SerialNumber:    s.cfg.ID,
			FirmwareVersion: "chargeplane-simulator",
		},
		Reason: v201.BootReasonPowerUp,
	}, &resp)
	return string(resp.Status), time.Duration(resp.Interval) * time.Second, err
}

// status reports EVSE n's single connector. 2.0.1 has no error code in
// StatusNotification: the code typed in is only logged.
func (v201Protocol) status(ctx context.Context, c *chargepoint.Client, n int, st connState, _ string) error {
	status := map[connState]v201.ConnectorStatusEnum{stateAvailable: v201.ConnectorStatusAvailable,
		statePreparing: v201.ConnectorStatusOccupied, stateCharging: v201.ConnectorStatusOccupied,
		stateFaulted: v201.ConnectorStatusFaulted}[st]
	return c.Call(ctx, "StatusNotification", v201.StatusNotificationRequest{
		Timestamp:       time.Now().UTC(),
		ConnectorStatus: status,
		EvseId:          n,
		ConnectorId:     1,
	}, nil)
}

func (v201Protocol) defaultFault() string { return "Faulted" }

func (v201Protocol) faultCode(string) error { return nil }

func (v201Protocol) authorize(ctx context.Context, c *chargepoint.Client, tag string) (bool, error) {
	var resp v201.AuthorizeResponse
	if err := c.Call(ctx, "Authorize", v201.AuthorizeRequest{IdToken: v201.IdToken{IdToken: tag, Type: v201.IdTokenEnumISO14443}}, &resp); err != nil {
		return false, err
	}
	return resp.IdTokenInfo.Status == v201.AuthorizationStatusAccepted, nil
}

func (v201Protocol) startTx(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample) (bool, error) {
	tx.uid = uuid.NewString()
	trigger := v201.TriggerReasonAuthorized
	var remoteStartID *int
	if tx.remote {
		trigger, remoteStartID = v201.TriggerReasonRemoteStart, &tx.remoteStartID
	}
	one := 1
	var resp v201.TransactionEventResponse
	if err := c.Call(ctx, "TransactionEvent", v201.TransactionEventRequest{
		EventType: v201.TransactionEventStarted, Timestamp: sm.at.UTC(), TriggerReason: trigger, SeqNo: tx.seq,
		TransactionInfo: v201.Transaction{TransactionId: tx.uid, ChargingState: v201.ChargingStateCharging, RemoteStartId: remoteStartID},
		Evse:            &v201.EVSE{Id: n, ConnectorId: &one},
		IdToken:         &v201.IdToken{IdToken: tx.tag, Type: v201.IdTokenEnum(tx.tagType)},
		MeterValue:      []v201.MeterValue{meterValue201(sm, v201.ReadingContextTransactionBegin)},
	}, &resp); err != nil {
		return false, err
	}
	tx.seq++
	return resp.IdTokenInfo == nil || resp.IdTokenInfo.Status == v201.AuthorizationStatusAccepted, nil
}

func (v201Protocol) meter(ctx context.Context, c *chargepoint.Client, _ int, tx *transaction, sm sample) error {
	err := c.Call(ctx, "TransactionEvent", v201.TransactionEventRequest{
		EventType: v201.TransactionEventUpdated, Timestamp: sm.at.UTC(), TriggerReason: v201.TriggerReasonMeterValuePeriodic, SeqNo: tx.seq,
		TransactionInfo: v201.Transaction{TransactionId: tx.uid, ChargingState: v201.ChargingStateCharging},
		MeterValue:      []v201.MeterValue{meterValue201(sm, v201.ReadingContextSamplePeriodic)},
	}, &v201.TransactionEventResponse{})
	tx.seq++
	return err
}

func (v201Protocol) stopTx(ctx context.Context, c *chargepoint.Client, _ int, tx *transaction, sm sample, why stopReason) error {
	reason := map[stopReason]v201.ReasonEnum{stopLocal: v201.ReasonLocal, stopRemote: v201.ReasonRemote,
		stopEnergy: v201.ReasonEnergyLimitReached, stopFull: v201.ReasonStoppedByEV, stopFault: v201.ReasonOther,
		stopDeauthorized: v201.ReasonDeAuthorized}[why]
	trigger := map[stopReason]v201.TriggerReasonEnum{stopLocal: v201.TriggerReasonStopAuthorized, stopRemote: v201.TriggerReasonRemoteStop,
		stopEnergy: v201.TriggerReasonEnergyLimitReached, stopFull: v201.TriggerReasonChargingStateChanged,
		stopFault: v201.TriggerReasonAbnormalCondition, stopDeauthorized: v201.TriggerReasonDeauthorized}[why]
	err := c.Call(ctx, "TransactionEvent", v201.TransactionEventRequest{
		EventType: v201.TransactionEventEnded, Timestamp: sm.at.UTC(), TriggerReason: trigger, SeqNo: tx.seq,
		TransactionInfo: v201.Transaction{TransactionId: tx.uid, ChargingState: v201.ChargingStateEVConnected, StoppedReason: reason},
		MeterValue:      []v201.MeterValue{meterValue201(sm, v201.ReadingContextTransactionEnd)},
	}, &v201.TransactionEventResponse{})
	tx.seq++
	return err
}

// meterValue201 is a reading as a 2.0.1 meter reports it: the register in
// Wh, the power and the car's state of charge.
func meterValue201(sm sample, rc v201.ReadingContextEnum) v201.MeterValue {
	return v201.MeterValue{Timestamp: sm.at.UTC(), SampledValue: []v201.SampledValue{
		{Value: math.Floor(sm.register), Context: rc, Measurand: v201.MeasurandEnergyActiveImportRegister, UnitOfMeasure: &v201.UnitOfMeasure{Unit: "Wh"}},
		{Value: math.Round(sm.power), Context: rc, Measurand: v201.MeasurandPowerActiveImport, UnitOfMeasure: &v201.UnitOfMeasure{Unit: "W"}},
		{Value: math.Round(sm.soc * 100), Context: rc, Measurand: v201.MeasurandSoC, Location: v201.LocationEV, UnitOfMeasure: &v201.UnitOfMeasure{Unit: "Percent"}},
	}}
}

func (v201Protocol) heartbeat(ctx context.Context, c *chargepoint.Client) (time.Time, error) {
	var resp v201.HeartbeatResponse
	err := c.Call(ctx, "Heartbeat", v201.HeartbeatRequest{}, &resp)
	return resp.CurrentTime, err
}

func (p v201Protocol) answer(s *Station, action string, payload json.RawMessage) (any, func(context.Context, *chargepoint.Client) error, error) {
	switch action {
	case "SetVariables":
		var req v201.SetVariablesRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		resp := v201.SetVariablesResponse{SetVariableResult: []v201.SetVariableResult{}}
		for _, d := range req.SetVariableData {
			resp.SetVariableResult = append(resp.SetVariableResult, v201.SetVariableResult{
				AttributeType:   d.AttributeType,
				AttributeStatus: p.setVariable(s, d.Component.Name, d.Variable.Name, d.AttributeValue),
				Component:       d.Component,
				Variable:        d.Variable,
			})
		}
		return resp, nil, nil
	case "GetVariables":
		var req v201.GetVariablesRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		resp := v201.GetVariablesResponse{GetVariableResult: []v201.GetVariableResult{}}
		for _, d := range req.GetVariableData {
			r := v201.GetVariableResult{AttributeType: d.AttributeType, Component: d.Component, Variable: d.Variable}
			switch {
			case d.Component.Name == "OCPPCommCtrlr" && d.Variable.Name == "HeartbeatInterval":
				r.AttributeStatus = "Accepted"
				r.AttributeValue = strconv.Itoa(int(s.heartbeatInterval() / time.Second))
			case d.Component.Name == "OCPPCommCtrlr" || d.Component.Name == "SecurityCtrlr":
				r.AttributeStatus = "UnknownVariable"
			default:
				r.AttributeStatus = "UnknownComponent"
			}
			resp.GetVariableResult = append(resp.GetVariableResult, r)
		}
		return resp, nil, nil
	case "TriggerMessage":
		var req v201.TriggerMessageRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		later := p.trigger(s, string(req.RequestedMessage))
		if req.RequestedMessage == v201.MessageTriggerSignChargingStationCertificate {
			later = s.signCertificate(p.certificateType())
		}
		if later == nil {
			return v201.TriggerMessageResponse{Status: "NotImplemented"}, nil, nil
		}
		return v201.TriggerMessageResponse{Status: "Accepted"}, later, nil
	case "CertificateSigned":
		var req v201.CertificateSignedRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		return v201.CertificateSignedResponse{Status: v201.CertificateSignedStatusEnum(s.certificateSigned(req.CertificateChain))}, nil, nil
	case "InstallCertificate":
		var req v201.InstallCertificateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		if err := s.certs.install(string(req.CertificateType), req.Certificate); err != nil {
			s.log.Warn("InstallCertificate refused", "err", err)
			return v201.InstallCertificateResponse{Status: "Rejected"}, nil, nil
		}
		return v201.InstallCertificateResponse{Status: "Accepted"}, nil, nil
	case "GetInstalledCertificateIds":
		var req v201.GetInstalledCertificateIdsRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		var types []string
		for _, t := range req.CertificateType {
			types = append(types, string(t))
		}
		typs, list := s.certs.list(types...)
		if len(list) == 0 {
			return v201.GetInstalledCertificateIdsResponse{Status: "NotFound"}, nil, nil
		}
		resp := v201.GetInstalledCertificateIdsResponse{Status: "Accepted"}
		for i, h := range list {
			resp.CertificateHashDataChain = append(resp.CertificateHashDataChain, v201.CertificateHashDataChain{
				CertificateType: v201.GetCertificateIdUseEnum(typs[i]),
				CertificateHashData: v201.CertificateHashData{HashAlgorithm: v201.HashAlgorithmEnum(h.HashAlgorithm),
					IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}})
		}
		return resp, nil, nil
	case "DeleteCertificate":
		var req v201.DeleteCertificateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		h := req.CertificateHashData
		if !s.certs.remove(pki.HashData{HashAlgorithm: string(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash,
			IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}) {
			return v201.DeleteCertificateResponse{Status: "NotFound"}, nil, nil
		}
		return v201.DeleteCertificateResponse{Status: "Accepted"}, nil, nil
	case "Reset":
		return v201.ResetResponse{Status: "Accepted"}, s.reboot, nil
	case "ChangeAvailability":
		return v201.ChangeAvailabilityResponse{Status: "Accepted"}, nil, nil
	case "ClearCache":
		return v201.ClearCacheResponse{Status: "Accepted"}, nil, nil
	case "RequestStartTransaction":
		var req v201.RequestStartTransactionRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		want := 0
		if req.EvseId != nil {
			if want = *req.EvseId; want < 1 {
				return v201.RequestStartTransactionResponse{Status: "Rejected"}, nil, nil
			}
		}
		n := s.plugIn(want, &transaction{tag: req.IdToken.IdToken, tagType: string(req.IdToken.Type), remote: true, remoteStartID: req.RemoteStartId})
		if n == 0 {
			return v201.RequestStartTransactionResponse{Status: "Rejected"}, nil, nil
		}
		return v201.RequestStartTransactionResponse{Status: "Accepted"}, s.startCharging(n), nil
	case "RequestStopTransaction":
		var req v201.RequestStopTransactionRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V201, err)
		}
		n := s.findTx(func(tx *transaction) bool { return tx.uid == req.TransactionId })
		if n == 0 {
			return v201.RequestStopTransactionResponse{Status: "Rejected"}, nil, nil
		}
		return v201.RequestStopTransactionResponse{Status: "Accepted"}, s.stopCharging(n, stopRemote), nil
	case "DataTransfer":
		return v201.DataTransferResponse{Status: "UnknownVendorId"}, nil, nil
	}
	return nil, nil, notSupported(action)
}

func (v201Protocol) certificateType() string { return "ChargingStationCertificate" }

func (v201Protocol) setVariable(s *Station, component, variable, value string) v201.SetVariableStatusEnum {
	switch {
	case component == "OCPPCommCtrlr" && variable == "HeartbeatInterval":
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return "Rejected"
		}
		s.setHeartbeatInterval(time.Duration(n) * time.Second)
		return "Accepted"
	case component == "SecurityCtrlr" && variable == "BasicAuthPassword":
		s.setPassword(value)
		return "Accepted"
	case component == "OCPPCommCtrlr" || component == "SecurityCtrlr":
		return "UnknownVariable"
	}
	return "UnknownComponent"
}

func (p v201Protocol) trigger(s *Station, msg string) func(context.Context, *chargepoint.Client) error {
	switch msg {
	case "BootNotification":
		return func(ctx context.Context, c *chargepoint.Client) error {
			status, interval, err := p.boot(ctx, s, c)
			if err != nil {
				s.log.Warn("triggered BootNotification failed", "err", err)
				return nil
			}
			s.bootAnswered(status, interval)
			return nil
		}
	case "Heartbeat":
		return s.heartbeat
	case "StatusNotification":
		return s.reportConnectors
	}
	return nil
}
