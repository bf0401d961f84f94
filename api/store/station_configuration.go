package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ConfigurationKey is an OCPP 1.6 configuration key as its station last
// reported it (GetConfiguration) or accepted it (ChangeConfiguration).
// What is kept, and how much, is api/ocpp/v16's decision; the store keeps
// what it is given.
type ConfigurationKey struct {
	StationID string
	// Key as the station (or the accepted ChangeConfiguration) spelt it.
	Key string
	// Value is nil when the station sent none.
	Value    *string
	Readonly bool
	// AwaitingReboot: the station answered ChangeConfiguration with
	// RebootRequired; Value is what it takes once it restarts.
	AwaitingReboot bool
	ReportedAt     time.Time
}

type configurationRow struct {
	StationID      string `gorm:"primaryKey"`
	KeyFold        string `gorm:"primaryKey"`
	Key            string
	Value          *string
	Readonly       bool
	AwaitingReboot bool
	ReportedAt     time.Time
}

func (configurationRow) TableName() string { return "station_configuration" }

// foldKey is a key's identity: 1.6 keys are CiString, compared without
// case.
func foldKey(key string) string { return strings.ToLower(key) }

func (k ConfigurationKey) row() configurationRow {
	return configurationRow{StationID: k.StationID, KeyFold: foldKey(k.Key), Key: k.Key, Value: k.Value, Readonly: k.Readonly,
		AwaitingReboot: k.AwaitingReboot, ReportedAt: dbTime(k.ReportedAt)}
}

func (r configurationRow) key() ConfigurationKey {
	return ConfigurationKey{StationID: r.StationID, Key: r.Key, Value: r.Value, Readonly: r.Readonly,
		AwaitingReboot: r.AwaitingReboot, ReportedAt: r.ReportedAt}
}

// ConfigurationChange is what one answer says of a station's 1.6 keys.
type ConfigurationChange struct {
	StationID string
	// Full: Set is every key the station has; what else was stored goes.
	Full bool
	// Set are keys to store, replacing the stored key of the same name
	// (without case); a later one of the same name wins over an earlier.
	Set []ConfigurationKey
	// ValueOnly: a key of Set already stored keeps its readonly and its
	// spelling (an accepted ChangeConfiguration says nothing of either).
	ValueOnly bool
	// Remove are keys the station does not know.
	Remove []string
	// Limit is the most keys the station may have stored: a new key of
	// Set that would pass it is not stored. Zero: no limit.
	Limit int
}

// ConfigurationApplied is what ApplyConfiguration did.
type ConfigurationApplied struct {
	// Stored counts the keys of Set stored (new or replacing one).
	Stored int
	// Dropped are the keys of Set not stored because of Limit.
	Dropped []string
}

// ApplyConfiguration stores what one answer says of a station's keys, in
// one transaction: with Full, every stored key of the station goes first.
func (s *Store) ApplyConfiguration(ctx context.Context, c ConfigurationChange) (ConfigurationApplied, error) {
	op := fmt.Sprintf("store: apply configuration of %q", c.StationID)
	// One row per name, the last statement of it winning, in the order
	// the station sent them (Limit keeps the first ones).
	var rows []configurationRow
	at := map[string]int{}
	for _, k := range c.Set {
		k.StationID = c.StationID
		r := k.row()
		if i, ok := at[r.KeyFold]; ok {
			rows[i] = r
			continue
		}
		at[r.KeyFold] = len(rows)
		rows = append(rows, r)
	}
	var out ConfigurationApplied
	err := s.write(ctx, func(tx *gorm.DB) error {
		out = ConfigurationApplied{}
		// One answer of a station at a time (a typed GetConfiguration and a
		// /call answered together): otherwise both insert the same new key,
		// one fails on the key, and the count under Limit is stale. It
		// also tells an unknown station apart.
		var st Station
		if err := tx.Clauses(lockRow).Select("id").Where("id = ?", c.StationID).Take(&st).Error; err != nil {
			return err
		}
		if c.Full {
			if err := tx.Where("station_id = ?", c.StationID).Delete(&configurationRow{}).Error; err != nil {
				return err
			}
		}
		if len(c.Remove) > 0 {
			folds := make([]string, len(c.Remove))
			for i, k := range c.Remove {
				folds[i] = foldKey(k)
			}
			if err := tx.Where("station_id = ? AND key_fold IN ?", c.StationID, folds).Delete(&configurationRow{}).Error; err != nil {
				return err
			}
		}
		var have int64
		if err := tx.Model(&configurationRow{}).Where("station_id = ?", c.StationID).Count(&have).Error; err != nil {
			return err
		}
		var fresh []configurationRow
		for _, r := range rows {
			if !c.Full {
				cols := map[string]any{"value": r.Value, "awaiting_reboot": r.AwaitingReboot, "reported_at": r.ReportedAt}
				if !c.ValueOnly {
					cols["key"], cols["readonly"] = r.Key, r.Readonly
				}
				res := tx.Model(&configurationRow{}).Where("station_id = ? AND key_fold = ?", c.StationID, r.KeyFold).Updates(cols)
				if res.Error != nil {
					return res.Error
				}
				if res.RowsAffected > 0 {
					out.Stored++
					continue
				}
			}
			if c.Limit > 0 && have >= int64(c.Limit) {
				out.Dropped = append(out.Dropped, r.Key)
				continue
			}
			fresh = append(fresh, r)
			have++
		}
		if len(fresh) == 0 {
			return nil
		}
		out.Stored += len(fresh)
		return tx.CreateInBatches(fresh, 200).Error
	})
	if err != nil {
		return ConfigurationApplied{}, translate(op, err)
	}
	return out, nil
}

// ListConfiguration returns the station's stored 1.6 keys, by name
// without case.
func (s *Store) ListConfiguration(ctx context.Context, stationID string) ([]ConfigurationKey, error) {
	var rows []configurationRow
	if err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("key_fold").Find(&rows).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: list configuration of %q", stationID), err)
	}
	out := make([]ConfigurationKey, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// GetConfigurationKey returns one stored key of the station (its name
// compared without case). ErrNotFound when it is not stored.
func (s *Store) GetConfigurationKey(ctx context.Context, stationID, key string) (*ConfigurationKey, error) {
	var r configurationRow
	if err := s.db.WithContext(ctx).Where("station_id = ? AND key_fold = ?", stationID, foldKey(key)).Take(&r).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: configuration key %q of %q", key, stationID), err)
	}
	k := r.key()
	return &k, nil
}
