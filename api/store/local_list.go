package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// same reports whether a station holding e needs no update to hold o.
func (e LocalListEntry) same(o LocalListEntry) bool {
	sameTime := (e.ExpiresAt == nil) == (o.ExpiresAt == nil) && (e.ExpiresAt == nil || e.ExpiresAt.Equal(*o.ExpiresAt))
	return e.IDToken == o.IDToken && e.IDTokenType == o.IDTokenType && e.Status == o.Status &&
		sameTime && e.GroupID == o.GroupID && e.GroupType == o.GroupType
}

// LocalListVersion is the list version a station last accepted.
type LocalListVersion struct {
	StationID  string `gorm:"primaryKey"`
	Version    int
	UpdateType string
	Entries    int
	UpdatedAt  time.Time
}

func (LocalListVersion) TableName() string { return "local_list_versions" }

// LocalListPlan is a SendLocalList to make: the version to send (the
// accepted one's next) and what to send.
type LocalListPlan struct {
	StationID  string
	Version    int
	UpdateType string
	// Updated are sent with their authorization info: every entry of a
	// Full update, the added or changed ones of a Differential one.
	Updated []LocalListEntry
	// Removed are sent without authorization info (Differential only): the
	// station deletes them.
	Removed []LocalListEntry
}

// LocalListOptions shape the list for the station's protocol.
type LocalListOptions struct {
	// MaxTokenLen skips longer tokens and drops longer group ids (1.6
	// idTags are at most 20 characters); 0: no limit.
	MaxTokenLen int
	// Untyped leaves token types out (1.6 idTags have none), so that the
	// entries are what the station holds.
	Untyped bool
	// At decides which tokens have expired.
	At time.Time
}

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

// PlanLocalList builds the next update of a station's list from the id
// token table: Full sends every token, Differential what changed since the
// version the station last accepted (a Differential without an accepted
// version is refused with ErrInvalid: there is nothing to build on).
func (s *Store) PlanLocalList(ctx context.Context, stationID, updateType string, o LocalListOptions) (*LocalListPlan, error) {
	op := "store: plan local list"
	if updateType != LocalListFull && updateType != LocalListDifferential {
		return nil, fmt.Errorf("%s: %w: update type %q", op, ErrInvalid, updateType)
	}
	db := s.db.WithContext(ctx)
	ver, err := s.GetLocalListVersion(ctx, stationID)
	if err != nil {
		return nil, err
	}
	if updateType == LocalListDifferential && ver.Version == 0 {
		return nil, fmt.Errorf("%s: %w: no accepted list to send differences to: send a Full update first", op, ErrInvalid)
	}
	var tokens []IDToken
	if err := db.Order("id").Find(&tokens).Error; err != nil {
		return nil, translate(op, err)
	}
	types := make(map[string]string, len(tokens))
	for _, t := range tokens {
		types[strings.ToLower(t.Value)] = t.Type
	}
	at := dbTime(o.At)
	desired := make([]LocalListEntry, 0, len(tokens))
	for _, t := range tokens {
		if o.MaxTokenLen > 0 && len(t.Value) > o.MaxTokenLen {
			continue
		}
		e := LocalListEntry{StationID: stationID, TokenKey: strings.ToLower(t.Value), IDToken: t.Value,
			IDTokenType: t.Type, Status: t.Status}
		if t.ExpiresAt != nil {
			// As sent: to the millisecond.
			exp := t.ExpiresAt.UTC().Truncate(time.Millisecond)
			e.ExpiresAt = &exp
		}
		if t.Status == IDTokenAccepted && t.ExpiresAt != nil && !at.Before(*t.ExpiresAt) {
			e.Status = IDTokenExpired
		}
		if t.GroupID != nil && (o.MaxTokenLen == 0 || len(*t.GroupID) <= o.MaxTokenLen) {
			e.GroupID = *t.GroupID
			e.GroupType = types[strings.ToLower(*t.GroupID)]
			if e.GroupType == "" {
				e.GroupType = DefaultIDTokenType
			}
		}
		if o.Untyped {
			e.IDTokenType, e.GroupType = "", ""
		}
		desired = append(desired, e)
	}
	slices.SortFunc(desired, func(a, b LocalListEntry) int { return strings.Compare(a.TokenKey, b.TokenKey) })

	p := &LocalListPlan{StationID: stationID, Version: ver.Version + 1, UpdateType: updateType}
	if updateType == LocalListFull {
		p.Updated = desired
		return p, nil
	}
	var held []LocalListEntry
	if err := db.Where("station_id = ?", stationID).Find(&held).Error; err != nil {
		return nil, translate(op, err)
	}
	heldBy := make(map[string]LocalListEntry, len(held))
	for _, e := range held {
		heldBy[e.TokenKey] = e
	}
	for _, e := range desired {
		if h, ok := heldBy[e.TokenKey]; !ok || !h.same(e) {
			p.Updated = append(p.Updated, e)
		}
		delete(heldBy, e.TokenKey)
	}
	for _, h := range heldBy {
		p.Removed = append(p.Removed, h)
	}
	slices.SortFunc(p.Removed, func(a, b LocalListEntry) int { return strings.Compare(a.TokenKey, b.TokenKey) })
	return p, nil
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
