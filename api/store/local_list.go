package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Local list update types (OCPP UpdateType / UpdateEnum).
const (
	LocalListFull         = "Full"
	LocalListDifferential = "Differential"
)

// LocalListEntry is one token of a station's local authorization list as
// the CSMS sent it.
type LocalListEntry struct {
	StationID   string `gorm:"primaryKey"`
	TokenKey    string `gorm:"primaryKey"` // lower-cased IDToken
	IDToken     string `gorm:"column:id_token"`
	IDTokenType string `gorm:"column:id_token_type"`
	// Status is the token's effective status when sent (Expired once its
	// expiry had passed).
	Status    string
	ExpiresAt *time.Time
	GroupID   string
	GroupType string
}

func (LocalListEntry) TableName() string { return "local_list_entries" }

// LocalListVersion is the list version a station last accepted.
type LocalListVersion struct {
	StationID  string `gorm:"primaryKey"`
	Version    int
	UpdateType string
	Entries    int
	UpdatedAt  time.Time
}

func (LocalListVersion) TableName() string { return "local_list_versions" }

// GetLocalListVersion returns what a station last accepted; a zero
// version (and ErrNotFound never) when it accepted nothing yet.
func (s *Store) GetLocalListVersion(ctx context.Context, stationID string) (LocalListVersion, error) {
	var rows []LocalListVersion
	if err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Limit(1).Find(&rows).Error; err != nil {
		return LocalListVersion{}, translate("store: get local list version", err)
	}
	if len(rows) == 0 {
		return LocalListVersion{StationID: stationID}, nil
	}
	return rows[0], nil
}

// LocalListState returns the version a station last accepted (zero if
// none) and the entries it holds since, ordered by key: what the next
// update is planned from (api/locallist).
func (s *Store) LocalListState(ctx context.Context, stationID string) (LocalListVersion, []LocalListEntry, error) {
	ver, err := s.GetLocalListVersion(ctx, stationID)
	if err != nil {
		return LocalListVersion{}, nil, err
	}
	held := []LocalListEntry{}
	if err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("token_key").Find(&held).Error; err != nil {
		return LocalListVersion{}, nil, translate("store: local list entries", err)
	}
	return ver, held, nil
}

// UpdateLocalList changes what a station's list holds: f gets the version
// the station holds (zero if none) and its entries, and returns the new
// ones, which replace them. The station's version row is locked meanwhile,
// so concurrent updates of one station apply one after the other. An
// error of f records nothing and is returned as is.
func (s *Store) UpdateLocalList(ctx context.Context, stationID string,
	f func(cur LocalListVersion, held []LocalListEntry) (LocalListVersion, []LocalListEntry, error)) (*LocalListVersion, error) {
	op := "store: update local list"
	var fErr error
	var out LocalListVersion
	err := s.write(ctx, func(tx *gorm.DB) error {
		var rows []LocalListVersion
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("station_id = ?", stationID).Find(&rows).Error; err != nil {
			return err
		}
		cur := LocalListVersion{StationID: stationID}
		if len(rows) > 0 {
			cur = rows[0]
		}
		var held []LocalListEntry
		if err := tx.Where("station_id = ?", stationID).Order("token_key").Find(&held).Error; err != nil {
			return err
		}
		next, entries, err := f(cur, held)
		if err != nil {
			fErr = err
			return err
		}
		if err := tx.Where("station_id = ?", stationID).Delete(&LocalListEntry{}).Error; err != nil {
			return err
		}
		for i := range entries {
			entries[i].StationID = stationID
			entries[i].ExpiresAt = dbTimePtr(entries[i].ExpiresAt)
		}
		if len(entries) > 0 {
			if err := tx.CreateInBatches(entries, 500).Error; err != nil {
				return err
			}
		}
		next.StationID, next.UpdatedAt = stationID, dbTime(s.now())
		out = next
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "station_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"version", "update_type", "entries", "updated_at"}),
		}).Create(&next).Error
	})
	if fErr != nil {
		return nil, fErr
	}
	if err != nil {
		return nil, translate(op, err)
	}
	return &out, nil
}
