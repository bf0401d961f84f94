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
}

// ReportPartResult is the outcome of RecordReportPart.
type ReportPartResult struct {
	// Duplicate: this (station, requestId, seqNo) was recorded before;
	// nothing changed.
	Duplicate bool
	// Complete: every part of the report has now arrived (possibly before
	// this one, for a retried part).
	Complete bool
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
	CreatedAt   time.Time
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
// and every part before it (0..n-1) are stored. ErrNotFound for an unknown
// station; ErrInvalid for a negative seqNo or a Data that is not a JSON
// array.
func (s *Store) RecordReportPart(ctx context.Context, p ReportPart) (ReportPartResult, error) {
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
		// the same report together cannot both miss the other; it also
		// tells an unknown station apart.
		var st Station
		if err := tx.Clauses(lockRow).Select("id").Where("id = ?", p.StationID).Take(&st).Error; err != nil {
			return err
		}
		if p.Append {
			var n int64
			if err := tx.Model(&reportPart{}).Where("station_id = ? AND kind = ? AND request_id = ?", p.StationID, p.Kind, p.RequestID).
				Count(&n).Error; err != nil {
				return err
			}
			p.SeqNo = int(n)
		}
		now := dbTime(s.now())
		row := reportPart{
			StationID: p.StationID, Kind: p.Kind, RequestID: p.RequestID, SeqNo: p.SeqNo, Tbc: p.Tbc,
			GeneratedAt: dbTime(p.GeneratedAt), ReportData: data, CreatedAt: now,
		}
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if ins.Error != nil {
			return ins.Error
		}
		res.Duplicate = ins.RowsAffected == 0

		var done int64
		if err := tx.Model(&report{}).Where("station_id = ? AND kind = ? AND request_id = ?", p.StationID, p.Kind, p.RequestID).Count(&done).Error; err != nil {
			return err
		}
		if done > 0 {
			res.Complete = true
			return nil
		}
		var last reportPart
		err := tx.Where("station_id = ? AND kind = ? AND request_id = ? AND tbc = ?", p.StationID, p.Kind, p.RequestID, false).
			Order("seq_no").Take(&last).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var have int64
		if err := tx.Model(&reportPart{}).Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no <= ?", p.StationID, p.Kind, p.RequestID, last.SeqNo).
			Count(&have).Error; err != nil {
			return err
		}
		if have != int64(last.SeqNo)+1 {
			return nil
		}
		var first reportPart
		if err := tx.Where("station_id = ? AND kind = ? AND request_id = ? AND seq_no = 0", p.StationID, p.Kind, p.RequestID).Take(&first).Error; err != nil {
			return err
		}
		rep := report{StationID: p.StationID, Kind: p.Kind, RequestID: p.RequestID, Parts: last.SeqNo + 1, GeneratedAt: first.GeneratedAt, CompletedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rep).Error; err != nil {
			return err
		}
		res.Complete = true
		return nil
	})
	if err != nil {
		return ReportPartResult{}, txError(op, err)
	}
	return res, nil
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
