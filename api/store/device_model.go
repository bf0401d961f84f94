package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Kinds of split report: the 2.0.1 notifications a station sends in
// tbc/seqNo parts for one requestId.
const (
	ReportKindDeviceModel         = "NotifyReport"
	ReportKindMonitoring          = "NotifyMonitoringReport"
	ReportKindDisplayMessages     = "NotifyDisplayMessages"
	ReportKindCustomerInformation = "NotifyCustomerInformation"
	// ReportKindChargingProfiles: ReportChargingProfiles, numbered as they
	// arrive (it has no seqNo); the profiles themselves are rows of
	// charging_profiles, the report says when all have arrived.
	ReportKindChargingProfiles = "ReportChargingProfiles"
)

func validReportKind(k string) bool {
	switch k {
	case ReportKindDeviceModel, ReportKindMonitoring, ReportKindDisplayMessages, ReportKindCustomerInformation,
		ReportKindChargingProfiles:
		return true
	}
	return false
}

// ReportPart is one part of a 2.0.1 report split in tbc/seqNo messages
// (NotifyReport, NotifyMonitoringReport, NotifyDisplayMessages,
// NotifyCustomerInformation): part SeqNo of the report the station sends
// for RequestID.
type ReportPart struct {
	StationID string
	// Kind is one of the ReportKind constants ("" = ReportKindDeviceModel).
	Kind      string
	RequestID int
	SeqNo     int
	Tbc       bool // another part follows
	// Append numbers the part after those stored (SeqNo is ignored):
	// NotifyDisplayMessages carries no seqNo, and OCPP-J delivers one
	// CALL of a station at a time, in order.
	Append      bool
	GeneratedAt time.Time
	// Data is the part's entries as a JSON array (reportData, monitor,
	// messageInfo; NotifyCustomerInformation's data string as a one-element
	// array); nil stands for [].
	Data json.RawMessage
	// Bounds limit what the station's reports keep (none when zero).
	Bounds ReportBounds
}

// ReportBounds are the limits RecordReportPart keeps a station's split
// reports within (api/report decides them); a zero field bounds nothing.
type ReportBounds struct {
	// MaxParts: a part numbered MaxParts or more is dropped.
	MaxParts int
	// MaxBytes: a part that would take the data kept for its report past
	// MaxBytes is dropped.
	MaxBytes int64
	// MaxUnfinished: a part that starts a report while the station has
	// MaxUnfinished reports (of any kind) still missing parts first
	// deletes the one whose newest part is the oldest.
	MaxUnfinished int
	// KeepComplete: once a report completes, the complete reports of its
	// station and kind beyond the KeepComplete most recent are deleted.
	KeepComplete int
	// KeepRequested exempts from KeepComplete the customer information
	// reports that answer a request on record (customer_information_requests):
	// they are that request's result.
	KeepRequested bool
}

// Why RecordReportPart dropped a part (ReportPartResult.Dropped).
const (
	DroppedParts = "parts" // ReportBounds.MaxParts
	DroppedBytes = "bytes" // ReportBounds.MaxBytes
)

// ReportPartResult is the outcome of RecordReportPart.
type ReportPartResult struct {
	// Duplicate: this (station, requestId, seqNo) was recorded before;
	// nothing changed.
	Duplicate bool
	// Complete: every part of the report has now arrived (possibly before
	// this one, for a retried part).
	Complete bool
	// Dropped says which bound kept the part from being stored ("" when
	// it was stored or was a duplicate).
	Dropped string
	// Evicted is the unfinished report deleted to make room for this
	// part's (MaxUnfinished), if any.
	Evicted *ReportKey
	// Trimmed counts the complete reports deleted past KeepComplete.
	Trimmed int
}

// ReportKey names one report of a station.
type ReportKey struct {
	Kind      string
	RequestID int
}

// DeviceModelReport is a complete report as the station sent it.
type DeviceModelReport struct {
	StationID   string
	Kind        string
	RequestID   int
	Parts       int
	GeneratedAt time.Time // the first part's generatedAt
	CompletedAt time.Time // when the core received the last missing part
	// Data holds every reportData entry of the report, parts in seqNo order,
	// each entry as the station sent it (a ReportDataType object).
	Data []json.RawMessage
}

