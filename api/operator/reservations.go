package operator

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// MaxIDTag16Len is the longest OCPP 1.6 idTag (CiString20).
const MaxIDTag16Len = 20

// ReservationStore is what ReservationService needs.
type ReservationStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	GetIDTokenByValue(ctx context.Context, value string) (*store.IDToken, error)
	CreateReservation(ctx context.Context, r *store.Reservation) error
	GetReservation(ctx context.Context, stationID string, id int64) (*store.Reservation, error)
	SetReservationStatus(ctx context.Context, stationID string, id int64, status, errText string) (*store.Reservation, error)
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
func NewReservationService(cmds Commander, st ReservationStore, now func() time.Time, logger *slog.Logger) *ReservationService {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &ReservationService{send: commands{c: cmds, log: logger}, store: st, now: now, log: logger}
}

// ReserveNow records the reservation (its id is the reservationId), sends
// ReserveNow and records the station's answer, or Failed when there was
// none.
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
	expires, err := optTime("expires_at", req.GetExpiresAt())
	if err != nil {
		return nil, err
	}
	if !expires.After(s.now()) {
		return nil, status.Error(codes.InvalidArgument, "expires_at must be in the future")
	}
	if req.EvseId != nil && req.GetEvseId() < 0 {
		return nil, status.Error(codes.InvalidArgument, "evse_id must not be negative")
	}
	v, err := s.send.version(ctx, req.GetStationId())
	if err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "connector_type", req.GetConnectorType() != ""); err != nil {
		return nil, err
	}
	if err := onlyIn(v, ocppj.V201, "id_token_type", req.GetIdTokenType() != ""); err != nil {
		return nil, err
	}
	if v == ocppj.V16 && (len(req.GetIdToken()) > MaxIDTag16Len || len(req.GetGroupIdToken()) > MaxIDTag16Len) {
		return nil, status.Errorf(codes.InvalidArgument, "OCPP 1.6 id tags are at most %d characters", MaxIDTag16Len)
	}

	// Defaults from the id token table: the type and group the token has.
	tokType, group, groupType := req.GetIdTokenType(), req.GetGroupIdToken(), store.DefaultIDTokenType
	if tok, err := s.store.GetIDTokenByValue(ctx, req.GetIdToken()); err == nil {
		if tokType == "" {
			tokType = tok.Type
		}
		if group == "" && tok.GroupID != nil && (v != ocppj.V16 || len(*tok.GroupID) <= MaxIDTag16Len) {
			group = *tok.GroupID
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(ctx, s.log, err, "")
	}
	if group != "" {
		if g, err := s.store.GetIDTokenByValue(ctx, group); err == nil {
			groupType = g.Type
		}
	}
	if v == ocppj.V16 {
		tokType = ""
	} else if tokType == "" {
		tokType = store.DefaultIDTokenType
	}

	r := &store.Reservation{
		StationID: req.GetStationId(), OCPPVersion: v, IDToken: req.GetIdToken(), IDTokenType: tokType,
		GroupIDToken: group, ExpiresAt: expires, ConnectorType: req.GetConnectorType(), RequestedBy: RequestedBy(ctx),
	}
	if v == ocppj.V16 {
		r.ConnectorID = int(req.GetEvseId())
	} else {
		r.EVSEID = intPtr(req.EvseId)
	}
	if err := s.store.CreateReservation(ctx, r); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}

	var payload any
	if v == ocppj.V16 {
		payload = ocpp16.ReserveNowRequest{ConnectorId: r.ConnectorID, ExpiryDate: expires, IdTag: r.IDToken,
			ParentIdTag: group, ReservationId: int(r.ID)}
	} else {
		p := ocpp201.ReserveNowRequest{Id: int(r.ID), ExpiryDateTime: expires, EvseId: r.EVSEID,
			ConnectorType: ocpp201.ConnectorEnum(r.ConnectorType),
			IdToken:       ocpp201.IdToken{IdToken: r.IDToken, Type: ocpp201.IdTokenEnum(tokType)}}
		if group != "" {
			p.GroupIdToken = &ocpp201.IdToken{IdToken: group, Type: ocpp201.IdTokenEnum(groupType)}
		}
		payload = p
	}
	var ans answer
	cmdID, callErr := s.send.call(ctx, r.StationID, "ReserveNow", payload, &ans)
	newStatus, errText := ans.Status, ""
	if callErr != nil {
		newStatus, errText = store.ReservationFailed, status.Convert(callErr).Message()
	}
	// The outcome is recorded even if the caller has gone away meanwhile.
	saved, err := s.store.SetReservationStatus(context.WithoutCancel(ctx), r.StationID, r.ID, newStatus, errText)
	if err != nil {
		s.log.ErrorContext(ctx, "record reservation outcome", "station", r.StationID, "reservation", r.ID, "err", err)
	}
	if callErr != nil {
		return nil, callErr
	}
	if saved == nil {
		return nil, status.Error(codes.Internal, "the station answered but its answer could not be recorded")
	}
	s.log.InfoContext(ctx, "reservation made", "station", r.StationID, "reservation", r.ID, "status", ans.Status)
	return &chargeplanev1.ReserveNowResponse{CommandId: cmdID, Status: ans.Status, ReasonCode: ans.reason(),
		Reservation: s.toProto(saved)}, nil
}

