package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Charging profile sources.
const (
	// ProfileSourceSet: accepted by the station from SetChargingProfile.
	ProfileSourceSet = "set"
	// ProfileSourceReported: listed by the station in a 2.0.1
	// ReportChargingProfiles.
	ProfileSourceReported = "reported"
)

// ChargingProfile is a stored charging profile. Profile is its JSON in the
// station's OCPP version.
type ChargingProfile struct {
	ID                  int64 `gorm:"primaryKey"`
	StationID           string
	Source              string
	OCPPVersion         ocppj.Version `gorm:"column:ocpp_version"`
	ProfileID           int
	EVSEID              int `gorm:"column:evse_id"` // 1.6 connectorId
	Purpose             string
	StackLevel          int
	TransactionID       string
	RequestID           int
	ChargingLimitSource string
	Profile             string
	RequestedBy         string
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// SaveChargingProfile stores a profile a station accepted (source "set").
// As on the station (OCPP 1.6 3.13.2, 2.0.1 K01.FR.05), it replaces any
// stored profile with the same id, or with the same EVSE, purpose and stack
// level.
func (s *Store) SaveChargingProfile(ctx context.Context, p *ChargingProfile) error {
	now := dbTime(s.now())
	p.ID = 0
	p.Source = ProfileSourceSet
	p.CreatedAt, p.UpdatedAt = now, now
	err := s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("station_id = ? AND source = ? AND (profile_id = ? OR (evse_id = ? AND purpose = ? AND stack_level = ?))",
			p.StationID, ProfileSourceSet, p.ProfileID, p.EVSEID, p.Purpose, p.StackLevel).
			Delete(&ChargingProfile{}).Error; err != nil {
			return err
		}
		return tx.Create(p).Error
	})
	return translate("store: save charging profile", err)
}

// ProfileCriteria selects stored profiles to clear, as ClearChargingProfile
// does: a ProfileID alone decides; otherwise every given field must match.
type ProfileCriteria struct {
	ProfileID  *int
	EVSEID     *int
	Purpose    string
	StackLevel *int
}

// ClearChargingProfiles removes the stored "set" profiles of a station that
// match c and returns them (RETURNING: the rows this delete removed, not a
// read before it), so a caller acts on exactly what went.
func (s *Store) ClearChargingProfiles(ctx context.Context, stationID string, c ProfileCriteria) ([]ChargingProfile, error) {
	var removed []ChargingProfile
	err := s.write(ctx, func(tx *gorm.DB) error {
		q := tx.Clauses(clause.Returning{}).Where("station_id = ? AND source = ?", stationID, ProfileSourceSet)
		if c.ProfileID != nil {
			q = q.Where("profile_id = ?", *c.ProfileID)
		} else {
			if c.EVSEID != nil {
				q = q.Where("evse_id = ?", *c.EVSEID)
			}
			if c.Purpose != "" {
				q = q.Where("purpose = ?", c.Purpose)
			}
			if c.StackLevel != nil {
				q = q.Where("stack_level = ?", *c.StackLevel)
			}
		}
		// removed is empty here: Delete would add a non-empty slice's
		// primary keys to the condition.
		return q.Delete(&removed).Error
	})
	if err != nil {
		return nil, translate("store: clear charging profiles", err)
	}
	return removed, nil
}

// SaveReportedChargingProfiles stores the profiles of one
// ReportChargingProfiles message (source "reported"); a retried message
// replaces what it stored before.
func (s *Store) SaveReportedChargingProfiles(ctx context.Context, profiles []ChargingProfile) error {
	if len(profiles) == 0 {
		return nil
	}
	now := dbTime(s.now())
	err := s.write(ctx, func(tx *gorm.DB) error {
		for i := range profiles {
			p := &profiles[i]
			p.ID = 0
			p.Source = ProfileSourceReported
			p.CreatedAt, p.UpdatedAt = now, now
			if err := tx.Where("station_id = ? AND source = ? AND request_id = ? AND evse_id = ? AND profile_id = ?",
				p.StationID, ProfileSourceReported, p.RequestID, p.EVSEID, p.ProfileID).
				Delete(&ChargingProfile{}).Error; err != nil {
				return err
			}
			if err := tx.Create(p).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return translate("store: save reported charging profiles", err)
}

// ChargingProfileFilter narrows ListChargingProfiles; zero fields match all.
type ChargingProfileFilter struct {
	Source    string
	RequestID int
}

// ListChargingProfiles returns a station's stored profiles ordered by
// source, EVSE, purpose, stack level and profile id.
func (s *Store) ListChargingProfiles(ctx context.Context, stationID string, f ChargingProfileFilter) ([]ChargingProfile, error) {
	q := s.db.WithContext(ctx).Where("station_id = ?", stationID)
	if f.Source != "" {
		q = q.Where("source = ?", f.Source)
	}
	if f.RequestID != 0 {
		q = q.Where("request_id = ?", f.RequestID)
	}
	out := []ChargingProfile{}
	if err := q.Order("source, evse_id, purpose, stack_level, profile_id, request_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: list charging profiles: %w", err)
	}
	return out, nil
}
