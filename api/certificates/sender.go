package certificates

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chargeplane/chargeplane/api/command"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Commander sends commands (a *command.Dispatcher).
type Commander interface {
	Version(ctx context.Context, stationID string) (ocppj.Version, error)
	Call(ctx context.Context, r command.Request) (*command.Result, error)
}

// CommandSender sends CertificateSigned through the command path, so that
// every delivery attempt is in the station's command history.
type CommandSender struct {
	Commands Commander
}

// SendCertificateSigned implements Sender.
func (s CommandSender) SendCertificateSigned(ctx context.Context, stationID, chainPEM string) (Answer, error) {
	v, err := s.Commands.Version(ctx, stationID)
	if err != nil {
		return Answer{}, err
	}
	var payload any = ocpp16.CertificateSignedRequest{CertificateChain: chainPEM}
	if v == ocppj.V201 {
		payload = ocpp201.CertificateSignedRequest{CertificateChain: chainPEM, CertificateType: ocpp201.CertificateSigningUseChargingStationCertificate}
	}
	res, err := s.Commands.Call(ctx, command.Request{StationID: stationID, Action: "CertificateSigned", Payload: payload,
		RequestedBy: "csms:certificates"})
	if err != nil {
		return Answer{}, err
	}
	var ans struct {
		Status     string `json:"status"`
		StatusInfo *struct {
			ReasonCode string `json:"reasonCode"`
		} `json:"statusInfo"`
	}
	if err := json.Unmarshal(res.Payload, &ans); err != nil {
		return Answer{CommandID: res.CommandID}, fmt.Errorf("certificates: unreadable CertificateSigned answer: %w", err)
	}
	out := Answer{CommandID: res.CommandID, Status: ans.Status}
	if ans.StatusInfo != nil {
		out.Reason = ans.StatusInfo.ReasonCode
	}
	return out, nil
}
