package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Sources of a stored display message.
const (
	// DisplayMessageSet: the station accepted it from SetDisplayMessage.
	DisplayMessageSet = "set"
	// DisplayMessageReported: the station listed it in NotifyDisplayMessages.
	DisplayMessageReported = "reported"
)

// DisplayMessageQueryHistory is how many GetDisplayMessages criteria a
// station keeps; a report arrives within seconds of its request, so only
// a station flooding the CSMS with requests reaches it.
const DisplayMessageQueryHistory = 100

// DisplayMessage is a 2.0.1 display message a station holds, as the CSMS
// knows it (api/displaymessage decides what changes it).
type DisplayMessage struct {
	StationID     string `gorm:"primaryKey"`
	MessageID     int    `gorm:"primaryKey"`
	Priority      string
	State         string
	StartAt       *time.Time
	EndAt         *time.Time
	TransactionID string
	// Info is the MessageInfo as sent or reported (JSON).
	Info      string
	Source    string
	UpdatedAt time.Time
}

func (DisplayMessage) TableName() string { return "display_messages" }

// ListDisplayMessages returns the station's stored display messages by id.
func (s *Store) ListDisplayMessages(ctx context.Context, stationID string) ([]DisplayMessage, error) {
	out := []DisplayMessage{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("message_id").Find(&out).Error
	return out, translate("store: list display messages", err)
}

// DisplayMessageEdit is what a change to a station's display messages
// upserts (by message id) and removes.
type DisplayMessageEdit struct {
	Upsert []DisplayMessage
	Remove []int
}

// EditDisplayMessages hands the station's stored messages to plan and
// applies the edit it returns, in one transaction that holds the station's
// row, so that two answers or reports of one station never interleave.
// ErrNotFound for an unknown station.
func (s *Store) EditDisplayMessages(ctx context.Context, stationID string, plan func(current []DisplayMessage) (DisplayMessageEdit, error)) error {
	op := fmt.Sprintf("store: edit display messages of %q", stationID)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var st Station
		if err := tx.Clauses(lockRow).Select("id").Where("id = ?", stationID).Take(&st).Error; err != nil {
			return err
		}
		var current []DisplayMessage
		if err := tx.Where("station_id = ?", stationID).Order("message_id").Find(&current).Error; err != nil {
			return err
		}
		e, err := plan(current)
		if err != nil {
			return err
		}
		if len(e.Remove) > 0 {
			if err := tx.Where("station_id = ? AND message_id IN ?", stationID, e.Remove).Delete(&DisplayMessage{}).Error; err != nil {
				return err
			}
		}
		if len(e.Upsert) == 0 {
			return nil
		}
		now := dbTime(s.now())
		for i := range e.Upsert {
			m := &e.Upsert[i]
			m.StationID, m.UpdatedAt = stationID, now
			m.StartAt, m.EndAt = dbTimePtr(m.StartAt), dbTimePtr(m.EndAt)
		}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).CreateInBatches(&e.Upsert, 200).Error
	})
	return txError(op, err)
}

type displayMessageQuery struct {
	ID        int64 `gorm:"primaryKey"`
	StationID string
	RequestID int
	Criteria  string
	CreatedAt time.Time
}

func (displayMessageQuery) TableName() string { return "display_message_queries" }

// SaveDisplayMessageQuery keeps the criteria (JSON) of the station's
// GetDisplayMessages request requestID, replacing any kept for that id,
// and forgets the station's oldest beyond DisplayMessageQueryHistory.
func (s *Store) SaveDisplayMessageQuery(ctx context.Context, stationID string, requestID int, criteria string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("station_id = ? AND request_id = ?", stationID, requestID).Delete(&displayMessageQuery{}).Error; err != nil {
			return err
		}
		q := displayMessageQuery{StationID: stationID, RequestID: requestID, Criteria: criteria, CreatedAt: dbTime(s.now())}
		if err := tx.Create(&q).Error; err != nil {
			return err
		}
		return trimHistory(tx, &displayMessageQuery{}, stationID, DisplayMessageQueryHistory)
	})
	return txError(fmt.Sprintf("store: save display message query %d of %q", requestID, stationID), err)
}

// DisplayMessageQuery returns the criteria kept for the station's
// GetDisplayMessages request requestID; ErrNotFound if none.
func (s *Store) DisplayMessageQuery(ctx context.Context, stationID string, requestID int) (string, error) {
	var q displayMessageQuery
	err := s.db.WithContext(ctx).Where("station_id = ? AND request_id = ?", stationID, requestID).Take(&q).Error
	return q.Criteria, translate(fmt.Sprintf("store: display message query %d of %q", requestID, stationID), err)
}
