package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	live "github.com/chargeplane/chargeplane/api/event"
)

// eventsLock is the advisory lock key that serializes event inserts on
// PostgreSQL ("events" in ASCII): with it, sequence order is commit order,
// so a reader that saw id n has seen, or will never see, every id below n.
// SQLite has a single writer anyway.
const eventsLock = 0x6576656e7473

type eventRow struct {
	Seq       int64 `gorm:"column:seq;primaryKey;autoIncrement"`
	Type      string
	At        time.Time
	StationID string `gorm:"column:station_id"`
	Payload   string
	CreatedAt time.Time
}

func (eventRow) TableName() string { return "events" }

// AppendEvents stores evs in one transaction and fills in their ids, in
// order; created is when they were stored (the retention clock).
func (s *Store) AppendEvents(ctx context.Context, evs []live.Event, created time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]eventRow, len(evs))
	for i, e := range evs {
		p := string(e.Payload)
		if p == "" {
			p = "{}"
		}
		rows[i] = eventRow{Type: string(e.Type), At: dbTime(e.Time), StationID: e.StationID, Payload: p, CreatedAt: dbTime(created)}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == dialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", eventsLock).Error; err != nil {
				return err
			}
		}
		return tx.Create(&rows).Error
	})
	if err != nil {
		return translate("store: insert events", err)
	}
	for i := range rows {
		evs[i].ID = rows[i].Seq
	}
	return nil
}

// ReadEvents returns up to limit events of r in id order.
func (s *Store) ReadEvents(ctx context.Context, r live.Range, limit int) ([]live.Event, error) {
	q := s.db.WithContext(ctx).Where("seq > ?", r.After)
	if r.UpTo > 0 {
		q = q.Where("seq <= ?", r.UpTo)
	}
	if len(r.Filter.StationIDs) > 0 {
		q = q.Where("station_id IN ?", r.Filter.StationIDs)
	}
	if len(r.Filter.Types) > 0 {
		q = q.Where("type IN ?", r.Filter.Types)
	}
	var rows []eventRow
	if err := q.Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, translate("store: read events", err)
	}
	out := make([]live.Event, len(rows))
	for i, r := range rows {
		out[i] = live.Event{ID: r.Seq, Type: live.Type(r.Type), Time: r.At.UTC(), StationID: r.StationID, Payload: json.RawMessage(r.Payload)}
	}
	return out, nil
}

// LastEventID is the highest event id stored (0 when none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id *int64
	if err := s.db.WithContext(ctx).Model(&eventRow{}).Select("MAX(seq)").Scan(&id).Error; err != nil {
		return 0, translate("store: last event id", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// TrimEvents deletes events stored before cutoff and returns how many.
func (s *Store) TrimEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_at < ?", dbTime(cutoff)).Delete(&eventRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: trim events: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// TransactionEnergy is the stored energy of the station's transaction with
// that uid (nil when unknown).
func (s *Store) TransactionEnergy(ctx context.Context, stationID, uid string) (*float64, error) {
	var t Transaction
	err := s.db.WithContext(ctx).Select("energy_wh").Where("station_id = ? AND transaction_uid = ?", stationID, uid).Take(&t).Error
	if err != nil {
		return nil, translate("store: transaction energy", err)
	}
	return t.EnergyWh, nil
}
