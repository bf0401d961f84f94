package main

import (
	"context"
	"encoding/json"
	"fmt"
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

func (v16Protocol) status(ctx context.Context, c *chargepoint.Client, connector int, st connState, code string) error {
	status := map[connState]v16.ChargePointStatus{stateAvailable: v16.ChargePointStatusAvailable,
		statePreparing: v16.ChargePointStatusPreparing, stateCharging: v16.ChargePointStatusCharging,
		stateFaulted: v16.ChargePointStatusFaulted}[st]
	errorCode := v16.ChargePointErrorCodeNoError
	if st == stateFaulted {
		errorCode = v16.ChargePointErrorCode(code)
	}
	return c.Call(ctx, "StatusNotification", v16.StatusNotificationRequest{
		ConnectorId: connector,
		ErrorCode:   errorCode,
		Status:      status,
		Timestamp:   time.Now().UTC(),
	}, nil)
}

func (v16Protocol) defaultFault() string { return string(v16.ChargePointErrorCodeOtherError) }

// faultCode checks an error code typed in: 1.6 knows a fixed list.
func (v16Protocol) faultCode(code string) error {
	switch v16.ChargePointErrorCode(code) {
	case v16.ChargePointErrorCodeConnectorLockFailure, v16.ChargePointErrorCodeEVCommunicationError,
		v16.ChargePointErrorCodeGroundFailure, v16.ChargePointErrorCodeHighTemperature,
		v16.ChargePointErrorCodeInternalError, v16.ChargePointErrorCodeLocalListConflict,
		v16.ChargePointErrorCodeOtherError, v16.ChargePointErrorCodeOverCurrentFailure,
		v16.ChargePointErrorCodePowerMeterFailure, v16.ChargePointErrorCodePowerSwitchFailure,
		v16.ChargePointErrorCodeReaderFailure, v16.ChargePointErrorCodeResetFailure,
		v16.ChargePointErrorCodeUnderVoltage, v16.ChargePointErrorCodeOverVoltage, v16.ChargePointErrorCodeWeakSignal:
		return nil
	}
	return fmt.Errorf("error code %q: want an OCPP 1.6 ChargePointErrorCode such as GroundFailure or OtherError", code)
}

func (v16Protocol) authorize(ctx context.Context, c *chargepoint.Client, tag string) (bool, error) {
	var resp v16.AuthorizeResponse
	if err := c.Call(ctx, "Authorize", v16.AuthorizeRequest{IdTag: tag}, &resp); err != nil {
		return false, err
	}
	return resp.IdTagInfo.Status == v16.AuthorizationStatusAccepted, nil
}

func (v16Protocol) startTx(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample) (bool, error) {
	var resp v16.StartTransactionResponse
	if err := c.Call(ctx, "StartTransaction", v16.StartTransactionRequest{
		ConnectorId: n, IdTag: tx.tag, MeterStart: int(sm.register), Timestamp: sm.at.UTC(),
	}, &resp); err != nil {
		return false, err
	}
	tx.id16 = resp.TransactionId
	return resp.IdTagInfo.Status == v16.AuthorizationStatusAccepted, nil
}

func (v16Protocol) meter(ctx context.Context, c *chargepoint.Client, n int, tx *transaction, sm sample) error {
	id := tx.id16
	return c.Call(ctx, "MeterValues", v16.MeterValuesRequest{ConnectorId: n, TransactionId: &id,
		MeterValue: []v16.MeterValue{meterValue16(sm, v16.ReadingContextSamplePeriodic)}}, nil)
}

func (v16Protocol) stopTx(ctx context.Context, c *chargepoint.Client, _ int, tx *transaction, sm sample, why stopReason) error {
	reason := map[stopReason]v16.Reason{stopLocal: v16.ReasonLocal, stopRemote: v16.ReasonRemote,
		stopEnergy: v16.ReasonLocal, stopFull: v16.ReasonEVDisconnected, stopFault: v16.ReasonOther,
		stopDeauthorized: v16.ReasonDeAuthorized}[why]
	return c.Call(ctx, "StopTransaction", v16.StopTransactionRequest{
		IdTag: tx.tag, MeterStop: int(sm.register), Timestamp: sm.at.UTC(), TransactionId: tx.id16, Reason: reason,
		TransactionData: []v16.MeterValue{meterValue16(sm, v16.ReadingContextTransactionEnd)},
	}, nil)
}

// meterValue16 is a reading as a 1.6 meter reports it: the register in Wh,
// the power and the car's state of charge.
func meterValue16(sm sample, rc v16.ReadingContext) v16.MeterValue {
	return v16.MeterValue{Timestamp: sm.at.UTC(), SampledValue: []v16.SampledValue{
		{Value: strconv.FormatInt(int64(sm.register), 10), Context: rc, Measurand: v16.MeasurandEnergyActiveImportRegister, Unit: v16.UnitOfMeasureWh},
		{Value: strconv.FormatFloat(sm.power, 'f', 0, 64), Context: rc, Measurand: v16.MeasurandPowerActiveImport, Unit: v16.UnitOfMeasureW},
		{Value: strconv.FormatFloat(sm.soc*100, 'f', 0, 64), Context: rc, Measurand: v16.MeasurandSoC, Unit: v16.UnitOfMeasurePercent, Location: v16.LocationEV},
	}}
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
		var req v16.RemoteStartTransactionRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		want := 0
		if req.ConnectorId != nil {
			if want = *req.ConnectorId; want < 1 {
				return v16.RemoteStartTransactionResponse{Status: "Rejected"}, nil, nil
			}
		}
		n := s.plugIn(want, &transaction{tag: req.IdTag, remote: true})
		if n == 0 {
			return v16.RemoteStartTransactionResponse{Status: "Rejected"}, nil, nil
		}
		return v16.RemoteStartTransactionResponse{Status: "Accepted"}, s.startCharging(n), nil
	case "RemoteStopTransaction":
		var req v16.RemoteStopTransactionRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, nil, badPayload(ocppj.V16, err)
		}
		n := s.findTx(func(tx *transaction) bool { return tx.id16 == req.TransactionId })
		if n == 0 {
			return v16.RemoteStopTransactionResponse{Status: "Rejected"}, nil, nil
		}
		return v16.RemoteStopTransactionResponse{Status: "Accepted"}, s.stopCharging(n, stopRemote), nil
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
