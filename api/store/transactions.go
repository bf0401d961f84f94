package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/chargeplane/chargeplane/api/energy"
	"github.com/chargeplane/chargeplane/api/transaction"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Transaction statuses (see api/transaction).
const (
	TxActive = transaction.Active
	TxEnded  = transaction.Ended
)

// 2.0.1 TransactionEvent event types.
const (
	EventStarted = transaction.EventStarted
	EventUpdated = transaction.EventUpdated
	EventEnded   = transaction.EventEnded
)

// Transaction is a charging session. What its fields say is decided by
// api/transaction (from the station's messages) and api/energy (meter
// start, stop and energy from the register readings); the store applies
// those rules and keeps the result.
type Transaction struct {
	// ID is the 1.6 transactionId.
	ID int64 `gorm:"primaryKey"`
	// TransactionUID is the 2.0.1 transactionId; for 1.6 the decimal ID,
	// or UnknownTransactionUID(n) for a transactionId n the station
	// reported but never got from the core.
	TransactionUID string `gorm:"column:transaction_uid"`
	StationID      string
	OCPPVersion    ocppj.Version `gorm:"column:ocpp_version"`
	EVSEID         int           `gorm:"column:evse_id"`
	ConnectorID    int
	IDToken        string `gorm:"column:id_token"`
	IDTokenType    string `gorm:"column:id_token_type"`
	// AuthStatus is the authorization status the core answered for IDToken.
	AuthStatus  string
	StopIDToken string     `gorm:"column:stop_id_token"`
	StartedAt   time.Time  // provisional (earliest event) until StartedSeen
	StoppedAt   *time.Time // set once Ended
	// See the type's comment.
	MeterStartWh       *float64 `gorm:"column:meter_start_wh"`
	MeterStopWh        *float64 `gorm:"column:meter_stop_wh"`
	MeterStartReported bool
	MeterStopReported  bool
	EnergyWh           *float64 `gorm:"column:energy_wh"`
	Status             string   // TxActive or TxEnded
	StopReason         string
	// SeqNo is the highest 2.0.1 seqNo seen.
	SeqNo int
	// StartedSeen: the start (1.6 StartTransaction, 2.0.1 Started event)
	// has arrived; false for a transaction known only from later messages.
	StartedSeen bool
	// Offline: some of its messages were queued while the station was
	// offline (2.0.1 offline flag).
	Offline  bool
	StartKey *string `gorm:"column:start_key"`
	// RemoteStartID is the 2.0.1 remoteStartId of the RequestStartTransaction
	// that started it, when the station reported one.
	RemoteStartID *int `gorm:"column:remote_start_id"`
	// Cost is the final cost by the tariff that applied (api/tariff), in
	// CostCurrency; nil while active or without a tariff.
	Cost         *float64
	CostCurrency string
	// RunningCostSent is the cost so far last sent to the station while
	// active (api/runningcost); RunningCostDue is when the next may be
	// sent, by whichever core instance claims it.
	RunningCostSent *float64
	RunningCostDue  *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// MeterValues is filled by GetTransaction, ordered by time.
	MeterValues []MeterValue `gorm:"-"`
}

func (Transaction) TableName() string { return "transactions" }

// TransactionFilter narrows ListTransactions; zero fields match everything.
type TransactionFilter struct {
	StationID string
	IDToken   string // case-insensitive; matches the start token
	Active    *bool  // true: only active; false: only ended
	// From and To bound started_at: From ≤ started_at < To.
	From, To time.Time
}

// StartTransaction16 is an OCPP 1.6 StartTransaction.
type StartTransaction16 struct {
	StationID    string
	ConnectorID  int
	IDTag        string
	MeterStartWh int
	Timestamp    time.Time
}

// StartResult is the outcome of StartTransaction16.
type StartResult struct {
	Transaction *Transaction
	// Authorization is the idTag's status as answered the first time
	// (a retry gets the same status); Token is the token as it is now.
	Authorization Authorization
	Duplicate     bool
}

// StopTransaction16 is an OCPP 1.6 StopTransaction.
type StopTransaction16 struct {
	StationID     string
	TransactionID int64
	IDTag         string
	MeterStopWh   int
	Timestamp     time.Time
	Reason        string
	Samples       []Sample // transactionData
}

