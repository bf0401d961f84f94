package customerinfo

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

func TestValidate(t *testing.T) {
	cert := &ocpp201.CertificateHashData{HashAlgorithm: "SHA256", IssuerNameHash: "a", IssuerKeyHash: "b", SerialNumber: "1"}
	for _, tc := range []struct {
		name string
		r    Request
		bad  string // part of the error; "" = valid
	}{
		{"report by token", Request{Report: true, IDToken: "AB12"}, ""},
		{"clear by identifier", Request{Clear: true, CustomerIdentifier: "cust-9"}, ""},
		{"both by certificate", Request{Report: true, Clear: true, Certificate: cert}, ""},
		{"CSMS data by token", Request{Report: true, IDToken: "AB12", ExportCSMSData: true, ClearCSMSData: true}, ""},
		{"nothing asked", Request{IDToken: "AB12"}, "report or clear"},
		{"no identifier", Request{Report: true}, "exactly one"},
		{"two identifiers", Request{Report: true, IDToken: "AB12", CustomerIdentifier: "c"}, "exactly one"},
		{"long token", Request{Report: true, IDToken: strings.Repeat("x", 37)}, "longer than 36"},
		{"long identifier", Request{Report: true, CustomerIdentifier: strings.Repeat("x", 65)}, "longer than 64"},
		{"CSMS data without token", Request{Clear: true, CustomerIdentifier: "c", ClearCSMSData: true}, "by id token only"},
	} {
		err := tc.r.Validate()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.bad != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.bad)
		}
	}
}

func TestStationReport(t *testing.T) {
	got, err := StationReport(&store.DeviceModelReport{Data: []json.RawMessage{[]byte(`"token AB12; "`), []byte(`"2 sessions"`)}})
	if err != nil || got != "token AB12; 2 sessions" {
		t.Errorf("report = %q %v", got, err)
	}
	if _, err := StationReport(&store.DeviceModelReport{Data: []json.RawMessage{[]byte(`{}`)}}); err == nil {
		t.Error("a part that is not a string was joined")
	}
}

func TestPseudonym(t *testing.T) {
	a, b := NewPseudonym(), NewPseudonym()
	if a == b || !strings.HasPrefix(a, "erased-") || len(a) != len("erased-")+16 {
		t.Errorf("pseudonyms %q %q", a, b)
	}
}

// memStore is Store in memory, to check what Requests asks of it.
type memStore struct {
	reqs    map[int]*store.CustomerRequest
	tokens  map[string]*store.IDToken
	txs     []store.Transaction
	answers []store.CustomerAnswer
	reads   int
}

func (m *memStore) GetIDTokenByValue(_ context.Context, v string) (*store.IDToken, error) {
	if t, ok := m.tokens[strings.ToLower(v)]; ok {
		return t, nil
	}
	return nil, store.ErrNotFound
}

func (m *memStore) CreateCustomerRequest(_ context.Context, r *store.CustomerRequest) error {
	if _, dup := m.reqs[r.RequestID]; dup {
		return store.ErrAlreadyExists
	}
	r.Status = store.CustomerRequestPending
	c := *r
	m.reqs[r.RequestID] = &c
	return nil
}

func (m *memStore) GetCustomerRequest(_ context.Context, _ string, id int) (*store.CustomerRequest, error) {
	if r, ok := m.reqs[id]; ok {
		c := *r
		return &c, nil
	}
	return nil, store.ErrNotFound
}

func (m *memStore) CustomerData(_ context.Context, token string, _ int) (*store.CustomerData, error) {
	m.reads++
	d := &store.CustomerData{}
	if t, ok := m.tokens[strings.ToLower(token)]; ok {
		d.IDTokens = append(d.IDTokens, *t)
	}
	for _, tx := range m.txs {
		if strings.EqualFold(tx.IDToken, token) {
			d.Transactions = append(d.Transactions, tx)
		}
	}
	return d, nil
}

func (m *memStore) AnswerCustomerRequest(_ context.Context, a store.CustomerAnswer) (*store.CustomerRequest, error) {
	m.answers = append(m.answers, a)
	r := m.reqs[a.RequestID]
	r.Status, r.CSMSData = a.Status, a.CSMSData
	if a.Erase != nil {
		r.IDToken = a.Erase.Pseudonym
	}
	c := *r
	return &c, nil
}

func (m *memStore) FailPendingCustomerRequest(_ context.Context, _ string, id int, why string) error {
	if r := m.reqs[id]; r != nil && r.Status == store.CustomerRequestPending {
		r.Status, r.Error = store.CustomerRequestFailed, why
	}
	return nil
}