type reportPart struct {
	StationID   string `gorm:"primaryKey"`
	Kind        string `gorm:"primaryKey"`
	RequestID   int    `gorm:"primaryKey"`
	SeqNo       int    `gorm:"primaryKey"`
	Tbc         bool
	GeneratedAt time.Time
	ReportData  string
	// Bytes is len(ReportData), summed to bound a report's size.
	Bytes     int64
	CreatedAt time.Time
}

func (reportPart) TableName() string { return "report_parts" }

type report struct {
	StationID   string `gorm:"primaryKey"`
	Kind        string `gorm:"primaryKey"`
	RequestID   int    `gorm:"primaryKey"`
	Parts       int
	GeneratedAt time.Time
	CompletedAt time.Time
}

func (report) TableName() string { return "reports" }

// RecordReportPart stores one NotifyReport part. Parts may arrive in any
// order and be retried: a part is kept once per (station, requestId, seqNo),
// and the report counts as complete once the part with tbc=false (seqNo n)
// and every part before it (0..n-1) are stored. p.Bounds limit what is
// kept: a part past them is not stored (Dropped says which), and a new
// report may evict an unfinished one or trim old complete ones (see
// ReportBounds). ErrNotFound for an unknown station; ErrInvalid for a
// negative seqNo or a Data that is not a JSON array.
func (s *Store) RecordReportPart(ctx context.Context, p ReportPart) (ReportPartResult, error) {
	b := p.Bounds
	if p.Kind == "" {
		p.Kind = ReportKindDeviceModel
	}
	op := fmt.Sprintf("store: record %s %d part %d of %q", p.Kind, p.RequestID, p.SeqNo, p.StationID)
	if !validReportKind(p.Kind) {
		return ReportPartResult{}, fmt.Errorf("%s: %w: unknown kind", op, ErrInvalid)
	}
	if p.SeqNo < 0 && !p.Append {
		return ReportPartResult{}, fmt.Errorf("%s: %w: negative seqNo", op, ErrInvalid)
	}
	data := string(p.Data)
	if len(p.Data) == 0 {
		data = "[]"
	} else {
		var entries []json.RawMessage
		if err := json.Unmarshal(p.Data, &entries); err != nil {
			return ReportPartResult{}, fmt.Errorf("%s: %w: report data is not a JSON array: %v", op, ErrInvalid, err)
		}
	}
	var res ReportPartResult
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res = ReportPartResult{}
		// One writer per station at a time, so that two parts completing
		// the same report together cannot both miss the other, and the
		// bounds hold whatever the station sends at once; it also tells
		// an unknown station apart.
		var st Station
		if err := tx.Clauses(lockRow).Select("id").Where("id = ?", p.StationID).Take(&st).Error; err != nil {
			return err
		}
		key := tx.Model(&reportPart{}).Where("station_id = ? AND kind = ? AND request_id = ?", p.StationID, p.Kind, p.RequestID)
		var stored struct {
			N     int64
			Bytes int64
		}
		if err := key.Select("COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes").Scan(&stored).Error; err != nil {
			return err
		}
		if p.Append {
			p.SeqNo = int(stored.N)
		}
		var done int64
		if err := tx.Model(&report{}).Where("station_id = ? AND kind = ? AND request_id = ?", p.StationID, p.Kind, p.RequestID).Count(&done).Error; err != nil {
			return err
		}
		var have int64
		if !p.Append {
			if err := tx.Model(&reportPart{}).Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no = ?", p.StationID, p.Kind, p.RequestID, p.SeqNo).
				Count(&have).Error; err != nil {
				return err
			}
		}
		switch {
		case have > 0:
			// A retry: nothing to store, nothing to bound.
			res.Duplicate = true
		case b.MaxParts > 0 && p.SeqNo >= b.MaxParts:
			res.Dropped = DroppedParts
		case b.MaxBytes > 0 && stored.Bytes+int64(len(data)) > b.MaxBytes:
			res.Dropped = DroppedBytes
		}
		if res.Duplicate || res.Dropped != "" {
			res.Complete = done > 0
			return nil
		}
		if stored.N == 0 && done == 0 && b.MaxUnfinished > 0 {
			ev, err := evictUnfinished(tx, p.StationID, b.MaxUnfinished)
			if err != nil {
				return err
			}
			res.Evicted = ev
		}
		now := dbTime(s.now())
		row := reportPart{
			StationID: p.StationID, Kind: p.Kind, RequestID: p.RequestID, SeqNo: p.SeqNo, Tbc: p.Tbc,
			GeneratedAt: dbTime(p.GeneratedAt), ReportData: data, Bytes: int64(len(data)), CreatedAt: now,
		}
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if ins.Error != nil {
			return ins.Error
		}
		res.Duplicate = ins.RowsAffected == 0
		if done > 0 {
			res.Complete = true
			return nil
		}
		var last reportPart
		err := tx.Select("seq_no").Where("station_id = ? AND kind = ? AND request_id = ? AND tbc = ?", p.StationID, p.Kind, p.RequestID, false).
			Order("seq_no").Take(&last).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var upTo int64
		if err := tx.Model(&reportPart{}).Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no <= ?", p.StationID, p.Kind, p.RequestID, last.SeqNo).
			Count(&upTo).Error; err != nil {
			return err
		}
		if upTo != int64(last.SeqNo)+1 {
			return nil
		}
		var first reportPart
		if err := tx.Select("generated_at").Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no = 0", p.StationID, p.Kind, p.RequestID).Take(&first).Error; err != nil {
			return err
		}
		rep := report{StationID: p.StationID, Kind: p.Kind, RequestID: p.RequestID, Parts: last.SeqNo + 1, GeneratedAt: first.GeneratedAt, CompletedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rep).Error; err != nil {
			return err
		}
		res.Complete = true
		if b.KeepComplete > 0 {
			n, err := trimComplete(tx, p.StationID, p.Kind, b.KeepComplete, b.KeepRequested)
			if err != nil {
				return err
			}
			res.Trimmed = n
		}
		return nil
	})
	if err != nil {
		return ReportPartResult{}, txError(op, err)
	}
	return res, nil
}