// StopResult is the outcome of StopTransaction16.
type StopResult struct {
	Transaction *Transaction
	// Duplicate: the transaction had already ended; nothing changed.
	Duplicate bool
	// Unknown: the station never got this transactionId from the core.
	Unknown bool
}

// TransactionEvent is an OCPP 2.0.1 TransactionEvent.
type TransactionEvent struct {
	StationID      string
	TransactionUID string
	EventType      string // EventStarted, EventUpdated, EventEnded
	TriggerReason  string
	SeqNo          int
	Timestamp      time.Time
	Offline        bool
	EVSEID         int // 0: not reported
	ConnectorID    int // 0: not reported
	IDToken        string
	IDTokenType    string
	StoppedReason  string
	Samples        []Sample
	// RemoteStartID is transactionInfo.remoteStartId (nil: not reported).
	RemoteStartID *int
}

// TransactionEventResult is the outcome of RecordTransactionEvent.
type TransactionEventResult struct {
	Transaction *Transaction
	// Duplicate: this (station, transactionId, seqNo) was recorded before;
	// nothing changed and Authorization repeats the first answer.
	Duplicate bool
	// Authorization is set when the event carried an id token.
	Authorization *Authorization
}

// transactionEvent is a row of transaction_events.
type transactionEvent struct {
	StationID      string `gorm:"primaryKey"`
	TransactionUID string `gorm:"primaryKey;column:transaction_uid"`
	SeqNo          int    `gorm:"primaryKey"`
	EventType      string
	TriggerReason  string
	OccurredAt     time.Time
	Offline        bool
	IDTokenStatus  string `gorm:"column:id_token_status"`
	CreatedAt      time.Time
}

func (transactionEvent) TableName() string { return "transaction_events" }

// retryOnConflict runs fn again once if it lost a race on a unique key: on
// PostgreSQL the failed statement aborted the whole database transaction,
// and the second run finds what the winner committed.
func retryOnConflict(fn func() error) error {
	err := fn()
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		err = fn()
	}
	return err
}

func txError(op string, err error) error {
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return translate(op, err)
}

var lockRow = clause.Locking{Strength: "UPDATE"}

func startKey(r StartTransaction16) string {
	return fmt.Sprintf("%d|%s|%s|%d", r.ConnectorID, strings.ToLower(r.IDTag),
		dbTime(r.Timestamp).Format(time.RFC3339Nano), r.MeterStartWh)
}

// StartTransaction16 records a 1.6 StartTransaction and returns its
// transaction. The transaction is always recorded, whatever the idTag's
// status: the station has started charging and will end the session itself
// if the answer is not Accepted. A retry (same station, connector, idTag,
// timestamp and meterStart) returns the transaction of the first with
// Duplicate set. ErrNotFound for an unknown station.
func (s *Store) StartTransaction16(ctx context.Context, r StartTransaction16) (StartResult, error) {
	op := fmt.Sprintf("store: start transaction of %q", r.StationID)
	key := startKey(r)
	var res StartResult
	err := retryOnConflict(func() error {
		res = StartResult{}
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var t Transaction
			err := tx.Where("station_id = ? AND start_key = ?", r.StationID, key).Take(&t).Error
			if err == nil {
				res.Duplicate = true
				res.Transaction = &t
				res.Authorization = Authorization{Status: t.AuthStatus}
				if tok, err := idTokenByValue(tx, r.IDTag, false); err == nil {
					res.Authorization.Token = tok
				}
				return nil
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
			now := dbTime(s.now())
			auth, err := authorize(tx, r.IDTag, now, txRef{}, true)
			if err != nil {
				return err
			}
			var tokenType string
			if auth.Token != nil {
				tokenType = auth.Token.Type
			}
			t = Transaction{
				// Placeholder until the id is known: the uid of a 1.6
				// transaction is its id.
				TransactionUID: "pending:" + uuid.NewString(),
				StationID:      r.StationID,
				OCPPVersion:    ocppj.V16,
				StartKey:       &key,
				CreatedAt:      now,
				UpdatedAt:      now,
			}
			t.setRecord(transaction.Start16(r.ConnectorID, r.IDTag, tokenType, auth.Status, dbTime(r.Timestamp), float64(r.MeterStartWh)))
			if err := tx.Create(&t).Error; err != nil {
				return err
			}
			t.TransactionUID = strconv.FormatInt(t.ID, 10)
			if err := tx.Model(&Transaction{}).Where("id = ?", t.ID).
				UpdateColumn("transaction_uid", t.TransactionUID).Error; err != nil {
				return err
			}
			res.Transaction = &t
			res.Authorization = auth
			return nil
		})
	})
	if err != nil {
		return StartResult{}, txError(op, err)
	}
	return res, nil
}

