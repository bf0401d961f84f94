package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SecurityEventHistory is how many security events one station id (and
// the bucket ” of unknown ids) keeps: enough for any audit, bounded
// whatever a station or an attacker sends.
const SecurityEventHistory = 10000

// Sources of a security event.
const (
	SecuritySourceStation = "station" // SecurityEventNotification
	SecuritySourceCSMS    = "csms"    // raised by the core itself
)

// SecurityEvent is one security event of a station: one it reported
// (SecurityEventNotification) or one the CSMS raised about it.
type SecurityEvent struct {
	ID int64 `gorm:"primaryKey"`
	// StationID is '' for a refused admission of an unregistered id.
	StationID   string
	Source      string
	Type        string
	OccurredAt  time.Time
	TechInfo    string
	RemoteAddr  string
	CertSubject string
	CertIssuer  string
	// DedupKey, when set, stores the event only once per station.
	DedupKey   string
	ReceivedAt time.Time
}

func (SecurityEvent) TableName() string { return "security_events" }

// RecordSecurityEvent stores e (its ID is set when stored) and forgets the
// station's events beyond the newest SecurityEventHistory. It reports
// false when an event of the same DedupKey was stored before.
func (s *Store) RecordSecurityEvent(ctx context.Context, e *SecurityEvent) (bool, error) {
	e.ID = 0
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = s.now()
	}
	e.OccurredAt, e.ReceivedAt = dbTime(e.OccurredAt), dbTime(e.ReceivedAt)
	stored := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(e)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		stored = true
		return trimHistory(tx, &SecurityEvent{}, e.StationID, SecurityEventHistory)
	})
	if err != nil {
		return false, txError("store: record security event", err)
	}
	return stored, nil
}

// SecurityEventFilter selects security events; zero fields select all.
type SecurityEventFilter struct {
	// StationID selects one station; AllStations must be set to list
	// every station's (StationID '' alone selects unknown ids' events).
	StationID   string
	AllStations bool
	Source      string
	Type        string
	From, To    time.Time // occurred in [From, To)
}

// ListSecurityEvents returns one page of security events, newest first,
// and how many match. Keyset paging on the id, as ListEvents.
func (s *Store) ListSecurityEvents(ctx context.Context, f SecurityEventFilter, p Page) ([]SecurityEvent, int64, error) {
	filter := func(q *gorm.DB) *gorm.DB {
		if !f.AllStations {
			q = q.Where("station_id = ?", f.StationID)
		}
		if f.Source != "" {
			q = q.Where("source = ?", f.Source)
		}
		if f.Type != "" {
			q = q.Where("type = ?", f.Type)
		}
		if !f.From.IsZero() {
			q = q.Where("occurred_at >= ?", dbTime(f.From))
		}
		if !f.To.IsZero() {
			q = q.Where("occurred_at < ?", dbTime(f.To))
		}
		return q
	}
	out := []SecurityEvent{}
	total, err := pageByID(ctx, s.db, &SecurityEvent{}, filter, p, &out)
	return out, total, err
}
