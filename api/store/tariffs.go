package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Tariff is the price list of a station (EVSEID 0) or one of its EVSEs
// (1.6: connectors); api/tariff decides which applies and what it costs.
type Tariff struct {
	StationID  string `gorm:"primaryKey"`
	EVSEID     int    `gorm:"primaryKey;column:evse_id"`
	Currency   string
	PerKWh     float64 `gorm:"column:per_kwh"`
	PerMinute  float64
	PerSession float64
	UpdatedAt  time.Time
}

func (Tariff) TableName() string { return "tariffs" }

// PutTariff sets the tariff of the station or EVSE, replacing its earlier
// one. ErrNotFound when the station does not exist.
func (s *Store) PutTariff(ctx context.Context, t *Tariff) error {
	t.UpdatedAt = dbTime(s.now())
	err := s.write(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Station{}).Where("id = ?", t.StationID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(t).Error
	})
	return translate(fmt.Sprintf("store: put tariff of %q EVSE %d", t.StationID, t.EVSEID), err)
}

// ListTariffs returns the station's tariffs by EVSE (the station's first).
func (s *Store) ListTariffs(ctx context.Context, stationID string) ([]Tariff, error) {
	out := []Tariff{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("evse_id").Find(&out).Error
	return out, translate("store: list tariffs", err)
}

// DeleteTariff removes the tariff of the station or EVSE (ErrNotFound if
// it has none).
func (s *Store) DeleteTariff(ctx context.Context, stationID string, evseID int) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Where("station_id = ? AND evse_id = ?", stationID, evseID).Delete(&Tariff{})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
		return res.Error
	})
	return translate("store: delete tariff", err)
}

// SetTransactionCost keeps the final cost of a transaction.
func (s *Store) SetTransactionCost(ctx context.Context, id int64, cost float64, currency string) error {
	err := s.db.WithContext(ctx).Model(&Transaction{}).Where("id = ?", id).
		Updates(map[string]any{"cost": cost, "cost_currency": currency}).Error
	return translate("store: set transaction cost", err)
}