// StopTransaction16 ends a 1.6 transaction with its meterStop, reason,
// idTag and transactionData. It is idempotent: stopping an ended
// transaction changes nothing and reports Duplicate.
//
// A transactionId the core never gave this station (the station's own
// numbering, another CSMS's, a lost database) is still recorded, never
// refused, since a StopTransaction cannot be: as an ended transaction with
// uid UnknownTransactionUID(id), a fresh ID, and StartedSeen false; its
// start is the earliest reading (or the stop). Samples that 1.6 MeterValues
// sent for that id are kept under the same uid, so they are linked too.
func (s *Store) StopTransaction16(ctx context.Context, r StopTransaction16) (StopResult, error) {
	op := fmt.Sprintf("store: stop transaction %d of %q", r.TransactionID, r.StationID)
	var res StopResult
	err := retryOnConflict(func() error {
		res = StopResult{}
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			now := dbTime(s.now())
			var t Transaction
			err := tx.Clauses(lockRow).Where("station_id = ? AND id = ? AND ocpp_version = ?", r.StationID, r.TransactionID, ocppj.V16).Take(&t).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				res.Unknown = true
				uid := UnknownTransactionUID(r.TransactionID)
				err = tx.Clauses(lockRow).Where("station_id = ? AND transaction_uid = ?", r.StationID, uid).Take(&t).Error
				if errors.Is(err, gorm.ErrRecordNotFound) {
					sampled := make([]time.Time, 0, len(r.Samples))
					for _, sm := range r.Samples {
						if !sm.Timestamp.IsZero() {
							sampled = append(sampled, dbTime(sm.Timestamp))
						}
					}
					t = Transaction{
						TransactionUID: uid,
						StationID:      r.StationID,
						OCPPVersion:    ocppj.V16,
						CreatedAt:      now,
						UpdatedAt:      now,
					}
					t.setRecord(transaction.Unknown16(r.IDTag, dbTime(r.Timestamp), sampled))
					err = tx.Create(&t).Error
				}
			}
			if err != nil {
				return err
			}
			rec := t.record()
			if !rec.Stop16(dbTime(r.Timestamp), float64(r.MeterStopWh), r.Reason, r.IDTag) {
				res.Duplicate = true
				res.Transaction = &t
				return nil
			}
			t.setRecord(rec)
			t.UpdatedAt = now
			if err := saveTransaction(tx, &t); err != nil {
				return err
			}
			rows := meterRows(r.StationID, t.TransactionUID, t.EVSEID, t.ConnectorID, r.Samples, now)
			if err := insertMeterRows(tx, rows); err != nil {
				return err
			}
			ref := txRef{r.StationID, t.TransactionUID}
			if err := s.recomputeEnergy(tx, ref); err != nil {
				return err
			}
			got, err := transactionByUID(tx, ref)
			if err != nil {
				return err
			}
			res.Transaction = got
			return nil
		})
	})
	if err != nil {
		return StopResult{}, txError(op, err)
	}
	return res, nil
}