// CancelReservation sends CancelReservation; an accepted cancellation
// marks the reservation Cancelled.
func (s *ReservationService) CancelReservation(ctx context.Context, req *chargeplanev1.CancelReservationRequest) (*chargeplanev1.CancelReservationResponse, error) {
	if err := ValidateStationID(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	if req.GetReservationId() <= 0 || req.GetReservationId() > 1<<31-1 {
		return nil, status.Error(codes.InvalidArgument, "reservation_id must be a positive 32-bit integer")
	}
	r, err := s.store.GetReservation(ctx, req.GetStationId(), req.GetReservationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, fmt.Sprintf("reservation %d of station %q not found", req.GetReservationId(), req.GetStationId()))
	}
	if _, err := s.send.version(ctx, r.StationID); err != nil {
		return nil, err
	}
	// Both versions: {reservationId} → {status}.
	var ans answer
	cmdID, err := s.send.call(ctx, r.StationID, "CancelReservation", ocpp16.CancelReservationRequest{ReservationId: int(r.ID)}, &ans)
	if err != nil {
		return nil, err
	}
	if ans.Status == string(ocpp16.CancelReservationResponseStatusAccepted) {
		if r, err = s.store.SetReservationStatus(context.WithoutCancel(ctx), r.StationID, r.ID, store.ReservationCancelled, ""); err != nil {
			return nil, storeError(ctx, s.log, err, "reservation not found")
		}
	}
	return &chargeplanev1.CancelReservationResponse{CommandId: cmdID, Status: ans.Status, ReasonCode: ans.reason(), Reservation: s.toProto(r)}, nil
}

const reservationCursor = "res1:"

// ListReservations pages through a station's reservations, newest first.
func (s *ReservationService) ListReservations(ctx context.Context, req *chargeplanev1.ListReservationsRequest) (*chargeplanev1.ListReservationsResponse, error) {
	if err := ValidateStationID(req.GetStationId()); err != nil {
		return nil, invalid(err)
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	var before int64
	if tok := req.GetPageToken(); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil && strings.HasPrefix(string(raw), reservationCursor) {
			before, err = strconv.ParseInt(strings.TrimPrefix(string(raw), reservationCursor), 10, 64)
		}
		if err != nil || before <= 0 {
			return nil, status.Error(codes.InvalidArgument, "invalid page_token")
		}
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	f := store.ReservationFilter{BeforeID: before, Limit: min(size+1, store.MaxPageLimit)}
	if req.GetActiveOnly() {
		now := s.now()
		f.ActiveAt = &now
	}
	rows, err := s.store.ListReservations(ctx, req.GetStationId(), f)
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListReservationsResponse{}
	if len(rows) > size {
		rows = rows[:size]
		out.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(reservationCursor + strconv.FormatInt(rows[len(rows)-1].ID, 10)))
	}
	out.Reservations = make([]*chargeplanev1.Reservation, 0, len(rows))
	for i := range rows {
		out.Reservations = append(out.Reservations, s.toProto(&rows[i]))
	}
	return out, nil
}

// toProto converts a stored reservation. 1.6 stations never say that a
// reservation expired: an accepted one past its expiry shows as Expired.
func (s *ReservationService) toProto(r *store.Reservation) *chargeplanev1.Reservation {
	st := r.Status
	if st == store.ReservationAccepted && !r.ExpiresAt.After(s.now()) {
		st = store.ReservationExpired
	}
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
