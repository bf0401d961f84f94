package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// StatusUnavailable is the status of a station or connector nobody can use:
// also what the registry sets when the station is not connected.
const (
	StatusAvailable   = "Available"
	StatusUnavailable = "Unavailable"
	StatusFaulted     = "Faulted"
)

// CreateStation inserts st (its Connectors are ignored: they come from the
// station's own reports). A taken id is ErrAlreadyExists.
func (s *Store) CreateStation(ctx context.Context, st *Station) error {
	if st.ID == "" {
		return fmt.Errorf("store: create station: empty id")
	}
	if st.Status == "" {
		st.Status = StatusUnavailable
	}
	if st.Onboarding == "" {
		st.Onboarding = OnboardingAccepted
	}
	now := dbTime(s.now())
	if st.CreatedAt.IsZero() {
		st.CreatedAt = now
	}
	st.CreatedAt = dbTime(st.CreatedAt)
	st.UpdatedAt = now
	st.LastBoot = dbTimePtr(st.LastBoot)
	st.LastSeen = dbTimePtr(st.LastSeen)
	st.StatusReportedAt = dbTimePtr(st.StatusReportedAt)
	err := s.write(ctx, func(tx *gorm.DB) error { return tx.Omit(clause.Associations).Create(st).Error })
	return translate(fmt.Sprintf("store: create station %q", st.ID), err)
}

func preloadConnectors(db *gorm.DB) *gorm.DB {
	return db.Preload("Connectors", func(db *gorm.DB) *gorm.DB {
		return db.Order("evse_id, connector_id")
	})
}

// GetStation returns the station with its connectors ordered by EVSE and
// connector id.
func (s *Store) GetStation(ctx context.Context, id string) (*Station, error) {
	var st Station
	err := preloadConnectors(s.db.WithContext(ctx)).Where("id = ?", id).Take(&st).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: get station %q", id), err)
	}
	return &st, nil
}

// GetStationForAdmission returns only what admitting a connection reads of
// the station (api/control): its id, onboarding state, block, security
// profile and password hashes. Not its connectors: GetStation's second
// query, run for every connection attempt of a reconnect storm, for rows
// admission never looks at.
func (s *Store) GetStationForAdmission(ctx context.Context, id string) (*Station, error) {
	var st Station
	err := s.db.WithContext(ctx).Select("id", "onboarding", "blocked", "security_profile",
		"password_hash", "pending_password_hash", "previous_password_hash").Where("id = ?", id).Take(&st).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: get station %q for admission", id), err)
	}
	return &st, nil
}

// StationFilter narrows ListStations; its zero value lists every station.
type StationFilter struct {
	Onboarding string // only stations in this onboarding state
	Blocked    *bool  // only blocked (true) or unblocked (false) stations
	// Pending: only stations (not) waiting for acceptance, by the operator
	// (onboarding Pending) or by their BootNotification's answer.
	Pending *bool
	// Connected: only stations (not) connected now.
	Connected *bool
	// Faulted: only stations that do (not) report Faulted, for themselves
	// or for a connector.
	Faulted *bool
	// OCPPVersion: only stations that last connected with it (0: any).
	OCPPVersion ocppj.Version
	// Search: only stations whose id, name, vendor, model or serial number
	// contains it, ignoring case.
	Search string
}

func (f StationFilter) apply(db *gorm.DB) *gorm.DB {
	if f.Onboarding != "" {
		db = db.Where("onboarding = ?", f.Onboarding)
	}
	if f.Blocked != nil {
		db = db.Where("blocked = ?", *f.Blocked)
	}
	if f.Pending != nil {
		// The BootNotification answer's Pending, as stored (both versions
		// spell it so).
		db = db.Where("(onboarding = ? OR registration_status = ?) = ?", OnboardingPending, "Pending", *f.Pending)
	}
	if f.Connected != nil {
		db = db.Where("connected = ?", *f.Connected)
	}
	if f.Faulted != nil {
		db = db.Where("(status = ? OR EXISTS (SELECT 1 FROM connectors c WHERE c.station_id = stations.id AND c.status = ?)) = ?",
			StatusFaulted, StatusFaulted, *f.Faulted)
	}
	if f.OCPPVersion != 0 {
		db = db.Where("ocpp_version = ?", f.OCPPVersion)
	}
	if f.Search != "" {
		like := "%" + likeEscape(strings.ToLower(f.Search)) + "%"
		db = db.Where(`(LOWER(id) LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\' OR LOWER(vendor) LIKE ? ESCAPE '\'
			OR LOWER(model) LIKE ? ESCAPE '\' OR LOWER(serial_number) LIKE ? ESCAPE '\')`, like, like, like, like, like)
	}
	return db
}

// ListStations returns one page of the stations f selects ordered by id,
// with their connectors, and how many f selects in all. Keyset paging: pass
// the last id of a page as the next page's AfterID.
func (s *Store) ListStations(ctx context.Context, p Page, f StationFilter) ([]Station, int64, error) {
	limit := readLimit(p.Limit)
	db := s.db.WithContext(ctx)
	var total int64
	if err := f.apply(db.Model(&Station{})).Count(&total).Error; err != nil {
		return nil, 0, translate("store: count stations", err)
	}
	q := f.apply(preloadConnectors(db)).Order("id").Limit(limit)
	if p.AfterID != "" {
		q = q.Where("id > ?", p.AfterID)
	}
	stations := []Station{}
	if err := q.Find(&stations).Error; err != nil {
		return nil, 0, translate("store: list stations", err)
	}
	return stations, total, nil
}

// UpdateStation applies the non-nil fields of p and returns the station as
// it now is.
func (s *Store) UpdateStation(ctx context.Context, id string, p StationPatch) (*Station, error) {
	op := fmt.Sprintf("store: update station %q", id)
	set := map[string]any{}
	if p.Name != nil {
		set["name"] = *p.Name
	}
	if p.PasswordHash != nil {
		// The operator's password is the only one: a rotation in progress
		// ends with it.
		set["password_hash"] = *p.PasswordHash
		set["pending_password_hash"] = ""
		set["previous_password_hash"] = ""
	}
	if p.SecurityProfile != nil {
		set["security_profile"] = *p.SecurityProfile
	}
	if len(set) == 0 {
		return s.GetStation(ctx, id)
	}
	set["updated_at"] = dbTime(s.now())
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Station{}).Where("id = ?", id).Updates(set)
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetStation(ctx, id)
}

// DeleteStation removes the station and, by cascade, its connectors.
func (s *Store) DeleteStation(ctx context.Context, id string) error {
	op := fmt.Sprintf("store: delete station %q", id)
	return s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&Station{})
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		return nil
	})
}

// stationExists tells a missing station from a conditional update that
// matched nothing for another reason.
func stationExists(db *gorm.DB, id string) (bool, error) {
	var n int64
	if err := db.Model(&Station{}).Where("id = ?", id).Limit(1).Count(&n).Error; err != nil {
		return false, err
	}
	return n > 0, nil
}