// RecordTransactionEvent records a 2.0.1 TransactionEvent. Events may come
// in any order (offline queues, retries): a transaction first heard of in
// an Updated or Ended event is created from what that event tells and
// completed by the others; every field is merged so that the result does
// not depend on the order. A repeated (station, transactionId, seqNo)
// changes nothing and is answered as the first time.
func (s *Store) RecordTransactionEvent(ctx context.Context, ev TransactionEvent) (TransactionEventResult, error) {
	op := fmt.Sprintf("store: record transaction event %s/%d of %q", ev.TransactionUID, ev.SeqNo, ev.StationID)
	if ev.TransactionUID == "" {
		return TransactionEventResult{}, fmt.Errorf("%s: %w: empty transaction id", op, ErrInvalid)
	}
	ref := txRef{ev.StationID, ev.TransactionUID}
	var res TransactionEventResult
	err := retryOnConflict(func() error {
		res = TransactionEventResult{}
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			now := dbTime(s.now())
			var prior transactionEvent
			err := tx.Where("station_id = ? AND transaction_uid = ? AND seq_no = ?", ev.StationID, ev.TransactionUID, ev.SeqNo).Take(&prior).Error
			if err == nil {
				res.Duplicate = true
				switch {
				case prior.IDTokenStatus != "" && (ev.IDToken != "" || ev.IDTokenType == "NoAuthorization"):
					a := Authorization{Status: prior.IDTokenStatus}
					if tok, err := idTokenByValue(tx, ev.IDToken, false); err == nil {
						a.Token = tok
					}
					res.Authorization = &a
				case ev.IDToken != "":
					// The first had no token (a different message under the
					// same seqNo): answer for this token, changing nothing.
					a, err := authorize(tx, ev.IDToken, now, ref, false)
					if err != nil {
						return err
					}
					res.Authorization = &a
				case ev.IDTokenType == "NoAuthorization":
					res.Authorization = &Authorization{Status: IDTokenAccepted}
				}
				t, err := transactionByUID(tx, ref)
				if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
					return err
				}
				res.Transaction = t
				return nil
			}
			if !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}

			if ev.IDToken != "" || ev.IDTokenType == "NoAuthorization" {
				var a Authorization
				if ev.IDTokenType == "NoAuthorization" {
					// The station decided not to authorize (free vending):
					// there is nothing to check.
					a = Authorization{Status: IDTokenAccepted}
				} else if a, err = authorize(tx, ev.IDToken, now, ref, true); err != nil {
					return err
				}
				res.Authorization = &a
			}

			var t Transaction
			err = tx.Clauses(lockRow).Where("station_id = ? AND transaction_uid = ?", ev.StationID, ev.TransactionUID).Take(&t).Error
			isNew := errors.Is(err, gorm.ErrRecordNotFound)
			if err != nil && !isNew {
				return err
			}
			at := dbTime(ev.Timestamp)
			rows := meterRows(ev.StationID, ev.TransactionUID, cmpOrInt(ev.EVSEID, t.EVSEID), cmpOrInt(ev.ConnectorID, t.ConnectorID), ev.Samples, now)
			event := ev.rules(at, res.Authorization, rows)
			if isNew {
				t = Transaction{
					StationID:      ev.StationID,
					TransactionUID: ev.TransactionUID,
					OCPPVersion:    ocppj.V201,
					CreatedAt:      now,
				}
				t.setRecord(transaction.New(event))
			}
			rec := t.record()
			rec.Merge(event)
			t.setRecord(rec)
			t.UpdatedAt = now
			if isNew {
				err = tx.Create(&t).Error
			} else {
				err = saveTransaction(tx, &t)
			}
			if err != nil {
				return err
			}
			row := transactionEvent{
				StationID:      ev.StationID,
				TransactionUID: ev.TransactionUID,
				SeqNo:          ev.SeqNo,
				EventType:      ev.EventType,
				TriggerReason:  ev.TriggerReason,
				OccurredAt:     at,
				Offline:        ev.Offline,
				CreatedAt:      now,
			}
			if res.Authorization != nil {
				row.IDTokenStatus = res.Authorization.Status
			}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			if err := insertMeterRows(tx, rows); err != nil {
				return err
			}
			if err := s.recomputeEnergy(tx, ref); err != nil {
				return err
			}
			got, err := transactionByUID(tx, ref)
			if err != nil {
				return err
			}
			res.Transaction = got
			return nil
		})
	})
	if err != nil {
		return TransactionEventResult{}, txError(op, err)
	}
	return res, nil
}

func cmpOrInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// rules is ev as api/transaction reads it, with the status answered for
// its token and its readings as stored.
func (ev TransactionEvent) rules(at time.Time, auth *Authorization, rows []MeterValue) transaction.Event {
	e := transaction.Event{
		Type:          ev.EventType,
		SeqNo:         ev.SeqNo,
		At:            at,
		Offline:       ev.Offline,
		EVSEID:        ev.EVSEID,
		ConnectorID:   ev.ConnectorID,
		IDToken:       ev.IDToken,
		IDTokenType:   ev.IDTokenType,
		StoppedReason: ev.StoppedReason,
		RemoteStartID: ev.RemoteStartID,
	}
	if auth != nil {
		e.AuthStatus = auth.Status
	}
	for _, r := range rows {
		if r.ValueWh != nil && transaction.IsRegister(r.Measurand, r.Phase, r.Location) {
			e.Register = append(e.Register, transaction.Reading{Wh: *r.ValueWh, Context: r.Context})
		}
	}
	return e
}

