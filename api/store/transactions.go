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

	energyrules "github.com/chargeplane/chargeplane/api/energy"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Transaction statuses.
const (
	TxActive = "Active"
	TxEnded  = "Ended"
)

// 2.0.1 TransactionEvent event types.
const (
	EventStarted = "Started"
	EventUpdated = "Updated"
	EventEnded   = "Ended"
)

// defaultStopReason is what both versions mean when a stop carries no
// reason (1.6 §7.35, 2.0.1 TransactionType.stoppedReason).
const defaultStopReason = "Local"

// Transaction is a charging session.
//
// Energy: MeterStartWh/MeterStopWh are the active-energy import register
// (Energy.Active.Import.Register, Outlet, no phase) at the start and stop,
// in Wh. A value the charger reported for the purpose (1.6 meterStart /
// meterStop; a register sample of a 2.0.1 Started / Ended event, or one
// with context Transaction.Begin / Transaction.End) is kept
// (MeterStartReported/MeterStopReported); otherwise the earliest / latest
// register sample of the transaction stands in, so an active transaction
// shows the energy so far. EnergyWh = stop − start, recomputed whenever a
// message changes either. A stop below the start means the meter was reset
// or replaced during the session: EnergyWh is then the sum of the rises
// between consecutive readings (start, samples in time order, stop), which
// never counts a drop as negative energy and never invents energy across
// the reset. Nil when a value is missing.
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
	CreatedAt    time.Time
	UpdatedAt    time.Time

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
			start := float64(r.MeterStartWh)
			t = Transaction{
				// Placeholder until the id is known: the uid of a 1.6
				// transaction is its id.
				TransactionUID:     "pending:" + uuid.NewString(),
				StationID:          r.StationID,
				OCPPVersion:        ocppj.V16,
				ConnectorID:        r.ConnectorID,
				IDToken:            r.IDTag,
				AuthStatus:         auth.Status,
				StartedAt:          dbTime(r.Timestamp),
				MeterStartWh:       &start,
				MeterStartReported: true,
				Status:             TxActive,
				StartedSeen:        true,
				StartKey:           &key,
				CreatedAt:          now,
				UpdatedAt:          now,
			}
			if auth.Token != nil {
				t.IDTokenType = auth.Token.Type
			}
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
					started := dbTime(r.Timestamp)
					for _, sm := range r.Samples {
						if ts := dbTime(sm.Timestamp); !sm.Timestamp.IsZero() && ts.Before(started) {
							started = ts
						}
					}
					t = Transaction{
						TransactionUID: uid,
						StationID:      r.StationID,
						OCPPVersion:    ocppj.V16,
						IDToken:        r.IDTag,
						StartedAt:      started,
						Status:         TxActive,
						CreatedAt:      now,
						UpdatedAt:      now,
					}
					err = tx.Create(&t).Error
				}
			}
			if err != nil {
				return err
			}
			if t.Status == TxEnded {
				res.Duplicate = true
				res.Transaction = &t
				return nil
			}
			stop := float64(r.MeterStopWh)
			stoppedAt := dbTime(r.Timestamp)
			set := map[string]any{
				"status":              TxEnded,
				"stopped_at":          stoppedAt,
				"meter_stop_wh":       stop,
				"meter_stop_reported": true,
				"stop_reason":         cmpOr(r.Reason, defaultStopReason),
				"stop_id_token":       r.IDTag,
				"updated_at":          now,
			}
			if err := tx.Model(&Transaction{}).Where("id = ?", t.ID).Updates(set).Error; err != nil {
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
			if isNew {
				t = Transaction{
					StationID:      ev.StationID,
					TransactionUID: ev.TransactionUID,
					OCPPVersion:    ocppj.V201,
					StartedAt:      at,
					Status:         TxActive,
					SeqNo:          ev.SeqNo,
					CreatedAt:      now,
				}
			}
			rows := meterRows(ev.StationID, ev.TransactionUID, cmpOrInt(ev.EVSEID, t.EVSEID), cmpOrInt(ev.ConnectorID, t.ConnectorID), ev.Samples, now)
			mergeEvent(&t, ev, at, res.Authorization, rows)
			t.UpdatedAt = now
			if isNew {
				err = tx.Create(&t).Error
			} else {
				err = tx.Select("*").Omit("id", "created_at").Where("id = ?", t.ID).Updates(&t).Error
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

// mergeEvent folds one event into t so that the outcome does not depend on
// the order events arrive in.
func mergeEvent(t *Transaction, ev TransactionEvent, at time.Time, auth *Authorization, rows []MeterValue) {
	switch {
	case ev.EventType == EventStarted:
		t.StartedAt, t.StartedSeen = at, true
	case !t.StartedSeen && at.Before(t.StartedAt):
		t.StartedAt = at
	}
	// The newest event knows best where the transaction is.
	if ev.SeqNo >= t.SeqNo || t.EVSEID == 0 {
		if ev.EVSEID != 0 {
			t.EVSEID = ev.EVSEID
		}
		if ev.ConnectorID != 0 {
			t.ConnectorID = ev.ConnectorID
		}
	}
	if ev.IDToken != "" {
		setStart := ev.EventType == EventStarted || t.IDToken == ""
		if ev.EventType == EventEnded {
			t.StopIDToken = ev.IDToken
		}
		if setStart {
			t.IDToken, t.IDTokenType = ev.IDToken, ev.IDTokenType
			if auth != nil {
				t.AuthStatus = auth.Status
			}
		}
	}
	if ev.EventType == EventEnded {
		t.Status = TxEnded
		t.StoppedAt = &at
		t.StopReason = cmpOr(ev.StoppedReason, defaultStopReason)
	}
	t.SeqNo = max(t.SeqNo, ev.SeqNo)
	t.Offline = t.Offline || ev.Offline
	if ev.RemoteStartID != nil && t.RemoteStartID == nil {
		id := *ev.RemoteStartID
		t.RemoteStartID = &id
	}

	// Reported register readings (see Transaction).
	var first, last, begin, end *float64
	for i := range rows {
		r := &rows[i]
		if !isRegister(r) {
			continue
		}
		if first == nil {
			first = r.ValueWh
		}
		last = r.ValueWh
		switch r.Context {
		case "Transaction.Begin":
			begin = r.ValueWh
		case "Transaction.End":
			end = r.ValueWh
		}
	}
	if begin == nil && ev.EventType == EventStarted {
		begin = first
	}
	if end == nil && ev.EventType == EventEnded {
		end = last
	}
	if begin != nil {
		t.MeterStartWh, t.MeterStartReported = begin, true
	}
	if end != nil {
		t.MeterStopWh, t.MeterStopReported = end, true
	}
}

// isRegister: the reading is the one energy is computed from.
func isRegister(r *MeterValue) bool {
	return r.ValueWh != nil && r.Measurand == DefaultMeasurand && r.Phase == "" && r.Location == DefaultLocation
}

func registerSamples(tx *gorm.DB, ref txRef) *gorm.DB {
	return tx.Model(&MeterValue{}).
		Where("station_id = ? AND transaction_uid = ? AND measurand = ? AND phase = '' AND location = ? AND value_wh IS NOT NULL",
			ref.stationID, ref.uid, DefaultMeasurand, DefaultLocation)
}

// recomputeEnergy brings the meter readings and energy of the transaction
// up to date with what is stored (see Transaction). A reference to no
// transaction (samples of a 1.6 id not recorded yet) is left alone.
func (s *Store) recomputeEnergy(tx *gorm.DB, ref txRef) error {
	var ids []int64
	err := tx.Model(&Transaction{}).Where("station_id = ? AND transaction_uid = ?", ref.stationID, ref.uid).Pluck("id", &ids).Error
	if err != nil {
		return err
	}
	return recomputeEnergyOf(tx, ids)
}

// registerWhere selects, in a subquery correlated with transactions, the
// readings energy is computed from.
const registerWhere = `mv.station_id = transactions.station_id AND mv.transaction_uid = transactions.transaction_uid
  AND mv.measurand = 'Energy.Active.Import.Register' AND mv.phase = '' AND mv.location = 'Outlet' AND mv.value_wh IS NOT NULL`

// recomputeEnergyOf does recomputeEnergy for many transactions in a few
// set-based statements, so that a batch of meter values costs the same
// handful of statements whatever its size.
func recomputeEnergyOf(tx *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := tx.Exec(`UPDATE transactions SET
  meter_start_wh = CASE WHEN meter_start_reported THEN meter_start_wh ELSE
    (SELECT mv.value_wh FROM meter_values mv WHERE `+registerWhere+` ORDER BY mv.sampled_at, mv.id LIMIT 1) END,
  meter_stop_wh = CASE WHEN meter_stop_reported THEN meter_stop_wh ELSE
    (SELECT mv.value_wh FROM meter_values mv WHERE `+registerWhere+` ORDER BY mv.sampled_at DESC, mv.id DESC LIMIT 1) END
WHERE id IN ?`, ids).Error
	if err != nil {
		return err
	}
	err = tx.Exec(`UPDATE transactions SET energy_wh = CASE
  WHEN meter_start_wh IS NULL OR meter_stop_wh IS NULL THEN NULL
  ELSE meter_stop_wh - meter_start_wh END
WHERE id IN ?`, ids).Error
	if err != nil {
		return err
	}
	// A stop below the start: the meter was reset during the session.
	var reset []Transaction
	if err := tx.Where("id IN ? AND energy_wh < 0", ids).Find(&reset).Error; err != nil {
		return err
	}
	for _, t := range reset {
		var series []float64
		err := registerSamples(tx, txRef{t.StationID, t.TransactionUID}).Order("sampled_at, id").Pluck("value_wh", &series).Error
		if err != nil {
			return err
		}
		e := energyrules.SumOfRises(*t.MeterStartWh, series, *t.MeterStopWh)
		if err := tx.Model(&Transaction{}).Where("id = ?", t.ID).UpdateColumn("energy_wh", e).Error; err != nil {
			return err
		}
	}
	return nil
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
