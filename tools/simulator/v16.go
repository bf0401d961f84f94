package main

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

type v16Protocol struct{}

func (v16Protocol) boot(ctx context.Context, s *Station, c *chargepoint.Client) (string, time.Duration, error) {
	var resp v16.BootNotificationResponse
	err := c.Call(ctx, "BootNotification", v16.BootNotificationRequest{
		ChargePointVendor:       s.cfg.Vendor,
		ChargePointModel:        s.cfg.Model,
		ChargePointSerialNumber: s.cfg.ID,
		FirmwareVersion:         "chargeplane-simulator",
	}, &resp)
	return string(resp.Status), time.Duration(resp.Interval * float64(time.Second)), err
}

func (v16Protocol) status(ctx context.Context, c *chargepoint.Client, connector int) error {
	return c.Call(ctx, "StatusNotification", v16.StatusNotificationRequest{
		ConnectorId: connector,
		ErrorCode:   v16.ChargePointErrorCodeNoError,
		Status:      v16.ChargePointStatusAvailable,
		Timestamp:   time.Now().UTC(),
	}, nil)
}

func (v16Protocol) heartbeat(ctx context.Context, c *chargepoint.Client) (time.Time, error) {
	var resp v16.HeartbeatResponse
	err := c.Call(ctx, "Heartbeat", v16.HeartbeatRequest{}, &resp)
	return resp.CurrentTime, err
}

func (p v16Protocol) answer(s *Station, action string, payload json.RawMessage) (any, func(context.Context, *chargepoint.Client) error, error) {
	switch action {
	case "ChangeConfiguration":
		var req v16.ChangeConfigurationRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		return v16.ChangeConfigurationResponse{Status: p.changeConfiguration(s, req.Key, req.Value)}, nil, nil
	case "GetConfiguration":
		var req v16.GetConfigurationRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		return p.getConfiguration(s, req.Key), nil, nil
	case "TriggerMessage":
		var req v16.TriggerMessageRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		later := p.trigger(s, string(req.RequestedMessage))
		if later == nil {
			return v16.TriggerMessageResponse{Status: "NotImplemented"}, nil, nil
		}
		return v16.TriggerMessageResponse{Status: "Accepted"}, later, nil
	case "ExtendedTriggerMessage":
		var req v16.ExtendedTriggerMessageRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		later := p.trigger(s, string(req.RequestedMessage))
		if req.RequestedMessage == v16.MessageTriggerSignChargePointCertificate {
			later = s.signCertificate("")
		}
		if later == nil {
			return v16.ExtendedTriggerMessageResponse{Status: "NotImplemented"}, nil, nil
		}
		return v16.ExtendedTriggerMessageResponse{Status: "Accepted"}, later, nil
	case "CertificateSigned":
		var req v16.CertificateSignedRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		return v16.CertificateSignedResponse{Status: v16.CertificateSignedStatusEnum(s.certificateSigned(req.CertificateChain))}, nil, nil
	case "InstallCertificate":
		var req v16.InstallCertificateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		if err := s.certs.install(string(req.CertificateType), req.Certificate); err != nil {
			s.log.Warn("InstallCertificate refused", "err", err)
			return v16.InstallCertificateResponse{Status: "Rejected"}, nil, nil
		}
		return v16.InstallCertificateResponse{Status: "Accepted"}, nil, nil
	case "GetInstalledCertificateIds":
		var req v16.GetInstalledCertificateIdsRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		_, list := s.certs.list(string(req.CertificateType))
		if len(list) == 0 {
			return v16.GetInstalledCertificateIdsResponse{Status: "NotFound"}, nil, nil
		}
		resp := v16.GetInstalledCertificateIdsResponse{Status: "Accepted"}
		for _, h := range list {
			resp.CertificateHashData = append(resp.CertificateHashData, v16.GetInstalledCertificateIdsResponseCertificateHashData{
				HashAlgorithm: v16.HashAlgorithmEnum(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash,
				IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber})
		}
		return resp, nil, nil
	case "DeleteCertificate":
		var req v16.DeleteCertificateRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		h := req.CertificateHashData
		if !s.certs.remove(pki.HashData{HashAlgorithm: string(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash,
			IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}) {
			return v16.DeleteCertificateResponse{Status: "NotFound"}, nil, nil
		}
		return v16.DeleteCertificateResponse{Status: "Accepted"}, nil, nil
	case "Reset":
		return v16.ResetResponse{Status: "Accepted"}, s.reboot, nil
	case "ChangeAvailability":
		return v16.ChangeAvailabilityResponse{Status: "Accepted"}, nil, nil
	case "ClearCache":
		return v16.ClearCacheResponse{Status: "Accepted"}, nil, nil
	case "RemoteStartTransaction":
		// The simulator does not charge: refusing is the honest answer.
		return v16.RemoteStartTransactionResponse{Status: "Rejected"}, nil, nil
	case "RemoteStopTransaction":
		return v16.RemoteStopTransactionResponse{Status: "Rejected"}, nil, nil
	case "UnlockConnector":
		return v16.UnlockConnectorResponse{Status: "NotSupported"}, nil, nil
	case "DataTransfer":
		return v16.DataTransferResponse{Status: "UnknownVendorId"}, nil, nil
	}
	return nil, nil, notSupported(action)
}

func (v16Protocol) changeConfiguration(s *Station, key, value string) v16.ChangeConfigurationResponseStatus {
	switch key {
	case "HeartbeatInterval":
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return "Rejected"
		}
		s.setHeartbeatInterval(time.Duration(n) * time.Second)
		return "Accepted"
	case "AuthorizationKey":
		// The security whitepaper sends the password hex-encoded.
		p, err := credentials.FromAuthorizationKey(value)
		if err != nil {
			return "Rejected"
		}
		s.setPassword(p)
		return "Accepted"
	case "NumberOfConnectors":
		return "Rejected"
	}
	return "NotSupported"
}

func (v16Protocol) certificateType() string { return "" }

func (v16Protocol) getConfiguration(s *Station, keys []string) v16.GetConfigurationResponse {
	all := map[string]v16.KeyValue{
		"HeartbeatInterval":  {Key: "HeartbeatInterval", Value: strconv.Itoa(int(s.heartbeatInterval() / time.Second))},
		"NumberOfConnectors": {Key: "NumberOfConnectors", Readonly: true, Value: strconv.Itoa(s.cfg.Connectors)},
	}
	var resp v16.GetConfigurationResponse
	if len(keys) == 0 {
		resp.ConfigurationKey = []v16.KeyValue{all["HeartbeatInterval"], all["NumberOfConnectors"]}
		return resp
	}
	for _, k := range keys {
		if kv, ok := all[k]; ok {
			resp.ConfigurationKey = append(resp.ConfigurationKey, kv)
		} else {
			resp.UnknownKey = append(resp.UnknownKey, k)
		}
	}
	return resp
}

func (p v16Protocol) trigger(s *Station, msg string) func(context.Context, *chargepoint.Client) error {
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