// record is what api/transaction decides of t.
func (t *Transaction) record() transaction.Record {
	return transaction.Record{
		StartedAt:          t.StartedAt,
		StartedSeen:        t.StartedSeen,
		StoppedAt:          t.StoppedAt,
		Status:             t.Status,
		StopReason:         t.StopReason,
		SeqNo:              t.SeqNo,
		EVSEID:             t.EVSEID,
		ConnectorID:        t.ConnectorID,
		IDToken:            t.IDToken,
		IDTokenType:        t.IDTokenType,
		AuthStatus:         t.AuthStatus,
		StopIDToken:        t.StopIDToken,
		Offline:            t.Offline,
		RemoteStartID:      t.RemoteStartID,
		MeterStartWh:       t.MeterStartWh,
		MeterStopWh:        t.MeterStopWh,
		MeterStartReported: t.MeterStartReported,
		MeterStopReported:  t.MeterStopReported,
	}
}

// setRecord puts what api/transaction decided into t.
func (t *Transaction) setRecord(r transaction.Record) {
	t.StartedAt, t.StartedSeen, t.StoppedAt = r.StartedAt, r.StartedSeen, r.StoppedAt
	t.Status, t.StopReason, t.SeqNo = r.Status, r.StopReason, r.SeqNo
	t.EVSEID, t.ConnectorID = r.EVSEID, r.ConnectorID
	t.IDToken, t.IDTokenType, t.AuthStatus, t.StopIDToken = r.IDToken, r.IDTokenType, r.AuthStatus, r.StopIDToken
	t.Offline, t.RemoteStartID = r.Offline, r.RemoteStartID
	t.MeterStartWh, t.MeterStopWh = r.MeterStartWh, r.MeterStopWh
	t.MeterStartReported, t.MeterStopReported = r.MeterStartReported, r.MeterStopReported
}

// saveTransaction writes every column of t but its id and creation time.
func saveTransaction(tx *gorm.DB, t *Transaction) error {
	return tx.Select("*").Omit("id", "created_at").Where("id = ?", t.ID).Updates(t).Error
}

func registerSamples(tx *gorm.DB, ref txRef) *gorm.DB {
	return tx.Model(&MeterValue{}).
		Where("station_id = ? AND transaction_uid = ? AND measurand = ? AND phase = '' AND location = ? AND value_wh IS NOT NULL",
			ref.stationID, ref.uid, transaction.RegisterMeasurand, transaction.RegisterLocation)
}

// recomputeEnergy brings the meter readings and energy of the transaction
// up to date with what is stored (see energy.Meter). A reference to no
// transaction (samples of a 1.6 id not recorded yet) is left alone.
func (s *Store) recomputeEnergy(tx *gorm.DB, ref txRef) error {
	var ids []int64
	err := tx.Model(&Transaction{}).Where("station_id = ? AND transaction_uid = ?", ref.stationID, ref.uid).Pluck("id", &ids).Error
	if err != nil {
		return err
	}
	return recomputeEnergyOf(tx, ids)
}

// registerReading selects, in a subquery correlated with transactions, the
// first register reading in the order given.
const registerReading = `(SELECT mv.value_wh FROM meter_values mv
  WHERE mv.station_id = transactions.station_id AND mv.transaction_uid = transactions.transaction_uid
    AND mv.measurand = @measurand AND mv.phase = '' AND mv.location = @location AND mv.value_wh IS NOT NULL
  ORDER BY `

// meterRow is what recomputeEnergyOf reads of a transaction.
type meterRow struct {
	ID                                    int64
	StationID                             string
	TransactionUID                        string
	MeterStartWh, MeterStopWh, EnergyWh   *float64
	MeterStartReported, MeterStopReported bool
	FirstWh, LastWh                       *float64
}

