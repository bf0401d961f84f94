package v201

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// The security block's CSMS-initiated actions (A, M): certificates and the
// station password.

// InventoryStore keeps the certificates stations report as installed.
type InventoryStore interface {
	AddInstalledCertificate(ctx context.Context, c store.InstalledCertificate) error
	RemoveInstalledCertificate(ctx context.Context, stationID string, c store.InstalledCertificate) (bool, error)
	ReplaceInstalledCertificates(ctx context.Context, stationID string, types []string, certs []store.InstalledCertificate, at time.Time) error
}

func hashData(h ocpp201.CertificateHashData) pki.HashData {
	return pki.HashData{HashAlgorithm: string(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash,
		SerialNumber: h.SerialNumber}
}

func installCertificate(_ context.Context, _ command.Meta, in *chargeplanev1.InstallCertificateRequest) (*ocpp201.InstallCertificateRequest, error) {
	return &ocpp201.InstallCertificateRequest{CertificateType: ocpp201.InstallCertificateUseEnum(in.GetCertificateType()),
		Certificate: in.GetCertificate()}, nil
}

// certificateInstalled adds an accepted root to the station's inventory.
func (c commands) certificateInstalled(ctx context.Context, a answer[ocpp201.InstallCertificateRequest, ocpp201.InstallCertificateResponse]) (command.None, error) {
	if a.Response.Status != ocpp201.InstallCertificateStatusAccepted {
		return command.None{}, nil
	}
	e, ok := certificates.Installed(a.StationID, string(a.Request.CertificateType), a.Request.Certificate, c.Now())
	if !ok {
		return command.None{}, nil
	}
	return command.None{}, c.Inventory.AddInstalledCertificate(ctx, e)
}

func certificateInstallAnswered(a answer[ocpp201.InstallCertificateRequest, ocpp201.InstallCertificateResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func deleteCertificate(_ context.Context, _ command.Meta, in *chargeplanev1.DeleteCertificateRequest) (*ocpp201.DeleteCertificateRequest, error) {
	hd := in.GetHashData()
	h, err := certificates.ToDelete(pki.HashData{HashAlgorithm: hd.GetHashAlgorithm(), IssuerNameHash: hd.GetIssuerNameHash(),
		IssuerKeyHash: hd.GetIssuerKeyHash(), SerialNumber: hd.GetSerialNumber()}, in.GetCertificate())
	if err != nil {
		return nil, command.Invalid("%v", err)
	}
	return &ocpp201.DeleteCertificateRequest{CertificateHashData: ocpp201.CertificateHashData{
		HashAlgorithm: ocpp201.HashAlgorithmEnum(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash,
		IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}}, nil
}

// certificateDeleted forgets a certificate the station deleted or does
// not have.
func (c commands) certificateDeleted(ctx context.Context, a answer[ocpp201.DeleteCertificateRequest, ocpp201.DeleteCertificateResponse]) (command.None, error) {
	if a.Response.Status == ocpp201.DeleteCertificateStatusFailed {
		return command.None{}, nil
	}
	h := hashData(a.Request.CertificateHashData)
	_, err := c.Inventory.RemoveInstalledCertificate(ctx, a.StationID, store.InstalledCertificate{HashAlgorithm: h.HashAlgorithm,
		IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber})
	return command.None{}, err
}

func certificateDeleteAnswered(a answer[ocpp201.DeleteCertificateRequest, ocpp201.DeleteCertificateResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

func getInstalledCertificateIds(_ context.Context, _ command.Meta, in *chargeplanev1.GetInstalledCertificateIdsRequest) (*ocpp201.GetInstalledCertificateIdsRequest, error) {
	req := &ocpp201.GetInstalledCertificateIdsRequest{}
	for _, t := range in.GetCertificateTypes() {
		req.CertificateType = append(req.CertificateType, ocpp201.GetCertificateIdUseEnum(t))
	}
	return req, nil
}

// installedCertificateIds makes the answer the station's inventory of the
// types asked for (all types when none were named; NotFound: none).
func (c commands) installedCertificateIds(ctx context.Context, a answer[ocpp201.GetInstalledCertificateIdsRequest, ocpp201.GetInstalledCertificateIdsResponse]) ([]store.InstalledCertificate, error) {
	var types []string
	for _, t := range a.Request.CertificateType {
		types = append(types, string(t))
	}
	at := c.Now()
	var rows []store.InstalledCertificate
	if a.Response.Status == ocpp201.GetInstalledCertificateStatusAccepted {
		for _, ch := range a.Response.CertificateHashDataChain {
			var children []pki.HashData
			for _, h := range ch.ChildCertificateHashData {
				children = append(children, hashData(h))
			}
			rows = append(rows, certificates.Entry(a.StationID, string(ch.CertificateType), hashData(ch.CertificateHashData), children, at))
		}
	}
	if err := c.Inventory.ReplaceInstalledCertificates(ctx, a.StationID, types, rows, at); err != nil {
		return nil, fmt.Errorf("record the installed certificates: %w", err)
	}
	return rows, nil
}

func installedCertificateIdsGot(a answer[ocpp201.GetInstalledCertificateIdsRequest, ocpp201.GetInstalledCertificateIdsResponse], rows []store.InstalledCertificate) (command.InventoryReply, error) {
	return command.InventoryReply{Reply: reply(a.Meta, a.Response.Status, a.Response.StatusInfo), Certificates: rows}, nil
}

// certificateSigned sends a chain for the station's own (TLS client)
// certificate, the only kind this CSMS signs.
func certificateSigned(_ context.Context, _ command.Meta, in *chargeplanev1.SendCertificateSignedRequest) (*ocpp201.CertificateSignedRequest, error) {
	return &ocpp201.CertificateSignedRequest{CertificateChain: in.GetCertificateChain(),
		CertificateType: ocpp201.CertificateSigningUseChargingStationCertificate}, nil
}

func certificateSignedAnswered(a answer[ocpp201.CertificateSignedRequest, ocpp201.CertificateSignedResponse], _ command.None) (command.Reply, error) {
	return reply(a.Meta, a.Response.Status, a.Response.StatusInfo), nil
}

// renewCertificate asks for a new CSR (TriggerMessage).
func renewCertificate(context.Context, command.Meta, *chargeplanev1.RenewCertificateRequest) (*ocpp201.TriggerMessageRequest, error) {
	return &ocpp201.TriggerMessageRequest{RequestedMessage: ocpp201.MessageTriggerSignChargingStationCertificate}, nil
}

// changePassword sets SecurityCtrlr.BasicAuthPassword.
func changePassword(_ context.Context, _ command.Meta, in command.PasswordChange) (*ocpp201.SetVariablesRequest, error) {
	return &ocpp201.SetVariablesRequest{SetVariableData: []ocpp201.SetVariableData{{
		Component: ocpp201.Component{Name: "SecurityCtrlr"}, Variable: ocpp201.Variable{Name: "BasicAuthPassword"},
		AttributeValue: in.Password}}}, nil
}

// passwordChanged is the one variable's status.
func passwordChanged(a answer[ocpp201.SetVariablesRequest, ocpp201.SetVariablesResponse], _ command.None) (command.Reply, error) {
	if len(a.Response.SetVariableResult) != 1 {
		return command.Reply{}, &command.UnreadableAnswerError{Action: ocpp201.ActionSetVariables, CommandID: a.CommandID,
			Err: fmt.Errorf("%d results for one variable", len(a.Response.SetVariableResult))}
	}
	r := a.Response.SetVariableResult[0]
	return reply(a.Meta, r.AttributeStatus, r.AttributeStatusInfo), nil
}

// signedUpdateFirmware: 2.0.1's UpdateFirmware carries the signature.
func (c commands) signedUpdateFirmware(ctx context.Context, m command.Meta, in command.SignedFirmwareUpdate) (*ocpp201.UpdateFirmwareRequest, error) {
	return c.updateFirmware(ctx, m, in.UpdateFirmwareRequest)
}

// uploadLog: 2.0.1's GetLog always names its type.
func uploadLog(ctx context.Context, m command.Meta, in command.LogUpload) (*ocpp201.GetLogRequest, error) {
	return getLog(ctx, m, in.GetLogRequest)
}
