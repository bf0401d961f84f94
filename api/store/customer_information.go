package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Statuses of a customer information request besides the station's own
// (Accepted, Rejected, Invalid).
const (
	CustomerRequestPending = "Pending"
	CustomerRequestFailed  = "Failed"
)

// CustomerRequestHistory is how many customer information requests a
// station keeps.
const CustomerRequestHistory = 1000

// CustomerRequest is a 2.0.1 CustomerInformation request and its outcome
// (api/customerinfo decides what it does).
type CustomerRequest struct {
	ID                 int64 `gorm:"primaryKey"`
	StationID          string
	RequestID          int
	Report             bool
	Clear              bool
	CustomerIdentifier string
	IDToken            string `gorm:"column:id_token"`
	IDTokenType        string `gorm:"column:id_token_type"`
	// Certificate is the customer's certificate hash data (JSON).
	Certificate    string
	ExportCSMSData bool `gorm:"column:export_csms_data"`
	ClearCSMSData  bool `gorm:"column:clear_csms_data"`
	Status         string
	Error          string
	// CSMSData is the CSMS's own data exported (JSON).
	CSMSData              string `gorm:"column:csms_data"`
	TokensDeleted         int
	SessionsPseudonymised int
	RequestedBy           string
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

func (CustomerRequest) TableName() string { return "customer_information_requests" }

// CreateCustomerRequest records r as Pending and forgets the station's
// oldest requests beyond CustomerRequestHistory. ErrAlreadyExists when the
// station has a request of that id; ErrNotFound for an unknown station.
func (s *Store) CreateCustomerRequest(ctx context.Context, r *CustomerRequest) error {
	now := dbTime(s.now())
	r.ID, r.Status, r.CreatedAt, r.UpdatedAt = 0, CustomerRequestPending, now, now
	err := s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		return trimHistory(tx, &CustomerRequest{}, r.StationID, CustomerRequestHistory)
	})
	return txError(fmt.Sprintf("store: create customer information request %d of %q", r.RequestID, r.StationID), err)
}

// GetCustomerRequest returns the station's request of that OCPP request id.
func (s *Store) GetCustomerRequest(ctx context.Context, stationID string, requestID int) (*CustomerRequest, error) {
	var r CustomerRequest
	err := s.db.WithContext(ctx).Where("station_id = ? AND request_id = ?", stationID, requestID).Take(&r).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: customer information request %d of %q", requestID, stationID), err)
	}
	return &r, nil
}

// ListCustomerRequests returns one page of the station's requests, newest
// first, and how many it has.
func (s *Store) ListCustomerRequests(ctx context.Context, stationID string, p Page) ([]CustomerRequest, int64, error) {
	out := []CustomerRequest{}
	total, err := pageByID(ctx, s.db, &CustomerRequest{}, func(q *gorm.DB) *gorm.DB { return q.Where("station_id = ?", stationID) }, p, &out)
	return out, total, err
}

// CustomerData is the CSMS's own data about an id token: the token and
// the sessions started or stopped with it (case-insensitively).
type CustomerData struct {
	IDTokens     []IDToken
	Transactions []Transaction
	// Truncated: more sessions than the limit asked for.
	Truncated bool
}

// CustomerData returns what the CSMS holds about token, at most limit
// sessions (newest first).
func (s *Store) CustomerData(ctx context.Context, token string, limit int) (*CustomerData, error) {
	op := "store: customer data"
	db := s.db.WithContext(ctx)
	out := &CustomerData{IDTokens: []IDToken{}, Transactions: []Transaction{}}
	if err := db.Where("lower(value) = lower(?)", token).Find(&out.IDTokens).Error; err != nil {
		return nil, translate(op, err)
	}
	if err := db.Where("lower(id_token) = lower(?) OR lower(stop_id_token) = lower(?)", token, token).
		Order("id DESC").Limit(limit + 1).Find(&out.Transactions).Error; err != nil {
		return nil, translate(op, err)
	}
	if len(out.Transactions) > limit {
		out.Transactions, out.Truncated = out.Transactions[:limit], true
	}
	return out, nil
}

// CustomerAnswer is how a customer information request ended and what it
// changes, recorded together.
type CustomerAnswer struct {
	StationID string
	RequestID int
	Status    string
	Error     string
	// CSMSData is the export to keep with the request ("" for none).
	CSMSData string
	// IDToken is the request's id token as the caller read it: CSMSData
	// is kept only while the request still names it, so that an erasure
	// of the token committed meanwhile (which clears every request's
	// export) is not undone.
	IDToken string
	// Erase, when set, deletes the id tokens of this value and replaces it
	// in the sessions that carry it.
	Erase *Erasure
}

