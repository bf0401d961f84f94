package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/chargeplane/chargeplane/api/energy"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// OCPP's defaults for an omitted field of a sampled value (1.6 §7.45, 2.0.1
// SampledValueType). The store writes them out so that a reading and its
// retry compare equal whether or not the charger spelled the default.
const (
	DefaultMeasurand = "Energy.Active.Import.Register"
	DefaultContext   = "Sample.Periodic"
	DefaultLocation  = "Outlet"
	DefaultFormat    = "Raw"
)

// Sample is one sampled value as a charger reported it.
type Sample struct {
	Timestamp time.Time
	// Value is the reported value: 1.6 sends a string (a number, or signed
	// data), 2.0.1 a number, stored in its shortest decimal form.
	Value      string
	Measurand  string // empty: DefaultMeasurand
	Phase      string
	Unit       string // empty: Wh for energy measurands
	Multiplier int    // 2.0.1 unitOfMeasure.multiplier: value × 10^Multiplier
	Context    string // empty: DefaultContext
	Location   string // empty: DefaultLocation
	Format     string // empty: DefaultFormat
}

// MeterReport is a batch of samples from one message.
type MeterReport struct {
	StationID   string
	EVSEID      int // 0 in 1.6
	ConnectorID int
	// TransactionUID links the samples to a 2.0.1 transaction; empty for
	// samples outside transactions.
	TransactionUID string
	// OCPP16TransactionID is a 1.6 transactionId. It resolves to the
	// station's transaction with that id or, if the station has none, to
	// the placeholder uid UnknownTransactionUID(id) that a later
	// StopTransaction for that id records (see StopTransaction16).
	OCPP16TransactionID *int64
	Samples             []Sample
}

// MeterValue is a stored sampled value.
type MeterValue struct {
	ID             int64 `gorm:"primaryKey"`
	StationID      string
	TransactionUID *string `gorm:"column:transaction_uid"`
	EVSEID         int     `gorm:"column:evse_id"`
	ConnectorID    int
	SampledAt      time.Time
	Value          string
	// ValueWh is the value in Wh for active-energy measurands reported in
	// Wh or kWh (with any 2.0.1 multiplier applied); nil otherwise.
	ValueWh    *float64 `gorm:"column:value_wh"`
	Measurand  string
	Phase      string
	Unit       string
	Multiplier int
	Context    string
	Location   string
	Format     string
	CreatedAt  time.Time
}

func (MeterValue) TableName() string { return "meter_values" }

// UnknownTransactionUID is the uid under which the store keeps a 1.6
// transactionId the station reports but the core never handed out to it.
func UnknownTransactionUID(id int64) string { return unknownUIDPrefix + strconv.FormatInt(id, 10) }

const unknownUIDPrefix = "unknown:"

// OCPP16TransactionID is the 1.6 transactionId a station knows the
// transaction of uid by: its id, or the number of an UnknownTransactionUID.
func OCPP16TransactionID(uid string) (int, bool) {
	id, err := strconv.ParseInt(strings.TrimPrefix(uid, unknownUIDPrefix), 10, 32)
	if err != nil || id < 0 {
		return 0, false
	}
	return int(id), true
}

