package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Monitor is a 2.0.1 variable monitor a station has (N02, N04): part of its
// device model.
type Monitor struct {
	StationID         string `gorm:"primaryKey"`
	MonitorID         int    `gorm:"primaryKey"`
	ComponentName     string
	ComponentInstance string
	EVSEID            *int `gorm:"column:evse_id"`
	ConnectorID       *int
	VariableName      string
	VariableInstance  string
	Type              string
	Value             float64
	Severity          int
	PerTransaction    bool
	UpdatedAt         time.Time
}

func (Monitor) TableName() string { return "variable_monitors" }

// SaveMonitors records monitors as the station reports or accepted them,
// replacing what was known under the same ids.
func (s *Store) SaveMonitors(ctx context.Context, ms []Monitor) error {
	if len(ms) == 0 {
		return nil
	}
	now := dbTime(s.now())
	for i := range ms {
		ms[i].UpdatedAt = now
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&ms).Error
	return txError("store: save monitors", err)
}

// DeleteMonitors forgets the station's monitors of these ids; it returns
// how many it knew.
func (s *Store) DeleteMonitors(ctx context.Context, stationID string, ids []int) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	res := s.db.WithContext(ctx).Where("station_id = ? AND monitor_id IN ?", stationID, ids).Delete(&Monitor{})
	return res.RowsAffected, translate("store: delete monitors", res.Error)
}

// ListMonitors returns the station's known monitors by id.
func (s *Store) ListMonitors(ctx context.Context, stationID string) ([]Monitor, error) {
	out := []Monitor{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("monitor_id").Find(&out).Error
	return out, translate("store: list monitors", err)
}

// MonitorSeverities returns the severity of each of the station's known
// monitors among ids.
func (s *Store) MonitorSeverities(ctx context.Context, stationID string, ids []int) (map[int]int, error) {
	out := map[int]int{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Monitor
	if err := s.db.WithContext(ctx).Select("monitor_id", "severity").
		Where("station_id = ? AND monitor_id IN ?", stationID, ids).Find(&rows).Error; err != nil {
		return nil, translate("store: monitor severities", err)
	}
	for _, r := range rows {
		out[r.MonitorID] = r.Severity
	}
	return out, nil
}

// StationEventHistory is how many NotifyEvent entries a station keeps:
// a station that floods events costs a bounded table.
const StationEventHistory = 10000

// StationEvent is one eventData entry of a 2.0.1 NotifyEvent.
type StationEvent struct {
	ID                int64 `gorm:"primaryKey"`
	StationID         string
	EventID           int
	OccurredAt        time.Time
	EventTrigger      string
	Cause             *int
	ActualValue       string
	TechCode          string
	TechInfo          string
	Cleared           bool
	TransactionID     string
	MonitorID         *int
	NotificationType  string
	ComponentName     string
	ComponentInstance string
	EVSEID            *int `gorm:"column:evse_id"`
	ConnectorID       *int
	VariableName      string
	VariableInstance  string
	// Severity is the monitor's (nil when the CSMS does not know it).
	Severity   *int
	Alert      bool
	ReceivedAt time.Time
}

func (StationEvent) TableName() string { return "station_events" }

// RecordEvents stores a NotifyEvent's entries; an entry stored before (same
// station, eventId and timestamp: a retried message) is skipped. It
// returns the entries it stored, then forgets the station's entries beyond
// the newest StationEventHistory. ErrNotFound for an unknown station.
func (s *Store) RecordEvents(ctx context.Context, evs []StationEvent) ([]StationEvent, error) {
	var stored []StationEvent
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		stored = stored[:0]
		for i := range evs {
			e := evs[i]
			e.ID = 0
			e.OccurredAt, e.ReceivedAt = dbTime(e.OccurredAt), dbTime(e.ReceivedAt)
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				stored = append(stored, e)
			}
		}
		if len(stored) == 0 {
			return nil
		}
		return trimHistory(tx, &StationEvent{}, stored[0].StationID, StationEventHistory)
	})
	if err != nil {
		return nil, txError("store: record events", err)
	}
	return stored, nil
}

// trimHistory deletes the station's rows of model beyond the newest keep
// (by id).
func trimHistory(tx *gorm.DB, model any, stationID string, keep int) error {
	var cut []int64
	if err := tx.Model(model).Where("station_id = ?", stationID).Order("id DESC").
		Offset(keep).Limit(1).Pluck("id", &cut).Error; err != nil {
		return err
	}
	if len(cut) == 0 {
		return nil
	}
	return tx.Where("station_id = ? AND id <= ?", stationID, cut[0]).Delete(model).Error
}

