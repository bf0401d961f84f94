package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/customerinfo"
	"github.com/chargeplane/chargeplane/api/operator"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestCustomerInformation: a typed CustomerInformation goes out
// schema-valid and is recorded; once answered, the CSMS's own data about
// the token is exported and erased (the token deleted, the sessions
// started or stopped with it pseudonymised with their energy kept, other
// tokens and sessions untouched); the station's report parts make the
// request's result. Through the generic call the answer is recorded
// without touching the CSMS's data; a request without an answer is
// Failed; an invalid or reused request is refused before sending.
func TestCustomerInformation(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			ctx := context.Background()
			if err := h.store.CreateStation(ctx, &store.Station{ID: "GENERIC"}); err != nil {
				t.Fatal(err)
			}
			h.token(store.IDToken{Value: "AB12", Type: "ISO14443"})
			h.token(store.IDToken{Value: "OTHER"})
			n := 0
			session := func(start, stop string, meterStop int) int64 {
				t.Helper()
				n++ // distinct starts: the same start twice would be one retried
				r, err := h.store.StartTransaction16(ctx, store.StartTransaction16{StationID: stationID, ConnectorID: n, IDTag: start,
					MeterStartWh: 1000, Timestamp: testNow})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.store.StopTransaction16(ctx, store.StopTransaction16{StationID: stationID, TransactionID: r.Transaction.ID,
					IDTag: stop, MeterStopWh: meterStop, Timestamp: testNow.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				return r.Transaction.ID
			}
			mine, stoppedByMe, others := session("ab12", "AB12", 8300), session("OTHER", "ab12", 2000), session("OTHER", "OTHER", 3000)

			c := &stationCaller{t: t, v: ocppj.V201, schemas: h.schemas, answers: map[string]string{
				"CustomerInformation": `{"status":"Accepted"}`,
			}}
			s := tableSender(c, h.store)
			r, err := command.Do[command.CustomerInfoReply](ctx, s, stationID, "op", &chargeplanev1.CustomerInformationRequest{
				StationId: stationID, RequestId: 21, Report: true, IdToken: "ab12", ExportCsmsData: true, ClearCsmsData: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(c.last()), `{"idToken":{"idToken":"ab12","type":"ISO14443"},"requestId":21,"report":true,"clear":false}`; got != want {
				t.Errorf("sent %s, want %s", got, want)
			}
			rec := r.Request
			if r.Status != "Accepted" || rec.Status != "Accepted" || !strings.HasPrefix(rec.IDToken, "erased-") || rec.TokensDeleted != 1 ||
				rec.SessionsPseudonymised != 2 || rec.CSMSData != "" || rec.RequestedBy != "op" {
				t.Errorf("reply %+v, request %+v", r.Reply, rec)
			}
			var export customerinfo.Export
			if err := json.Unmarshal(r.CSMSData, &export); err != nil || len(export.IDTokens) != 1 || export.IDTokens[0].Value != "AB12" ||
				len(export.Transactions) != 2 || export.Transactions[1].ID != mine || *export.Transactions[1].EnergyWh != 7300 {
				t.Errorf("export %s %v", r.CSMSData, err)
			}
			if _, err := h.store.GetIDTokenByValue(ctx, "ab12"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("token after erasure: %v", err)
			}
			if _, err := h.store.GetIDTokenByValue(ctx, "OTHER"); err != nil {
				t.Errorf("another token: %v", err)
			}
			for id, want := range map[int64][2]string{mine: {rec.IDToken, rec.IDToken}, stoppedByMe: {"OTHER", rec.IDToken}, others: {"OTHER", "OTHER"}} {
				tx, err := h.store.GetTransaction(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if tx.IDToken != want[0] || tx.StopIDToken != want[1] || tx.EnergyWh == nil {
					t.Errorf("transaction %d: tokens %q/%q energy %v, want %q/%q and its energy", id, tx.IDToken, tx.StopIDToken, tx.EnergyWh, want[0], want[1])
				}
			}

			// The station's report, parts out of order.
			for _, part := range []string{
				`{"requestId":21,"seqNo":1,"generatedAt":"2025-03-04T05:00:00Z","data":"2 sessions"}`,
				`{"requestId":21,"seqNo":0,"tbc":true,"generatedAt":"2025-03-04T05:00:00Z","data":"token ab12; "}`,
			} {
				h.result(ocppj.V201, "NotifyCustomerInformation", h.call(ocppj.V201, "NotifyCustomerInformation", part), nil)
			}
			reqs := customerinfo.Requests{Store: h.store}
			res, err := reqs.Get(ctx, stationID, 21)
			if err != nil || !res.ReportComplete || res.Report != "token ab12; 2 sessions" || res.Request.Status != "Accepted" {
				t.Errorf("result %+v %v", res, err)
			}

			// The generic call: recorded, the CSMS's data untouched.
			if _, err := s.Call(ctx, command.Request{StationID: "GENERIC", Action: "CustomerInformation",
				Payload: json.RawMessage(`{"requestId":22,"report":false,"clear":true,"customerIdentifier":"cust-9"}`)}); err != nil {
				t.Fatal(err)
			}
			if g, err := reqs.Get(ctx, "GENERIC", 22); err != nil || g.Request.Status != "Accepted" || !g.Request.Clear ||
				g.Request.CustomerIdentifier != "cust-9" || g.ReportComplete {
				t.Errorf("generic request %+v %v", g, err)
			}

			c.err = errors.New("station gone")
			if _, err := command.Do[command.CustomerInfoReply](ctx, s, stationID, "op", &chargeplanev1.CustomerInformationRequest{
				StationId: stationID, RequestId: 23, Report: true, CustomerIdentifier: "cust-9"}); err == nil {
				t.Fatal("a request without an answer succeeded")
			}
			if f, err := reqs.Get(ctx, stationID, 23); err != nil || f.Request.Status != store.CustomerRequestFailed || f.Request.Error == "" {
				t.Errorf("unanswered request %+v %v", f, err)
			}
			c.err = nil

			sent := len(c.sent)
			var inv *command.InvalidError
			if _, err := command.Do[command.CustomerInfoReply](ctx, s, stationID, "op", &chargeplanev1.CustomerInformationRequest{
				StationId: stationID, Report: true}); !errors.As(err, &inv) || !strings.Contains(inv.Reason, "exactly one") {
				t.Errorf("without an identifier: %v", err)
			}
			var refused *command.RefusedError
			if _, err := command.Do[command.CustomerInfoReply](ctx, s, stationID, "op", &chargeplanev1.CustomerInformationRequest{
				StationId: stationID, RequestId: 21, Report: true, CustomerIdentifier: "x"}); !errors.As(err, &refused) {
				t.Errorf("request id used again: %v", err)
			}
			if len(c.sent) != sent {
				t.Errorf("refused requests were sent: %v", c.sent[sent:])
			}
		})
	}
}

// The station's report is kept whole for the operator-only results API,
// but the viewer-readable message log records NotifyCustomerInformation
// without it.
func TestCustomerReportNotInMessageLog(t *testing.T) {
	sink := &messageSink{}
	h := newHarness(t, "sqlite", func(d *Deps) { d.MessageLog = sink })
	ctx := context.Background()
	if err := h.store.CreateCustomerRequest(ctx, &store.CustomerRequest{StationID: stationID, RequestID: 31, Report: true, CustomerIdentifier: "cust-9"}); err != nil {
		t.Fatal(err)
	}
	h.result(ocppj.V201, "NotifyCustomerInformation", h.call(ocppj.V201, "NotifyCustomerInformation",
		`{"requestId":31,"seqNo":0,"generatedAt":"2025-03-04T05:00:00Z","data":"Jane Roe, 2 sessions"}`), nil)
	// The operator's results API (the role is access.policy's) still
	// returns whom the request named and the report.
	svc := operator.NewCustomerInformationService(nil, h.store, customerinfo.Requests{Store: h.store}, quietLogger())
	res, err := svc.GetCustomerInformation(ctx, &chargeplanev1.GetCustomerInformationRequest{StationId: stationID, RequestId: 31})
	if r := res.GetResult(); err != nil || !r.GetStationReportComplete() || r.GetStationReport() != "Jane Roe, 2 sessions" || r.GetCustomerIdentifier() != "cust-9" {
		t.Errorf("result %+v %v", res, err)
	}
	in := sink.lastIn()
	if in == "" || strings.Contains(in, "Jane Roe") || !strings.Contains(in, `"data":"`+redact.Marker+`"`) || !strings.Contains(in, `"requestId":31`) {
		t.Errorf("message log kept %s", in)
	}
}
