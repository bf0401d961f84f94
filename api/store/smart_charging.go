package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// ChargingLimit is an external limit a 2.0.1 station reported
// (NotifyChargingLimit, K12) for itself (EVSEID 0) or one EVSE, kept until
// it reports it cleared (ClearedChargingLimit, K13).
type ChargingLimit struct {
	StationID    string `gorm:"primaryKey"`
	EVSEID       int    `gorm:"primaryKey;column:evse_id"`
	Source       string `gorm:"primaryKey"`
	GridCritical *bool
	// Schedules is the chargingSchedule array as sent ("[]" when none).
	Schedules  string
	ReportedAt time.Time
}

func (ChargingLimit) TableName() string { return "charging_limits" }

// SaveChargingLimit records a reported limit, replacing the one of the
// same source on the same EVSE.
func (s *Store) SaveChargingLimit(ctx context.Context, l ChargingLimit) error {
	l.ReportedAt = dbTime(l.ReportedAt)
	if l.Schedules == "" {
		l.Schedules = "[]"
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&l).Error
	return translate("store: save charging limit", err)
}

// ClearChargingLimit forgets the limit of source on the EVSE (0: the
// station); it returns how many it knew.
func (s *Store) ClearChargingLimit(ctx context.Context, stationID string, evseID int, source string) (int64, error) {
	res := s.db.WithContext(ctx).Where("station_id = ? AND evse_id = ? AND source = ?", stationID, evseID, source).
		Delete(&ChargingLimit{})
	return res.RowsAffected, translate("store: clear charging limit", res.Error)
}

// ListChargingLimits returns the station's limits by EVSE and source.
func (s *Store) ListChargingLimits(ctx context.Context, stationID string) ([]ChargingLimit, error) {
	out := []ChargingLimit{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("evse_id, source").Find(&out).Error
	return out, translate("store: list charging limits", err)
}

// What became of an EV's charging needs (EVChargingNeeds.PlanStatus).
const (
	PlanPending = "pending"
	// PlanNotSent: no schedule was sent; PlanDetail says why.
	PlanNotSent = "not_sent"
	// Otherwise the station's answer to SetChargingProfile (Accepted, Rejected).
)

// EVChargingNeeds is the latest NotifyEVChargingNeeds of an EVSE (K15) and
// the schedule the CSMS sent for it.
type EVChargingNeeds struct {
	StationID string `gorm:"primaryKey"`
	EVSEID    int    `gorm:"primaryKey;column:evse_id"`
	// Needs is the chargingNeeds object as sent.
	Needs             string
	MaxScheduleTuples *int
	ReceivedAt        time.Time
	PlanStatus        string
	PlanDetail        string
	PlanProfileID     *int
	PlanCommandID     string
	PlannedAt         *time.Time
}

func (EVChargingNeeds) TableName() string { return "ev_charging_needs" }

// SaveEVChargingNeeds records an EV's needs, replacing the EVSE's earlier
// ones; their plan is pending. n.ReceivedAt becomes the time as stored,
// which names these needs in FinishEVChargingNeeds.
func (s *Store) SaveEVChargingNeeds(ctx context.Context, n *EVChargingNeeds) error {
	n.ReceivedAt = dbTime(n.ReceivedAt)
	n.PlanStatus, n.PlanDetail, n.PlanProfileID, n.PlanCommandID, n.PlannedAt = PlanPending, "", nil, "", nil
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(n).Error
	return translate("store: save EV charging needs", err)
}

// GetEVChargingNeeds returns the EVSE's latest needs (ErrNotFound).
func (s *Store) GetEVChargingNeeds(ctx context.Context, stationID string, evseID int) (*EVChargingNeeds, error) {
	var n EVChargingNeeds
	err := s.db.WithContext(ctx).Where("station_id = ? AND evse_id = ?", stationID, evseID).Take(&n).Error
	if err != nil {
		return nil, translate("store: get EV charging needs", err)
	}
	return &n, nil
}

// PlanOutcome is what became of needs: a status, and the profile sent.
type PlanOutcome struct {
	Status    string
	Detail    string
	ProfileID *int
	CommandID string
	At        time.Time
}

// FinishEVChargingNeeds records the outcome of the needs received at
// receivedAt; it changes nothing (false) if newer needs replaced them.
func (s *Store) FinishEVChargingNeeds(ctx context.Context, stationID string, evseID int, receivedAt time.Time, o PlanOutcome) (bool, error) {
	at := dbTime(o.At)
	res := s.db.WithContext(ctx).Model(&EVChargingNeeds{}).
		Where("station_id = ? AND evse_id = ? AND received_at = ?", stationID, evseID, dbTime(receivedAt)).
		Updates(map[string]any{"plan_status": o.Status, "plan_detail": o.Detail, "plan_profile_id": o.ProfileID,
			"plan_command_id": o.CommandID, "planned_at": at})
	return res.RowsAffected > 0, translate("store: finish EV charging needs", res.Error)
}

// ListEVChargingNeeds returns the station's latest needs per EVSE.
func (s *Store) ListEVChargingNeeds(ctx context.Context, stationID string) ([]EVChargingNeeds, error) {
	out := []EVChargingNeeds{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("evse_id").Find(&out).Error
	return out, translate("store: list EV charging needs", err)
}

// EVChargingSchedule is the latest schedule an EV reported through its
// station (NotifyEVChargingSchedule, K17) on an EVSE.
type EVChargingSchedule struct {
	StationID string `gorm:"primaryKey"`
	EVSEID    int    `gorm:"primaryKey;column:evse_id"`
	TimeBase  time.Time
	// Schedule is the chargingSchedule object as sent.
	Schedule   string
	ReceivedAt time.Time
}

func (EVChargingSchedule) TableName() string { return "ev_charging_schedules" }

// SaveEVChargingSchedule records an EV's schedule, replacing the EVSE's
// earlier one.
func (s *Store) SaveEVChargingSchedule(ctx context.Context, e EVChargingSchedule) error {
	e.TimeBase, e.ReceivedAt = dbTime(e.TimeBase), dbTime(e.ReceivedAt)
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&e).Error
	return translate("store: save EV charging schedule", err)
}

// ListEVChargingSchedules returns the station's latest EV schedules per EVSE.
func (s *Store) ListEVChargingSchedules(ctx context.Context, stationID string) ([]EVChargingSchedule, error) {
	out := []EVChargingSchedule{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("evse_id").Find(&out).Error
	return out, translate("store: list EV charging schedules", err)
}
