package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// NetworkProfile is a 2.0.1 network connection profile a station accepted
// into one of its configuration slots (SetNetworkProfile).
type NetworkProfile struct {
	StationID       string `gorm:"primaryKey"`
	Slot            int    `gorm:"primaryKey"`
	SecurityProfile int
	CSMSURL         string `gorm:"column:csms_url"`
	// ConnectionData is the connectionData sent, as JSON, with its VPN and
	// APN passwords replaced: the CSMS never keeps them.
	ConnectionData string
	RequestedBy    string
	CommandID      string
	AcceptedAt     time.Time
}

func (NetworkProfile) TableName() string { return "network_profiles" }

// SaveNetworkProfile keeps p, replacing what the station held in that
// slot (AcceptedAt zero means now).
func (s *Store) SaveNetworkProfile(ctx context.Context, p *NetworkProfile) error {
	if p.AcceptedAt.IsZero() {
		p.AcceptedAt = s.now()
	}
	p.AcceptedAt = dbTime(p.AcceptedAt)
	err := s.write(ctx, func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(p).Error
	})
	return translate("store: save network profile", err)
}

// ListNetworkProfiles returns the profiles a station accepted, by slot.
func (s *Store) ListNetworkProfiles(ctx context.Context, stationID string) ([]NetworkProfile, error) {
	out := []NetworkProfile{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).Order("slot").Find(&out).Error
	return out, translate("store: list network profiles", err)
}