// unfinished selects the reports (station, kind, request) with parts but
// not complete, with when their newest part came.
func unfinished(tx *gorm.DB) *gorm.DB {
	return tx.Table("report_parts AS p").
		Select("p.station_id, p.kind, p.request_id, MAX(p.created_at) AS last_at").
		Where("NOT EXISTS (SELECT 1 FROM reports r WHERE r.station_id = p.station_id AND r.kind = p.kind AND r.request_id = p.request_id)").
		Group("p.station_id, p.kind, p.request_id")
}

// evictUnfinished deletes the station's unfinished report whose newest
// part is the oldest when it has max of them or more (one is enough: the
// caller adds one report at a time under the station's lock).
func evictUnfinished(tx *gorm.DB, stationID string, max int) (*ReportKey, error) {
	var open []struct {
		Kind      string
		RequestID int
	}
	// Scanned into time-free rows: SQLite returns MAX(created_at) as text.
	if err := unfinished(tx).Where("p.station_id = ?", stationID).Order("last_at, p.kind, p.request_id").
		Find(&open).Error; err != nil {
		return nil, err
	}
	if len(open) < max {
		return nil, nil
	}
	k := ReportKey{Kind: open[0].Kind, RequestID: open[0].RequestID}
	if err := tx.Where("station_id = ? AND kind = ? AND request_id = ?", stationID, k.Kind, k.RequestID).Delete(&reportPart{}).Error; err != nil {
		return nil, err
	}
	return &k, nil
}

// trimComplete deletes the station's complete reports of kind beyond the
// keep most recent, with their parts, and returns how many.
func trimComplete(tx *gorm.DB, stationID, kind string, keep int, keepRequested bool) (int, error) {
	q := tx.Model(&report{}).Where("station_id = ? AND kind = ?", stationID, kind)
	if keepRequested {
		q = q.Where("NOT EXISTS (SELECT 1 FROM customer_information_requests c WHERE c.station_id = reports.station_id AND c.request_id = reports.request_id)")
	}
	var ids []int
	// Trimmed at every completion, so the list is keep+1 long at most.
	if err := q.Order("completed_at DESC, request_id DESC").Pluck("request_id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) <= keep {
		return 0, nil
	}
	old := ids[keep:]
	if err := tx.Where("station_id = ? AND kind = ? AND request_id IN ?", stationID, kind, old).Delete(&report{}).Error; err != nil {
		return 0, err
	}
	if err := tx.Where("station_id = ? AND kind = ? AND request_id IN ?", stationID, kind, old).Delete(&reportPart{}).Error; err != nil {
		return 0, err
	}
	return len(old), nil
}

