package v16

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
)

// The security whitepaper's CSMS-initiated actions: certificates, the
// station password, signed firmware and typed logs.

// InventoryStore keeps the certificates stations report as installed.
type InventoryStore interface {
	AddInstalledCertificate(ctx context.Context, c store.InstalledCertificate) error
	RemoveInstalledCertificate(ctx context.Context, stationID string, c store.InstalledCertificate) (bool, error)
	ReplaceInstalledCertificates(ctx context.Context, stationID string, types []string, certs []store.InstalledCertificate, at time.Time) error
}

func installCertificate(_ context.Context, _ command.Meta, in *chargeplanev1.InstallCertificateRequest) (*ocpp16.InstallCertificateRequest, error) {
	return &ocpp16.InstallCertificateRequest{CertificateType: ocpp16.CertificateUseEnum(in.GetCertificateType()), Certificate: in.GetCertificate()}, nil
}

// certificateInstalled adds an accepted root to the station's inventory.
func (c commands) certificateInstalled(ctx context.Context, a answer[ocpp16.InstallCertificateRequest, ocpp16.InstallCertificateResponse]) (command.None, error) {
	if a.Response.Status != ocpp16.InstallCertificateStatusAccepted {
		return command.None{}, nil
	}
	e, ok := certificates.Installed(a.StationID, string(a.Request.CertificateType), a.Request.Certificate, c.Now())
	if !ok {
		return command.None{}, nil
	}
	return command.None{}, c.Inventory.AddInstalledCertificate(ctx, e)
}

