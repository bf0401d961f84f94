package main

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

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

// status reports EVSE n's single connector.
func (v201Protocol) status(ctx context.Context, c *chargepoint.Client, n int) error {
	return c.Call(ctx, "StatusNotification", v201.StatusNotificationRequest{
		Timestamp:       time.Now().UTC(),
		ConnectorStatus: v201.ConnectorStatusAvailable,
		EvseId:          n,
		ConnectorId:     1,
	}, nil)
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
		// The simulator does not charge: refusing is the honest answer.
		return v201.RequestStartTransactionResponse{Status: "Rejected"}, nil, nil
	case "RequestStopTransaction":
		return v201.RequestStopTransactionResponse{Status: "Rejected"}, nil, nil
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