// recomputeEnergyOf does recomputeEnergy for many transactions: one
// statement reads what energy.Meter needs of all of them, and one writes
// the figures that changed, so that a batch of meter values costs the same
// few statements whatever its size.
func recomputeEnergyOf(tx *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var rows []meterRow
	err := tx.Raw(`SELECT id, station_id, transaction_uid, meter_start_wh, meter_stop_wh, energy_wh,
  meter_start_reported, meter_stop_reported,
  `+registerReading+`mv.sampled_at, mv.id LIMIT 1) AS first_wh,
  `+registerReading+`mv.sampled_at DESC, mv.id DESC LIMIT 1) AS last_wh
FROM transactions WHERE id IN @ids`,
		map[string]any{"ids": ids, "measurand": transaction.RegisterMeasurand, "location": transaction.RegisterLocation}).
		Scan(&rows).Error
	if err != nil {
		return err
	}
	var changed []any
	var set [3]strings.Builder // meter_start_wh, meter_stop_wh, energy_wh
	var args [3][]any
	for _, r := range rows {
		m := energy.Meter{First: r.FirstWh, Last: r.LastWh}
		if r.MeterStartReported {
			m.ReportedStart = r.MeterStartWh
		}
		if r.MeterStopReported {
			m.ReportedStop = r.MeterStopWh
		}
		f, err := m.Figures(func() ([]float64, error) {
			var series []float64
			err := registerSamples(tx, txRef{r.StationID, r.TransactionUID}).Order("sampled_at, id").Pluck("value_wh", &series).Error
			return series, err
		})
		if err != nil {
			return err
		}
		now := [3]*float64{f.Start, f.Stop, f.Energy}
		if sameWh(now[0], r.MeterStartWh) && sameWh(now[1], r.MeterStopWh) && sameWh(now[2], r.EnergyWh) {
			continue
		}
		changed = append(changed, r.ID)
		for i, v := range now {
			set[i].WriteString(" WHEN ? THEN CAST(? AS DOUBLE PRECISION)")
			args[i] = append(args[i], r.ID, v)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	q := "UPDATE transactions SET meter_start_wh = CASE id" + set[0].String() +
		" END, meter_stop_wh = CASE id" + set[1].String() +
		" END, energy_wh = CASE id" + set[2].String() + " END WHERE id IN ?"
	all := append(append(append(args[0], args[1]...), args[2]...), changed)
	return tx.Exec(q, all...).Error
}

func sameWh(a, b *float64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func transactionByUID(tx *gorm.DB, ref txRef) (*Transaction, error) {
	var t Transaction
	if err := tx.Where("station_id = ? AND transaction_uid = ?", ref.stationID, ref.uid).Take(&t).Error; err != nil {
		return nil, err
	}
	return &t, nil
}

// GetTransaction returns the transaction with its meter values ordered by
// time.
func (s *Store) GetTransaction(ctx context.Context, id int64) (*Transaction, error) {
	op := fmt.Sprintf("store: get transaction %d", id)
	db := s.db.WithContext(ctx)
	var t Transaction
	if err := db.Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, translate(op, err)
	}
	if err := loadMeterValues(db, &t); err != nil {
		return nil, translate(op, err)
	}
	return &t, nil
}

// GetTransactionByUID returns the station's transaction with that uid (the
// 2.0.1 transactionId) with its meter values ordered by time.
func (s *Store) GetTransactionByUID(ctx context.Context, stationID, uid string) (*Transaction, error) {
	op := fmt.Sprintf("store: get transaction %q of %q", uid, stationID)
	db := s.db.WithContext(ctx)
	t, err := transactionByUID(db, txRef{stationID, uid})
	if err != nil {
		return nil, translate(op, err)
	}
	if err := loadMeterValues(db, t); err != nil {
		return nil, translate(op, err)
	}
	return t, nil
}

func loadMeterValues(db *gorm.DB, t *Transaction) error {
	t.MeterValues = []MeterValue{}
	return db.Where("station_id = ? AND transaction_uid = ?", t.StationID, t.TransactionUID).
		Order("sampled_at, id").Find(&t.MeterValues).Error
}

// ListTransactions returns one page of transactions, newest (highest id)
// first, without meter values, and how many match the filter. Keyset
// paging: pass the last id of a page, in decimal, as the next AfterID.
func (s *Store) ListTransactions(ctx context.Context, f TransactionFilter, p Page) ([]Transaction, int64, error) {
	db := s.db.WithContext(ctx)
	filter := func(q *gorm.DB) *gorm.DB {
		if f.StationID != "" {
			q = q.Where("station_id = ?", f.StationID)
		}
		if f.IDToken != "" {
			q = q.Where("lower(id_token) = lower(?)", f.IDToken)
		}
		if f.Active != nil {
			q = q.Where("status = ?", map[bool]string{true: TxActive, false: TxEnded}[*f.Active])
		}
		if !f.From.IsZero() {
			q = q.Where("started_at >= ?", dbTime(f.From))
		}
		if !f.To.IsZero() {
			q = q.Where("started_at < ?", dbTime(f.To))
		}
		return q
	}
	var total int64
	if err := db.Model(&Transaction{}).Scopes(filter).Count(&total).Error; err != nil {
		return nil, 0, translate("store: count transactions", err)
	}
	q := db.Scopes(filter).Order("id DESC").Limit(pageLimit(p))
	if p.AfterID != "" {
		after, err := strconv.ParseInt(p.AfterID, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list transactions: %w: page cursor %q is not a transaction id", ErrInvalid, p.AfterID)
		}
		q = q.Where("id < ?", after)
	}
	txs := []Transaction{}
	if err := q.Find(&txs).Error; err != nil {
		return nil, 0, translate("store: list transactions", err)
	}
	return txs, total, nil
}

// ActiveTransactions returns the station's active transactions, oldest
// first.
func (s *Store) ActiveTransactions(ctx context.Context, stationID string) ([]Transaction, error) {
	txs := []Transaction{}
	err := s.db.WithContext(ctx).Where("station_id = ? AND status = ?", stationID, TxActive).
		Order("started_at, id").Find(&txs).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: active transactions of %q", stationID), err)
	}
	return txs, nil
}

// TransactionEndedAfter reports whether a transaction on the station's
// EVSE ended after t.
func (s *Store) TransactionEndedAfter(ctx context.Context, stationID string, evseID int, t time.Time) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Transaction{}).
		Where("station_id = ? AND evse_id = ? AND status = ? AND stopped_at > ?", stationID, evseID, TxEnded, dbTime(t)).
		Count(&n).Error
	if err != nil {
		return false, translate(fmt.Sprintf("store: transactions ended on %q EVSE %d", stationID, evseID), err)
	}
	return n > 0, nil
}

