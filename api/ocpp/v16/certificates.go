package v16

import (
	"context"

	"github.com/chargeplane/chargeplane/api/certificates"
	"github.com/chargeplane/chargeplane/api/ocpp/route"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// CSRSigner decides SignCertificate and delivers the certificate once the
// station has its answer (a *certificates.Service).
type CSRSigner interface {
	Sign(ctx context.Context, r certificates.CSR) (certificates.Decision, error)
	Deliver(d certificates.Decision)
}

// SignCertificate answers the whitepaper's SignCertificate: Accepted when
// the CSR passed the checks and was signed, after which the certificate
// follows in CertificateSigned; Rejected otherwise (1.6 has no field for
// the reason, which is in the CSMS's security events).
type SignCertificate struct {
	Signer CSRSigner
}

func (h SignCertificate) Handle(ctx context.Context, m route.Meta, req *ocpp16.SignCertificateRequest) (*ocpp16.SignCertificateResponse, error) {
	d, err := h.Signer.Sign(ctx, certificates.CSR{StationID: m.StationID, OCPPVersion: ocppj.V16, PEM: req.Csr})
	if err != nil {
		return nil, err
	}
	if !d.Accepted {
		return &ocpp16.SignCertificateResponse{Status: ocpp16.GenericStatusRejected}, nil
	}
	m.AfterReply(func() { h.Signer.Deliver(d) })
	return &ocpp16.SignCertificateResponse{Status: ocpp16.GenericStatusAccepted}, nil
}
