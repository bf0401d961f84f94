// Package customerinfo is the GDPR side of OCPP 2.0.1 customer information
// (N09, N10): a CustomerInformation request asks a station to report
// and/or clear what it holds about one customer; the station's report
// (NotifyCustomerInformation parts) is the request's result. The same
// request may also export and erase what the CSMS itself holds about that
// customer's id token: the token (deleted) and the sessions started or
// stopped with it, whose token is replaced by a pseudonym so that their
// energy and cost stay for billing. That happens once the station has
// answered, whatever it answered: the CSMS's data is the CSMS's to handle,
// and a request that never reached the station changes nothing.
package customerinfo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// ErrInvalid marks a request that breaks the rules below.
var ErrInvalid = errors.New("customer information: invalid request")

// MaxExportSessions bounds the sessions one export carries.
const MaxExportSessions = 10000

// Request is what an operator asks.
type Request struct {
	StationID, RequestedBy string
	RequestID              int
	Report, Clear          bool
	// Exactly one identifier names the customer.
	IDToken, IDTokenType string
	CustomerIdentifier   string
	Certificate          *ocpp201.CertificateHashData
	// ExportCSMSData and ClearCSMSData act on the CSMS's own data too;
	// the CSMS knows customers by id token only.
	ExportCSMSData, ClearCSMSData bool
}

