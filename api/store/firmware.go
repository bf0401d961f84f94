package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Kinds of StatusReport.
const (
	StatusKindFirmware = "firmware"
	// StatusKindLog covers 1.6 DiagnosticsStatusNotification and
	// LogStatusNotification: both report a log upload.
	StatusKindLog = "log"
	// StatusKindPublish is 2.0.1 PublishFirmwareStatusNotification: the
	// station acting as a local controller publishes firmware (L03).
	StatusKindPublish = "publish"
)

// StatusReportHistory is how many reports of each kind a station keeps.
const StatusReportHistory = 20

// StatusReport is one firmware or log upload status a station reported.
type StatusReport struct {
	ID        int64 `gorm:"primaryKey"`
	StationID string
	Kind      string
	Action    string
	Status    string
	RequestID *int
	// Locations are where a published firmware can be downloaded (JSON
	// array of URIs; publish reports with status Published only).
	Locations  string
	ReportedAt time.Time
}

func (StatusReport) TableName() string { return "station_status_reports" }

// RecordStatusReport stores r (ReportedAt zero means now) and forgets the
// station's reports of that kind beyond the newest StatusReportHistory.
func (s *Store) RecordStatusReport(ctx context.Context, r *StatusReport) error {
	if r.Kind != StatusKindFirmware && r.Kind != StatusKindLog && r.Kind != StatusKindPublish {
		return fmt.Errorf("store: record status report: %w: kind %q", ErrInvalid, r.Kind)
	}
	if r.ReportedAt.IsZero() {
		r.ReportedAt = s.now()
	}
	r.ReportedAt = dbTime(r.ReportedAt)
	r.ID = 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		keep := tx.Model(&StatusReport{}).Select("id").
			Where("station_id = ? AND kind = ?", r.StationID, r.Kind).
			Order("id DESC").Limit(StatusReportHistory)
		return tx.Where("station_id = ? AND kind = ? AND id NOT IN (?)", r.StationID, r.Kind, keep).
			Delete(&StatusReport{}).Error
	})
	return translate("store: record status report", err)
}

// ListStatusReports returns a station's reports, newest first; kind ""
// means every kind.
func (s *Store) ListStatusReports(ctx context.Context, stationID, kind string) ([]StatusReport, error) {
	q := s.db.WithContext(ctx).Where("station_id = ?", stationID)
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	out := []StatusReport{}
	if err := q.Order("id DESC").Find(&out).Error; err != nil {
		return nil, translate("store: list status reports", err)
	}
	return out, nil
}

// LatestReports are a station's newest status report of each kind; nil
// where there is none.
type LatestReports struct {
	Firmware, Log, Publish *StatusReport
}

// LatestStatusReports returns the newest report of each kind of a station.
func (s *Store) LatestStatusReports(ctx context.Context, stationID string) (LatestReports, error) {
	var out LatestReports
	for kind, into := range map[string]**StatusReport{StatusKindFirmware: &out.Firmware, StatusKindLog: &out.Log, StatusKindPublish: &out.Publish} {
		var rows []StatusReport
		if err := s.db.WithContext(ctx).Where("station_id = ? AND kind = ?", stationID, kind).
			Order("id DESC").Limit(1).Find(&rows).Error; err != nil {
			return LatestReports{}, translate("store: latest status reports", err)
		}
		if len(rows) > 0 {
			*into = &rows[0]
		}
	}
	return out, nil
}
