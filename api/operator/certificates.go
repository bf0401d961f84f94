package operator

import (
	"context"
	"log/slog"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/pki"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// CertificateStore is what CertificateService reads and keeps.
type CertificateStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListIssuedCertificates(ctx context.Context, stationID string, p store.SeqPage) ([]store.IssuedCertificate, int64, error)
}

// CertificateService implements chargeplane.v1.CertificateService.
type CertificateService struct {
	chargeplanev1.UnimplementedCertificateServiceServer

	ca    *pki.CA // nil: the CSMS signs nothing
	store CertificateStore
	log   *slog.Logger
}

// NewCertificateService returns the certificate service; ca nil means the
// CSMS has no certificate authority.
func NewCertificateService(ca *pki.CA, st CertificateStore, logger *slog.Logger) *CertificateService {
	if logger == nil {
		logger = slog.Default()
	}
	return &CertificateService{ca: ca, store: st, log: logger}
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
	if err := ValidateStationID(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, invalid(err)
	}
	before, err := decodeSeqCursor(issuedCursor, req.GetPageToken())
	if err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, total, err := s.store.ListIssuedCertificates(ctx, req.GetStationId(), store.SeqPage{Limit: size + 1, Before: before})
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListIssuedCertificatesResponse{TotalSize: total}
	if len(rows) > size {
		rows = rows[:size]
		out.NextPageToken = encodeCursor(issuedCursor, strconv.FormatInt(rows[len(rows)-1].ID, 10))
	}
	for i := range rows {
		out.Certificates = append(out.Certificates, issuedToProto(&rows[i]))
	}
	return out, nil
}

func issuedToProto(c *store.IssuedCertificate) *chargeplanev1.IssuedCertificate {
	out := &chargeplanev1.IssuedCertificate{
		StationId: c.StationID, SerialNumber: c.SerialNumber, Subject: c.Subject, Issuer: c.Issuer,
		NotBefore: ts(c.NotBefore), NotAfter: ts(c.NotAfter), CertificateType: c.CertificateType, OcppVersion: c.OCPPVersion,
		DeliveryStatus: c.DeliveryStatus, DeliveryAttempts: int32(c.DeliveryAttempts), DeliveryError: c.DeliveryError,
		CommandId: c.CommandID, CertificateChain: c.ChainPEM, CreatedAt: ts(c.CreatedAt),
	}
	if c.DeliveryStatus == store.DeliveryPending && c.NextAttemptAt != nil {
		out.NextAttemptAt = ts(*c.NextAttemptAt)
	}
	return out
}