// Erasure replaces an id token by a pseudonym.
type Erasure struct {
	IDToken, Pseudonym string
}

// AnswerCustomerRequest records a, erasing as it says, in one transaction,
// and returns the request as it now is. An erasure replaces the token by
// the pseudonym, and drops the kept export, in every request that names
// the token (any station's, earlier ones too): an export-only request
// would otherwise keep the token and its sessions. An erasure applies only to a request
// still pending: a second answer, or one racing the request's failure,
// changes nothing and gets the request as it is. ErrNotFound when the
// station has no such request.
func (s *Store) AnswerCustomerRequest(ctx context.Context, a CustomerAnswer) (*CustomerRequest, error) {
	op := fmt.Sprintf("store: answer customer information request %d of %q", a.RequestID, a.StationID)
	err := s.write(ctx, func(tx *gorm.DB) error {
		now := dbTime(s.now())
		set := map[string]any{"status": a.Status, "error": a.Error, "updated_at": now}
		req := tx.Model(&CustomerRequest{}).Where("station_id = ? AND request_id = ?", a.StationID, a.RequestID)
		if e := a.Erase; e != nil {
			req = req.Where("status = ?", CustomerRequestPending)
			// Locked while pending: a failure racing this erasure waits for
			// it, rather than leaving the update below with no row.
			var pending CustomerRequest
			err := tx.Clauses(lockRow).Select("station_id").
				Where("station_id = ? AND request_id = ? AND status = ?", a.StationID, a.RequestID, CustomerRequestPending).Take(&pending).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return errAnsweredBefore
			}
			if err != nil {
				return err
			}
			// A session started and stopped with the token counts once;
			// counted before the token is replaced, on the lower() indexes.
			var n int64
			if err := tx.Model(&Transaction{}).Where("lower(id_token) = lower(?) OR lower(stop_id_token) = lower(?)", e.IDToken, e.IDToken).
				Count(&n).Error; err != nil {
				return err
			}
			set["sessions_pseudonymised"] = n
			deleted := tx.Where("lower(value) = lower(?)", e.IDToken).Delete(&IDToken{})
			if deleted.Error != nil {
				return deleted.Error
			}
			// A 1.6 start's retry key holds the token too; a session whose
			// start is retried after this is recorded anew.
			started := tx.Model(&Transaction{}).Where("lower(id_token) = lower(?)", e.IDToken).
				Updates(map[string]any{"id_token": e.Pseudonym, "start_key": nil})
			if started.Error != nil {
				return started.Error
			}
			stopped := tx.Model(&Transaction{}).Where("lower(stop_id_token) = lower(?)", e.IDToken).
				Update("stop_id_token", e.Pseudonym)
			if stopped.Error != nil {
				return stopped.Error
			}
			// This request included; matched on the lower() index.
			if err := tx.Model(&CustomerRequest{}).Where("lower(id_token) = lower(?)", e.IDToken).
				Updates(map[string]any{"id_token": e.Pseudonym, "csms_data": "", "updated_at": now}).Error; err != nil {
				return err
			}
			set["id_token"], set["csms_data"] = e.Pseudonym, ""
			set["tokens_deleted"] = deleted.RowsAffected
		}
		res := req.Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		if a.Erase != nil {
			return nil // its export went with the erasure
		}
		// A statement of its own, after the row is locked by the one
		// above: it sees an erasure committed since the caller read the
		// request (PostgreSQL re-reads the row; SQLite writes one at a
		// time).
		return tx.Model(&CustomerRequest{}).Where("station_id = ? AND request_id = ? AND id_token = ?", a.StationID, a.RequestID, a.IDToken).
			Update("csms_data", a.CSMSData).Error
	})
	if err != nil && !errors.Is(err, errAnsweredBefore) {
		return nil, txError(op, err)
	}
	return s.GetCustomerRequest(ctx, a.StationID, a.RequestID)
}

// errAnsweredBefore rolls back an erasure whose request is no longer
// pending.
var errAnsweredBefore = errors.New("store: customer information request answered before")

// FailPendingCustomerRequest marks a pending request Failed with why; any
// other (or none) is left alone.
func (s *Store) FailPendingCustomerRequest(ctx context.Context, stationID string, requestID int, errText string) error {
	err := s.db.WithContext(ctx).Model(&CustomerRequest{}).
		Where("station_id = ? AND request_id = ? AND status = ?", stationID, requestID, CustomerRequestPending).
		Updates(map[string]any{"status": CustomerRequestFailed, "error": errText, "updated_at": dbTime(s.now())}).Error
	return translate(fmt.Sprintf("store: fail customer information request %d", requestID), err)
}