func (m *memStore) Report(context.Context, string, string, int) (*store.DeviceModelReport, error) {
	return nil, store.ErrNotFound
}

func TestRequests(t *testing.T) {
	ctx := context.Background()
	energy := 7300.0
	newStore := func() *memStore {
		return &memStore{reqs: map[int]*store.CustomerRequest{},
			tokens: map[string]*store.IDToken{"ab12": {Value: "AB12", Type: "ISO14443", Status: "Accepted", CreatedAt: time.Unix(0, 0).UTC()}},
			txs:    []store.Transaction{{ID: 4, StationID: "CS", TransactionUID: "T4", IDToken: "ab12", EnergyWh: &energy}}}
	}

	t.Run("export and clear", func(t *testing.T) {
		m := newStore()
		s := Requests{Store: m}
		req, err := s.Create(ctx, Request{StationID: "CS", RequestID: 3, Report: true, Clear: true, IDToken: "AB12",
			ExportCSMSData: true, ClearCSMSData: true, RequestedBy: "op"})
		if err != nil {
			t.Fatal(err)
		}
		if req.IdToken == nil || req.IdToken.Type != "ISO14443" || !req.Report || !req.Clear || req.RequestId != 3 {
			t.Errorf("sent %+v (token %+v)", req, req.IdToken)
		}
		out, err := s.Answered(ctx, "CS", req, "Accepted")
		if err != nil {
			t.Fatal(err)
		}
		var e Export
		if err := json.Unmarshal(out.CSMSData, &e); err != nil || len(e.IDTokens) != 1 || e.IDTokens[0].Type != "ISO14443" ||
			len(e.Transactions) != 1 || *e.Transactions[0].EnergyWh != energy || e.Transactions[0].TransactionID != "T4" {
			t.Errorf("export %s %v", out.CSMSData, err)
		}
		a := m.answers[0]
		if a.Erase == nil || a.Erase.IDToken != "AB12" || !strings.HasPrefix(a.Erase.Pseudonym, "erased-") || a.CSMSData != "" {
			t.Errorf("answer recorded %+v: want the token erased and the export not kept", a)
		}
		if out.Request.Status != "Accepted" || out.Request.IDToken != a.Erase.Pseudonym {
			t.Errorf("request after = %+v", out.Request)
		}
		// The same answer again (a request id used twice) erases nothing more.
		if _, err := s.Answered(ctx, "CS", req, "Accepted"); err != nil || m.reads != 1 || m.answers[1].Erase != nil {
			t.Errorf("second answer: reads %d, answer %+v, %v", m.reads, m.answers[1], err)
		}
	})

	t.Run("export only keeps it", func(t *testing.T) {
		m := newStore()
		s := Requests{Store: m}
		req, err := s.Create(ctx, Request{StationID: "CS", RequestID: 5, Report: true, IDToken: "ab12", IDTokenType: "Central", ExportCSMSData: true})
		if err != nil || req.IdToken.Type != "Central" {
			t.Fatalf("%+v %v", req, err)
		}
		out, err := s.Answered(ctx, "CS", req, "Rejected")
		if err != nil || m.answers[0].Erase != nil || m.answers[0].CSMSData != string(out.CSMSData) || out.Request.Status != "Rejected" {
			t.Errorf("answer %+v out %+v %v", m.answers[0], out, err)
		}
	})

	t.Run("generic call", func(t *testing.T) {
		m := newStore()
		s := Requests{Store: m}
		req := &ocpp201.CustomerInformationRequest{RequestId: 9, Clear: true, IdToken: &ocpp201.IdToken{IdToken: "AB12", Type: "ISO14443"}}
		out, err := s.Answered(ctx, "CS", req, "Accepted")
		if err != nil || out.Request.Status != "Accepted" || !out.Request.Clear || m.reads != 0 || m.answers[0].Erase != nil {
			t.Errorf("generic: %+v %v (reads %d)", out, err, m.reads)
		}
	})

	t.Run("unknown token and no answer", func(t *testing.T) {
		m := newStore()
		s := Requests{Store: m}
		req, err := s.Create(ctx, Request{StationID: "CS", RequestID: 6, Report: true, IDToken: "NOPE"})
		if err != nil || req.IdToken.Type != store.DefaultIDTokenType {
			t.Fatalf("%+v %v", req, err)
		}
		if err := s.Unanswered(ctx, "CS", 6, "timeout"); err != nil || m.reqs[6].Status != store.CustomerRequestFailed {
			t.Errorf("unanswered: %+v %v", m.reqs[6], err)
		}
		if _, err := s.Create(ctx, Request{StationID: "CS", RequestID: 7}); !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid request created: %v", err)
		}
	})
}