func meterRows(stationID, uid string, evse, connector int, samples []Sample, now time.Time) []MeterValue {
	rows := make([]MeterValue, 0, len(samples))
	var uidp *string
	if uid != "" {
		uidp = &uid
	}
	for _, s := range samples {
		r := MeterValue{
			StationID:      stationID,
			TransactionUID: uidp,
			EVSEID:         evse,
			ConnectorID:    connector,
			SampledAt:      dbTime(s.Timestamp),
			Value:          s.Value,
			Measurand:      cmpOr(s.Measurand, DefaultMeasurand),
			Phase:          s.Phase,
			Unit:           s.Unit,
			Multiplier:     s.Multiplier,
			Context:        cmpOr(s.Context, DefaultContext),
			Location:       cmpOr(s.Location, DefaultLocation),
			Format:         cmpOr(s.Format, DefaultFormat),
			CreatedAt:      now,
		}
		if r.Unit == "" && strings.HasPrefix(r.Measurand, "Energy.Active.") {
			r.Unit = "Wh"
		}
		if r.Format == DefaultFormat {
			if wh, ok := energy.Wh(r.Measurand, r.Unit, r.Multiplier, r.Value); ok {
				r.ValueWh = &wh
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// meterInsertBatch keeps a multi-row insert (16 columns a row) well under
// the bound-parameter limits of both databases.
const meterInsertBatch = 500

// insertMeterRows stores rows, skipping any reading already stored (see the
// meter_values_reading_key index), so that a retried message stores nothing
// twice.
func insertMeterRows(tx *gorm.DB, rows []MeterValue) error {
	for len(rows) > 0 {
		n := min(len(rows), meterInsertBatch)
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(rows[:n]).Error; err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// writeMeterReports stores the reports in tx and brings the energy of every
// transaction they touch up to date, in a number of statements that does
// not grow with the number of reports.
func (s *Store) writeMeterReports(tx *gorm.DB, reports []*MeterReport) error {
	now := dbTime(s.now())
	// 1.6 transactionIds name the station's transaction of that id.
	var ids16 []int64
	for _, r := range reports {
		if r.OCPP16TransactionID != nil {
			ids16 = append(ids16, *r.OCPP16TransactionID)
		}
	}
	type key16 struct {
		station string
		id      int64
	}
	uid16 := map[key16]string{}
	if len(ids16) > 0 {
		var found []Transaction
		err := tx.Select("id", "station_id", "transaction_uid").Where("id IN ? AND ocpp_version = ?", ids16, ocppj.V16).Find(&found).Error
		if err != nil {
			return err
		}
		for _, t := range found {
			uid16[key16{t.StationID, t.ID}] = t.TransactionUID
		}
	}
	touched := map[txRef]struct{}{}
	var rows []MeterValue
	for _, r := range reports {
		uid := r.TransactionUID
		if r.OCPP16TransactionID != nil {
			var ok bool
			if uid, ok = uid16[key16{r.StationID, *r.OCPP16TransactionID}]; !ok {
				uid = UnknownTransactionUID(*r.OCPP16TransactionID)
			}
		}
		rows = append(rows, meterRows(r.StationID, uid, r.EVSEID, r.ConnectorID, r.Samples, now)...)
		if uid != "" {
			touched[txRef{r.StationID, uid}] = struct{}{}
		}
	}
	// Lock the transactions these readings belong to before storing them:
	// two batches carrying readings of one transaction (possible when its
	// messages are handled concurrently) would otherwise each recompute its
	// energy without the other's uncommitted readings, and the last commit
	// would leave a stale figure. One statement locking in id order cannot
	// deadlock with another batch (at most MaxBatch pairs, well within the
	// parameter limits). SQLite has a single writer already.
	var txIDs []int64
	if len(touched) > 0 {
		pairs := make([][]any, 0, len(touched))
		for ref := range touched {
			pairs = append(pairs, []any{ref.stationID, ref.uid})
		}
		q := tx.Model(&Transaction{}).Where("(station_id, transaction_uid) IN ?", pairs).Order("id")
		if s.dialect == dialectPostgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Pluck("id", &txIDs).Error; err != nil {
			return err
		}
	}
	if err := insertMeterRows(tx, rows); err != nil {
		return err
	}
	return recomputeEnergyOf(tx, txIDs)
}

// RecordMeterValues stores one report in its own database transaction.
// Retries store nothing twice. ErrNotFound for an unknown station.
func (s *Store) RecordMeterValues(ctx context.Context, r MeterReport) error {
	if len(r.Samples) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.writeMeterReports(tx, []*MeterReport{&r})
	})
	return meterError(r.StationID, err)
}

func meterError(stationID string, err error) error {
	op := fmt.Sprintf("store: record meter values of %q", stationID)
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return translate(op, err)
}

// MeterValueFilter narrows ListMeterValues.
type MeterValueFilter struct {
	StationID string
	// TransactionUID: nil matches any reading, "" only readings outside
	// transactions, anything else that transaction's.
	TransactionUID *string
	EVSEID         *int
	// From and To bound sampled_at: From ≤ sampled_at < To.
	From, To time.Time
}

// ListMeterValues returns the matching readings of a station in time order,
// at most limit (0: DefaultPageLimit, capped at MaxPageLimit+1: readLimit).
func (s *Store) ListMeterValues(ctx context.Context, f MeterValueFilter, limit int) ([]MeterValue, error) {
	q := s.db.WithContext(ctx).Where("station_id = ?", f.StationID)
	switch {
	case f.TransactionUID == nil:
	case *f.TransactionUID == "":
		q = q.Where("transaction_uid IS NULL")
	default:
		q = q.Where("transaction_uid = ?", *f.TransactionUID)
	}
	if f.EVSEID != nil {
		q = q.Where("evse_id = ?", *f.EVSEID)
	}
	if !f.From.IsZero() {
		q = q.Where("sampled_at >= ?", dbTime(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("sampled_at < ?", dbTime(f.To))
	}
	out := []MeterValue{}
	err := q.Order("sampled_at, id").Limit(pageLimit(Page{Limit: limit})).Find(&out).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: list meter values of %q", f.StationID), err)
	}
	return out, nil
}