// RemoteStartQuery identifies the transaction a remote start produced:
// 2.0.1 by the remoteStartId sent (RemoteStartID set), 1.6 by the idTag
// and, when the command named one, the connector.
type RemoteStartQuery struct {
	StationID     string
	RemoteStartID *int
	IDTag         string
	ConnectorID   int // 0: any
	// AfterID: only 1.6 transactions with a greater id, LastTransactionID
	// read before the command was sent. Ids grow with every insert, so this
	// tells a transaction started in answer to the command from an earlier
	// one with the same tag without comparing clocks of core instances. A
	// remoteStartId is unique enough on its own, and a 2.0.1 station may
	// attach it to a transaction it had started before (cable first).
	AfterID int64
}

// LastTransactionID returns the greatest transaction id of the station (0
// when it has none).
func (s *Store) LastTransactionID(ctx context.Context, stationID string) (int64, error) {
	var id *int64
	err := s.db.WithContext(ctx).Model(&Transaction{}).Where("station_id = ?", stationID).Select("MAX(id)").Scan(&id).Error
	if err != nil {
		return 0, translate(fmt.Sprintf("store: last transaction of %q", stationID), err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// FindRemoteStart returns the earliest transaction matching q, or
// ErrNotFound when none has been recorded (yet).
func (s *Store) FindRemoteStart(ctx context.Context, q RemoteStartQuery) (*Transaction, error) {
	op := fmt.Sprintf("store: find remote start on %q", q.StationID)
	db := s.db.WithContext(ctx).Where("station_id = ?", q.StationID)
	if q.RemoteStartID != nil {
		db = db.Where("remote_start_id = ?", *q.RemoteStartID)
	} else {
		db = db.Where("lower(id_token) = lower(?) AND ocpp_version = ? AND id > ?", q.IDTag, ocppj.V16, q.AfterID)
		if q.ConnectorID != 0 {
			db = db.Where("connector_id = ?", q.ConnectorID)
		}
	}
	var t Transaction
	if err := db.Order("id").Take(&t).Error; err != nil {
		return nil, translate(op, err)
	}
	return &t, nil
}
