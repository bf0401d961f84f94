package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// Command is one operator command: a core→charger CALL and its outcome.
type Command struct {
	Seq              int64  `gorm:"primaryKey;autoIncrement"`
	ID               string // the OCPP message id
	StationID        string
	OCPPVersion      ocppj.Version `gorm:"column:ocpp_version"`
	Action           string
	Payload          string // the CALL's JSON payload
	RequestedBy      string
	CoreID           string
	ConnectionID     string
	Status           outcome.Status // pending until exactly one final status is recorded
	Response         *string        // the CALLRESULT payload
	ErrorCode        string
	ErrorDescription string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	FinishedAt       *time.Time
}

// CommandOutcome settles a pending command.
type CommandOutcome struct {
	Status           outcome.Status
	Response         *string
	ErrorCode        string
	ErrorDescription string
	At               time.Time
}

// SeqPage asks for a slice of a list ordered newest first.
type SeqPage struct {
	Limit  int   // 0 means DefaultPageLimit; capped at MaxPageLimit+1 (readLimit)
	Before int64 // keyset cursor: the last seq/id of the previous page; 0 starts at the newest
}

func (p SeqPage) limit() int { return readLimit(p.Limit) }

// CreateCommand records c as pending (c.Status is forced to pending) and
// fills in c.Seq. A reused message id is ErrAlreadyExists.
func (s *Store) CreateCommand(ctx context.Context, c *Command) error {
	c.Seq = 0
	c.Status = outcome.Pending
	c.CreatedAt = dbTime(c.CreatedAt)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = dbTime(s.now())
	}
	c.ExpiresAt = dbTime(c.ExpiresAt)
	c.FinishedAt = nil
	err := s.write(ctx, func(tx *gorm.DB) error { return tx.Create(c).Error })
	return translate(fmt.Sprintf("store: create command %q", c.ID), err)
}

// FinishCommand records the outcome of a pending command. It reports
// whether it applied: a command that is already settled (by the sweeper,
// say) keeps its first outcome.
func (s *Store) FinishCommand(ctx context.Context, id string, o CommandOutcome) (bool, error) {
	at := o.At
	if at.IsZero() {
		at = s.now()
	}
	res := s.db.WithContext(ctx).Model(&Command{}).
		Where("id = ? AND status = ?", id, outcome.Pending).
		Updates(map[string]any{
			"status":            o.Status,
			"response":          o.Response,
			"error_code":        o.ErrorCode,
			"error_description": o.ErrorDescription,
			"finished_at":       dbTime(at),
		})
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: finish command %q", id), res.Error)
	}
	return res.RowsAffected > 0, nil
}

// GetCommand returns one command by its message id.
func (s *Store) GetCommand(ctx context.Context, id string) (*Command, error) {
	var c Command
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: get command %q", id), err)
	}
	return &c, nil
}

// ListCommands returns one page of a station's commands, newest first, and
// the station's total number of commands.
func (s *Store) ListCommands(ctx context.Context, stationID string, p SeqPage) ([]Command, int64, error) {
	op := fmt.Sprintf("store: list commands of %q", stationID)
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&Command{}).Where("station_id = ?", stationID).Count(&total).Error; err != nil {
		return nil, 0, translate(op, err)
	}
	q := db.Where("station_id = ?", stationID)
	if p.Before > 0 {
		q = q.Where("seq < ?", p.Before)
	}
	var out []Command
	if err := q.Order("seq DESC").Limit(p.limit()).Find(&out).Error; err != nil {
		return nil, 0, translate(op, err)
	}
	return out, total, nil
}

// FailStaleCommands settles every command still pending although its
// caller gave up before olderThan: its core instance died or lost its
// answer, and it must not look pending forever. It returns how many.
func (s *Store) FailStaleCommands(ctx context.Context, olderThan time.Time, reason string) (int64, error) {
	res := s.db.WithContext(ctx).Model(&Command{}).
		Where("status = ? AND expires_at < ?", outcome.Pending, dbTime(olderThan)).
		Updates(map[string]any{
			"status":            outcome.Failed,
			"error_description": reason,
			"finished_at":       dbTime(s.now()),
		})
	if res.Error != nil {
		return 0, translate("store: fail stale commands", res.Error)
	}
	return res.RowsAffected, nil
}

// TableName keeps gorm's name for Command stable.
func (Command) TableName() string { return "commands" }

// CommandsSince returns up to limit of a station's commands of the given
// actions that are pending or answered and were answered (or, pending,
// sent) at or after since, newest first. It reads the station's slice of
// the (station_id, seq) index, so its cost is bounded by the commands
// operators sent that station, never by what the station sends.
func (s *Store) CommandsSince(ctx context.Context, stationID string, actions []string, since time.Time, limit int) ([]Command, error) {
	var out []Command
	err := s.db.WithContext(ctx).
		Where("station_id = ? AND action IN ? AND status IN ?", stationID, actions, []outcome.Status{outcome.Pending, outcome.Answered}).
		Where("COALESCE(finished_at, created_at) >= ?", dbTime(since)).
		Order("seq DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: recent commands of %q", stationID), err)
	}
	return out, nil
}