// EventFilter selects station events; zero fields select everything.
type EventFilter struct {
	StationID     string
	ComponentName string
	VariableName  string
	Trigger       string
	AlertsOnly    bool
	// MaxSeverity selects events whose known severity is at most it.
	MaxSeverity *int
	From, To    time.Time // occurred in [From, To)
}

// ListEvents returns one page of events, newest first, and how many match.
// Keyset paging: pass the last id of a page as the next page's AfterID.
func (s *Store) ListEvents(ctx context.Context, f EventFilter, p Page) ([]StationEvent, int64, error) {
	filter := func(q *gorm.DB) *gorm.DB {
		if f.StationID != "" {
			q = q.Where("station_id = ?", f.StationID)
		}
		if f.ComponentName != "" {
			q = q.Where("component_name = ?", f.ComponentName)
		}
		if f.VariableName != "" {
			q = q.Where("variable_name = ?", f.VariableName)
		}
		if f.Trigger != "" {
			q = q.Where("event_trigger = ?", f.Trigger)
		}
		if f.AlertsOnly {
			q = q.Where("alert = ?", true)
		}
		if f.MaxSeverity != nil {
			q = q.Where("severity <= ?", *f.MaxSeverity)
		}
		if !f.From.IsZero() {
			q = q.Where("occurred_at >= ?", dbTime(f.From))
		}
		if !f.To.IsZero() {
			q = q.Where("occurred_at < ?", dbTime(f.To))
		}
		return q
	}
	out := []StationEvent{}
	total, err := pageByID(ctx, s.db, &StationEvent{}, filter, p, &out)
	return out, total, err
}

// pageByID runs a newest-first keyset page of model into out.
func pageByID(ctx context.Context, db *gorm.DB, model any, filter func(*gorm.DB) *gorm.DB, p Page, out any) (int64, error) {
	op := fmt.Sprintf("store: list %T", model)
	db = db.WithContext(ctx)
	var total int64
	if err := db.Model(model).Scopes(filter).Count(&total).Error; err != nil {
		return 0, translate(op, err)
	}
	q := db.Scopes(filter).Order("id DESC").Limit(pageLimit(p))
	if p.AfterID != "" {
		after, err := strconv.ParseInt(p.AfterID, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w: page cursor %q is not an id", op, ErrInvalid, p.AfterID)
		}
		q = q.Where("id < ?", after)
	}
	if err := q.Find(out).Error; err != nil {
		return 0, translate(op, err)
	}
	return total, nil
}

// DataTransferHistory is how many incoming DataTransfer messages a station
// keeps.
const DataTransferHistory = 1000

// DataTransfer is a DataTransfer a station sent, with the answer it got.
type DataTransfer struct {
	ID          int64 `gorm:"primaryKey"`
	StationID   string
	OCPPVersion ocppj.Version `gorm:"column:ocpp_version"`
	VendorID    string
	MessageID   string
	// Data is the data as sent (JSON text in 2.0.1, a string in 1.6),
	// its secrets replaced (api/redact); empty when absent.
	Data       string
	Status     string
	ReceivedAt time.Time
}

func (DataTransfer) TableName() string { return "data_transfers" }

// RecordDataTransfer stores d and forgets the station's transfers beyond
// the newest DataTransferHistory. ErrNotFound for an unknown station.
func (s *Store) RecordDataTransfer(ctx context.Context, d *DataTransfer) error {
	d.ID = 0
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = s.now()
	}
	d.ReceivedAt = dbTime(d.ReceivedAt)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(d).Error; err != nil {
			return err
		}
		return trimHistory(tx, &DataTransfer{}, d.StationID, DataTransferHistory)
	})
	return txError("store: record data transfer", err)
}

// DataTransferFilter selects incoming data transfers.
type DataTransferFilter struct {
	StationID, VendorID, MessageID string
}

// ListDataTransfers returns one page of a station's incoming data
// transfers, newest first, and how many match.
func (s *Store) ListDataTransfers(ctx context.Context, f DataTransferFilter, p Page) ([]DataTransfer, int64, error) {
	filter := func(q *gorm.DB) *gorm.DB {
		if f.StationID != "" {
			q = q.Where("station_id = ?", f.StationID)
		}
		if f.VendorID != "" {
			q = q.Where("vendor_id = ?", f.VendorID)
		}
		if f.MessageID != "" {
			q = q.Where("message_id = ?", f.MessageID)
		}
		return q
	}
	out := []DataTransfer{}
	total, err := pageByID(ctx, s.db, &DataTransfer{}, filter, p, &out)
	return out, total, err
}