// TrimUnfinishedReports deletes the parts of every report still missing
// parts whose newest part was stored before cutoff (a report the station
// abandoned), and returns how many parts. It takes no station lock: a
// report idle past cutoff whose last part arrives during the sweep may
// lose its older parts, which the cutoff (api/report: an hour) makes a
// station's own doing.
func (s *Store) TrimUnfinishedReports(ctx context.Context, cutoff time.Time) (int64, error) {
	stale := unfinished(s.db).Having("MAX(p.created_at) < ?", dbTime(cutoff)).Select("p.station_id, p.kind, p.request_id")
	res := s.db.WithContext(ctx).Where("(station_id, kind, request_id) IN (?)", stale).Delete(&reportPart{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: trim unfinished reports: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// LatestDeviceModel returns the station's most recently completed
// NotifyReport with all its entries. ErrNotFound when no report is
// complete (or the station is unknown).
func (s *Store) LatestDeviceModel(ctx context.Context, stationID string) (*DeviceModelReport, error) {
	return s.LatestReport(ctx, stationID, ReportKindDeviceModel)
}

// LatestReport returns the station's most recently completed report of
// kind with all its entries. ErrNotFound when none is complete.
func (s *Store) LatestReport(ctx context.Context, stationID, kind string) (*DeviceModelReport, error) {
	op := fmt.Sprintf("store: latest %s of %q", kind, stationID)
	var rep report
	if err := s.db.WithContext(ctx).Where("station_id = ? AND kind = ?", stationID, kind).
		Order("completed_at DESC, request_id DESC").Take(&rep).Error; err != nil {
		return nil, translate(op, err)
	}
	return s.assembleReport(ctx, op, rep)
}

// Report returns the completed report of kind the station sent for
// requestID. ErrNotFound while parts are missing.
func (s *Store) Report(ctx context.Context, stationID, kind string, requestID int) (*DeviceModelReport, error) {
	op := fmt.Sprintf("store: %s %d of %q", kind, requestID, stationID)
	var rep report
	if err := s.db.WithContext(ctx).Where("station_id = ? AND kind = ? AND request_id = ?", stationID, kind, requestID).
		Take(&rep).Error; err != nil {
		return nil, translate(op, err)
	}
	return s.assembleReport(ctx, op, rep)
}

func (s *Store) assembleReport(ctx context.Context, op string, rep report) (*DeviceModelReport, error) {
	var parts []reportPart
	if err := s.db.WithContext(ctx).Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no < ?",
		rep.StationID, rep.Kind, rep.RequestID, rep.Parts).Order("seq_no").Find(&parts).Error; err != nil {
		return nil, translate(op, err)
	}
	out := &DeviceModelReport{
		StationID: rep.StationID, Kind: rep.Kind, RequestID: rep.RequestID, Parts: rep.Parts,
		GeneratedAt: rep.GeneratedAt, CompletedAt: rep.CompletedAt, Data: []json.RawMessage{},
	}
	for _, p := range parts {
		var entries []json.RawMessage
		if err := json.Unmarshal([]byte(p.ReportData), &entries); err != nil {
			return nil, fmt.Errorf("%s: part %d: %w", op, p.SeqNo, err)
		}
		out.Data = append(out.Data, entries...)
	}
	return out, nil
}

// ReportUsage is what a station's split reports hold.
type ReportUsage struct {
	Parts    int64 // parts stored, of complete and unfinished reports
	Bytes    int64 // their data
	Complete int64 // complete reports
}

// ReportUsage returns what the station's split reports hold.
func (s *Store) ReportUsage(ctx context.Context, stationID string) (ReportUsage, error) {
	var u ReportUsage
	db := s.db.WithContext(ctx)
	if err := db.Model(&reportPart{}).Where("station_id = ?", stationID).
		Select("COUNT(*) AS parts, COALESCE(SUM(bytes), 0) AS bytes").Scan(&u).Error; err != nil {
		return ReportUsage{}, translate("store: report usage", err)
	}
	if err := db.Model(&report{}).Where("station_id = ?", stationID).Count(&u.Complete).Error; err != nil {
		return ReportUsage{}, translate("store: report usage", err)
	}
	return u, nil
}
