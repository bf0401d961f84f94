package v201

import (
	"context"
	"encoding/base64"
	"log/slog"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/pki"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// CSRSigner decides SignCertificate and delivers the certificate once the
// station has its answer (a *certificates.Service).
type CSRSigner interface {
	Sign(ctx context.Context, r certificates.CSR) (certificates.Decision, error)
	Deliver(d certificates.Decision)
}

// SignCertificate answers SignCertificate (A02, A03): Accepted when the
// CSR passed the checks and was signed, after which the certificate
// follows in CertificateSigned; Rejected with a reason code otherwise.
type SignCertificate struct {
	Signer CSRSigner
}

func (h SignCertificate) Handle(ctx context.Context, m route.Meta, req *ocpp201.SignCertificateRequest) (*ocpp201.SignCertificateResponse, error) {
	d, err := h.Signer.Sign(ctx, certificates.CSR{StationID: m.StationID, OCPPVersion: ocppj.V201, PEM: req.Csr,
		CertificateType: string(req.CertificateType)})
	if err != nil {
		return nil, err
	}
	if !d.Accepted {
		return &ocpp201.SignCertificateResponse{Status: ocpp201.GenericStatusRejected,
			StatusInfo: &ocpp201.StatusInfo{ReasonCode: d.ReasonCode}}, nil
	}
	m.AfterReply(func() { h.Signer.Deliver(d) })
	return &ocpp201.SignCertificateResponse{Status: ocpp201.GenericStatusAccepted}, nil
}

// OCSPQuerier asks the configured OCSP responder (a *pki.OCSPResponder).
type OCSPQuerier interface {
	Query(ctx context.Context, h pki.HashData) ([]byte, error)
}

// Reason codes of a failed GetCertificateStatus.
const (
	ReasonNoOCSPResponder = "NoOCSPResponder"
	ReasonOCSPFailed      = "OCSPResponderError"
)

// maxOCSPResult is GetCertificateStatusResponse's ocspResult limit.
const maxOCSPResult = 5500

// GetCertificateStatus answers with the OCSP response of the configured
// responder (M06): the station verifies it. Without a responder, or when
// it fails, the answer is Failed, never a status the CSMS did not get.
// The responderURL the station names is not dialled (see pki.OCSPResponder).
type GetCertificateStatus struct {
	OCSP   OCSPQuerier // nil: no responder configured
	Logger *slog.Logger
}

func (h GetCertificateStatus) Handle(ctx context.Context, m route.Meta, req *ocpp201.GetCertificateStatusRequest) (*ocpp201.GetCertificateStatusResponse, error) {
	failed := func(reason string) *ocpp201.GetCertificateStatusResponse {
		return &ocpp201.GetCertificateStatusResponse{Status: ocpp201.GetCertificateStatusFailed,
			StatusInfo: &ocpp201.StatusInfo{ReasonCode: reason}}
	}
	if h.OCSP == nil {
		return failed(ReasonNoOCSPResponder), nil
	}
	d := req.OcspRequestData
	der, err := h.OCSP.Query(ctx, pki.HashData{HashAlgorithm: string(d.HashAlgorithm), IssuerNameHash: d.IssuerNameHash,
		IssuerKeyHash: d.IssuerKeyHash, SerialNumber: d.SerialNumber})
	if err != nil {
		h.logger().WarnContext(ctx, "OCSP query failed", "station", m.StationID, "serial", d.SerialNumber, "err", err)
		return failed(ReasonOCSPFailed), nil
	}
	result := base64.StdEncoding.EncodeToString(der)
	if len(result) > maxOCSPResult {
		h.logger().WarnContext(ctx, "OCSP response too large for GetCertificateStatus", "station", m.StationID, "bytes", len(der))
		return failed(ReasonOCSPFailed), nil
	}
	return &ocpp201.GetCertificateStatusResponse{Status: ocpp201.GetCertificateStatusAccepted, OcspResult: result}, nil
}

func (h GetCertificateStatus) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
