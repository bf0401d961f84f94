package operator

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// TariffStore keeps tariffs.
type TariffStore interface {
	GetStation(ctx context.Context, id string) (*store.Station, error)
	PutTariff(ctx context.Context, t *store.Tariff) error
	ListTariffs(ctx context.Context, stationID string) ([]store.Tariff, error)
	DeleteTariff(ctx context.Context, stationID string, evseID int) error
}

// TariffService implements chargeplane.v1.TariffService.
type TariffService struct {
	chargeplanev1.UnimplementedTariffServiceServer

	store TariffStore
	log   *slog.Logger
}

// NewTariffService returns the tariff service.
func NewTariffService(st TariffStore, logger *slog.Logger) *TariffService {
	if logger == nil {
		logger = slog.Default()
	}
	return &TariffService{store: st, log: logger}
}

func tariffTarget(stationID string, evseID int32) error {
	if err := ValidateStationRef(stationID); err != nil {
		return invalid(err)
	}
	if evseID < 0 {
		return status.Error(codes.InvalidArgument, "evse_id must not be negative (0: the station's tariff)")
	}
	return nil
}

// PutTariff sets the tariff of a station or EVSE.
func (s *TariffService) PutTariff(ctx context.Context, req *chargeplanev1.PutTariffRequest) (*chargeplanev1.PutTariffResponse, error) {
	if err := tariffTarget(req.GetStationId(), req.GetEvseId()); err != nil {
		return nil, err
	}
	tr := tariff.Tariff{Currency: req.GetCurrency(), PerKWh: req.GetPerKwh(), PerMinute: req.GetPerMinute(), PerSession: req.GetPerSession()}
	if err := tr.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	row := &store.Tariff{StationID: req.GetStationId(), EVSEID: int(req.GetEvseId()), Currency: tr.Currency,
		PerKWh: tr.PerKWh, PerMinute: tr.PerMinute, PerSession: tr.PerSession}
	if err := s.store.PutTariff(ctx, row); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	return &chargeplanev1.PutTariffResponse{Tariff: tariffToProto(row)}, nil
}

// ListTariffs returns a station's tariffs.
func (s *TariffService) ListTariffs(ctx context.Context, req *chargeplanev1.ListTariffsRequest) (*chargeplanev1.ListTariffsResponse, error) {
	if err := tariffTarget(req.GetStationId(), 0); err != nil {
		return nil, err
	}
	if _, err := s.store.GetStation(ctx, req.GetStationId()); err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	rows, err := s.store.ListTariffs(ctx, req.GetStationId())
	if err != nil {
		return nil, storeError(ctx, s.log, err, notFoundMsg(req.GetStationId()))
	}
	out := &chargeplanev1.ListTariffsResponse{Tariffs: make([]*chargeplanev1.Tariff, 0, len(rows))}
	for i := range rows {
		out.Tariffs = append(out.Tariffs, tariffToProto(&rows[i]))
	}
	return out, nil
}

// DeleteTariff removes the tariff of a station or EVSE.
func (s *TariffService) DeleteTariff(ctx context.Context, req *chargeplanev1.DeleteTariffRequest) (*chargeplanev1.DeleteTariffResponse, error) {
	if err := tariffTarget(req.GetStationId(), req.GetEvseId()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteTariff(ctx, req.GetStationId(), int(req.GetEvseId())); err != nil {
		return nil, storeError(ctx, s.log, err, "no such tariff")
	}
	return &chargeplanev1.DeleteTariffResponse{}, nil
}

func tariffToProto(t *store.Tariff) *chargeplanev1.Tariff {
	return &chargeplanev1.Tariff{StationId: t.StationID, EvseId: int32(t.EVSEID), Currency: t.Currency, PerKwh: t.PerKWh,
		PerMinute: t.PerMinute, PerSession: t.PerSession, UpdatedAt: ts(t.UpdatedAt)}
}
