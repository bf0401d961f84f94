package operator

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// CustomerInformationStore is what CustomerInformationService reads.
type CustomerInformationStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListCustomerRequests(ctx context.Context, stationID string, p store.Page) ([]store.CustomerRequest, int64, error)
}

// CustomerResults completes requests with their results (a
// customerinfo.Requests).
type CustomerResults interface {
	Get(ctx context.Context, stationID string, requestID int) (*customerinfo.Result, error)
	Results(ctx context.Context, recs []store.CustomerRequest) ([]customerinfo.Result, error)
}

// CustomerInformationService implements chargeplane.v1.CustomerInformationService.
type CustomerInformationService struct {
	chargeplanev1.UnimplementedCustomerInformationServiceServer

	send    commands
	store   CustomerInformationStore
	results CustomerResults
	log     *slog.Logger
}

// NewCustomerInformationService returns the customer information command
// and its results.
func NewCustomerInformationService(cmds *command.Sender, st CustomerInformationStore, results CustomerResults, logger *slog.Logger) *CustomerInformationService {
	if logger == nil {
		logger = slog.Default()
	}
	return &CustomerInformationService{send: commands{s: cmds, log: logger}, store: st, results: results, log: logger}
}

const customerCursor = "ci1:"

// CustomerInformation asks a 2.0.1 station, and the CSMS itself, about a
// customer's data.
func (s *CustomerInformationService) CustomerInformation(ctx context.Context, req *chargeplanev1.CustomerInformationRequest) (*chargeplanev1.CustomerInformationResponse, error) {
	if req.GetRequestId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "request_id must not be negative")
	}
	if h := req.GetCustomerCertificate(); h != nil {
		if err := oneOf("customer_certificate.hash_algorithm", h.GetHashAlgorithm(), false, []string{"SHA256", "SHA384", "SHA512"}); err != nil {
			return nil, err
		}
	}
	r, err := do[command.CustomerInfoReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	res := customerinfo.Result{Request: r.Request}
	out := &chargeplanev1.CustomerInformationResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		Result: s.toProto(ctx, &res)}
	if len(r.CSMSData) > 0 {
		out.Result.CsmsData = s.structOf(ctx, r.CSMSData)
	}
	return out, nil
}

// GetCustomerInformation returns one request with its result.
func (s *CustomerInformationService) GetCustomerInformation(ctx context.Context, req *chargeplanev1.GetCustomerInformationRequest) (*chargeplanev1.GetCustomerInformationResponse, error) {
	if err := s.station(ctx, req.GetStationId()); err != nil {
		return nil, err
	}
	res, err := s.results.Get(ctx, req.GetStationId(), int(req.GetRequestId()))
	if err != nil {
		return nil, storeError(ctx, s.log, err, "no customer information request "+strconv.Itoa(int(req.GetRequestId()))+" on this station")
	}
	return &chargeplanev1.GetCustomerInformationResponse{Result: s.toProto(ctx, res)}, nil
}

// ListCustomerInformation returns the station's requests, newest first.
func (s *CustomerInformationService) ListCustomerInformation(ctx context.Context, req *chargeplanev1.ListCustomerInformationRequest) (*chargeplanev1.ListCustomerInformationResponse, error) {
	page, err := readNewestPage(req, customerCursor)
	if err != nil {
		return nil, err
	}
	if err := s.station(ctx, req.GetStationId()); err != nil {
		return nil, err
	}
	rows, total, err := s.store.ListCustomerRequests(ctx, req.GetStationId(), page.byID())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp := &chargeplanev1.ListCustomerInformationResponse{Total: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(r *store.CustomerRequest) int64 { return r.ID })
	results, err := s.results.Results(ctx, rows)
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp.Results = make([]*chargeplanev1.CustomerInformationResult, 0, len(results))
	for i := range results {
		resp.Results = append(resp.Results, s.toProto(ctx, &results[i]))
	}
	return resp, nil
}

func (s *CustomerInformationService) station(ctx context.Context, id string) error {
	if err := ValidateStationRef(id); err != nil {
		return invalid(err)
	}
	if _, err := s.store.GetStation(ctx, id); err != nil {
		return storeError(ctx, s.log, err, notFoundMsg(id))
	}
	return nil
}

// toProto converts a result; what was stored by the core and cannot be
// read back is logged and left out rather than failing the listing.
func (s *CustomerInformationService) toProto(ctx context.Context, res *customerinfo.Result) *chargeplanev1.CustomerInformationResult {
	r := res.Request
	out := &chargeplanev1.CustomerInformationResult{RequestId: int32(r.RequestID), Report: r.Report, Clear: r.Clear,
		IdToken: r.IDToken, IdTokenType: r.IDTokenType, CustomerIdentifier: r.CustomerIdentifier,
		ExportCsmsData: r.ExportCSMSData, ClearCsmsData: r.ClearCSMSData, Status: r.Status, Error: r.Error,
		TokensDeleted: int32(r.TokensDeleted), SessionsPseudonymised: int32(r.SessionsPseudonymised),
		StationReportComplete: res.ReportComplete, StationReport: res.Report, StationReportGeneratedAt: ts(res.GeneratedAt),
		RequestedBy: r.RequestedBy, CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt)}
	if r.Certificate != "" {
		var h struct{ HashAlgorithm, IssuerNameHash, IssuerKeyHash, SerialNumber string }
		if err := json.Unmarshal([]byte(r.Certificate), &h); err != nil {
			s.log.WarnContext(ctx, "customer certificate unreadable", "station", r.StationID, "request", r.RequestID, "err", err)
		} else {
			out.CustomerCertificate = &chargeplanev1.CertificateHashData{HashAlgorithm: h.HashAlgorithm, IssuerNameHash: h.IssuerNameHash,
				IssuerKeyHash: h.IssuerKeyHash, SerialNumber: h.SerialNumber}
		}
	}
	if r.CSMSData != "" {
		out.CsmsData = s.structOf(ctx, []byte(r.CSMSData))
	}
	return out
}

func (s *CustomerInformationService) structOf(ctx context.Context, raw []byte) *structpb.Struct {
	v := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		s.log.WarnContext(ctx, "exported customer data unreadable", "err", err)
		return nil
	}
	return v
}