// Validate checks the rules OCPP and the CSMS set on a request.
func (r Request) Validate() error {
	var errs []string
	if !r.Report && !r.Clear {
		errs = append(errs, "report or clear (or both) must be asked")
	}
	n := 0
	for _, named := range []bool{r.IDToken != "", r.CustomerIdentifier != "", r.Certificate != nil} {
		if named {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, "exactly one of id token, customer identifier and customer certificate must name the customer")
	}
	if len(r.IDToken) > store.MaxIDTokenLength {
		errs = append(errs, fmt.Sprintf("id token longer than %d characters", store.MaxIDTokenLength))
	}
	if len(r.CustomerIdentifier) > 64 {
		errs = append(errs, "customer identifier longer than 64 characters")
	}
	if (r.ExportCSMSData || r.ClearCSMSData) && r.IDToken == "" {
		errs = append(errs, "the CSMS's own data can be exported or cleared by id token only")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// OCPP is the CustomerInformation request sent for r.
func (r Request) OCPP() *ocpp201.CustomerInformationRequest {
	req := &ocpp201.CustomerInformationRequest{RequestId: r.RequestID, Report: r.Report, Clear: r.Clear,
		CustomerIdentifier: r.CustomerIdentifier, CustomerCertificate: r.Certificate}
	if r.IDToken != "" {
		req.IdToken = &ocpp201.IdToken{IdToken: r.IDToken, Type: ocpp201.IdTokenEnum(r.IDTokenType)}
	}
	return req
}

// record is how r is kept.
func record(stationID string, req *ocpp201.CustomerInformationRequest, requestedBy string) (*store.CustomerRequest, error) {
	rec := &store.CustomerRequest{StationID: stationID, RequestID: req.RequestId, Report: req.Report, Clear: req.Clear,
		CustomerIdentifier: req.CustomerIdentifier, RequestedBy: requestedBy}
	if req.IdToken != nil {
		rec.IDToken, rec.IDTokenType = req.IdToken.IdToken, string(req.IdToken.Type)
	}
	if req.CustomerCertificate != nil {
		b, err := json.Marshal(req.CustomerCertificate)
		if err != nil {
			return nil, err
		}
		rec.Certificate = string(b)
	}
	return rec, nil
}

// Export is the CSMS's own data about a customer, as handed to them.
type Export struct {
	IDTokens     []ExportedToken   `json:"idTokens"`
	Transactions []ExportedSession `json:"transactions"`
	// Truncated: more than MaxExportSessions sessions; the newest are here.
	Truncated bool `json:"truncated,omitempty"`
}

// ExportedToken is an id token as the CSMS holds it.
type ExportedToken struct {
	Value     string     `json:"value"`
	Type      string     `json:"type"`
	Status    string     `json:"status"`
	GroupID   string     `json:"groupId,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
}

// ExportedSession is a session started or stopped with the token.
type ExportedSession struct {
	ID            int64      `json:"id"`
	StationID     string     `json:"stationId"`
	TransactionID string     `json:"transactionId"`
	IDToken       string     `json:"idToken,omitempty"`
	StopIDToken   string     `json:"stopIdToken,omitempty"`
	StartedAt     time.Time  `json:"startedAt"`
	StoppedAt     *time.Time `json:"stoppedAt,omitempty"`
	EnergyWh      *float64   `json:"energyWh,omitempty"`
	Cost          *float64   `json:"cost,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	StopReason    string     `json:"stopReason,omitempty"`
}

// NewExport is the export of d.
func NewExport(d *store.CustomerData) Export {
	e := Export{IDTokens: []ExportedToken{}, Transactions: []ExportedSession{}, Truncated: d.Truncated}
	for _, t := range d.IDTokens {
		x := ExportedToken{Value: t.Value, Type: t.Type, Status: t.Status, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt}
		if t.GroupID != nil {
			x.GroupID = *t.GroupID
		}
		e.IDTokens = append(e.IDTokens, x)
	}
	for _, t := range d.Transactions {
		e.Transactions = append(e.Transactions, ExportedSession{ID: t.ID, StationID: t.StationID, TransactionID: t.TransactionUID,
			IDToken: t.IDToken, StopIDToken: t.StopIDToken, StartedAt: t.StartedAt, StoppedAt: t.StoppedAt, EnergyWh: t.EnergyWh,
			Cost: t.Cost, Currency: t.CostCurrency, StopReason: t.StopReason})
	}
	return e
}

// NewPseudonym is what replaces an erased token in its sessions: random,
// so nothing leads back to the token, and one per request, so the
// sessions still tell they were one customer's.
func NewPseudonym() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "erased-" + hex.EncodeToString(b)
}

// StationReport joins the station's report parts (each a JSON string, in
// seqNo order) into the text the station sent.
func StationReport(rep *store.DeviceModelReport) (string, error) {
	var b strings.Builder
	for i, raw := range rep.Data {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("customer information report part %d: %w", i, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// Store keeps requests, reads and erases the CSMS's data, and holds the
// reassembled reports; *store.Store has it.
type Store interface {
	GetIDTokenByValue(ctx context.Context, value string) (*store.IDToken, error)
	CreateCustomerRequest(ctx context.Context, r *store.CustomerRequest) error
	GetCustomerRequest(ctx context.Context, stationID string, requestID int) (*store.CustomerRequest, error)
	CustomerData(ctx context.Context, token string, limit int) (*store.CustomerData, error)
	AnswerCustomerRequest(ctx context.Context, a store.CustomerAnswer) (*store.CustomerRequest, error)
	FailPendingCustomerRequest(ctx context.Context, stationID string, requestID int, errText string) error
	Report(ctx context.Context, stationID, kind string, requestID int) (*store.DeviceModelReport, error)
}

// Requests carries out customer information requests.
type Requests struct{ Store Store }

// Create records r, pending, and returns what to send; the token's type
// defaults to the one the CSMS has for it.
func (s Requests) Create(ctx context.Context, r Request) (*ocpp201.CustomerInformationRequest, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.IDToken != "" && r.IDTokenType == "" {
		r.IDTokenType = store.DefaultIDTokenType
		tok, err := s.Store.GetIDTokenByValue(ctx, r.IDToken)
		switch {
		case err == nil:
			r.IDTokenType = tok.Type
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	req := r.OCPP()
	rec, err := record(r.StationID, req, r.RequestedBy)
	if err != nil {
		return nil, err
	}
	rec.ExportCSMSData, rec.ClearCSMSData = r.ExportCSMSData, r.ClearCSMSData
	if err := s.Store.CreateCustomerRequest(ctx, rec); err != nil {
		return nil, err
	}
	return req, nil
}

// Outcome is a request as recorded once answered, with the CSMS's data
// exported if asked (also when erased, when it is not kept).
type Outcome struct {
	Request  *store.CustomerRequest
	CSMSData json.RawMessage
}

// Answered records the station's answer to req and carries out what the
// request asked of the CSMS's own data, once. A request the CSMS did not
// record (sent through the generic call) is recorded now, without
// anything asked of the CSMS's data.
func (s Requests) Answered(ctx context.Context, stationID string, req *ocpp201.CustomerInformationRequest, status string) (*Outcome, error) {
	rec, err := s.Store.GetCustomerRequest(ctx, stationID, req.RequestId)
	if errors.Is(err, store.ErrNotFound) {
		if rec, err = record(stationID, req, ""); err == nil {
			err = s.Store.CreateCustomerRequest(ctx, rec)
		}
	}
	if err != nil {
		return nil, err
	}
	a := store.CustomerAnswer{StationID: stationID, RequestID: req.RequestId, Status: status, CSMSData: rec.CSMSData, IDToken: rec.IDToken}
	out := &Outcome{}
	// A request answered before (an answer to a request id used again)
	// has done its part already.
	if rec.Status == store.CustomerRequestPending && (rec.ExportCSMSData || rec.ClearCSMSData) {
		d, err := s.Store.CustomerData(ctx, rec.IDToken, MaxExportSessions)
		if err != nil {
			return nil, err
		}
		if rec.ExportCSMSData {
			if out.CSMSData, err = json.Marshal(NewExport(d)); err != nil {
				return nil, err
			}
			a.CSMSData = string(out.CSMSData)
		}
		if rec.ClearCSMSData {
			// Erased data is not kept in the request either: the caller
			// got the export.
			a.CSMSData = ""
			a.Erase = &store.Erasure{IDToken: rec.IDToken, Pseudonym: NewPseudonym()}
		}
	}
	if out.Request, err = s.Store.AnswerCustomerRequest(ctx, a); err != nil {
		return nil, err
	}
	return out, nil
}

// Unanswered marks a pending request Failed with why.
func (s Requests) Unanswered(ctx context.Context, stationID string, requestID int, why string) error {
	return s.Store.FailPendingCustomerRequest(ctx, stationID, requestID, why)
}

// Result is a request with the station's report once complete.
type Result struct {
	Request *store.CustomerRequest
	// Report is the station's report text; ReportComplete says whether
	// every part has arrived (Report is empty until then).
	Report         string
	ReportComplete bool
	GeneratedAt    time.Time
}

// Get returns the station's request of that id with its result.
func (s Requests) Get(ctx context.Context, stationID string, requestID int) (*Result, error) {
	rec, err := s.Store.GetCustomerRequest(ctx, stationID, requestID)
	if err != nil {
		return nil, err
	}
	return s.result(ctx, rec)
}

func (s Requests) result(ctx context.Context, rec *store.CustomerRequest) (*Result, error) {
	out := &Result{Request: rec}
	rep, err := s.Store.Report(ctx, rec.StationID, store.ReportKindCustomerInformation, rec.RequestID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return out, nil
	case err != nil:
		return nil, err
	}
	if out.Report, err = StationReport(rep); err != nil {
		return nil, err
	}
	out.ReportComplete, out.GeneratedAt = true, rep.GeneratedAt
	return out, nil
}

// Results completes listed requests with their reports.
func (s Requests) Results(ctx context.Context, recs []store.CustomerRequest) ([]Result, error) {
	out := make([]Result, 0, len(recs))
	for i := range recs {
		r, err := s.result(ctx, &recs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}
