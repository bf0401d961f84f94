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

// ClaimRunningCost takes the right to send cost as transaction id's
// running cost now: it wins when the transaction is active, no claim runs
// at now, and cost is not the one last sent; the claim then runs until
// `until`, so that no other core instance sends meanwhile. Comparing the
// cost here, not only in the sweep that read the transaction, keeps an
// instance that read it before another recorded its send from sending the
// same cost again. It reports whether the claim won. Neither it nor
// RecordRunningCostSent moves updated_at: the session itself did not
// change.
func (s *Store) ClaimRunningCost(ctx context.Context, id int64, cost float64, now, until time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Transaction{}).
		Where("id = ? AND status = ? AND (running_cost_due IS NULL OR running_cost_due <= ?)", id, TxActive, dbTime(now)).
		Where("(running_cost_sent IS NULL OR running_cost_sent <> ?)", cost).
		UpdateColumn("running_cost_due", dbTime(until))
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: claim running cost of transaction %d", id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecordRunningCostSent keeps the running cost the station got for
// transaction id, which the next one is compared with, and ends the claim
// at next: the next update may be claimed from then on.
func (s *Store) RecordRunningCostSent(ctx context.Context, id int64, cost float64, next time.Time) error {
	err := s.db.WithContext(ctx).Model(&Transaction{}).Where("id = ?", id).
		UpdateColumns(map[string]any{"running_cost_sent": cost, "running_cost_due": dbTime(next)}).Error
	return translate(fmt.Sprintf("store: record running cost of transaction %d", id), err)
}
