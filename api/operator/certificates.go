package operator

import (
	"context"
	"encoding/json"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// CertificateStore is what CertificateService reads and keeps.
type CertificateStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListIssuedCertificates(ctx context.Context, stationID string, p store.SeqPage) ([]store.IssuedCertificate, int64, error)
	ListInstalledCertificates(ctx context.Context, stationID string) ([]store.InstalledCertificate, error)
}

// CertificateService implements chargeplane.v1.CertificateService.
type CertificateService struct {
	chargeplanev1.UnimplementedCertificateServiceServer

	cmds  commands
	ca    *pki.CA // nil: the CSMS signs nothing
	store CertificateStore
	log   *slog.Logger
}

// NewCertificateService returns the certificate service; ca nil means the
// CSMS has no certificate authority.
func NewCertificateService(cmds *command.Sender, ca *pki.CA, st CertificateStore, logger *slog.Logger) *CertificateService {
	if logger == nil {
		logger = slog.Default()
	}
	return &CertificateService{cmds: commands{s: cmds, log: logger}, ca: ca, store: st, log: logger}
}

const issuedCursor = "iss1:"

// GetCertificateAuthority returns the CA certificate.
func (s *CertificateService) GetCertificateAuthority(context.Context, *chargeplanev1.GetCertificateAuthorityRequest) (*chargeplanev1.GetCertificateAuthorityResponse, error) {
	if s.ca == nil {
		return &chargeplanev1.GetCertificateAuthorityResponse{}, nil
	}
	c := s.ca.Certificate()
	return &chargeplanev1.GetCertificateAuthorityResponse{Enabled: true, Certificate: string(s.ca.CertificatePEM()),
		Subject: c.Subject.String(), NotAfter: timestamppb.New(c.NotAfter)}, nil
}

// ListIssuedCertificates returns the certificates issued to a station,
// newest first.
func (s *CertificateService) ListIssuedCertificates(ctx context.Context, req *chargeplanev1.ListIssuedCertificatesRequest) (*chargeplanev1.ListIssuedCertificatesResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	page, err := readNewestPage(req, issuedCursor)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, total, err := s.store.ListIssuedCertificates(ctx, req.GetStationId(), page.seq())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListIssuedCertificatesResponse{TotalSize: total}
	rows, out.NextPageToken = cutNewest(page, rows, func(c *store.IssuedCertificate) int64 { return c.ID })
	for i := range rows {
		out.Certificates = append(out.Certificates, issuedToProto(&rows[i]))
	}
	return out, nil
}

func issuedToProto(c *store.IssuedCertificate) *chargeplanev1.IssuedCertificate {
	out := &chargeplanev1.IssuedCertificate{
		StationId: c.StationID, SerialNumber: c.SerialNumber, Subject: c.Subject, Issuer: c.Issuer,
		NotBefore: ts(c.NotBefore), NotAfter: ts(c.NotAfter), CertificateType: c.CertificateType, OcppVersion: c.OCPPVersion.Text(),
		DeliveryStatus: c.DeliveryStatus, DeliveryAttempts: int32(c.DeliveryAttempts), DeliveryError: c.DeliveryError,
		CommandId: c.CommandID, CertificateChain: c.ChainPEM, CreatedAt: ts(c.CreatedAt),
	}
	if c.DeliveryStatus == store.DeliveryPending && c.NextAttemptAt != nil {
		out.NextAttemptAt = ts(*c.NextAttemptAt)
	}
	return out
}

// ListInstalledCertificates returns the station's certificate inventory.
func (s *CertificateService) ListInstalledCertificates(ctx context.Context, req *chargeplanev1.ListInstalledCertificatesRequest) (*chargeplanev1.ListInstalledCertificatesResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, err := s.store.ListInstalledCertificates(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	return &chargeplanev1.ListInstalledCertificatesResponse{Certificates: installedToProto(rows)}, nil
}

func installedToProto(rows []store.InstalledCertificate) []*chargeplanev1.InstalledCertificate {
	out := make([]*chargeplanev1.InstalledCertificate, 0, len(rows))
	for _, c := range rows {
		e := &chargeplanev1.InstalledCertificate{CertificateType: c.CertificateType, ReportedAt: ts(c.ReportedAt),
			HashData: hashDataToProto(pki.HashData{HashAlgorithm: c.HashAlgorithm, IssuerNameHash: c.IssuerNameHash,
				IssuerKeyHash: c.IssuerKeyHash, SerialNumber: c.SerialNumber})}
		var children []pki.HashData
		// Written from a station's answer as pki.HashData; unreadable
		// means hand-edited data, left out rather than failing the list.
		if c.ChildCertificates != "" && json.Unmarshal([]byte(c.ChildCertificates), &children) == nil {
			for _, h := range children {
				e.ChildCertificates = append(e.ChildCertificates, hashDataToProto(h))
			}
		}
		out = append(out, e)
	}
	return out
}

func hashDataToProto(h pki.HashData) *chargeplanev1.CertificateHashData {
	return &chargeplanev1.CertificateHashData{HashAlgorithm: h.HashAlgorithm, IssuerNameHash: h.IssuerNameHash,
		IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}
}

// GetInstalledCertificateIds asks the station which certificates it holds;
// the answer becomes its inventory of those types.
func (s *CertificateService) GetInstalledCertificateIds(ctx context.Context, req *chargeplanev1.GetInstalledCertificateIdsRequest) (*chargeplanev1.GetInstalledCertificateIdsResponse, error) {
	r, err := do[command.InventoryReply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.GetInstalledCertificateIdsResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		Certificates: installedToProto(r.Certificates)}, nil
}

// InstallCertificate sends a root certificate the station shall trust.
func (s *CertificateService) InstallCertificate(ctx context.Context, req *chargeplanev1.InstallCertificateRequest) (*chargeplanev1.InstallCertificateResponse, error) {
	if req.GetCertificateType() == "" {
		return nil, status.Error(codes.InvalidArgument, "certificate_type is required")
	}
	if _, err := pki.ParseCertificates([]byte(req.GetCertificate())); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate: %v", err)
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.InstallCertificateResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// DeleteCertificate asks the station to delete a certificate.
func (s *CertificateService) DeleteCertificate(ctx context.Context, req *chargeplanev1.DeleteCertificateRequest) (*chargeplanev1.DeleteCertificateResponse, error) {
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.DeleteCertificateResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// RenewCertificate asks the station for a new CSR; the certificate follows
// its SignCertificate.
func (s *CertificateService) RenewCertificate(ctx context.Context, req *chargeplanev1.RenewCertificateRequest) (*chargeplanev1.RenewCertificateResponse, error) {
	if s.ca == nil {
		return nil, status.Error(codes.FailedPrecondition, "the CSMS has no certificate authority (CA_CERT_FILE, CA_KEY_FILE): it would reject the station's CSR")
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.RenewCertificateResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}

// SendCertificateSigned sends the station a certificate chain the operator
// gives: PEM, leaf first, the leaf for this station.
func (s *CertificateService) SendCertificateSigned(ctx context.Context, req *chargeplanev1.SendCertificateSignedRequest) (*chargeplanev1.SendCertificateSignedResponse, error) {
	chain, err := pki.ParseCertificates([]byte(req.GetCertificateChain()))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate_chain: %v", err)
	}
	if cn := chain[0].Subject.CommonName; cn != req.GetStationId() {
		return nil, status.Errorf(codes.InvalidArgument, "certificate_chain: the leaf's CN %q is not the station id", cn)
	}
	r, err := do[command.Reply](ctx, s.cmds, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.SendCertificateSignedResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode}, nil
}
