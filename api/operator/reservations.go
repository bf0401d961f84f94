package operator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/reservation"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// ReservationStore is what ReservationService reads.
type ReservationStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	GetReservation(ctx context.Context, stationID string, id int64) (*store.Reservation, error)
	ListReservations(ctx context.Context, stationID string, f store.ReservationFilter) ([]store.Reservation, error)
}

// ReservationService implements chargeplane.v1.ReservationService.
type ReservationService struct {
	chargeplanev1.UnimplementedReservationServiceServer

	send  commands
	store ReservationStore
	now   func() time.Time
	log   *slog.Logger
}

// NewReservationService returns the reservation commands; now nil means
// time.Now.
func NewReservationService(cmds *command.Sender, st ReservationStore, now func() time.Time, logger *slog.Logger) *ReservationService {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &ReservationService{send: commands{s: cmds, log: logger}, store: st, now: now, log: logger}
}

// ReserveNow records the reservation (its id is the reservationId), sends
// ReserveNow and records the station's answer, or Failed when there was
// none (see the version's command table).
func (s *ReservationService) ReserveNow(ctx context.Context, req *chargeplanev1.ReserveNowRequest) (*chargeplanev1.ReserveNowResponse, error) {
	if err := validateTokenText("id_token", req.GetIdToken(), true); err != nil {
		return nil, invalid(err)
	}
	if err := validateTokenText("group_id_token", req.GetGroupIdToken(), false); err != nil {
		return nil, invalid(err)
	}
	if req.GetIdTokenType() != "" {
		if err := validateTokenType(req.GetIdTokenType()); err != nil {
			return nil, invalid(err)
		}
	}
	if req.GetExpiresAt() == nil {
		return nil, status.Error(codes.InvalidArgument, "expires_at is required")
	}
	if err := checkTime("expires_at", req.GetExpiresAt()); err != nil {
		return nil, err
	}
	if !req.GetExpiresAt().AsTime().After(s.now()) {
		return nil, status.Error(codes.InvalidArgument, "expires_at must be in the future")
	}
	if err := nonNegative("evse_id", req.EvseId); err != nil {
		return nil, err
	}
	r, err := do[command.ReservationReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	if r.Reservation == nil {
		return nil, status.Error(codes.Internal, "the station answered but its answer could not be recorded")
	}
	s.log.InfoContext(ctx, "reservation made", "station", req.GetStationId(), "reservation", r.Reservation.ID, "status", r.Status)
	return &chargeplanev1.ReserveNowResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode,
		Reservation: s.toProto(r.Reservation)}, nil
}

// CancelReservation sends CancelReservation; an accepted cancellation
// marks the reservation Cancelled.
func (s *ReservationService) CancelReservation(ctx context.Context, req *chargeplanev1.CancelReservationRequest) (*chargeplanev1.CancelReservationResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if req.GetReservationId() <= 0 || req.GetReservationId() > 1<<31-1 {
		return nil, status.Error(codes.InvalidArgument, "reservation_id must be a positive 32-bit integer")
	}
	res, err := s.store.GetReservation(ctx, req.GetStationId(), req.GetReservationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, fmt.Sprintf("reservation %d of station %q not found", req.GetReservationId(), req.GetStationId()))
	}
	r, err := do[command.ReservationReply](ctx, s.send, req.GetStationId(), req)
	if err != nil {
		return nil, err
	}
	if r.Reservation != nil {
		res = r.Reservation
	}
	return &chargeplanev1.CancelReservationResponse{CommandId: r.CommandID, Status: r.Status, ReasonCode: r.ReasonCode, Reservation: s.toProto(res)}, nil
}

const reservationCursor = "res1:"

// ListReservations pages through a station's reservations, newest first.
func (s *ReservationService) ListReservations(ctx context.Context, req *chargeplanev1.ListReservationsRequest) (*chargeplanev1.ListReservationsResponse, error) {
	if err := ValidateStationRef(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	page, err := readNewestPage(req, reservationCursor)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	f := store.ReservationFilter{BeforeID: page.before(), Limit: page.limit()}
	if req.GetActiveOnly() {
		now := s.now()
		f.ActiveAt = &now
	}
	rows, err := s.store.ListReservations(ctx, req.GetStationId(), f)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListReservationsResponse{}
	rows, out.NextPageToken = cutNewest(page, rows, func(r *store.Reservation) int64 { return r.ID })
	out.Reservations = make([]*chargeplanev1.Reservation, 0, len(rows))
	for i := range rows {
		out.Reservations = append(out.Reservations, s.toProto(&rows[i]))
	}
	return out, nil
}

// toProto converts a stored reservation as it shows now.
func (s *ReservationService) toProto(r *store.Reservation) *chargeplanev1.Reservation {
	st := reservation.Status(r, s.now())
	out := &chargeplanev1.Reservation{
		Id: r.ID, StationId: r.StationID, OcppVersion: r.OCPPVersion.Text(), ConnectorId: int32(r.ConnectorID),
		ConnectorType: r.ConnectorType, IdToken: r.IDToken, IdTokenType: r.IDTokenType, GroupIdToken: r.GroupIDToken,
		ExpiresAt: ts(r.ExpiresAt), Status: st, Error: r.Error, RequestedBy: r.RequestedBy,
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt),
	}
	if r.EVSEID != nil {
		e := int32(*r.EVSEID)
		out.EvseId = &e
	}
	return out
}
