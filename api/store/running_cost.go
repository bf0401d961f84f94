package store

import (
	"context"
	"fmt"
	"time"
)

// PricedActiveTransactions returns up to limit active transactions with an
// id above afterID, in id order, whose station is connected and has at
// least one tariff: the transactions whose running cost may be sent
// (api/runningcost pages through them and decides which get it).
func (s *Store) PricedActiveTransactions(ctx context.Context, afterID int64, limit int) ([]Transaction, error) {
	out := []Transaction{}
	err := s.db.WithContext(ctx).
		Where("status = ? AND id > ?", TxActive, afterID).
		Where("EXISTS (SELECT 1 FROM stations s WHERE s.id = transactions.station_id AND s.connected)").
		Where("EXISTS (SELECT 1 FROM tariffs f WHERE f.station_id = transactions.station_id)").
		Order("id").Limit(limit).Find(&out).Error
	return out, translate("store: priced active transactions", err)
}

// ClaimRunningCost takes the right to send transaction id's running cost
// now: it wins when the transaction is active and no claim runs at now,
// and its claim then runs until `until`, so that no other core instance
// sends the same update meanwhile. It reports whether the claim won.
// Neither it nor RecordRunningCostSent moves updated_at: the session
// itself did not change.
func (s *Store) ClaimRunningCost(ctx context.Context, id int64, now, until time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Transaction{}).
		Where("id = ? AND status = ? AND (running_cost_due IS NULL OR running_cost_due <= ?)", id, TxActive, dbTime(now)).
		UpdateColumn("running_cost_due", dbTime(until))
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: claim running cost of transaction %d", id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordRunningCostSent keeps the running cost the station got for
// transaction id, which the next one is compared with.
func (s *Store) RecordRunningCostSent(ctx context.Context, id int64, cost float64) error {
	err := s.db.WithContext(ctx).Model(&Transaction{}).Where("id = ?", id).
		UpdateColumn("running_cost_sent", cost).Error
	return translate(fmt.Sprintf("store: record running cost of transaction %d", id), err)
}
