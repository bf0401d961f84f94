package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Reservation statuses the CSMS sets; the others are the station's
// ReserveNow answer (Accepted, Faulted, Occupied, Rejected, Unavailable).
const (
	ReservationPending   = "Pending"
	ReservationAccepted  = "Accepted"
	ReservationFailed    = "Failed"
	ReservationCancelled = "Cancelled"
	ReservationExpired   = "Expired"
	ReservationRemoved   = "Removed"
)

// Reservation is a reservation the CSMS asked a station for. ID is the
// OCPP reservationId.
type Reservation struct {
	ID          int64 `gorm:"primaryKey"`
	StationID   string
	OCPPVersion ocppj.Version `gorm:"column:ocpp_version"`
	// EVSEID is the 2.0.1 evseId (nil: any EVSE); ConnectorID the 1.6
	// connectorId (0: any).
	EVSEID        *int `gorm:"column:evse_id"`
	ConnectorID   int
	ConnectorType string
	IDToken       string
	IDTokenType   string
	GroupIDToken  string
	ExpiresAt     time.Time
	Status        string
	Error         string
	RequestedBy   string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CreateReservation records r as Pending and assigns its id, which is the
// reservationId to send.
func (s *Store) CreateReservation(ctx context.Context, r *Reservation) error {
	now := dbTime(s.now())
	r.ID = 0
	r.Status = ReservationPending
	r.ExpiresAt = dbTime(r.ExpiresAt)
	r.CreatedAt, r.UpdatedAt = now, now
	return translate("store: create reservation", s.write(ctx, func(tx *gorm.DB) error { return tx.Create(r).Error }))
}

// GetReservation returns one reservation of a station.
func (s *Store) GetReservation(ctx context.Context, stationID string, id int64) (*Reservation, error) {
	var r Reservation
	if err := s.db.WithContext(ctx).Where("station_id = ? AND id = ?", stationID, id).Take(&r).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: get reservation %d", id), err)
	}
	return &r, nil
}

// SetReservationStatus records a new status (and why it failed, if it
// did) and returns the reservation as it now is; ErrNotFound if the station
// has no such reservation.
func (s *Store) SetReservationStatus(ctx context.Context, stationID string, id int64, status, errText string) (*Reservation, error) {
	op := fmt.Sprintf("store: set reservation %d status", id)
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Reservation{}).Where("station_id = ? AND id = ?", stationID, id).
			Updates(map[string]any{"status": status, "error": errText, "updated_at": dbTime(s.now())})
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetReservation(ctx, stationID, id)
}

// FailPendingReservation marks a pending reservation of the station
// Failed, with why; any other reservation (or none) is left alone.
func (s *Store) FailPendingReservation(ctx context.Context, stationID string, id int64, errText string) error {
	err := s.db.WithContext(ctx).Model(&Reservation{}).
		Where("station_id = ? AND id = ? AND status = ?", stationID, id, ReservationPending).
		Updates(map[string]any{"status": ReservationFailed, "error": errText, "updated_at": dbTime(s.now())}).Error
	return translate(fmt.Sprintf("store: fail reservation %d", id), err)
}

// ReservationFilter narrows ListReservations.
type ReservationFilter struct {
	// ActiveAt, when set, keeps only Accepted reservations that have not
	// expired at that time.
	ActiveAt *time.Time
	// BeforeID is a keyset cursor: only ids below it (newest first paging).
	BeforeID int64
	Limit    int
}

// ListReservations returns a station's reservations, newest first.
func (s *Store) ListReservations(ctx context.Context, stationID string, f ReservationFilter) ([]Reservation, error) {
	q := s.db.WithContext(ctx).Where("station_id = ?", stationID)
	if f.ActiveAt != nil {
		q = q.Where("status = ? AND expires_at > ?", ReservationAccepted, dbTime(*f.ActiveAt))
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	out := []Reservation{}
	if err := q.Order("id DESC").Limit(pageLimit(Page{Limit: f.Limit})).Find(&out).Error; err != nil {
		return nil, translate("store: list reservations", err)
	}
	return out, nil
}
