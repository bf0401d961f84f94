package operator

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// SecurityEventStore is what SecurityEventService reads.
type SecurityEventStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	ListSecurityEvents(ctx context.Context, f store.SecurityEventFilter, p store.Page) ([]store.SecurityEvent, int64, error)
}

// SecurityEventService implements chargeplane.v1.SecurityEventService.
type SecurityEventService struct {
	chargeplanev1.UnimplementedSecurityEventServiceServer

	store SecurityEventStore
	log   *slog.Logger
}

// NewSecurityEventService returns the security event listings.
func NewSecurityEventService(st SecurityEventStore, logger *slog.Logger) *SecurityEventService {
	if logger == nil {
		logger = slog.Default()
	}
	return &SecurityEventService{store: st, log: logger}
}

const securityEventCursor = "se1:"

// securityEventQuery is what both listings accept.
type securityEventQuery interface {
	pagedRequest
	GetSource() string
	GetType() string
	GetFrom() *timestamppb.Timestamp
	GetTo() *timestamppb.Timestamp
}

// ListStationSecurityEvents returns one station's events, newest first.
func (s *SecurityEventService) ListStationSecurityEvents(ctx context.Context, req *chargeplanev1.ListStationSecurityEventsRequest) (*chargeplanev1.ListStationSecurityEventsResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	page, err := s.list(ctx, store.SecurityEventFilter{StationID: req.GetStationId()}, req)
	if err != nil {
		return nil, err
	}
	return &chargeplanev1.ListStationSecurityEventsResponse{Events: page.Events, NextPageToken: page.NextPageToken, Total: page.Total}, nil
}

// ListSecurityEvents returns every station's events, newest first.
func (s *SecurityEventService) ListSecurityEvents(ctx context.Context, req *chargeplanev1.ListSecurityEventsRequest) (*chargeplanev1.ListSecurityEventsResponse, error) {
	return s.list(ctx, store.SecurityEventFilter{AllStations: true}, req)
}

func (s *SecurityEventService) list(ctx context.Context, f store.SecurityEventFilter, req securityEventQuery) (*chargeplanev1.ListSecurityEventsResponse, error) {
	page, err := readNewestPage(req, securityEventCursor)
	if err != nil {
		return nil, err
	}
	f.Source, f.Type = req.GetSource(), req.GetType()
	switch f.Source {
	case "", store.SecuritySourceStation, store.SecuritySourceCSMS:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "source %q is not station or csms", f.Source)
	}
	if len(f.Type) > 64 {
		return nil, status.Error(codes.InvalidArgument, "type is longer than 64 characters")
	}
	if from := req.GetFrom(); from != nil {
		if err := validateTimestamp("from", from); err != nil {
			return nil, invalid(err)
		}
		f.From = from.AsTime()
	}
	if to := req.GetTo(); to != nil {
		if err := validateTimestamp("to", to); err != nil {
			return nil, invalid(err)
		}
		f.To = to.AsTime()
	}
	rows, total, err := s.store.ListSecurityEvents(ctx, f, page.byID())
	if err != nil {
		return nil, storeError(ctx, s.log, err, "")
	}
	resp := &chargeplanev1.ListSecurityEventsResponse{Total: total}
	rows, resp.NextPageToken = cutNewest(page, rows, func(e *store.SecurityEvent) int64 { return e.ID })
	resp.Events = make([]*chargeplanev1.SecurityEvent, 0, len(rows))
	for i := range rows {
		resp.Events = append(resp.Events, SecurityEventToProto(&rows[i]))
	}
	return resp, nil
}

// SecurityEventToProto converts a stored security event.
func SecurityEventToProto(e *store.SecurityEvent) *chargeplanev1.SecurityEvent {
	return &chargeplanev1.SecurityEvent{
		Id: e.ID, StationId: e.StationID, Source: e.Source, Type: e.Type, OccurredAt: timestamppb.New(e.OccurredAt),
		TechInfo: e.TechInfo, RemoteAddr: e.RemoteAddr, CertSubject: e.CertSubject, CertIssuer: e.CertIssuer,
		ReceivedAt: timestamppb.New(e.ReceivedAt),
	}
}