func certificateInstallAnswered(a answer[ocpp16.InstallCertificateRequest, ocpp16.InstallCertificateResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func deleteCertificate(_ context.Context, _ command.Meta, in *chargeplanev1.DeleteCertificateRequest) (*ocpp16.DeleteCertificateRequest, error) {
	h, err := deleteHashData(in)
	if err != nil {
		return nil, err
	}
	return &ocpp16.DeleteCertificateRequest{CertificateHashData: ocpp16.DeleteCertificateRequestCertificateHashData{
		HashAlgorithm: ocpp16.HashAlgorithmEnum(h.HashAlgorithm), IssuerNameHash: h.IssuerNameHash,
		IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}}, nil
}

// deleteHashData is the certificate a DeleteCertificate names.
func deleteHashData(in *chargeplanev1.DeleteCertificateRequest) (pki.HashData, error) {
	hd := in.GetHashData()
	h, err := certificates.ToDelete(pki.HashData{HashAlgorithm: hd.GetHashAlgorithm(), IssuerNameHash: hd.GetIssuerNameHash(),
		IssuerKeyHash: hd.GetIssuerKeyHash(), SerialNumber: hd.GetSerialNumber()}, in.GetCertificate())
	if err != nil {
		return pki.HashData{}, command.Invalid("%v", err)
	}
	return h, nil
}

// certificateDeleted forgets a certificate the station deleted or does
// not have.
func (c commands) certificateDeleted(ctx context.Context, a answer[ocpp16.DeleteCertificateRequest, ocpp16.DeleteCertificateResponse]) (command.None, error) {
	if a.Response.Status == ocpp16.DeleteCertificateStatusFailed {
		return command.None{}, nil
	}
	h := a.Request.CertificateHashData
	_, err := c.Inventory.RemoveInstalledCertificate(ctx, a.StationID, store.InstalledCertificate{HashAlgorithm: string(h.HashAlgorithm),
		IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber})
	return command.None{}, err
}

func certificateDeleteAnswered(a answer[ocpp16.DeleteCertificateRequest, ocpp16.DeleteCertificateResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

func getInstalledCertificateIds(_ context.Context, _ command.Meta, in *chargeplanev1.GetInstalledCertificateIdsRequest) (*ocpp16.GetInstalledCertificateIdsRequest, error) {
	if len(in.GetCertificateTypes()) != 1 {
		return nil, command.Invalid("OCPP 1.6 GetInstalledCertificateIds asks for exactly one certificate type (CentralSystemRootCertificate or ManufacturerRootCertificate)")
	}
	return &ocpp16.GetInstalledCertificateIdsRequest{CertificateType: ocpp16.CertificateUseEnum(in.GetCertificateTypes()[0])}, nil
}

// installedCertificateIds makes the answer the station's inventory of the
// type asked for (NotFound: it has none).
func (c commands) installedCertificateIds(ctx context.Context, a answer[ocpp16.GetInstalledCertificateIdsRequest, ocpp16.GetInstalledCertificateIdsResponse]) ([]store.InstalledCertificate, error) {
	typ := string(a.Request.CertificateType)
	at := c.Now()
	var rows []store.InstalledCertificate
	if a.Response.Status == ocpp16.GetInstalledCertificateStatusAccepted {
		for _, h := range a.Response.CertificateHashData {
			rows = append(rows, certificates.Entry(a.StationID, typ, pki.HashData{HashAlgorithm: string(h.HashAlgorithm),
				IssuerNameHash: h.IssuerNameHash, IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}, nil, at))
		}
	}
	if err := c.Inventory.ReplaceInstalledCertificates(ctx, a.StationID, []string{typ}, rows, at); err != nil {
		return nil, fmt.Errorf("record the installed certificates: %w", err)
	}
	return rows, nil
}

func installedCertificateIdsGot(a answer[ocpp16.GetInstalledCertificateIdsRequest, ocpp16.GetInstalledCertificateIdsResponse], rows []store.InstalledCertificate) (command.InventoryReply, error) {
	return command.InventoryReply{Reply: command.StatusReply(a.Meta, a.Response.Status), Certificates: rows}, nil
}

func certificateSigned(_ context.Context, _ command.Meta, in *chargeplanev1.SendCertificateSignedRequest) (*ocpp16.CertificateSignedRequest, error) {
	return &ocpp16.CertificateSignedRequest{CertificateChain: in.GetCertificateChain()}, nil
}

func certificateSignedAnswered(a answer[ocpp16.CertificateSignedRequest, ocpp16.CertificateSignedResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

// renewCertificate asks for a new CSR (ExtendedTriggerMessage).
func renewCertificate(context.Context, command.Meta, *chargeplanev1.RenewCertificateRequest) (*ocpp16.ExtendedTriggerMessageRequest, error) {
	return &ocpp16.ExtendedTriggerMessageRequest{RequestedMessage: ocpp16.MessageTriggerSignChargePointCertificate}, nil
}

func renewalTriggered(a answer[ocpp16.ExtendedTriggerMessageRequest, ocpp16.ExtendedTriggerMessageResponse], _ command.None) (command.Reply, error) {
	return command.StatusReply(a.Meta, a.Response.Status), nil
}

// changePassword is AuthorizationKey, hex-encoded (security whitepaper).
func changePassword(_ context.Context, _ command.Meta, in command.PasswordChange) (*ocpp16.ChangeConfigurationRequest, error) {
	return &ocpp16.ChangeConfigurationRequest{Key: "AuthorizationKey", Value: credentials.AuthorizationKey(in.Password)}, nil
}

func (c commands) signedUpdateFirmware(_ context.Context, _ command.Meta, in command.SignedFirmwareUpdate) (*ocpp16.SignedUpdateFirmwareRequest, error) {
	u := in.UpdateFirmwareRequest
	retrieve := command.Time(u.RetrieveTime)
	if retrieve.IsZero() {
		retrieve = command.OCPPTime(c.Now())
	}
	return &ocpp16.SignedUpdateFirmwareRequest{RequestId: command.RequestID(u.GetRequestId()), Retries: command.Int(u.Retries),
		RetryInterval: command.Int(u.RetryInterval),
		Firmware: ocpp16.Firmware{Location: u.GetLocation(), RetrieveDateTime: retrieve, InstallDateTime: command.Time(u.InstallTime),
			SigningCertificate: u.GetSigningCertificate(), Signature: u.GetSignature()}}, nil
}

// signedFirmwareUpdating: the progress arrives in
// SignedFirmwareStatusNotification.
func signedFirmwareUpdating(a answer[ocpp16.SignedUpdateFirmwareRequest, ocpp16.SignedUpdateFirmwareResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: command.StatusReply(a.Meta, a.Response.Status), RequestID: a.Request.RequestId}, nil
}

func uploadLog(_ context.Context, _ command.Meta, in command.LogUpload) (*ocpp16.GetLogRequest, error) {
	l := in.GetLogRequest
	typ := ocpp16.LogEnum(l.GetLogType())
	if typ == "" {
		typ = ocpp16.LogDiagnosticsLog
	}
	return &ocpp16.GetLogRequest{LogType: typ, RequestId: command.RequestID(l.GetRequestId()), Retries: command.Int(l.Retries),
		RetryInterval: command.Int(l.RetryInterval),
		Log: ocpp16.LogParameters{RemoteLocation: l.GetLocation(), OldestTimestamp: command.Time(l.OldestTime),
			LatestTimestamp: command.Time(l.LatestTime)}}, nil
}

// logUploading: the progress arrives in LogStatusNotification.
func logUploading(a answer[ocpp16.GetLogRequest, ocpp16.GetLogResponse], _ command.None) (command.RequestReply, error) {
	return command.RequestReply{Reply: command.StatusReply(a.Meta, a.Response.Status), RequestID: a.Request.RequestId,
		Filename: a.Response.Filename}, nil
}
