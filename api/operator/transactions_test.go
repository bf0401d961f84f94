package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
)

// sessions is what seedSessions recorded through the store, the way the
// OCPP handlers do.
type sessions struct {
	t0                  time.Time
	ended16, ended201   *store.Transaction
	active201, active16 *store.Transaction
}

// seedSessions records on station st16 (1.6) an ended session of 1500 Wh
// with a kWh sample and an active one, and on st201 (2.0.1) an ended
// session of 2000 Wh and an active one.
func seedSessions(t *testing.T, st *store.Store, st16, st201 string) sessions {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{st16, st201} {
		if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateIDToken(ctx, &store.IDToken{Value: "TAG-16"}); err != nil {
		t.Fatal(err)
	}
	s := sessions{t0: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	at := func(min int) time.Time { return s.t0.Add(time.Duration(min) * time.Minute) }

	start, err := st.StartTransaction16(ctx, store.StartTransaction16{StationID: st16, ConnectorID: 1, IDTag: "TAG-16", MeterStartWh: 1000, Timestamp: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	id := start.Transaction.ID
	if err := st.RecordMeterValues(ctx, store.MeterReport{StationID: st16, ConnectorID: 1, OCPP16TransactionID: &id, Samples: []store.Sample{
		{Timestamp: at(1), Value: "1500"},
		{Timestamp: at(1), Value: "16.2", Measurand: "Current.Import", Phase: "L1", Unit: "A"},
		{Timestamp: at(2), Value: "2.1", Unit: "kWh"},
	}}); err != nil {
		t.Fatal(err)
	}
	stop, err := st.StopTransaction16(ctx, store.StopTransaction16{StationID: st16, TransactionID: id, IDTag: "TAG-16", MeterStopWh: 2500, Timestamp: at(3), Reason: "EVDisconnected"})
	if err != nil {
		t.Fatal(err)
	}
	s.ended16 = stop.Transaction
	later, err := st.StartTransaction16(ctx, store.StartTransaction16{StationID: st16, ConnectorID: 2, IDTag: "OTHER", MeterStartWh: 7, Timestamp: at(60)})
	if err != nil {
		t.Fatal(err)
	}
	s.active16 = later.Transaction

	ev := func(uid, typ string, seq, min int, wh string) store.TransactionEvent {
		e := store.TransactionEvent{StationID: st201, TransactionUID: uid, EventType: typ, SeqNo: seq, Timestamp: at(min),
			TriggerReason: "MeterValuePeriodic", EVSEID: 1, ConnectorID: 1,
			Samples: []store.Sample{{Timestamp: at(min), Value: wh}}}
		if typ == store.EventStarted {
			e.IDToken, e.IDTokenType, e.TriggerReason = "TAG-201", "ISO14443", "Authorized"
			e.Samples[0].Context = "Transaction.Begin"
		}
		if typ == store.EventEnded {
			e.StoppedReason, e.TriggerReason = "EVDisconnected", "EVCommunicationLost"
			e.Samples[0].Context = "Transaction.End"
		}
		return e
	}
	for _, e := range []store.TransactionEvent{
		ev("uid-a", store.EventStarted, 0, 10, "10000"),
		ev("uid-a", store.EventUpdated, 1, 11, "11000"),
		ev("uid-a", store.EventEnded, 2, 12, "12000"),
		ev("uid-b", store.EventStarted, 0, 120, "500"),
		ev("uid-b", store.EventUpdated, 1, 121, "800"),
	} {
		res, err := st.RecordTransactionEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if e.TransactionUID == "uid-a" {
			s.ended201 = res.Transaction
		} else {
			s.active201 = res.Transaction
		}
	}
	return s
}

func TestTransactions(t *testing.T) {
	stores(t, func(t *testing.T, st *store.Store) {
		a := serveSessions(t, st)
		ctx := a.ctx
		s := seedSessions(t, st, "CP-16", "CP-201")

		got, err := a.txs.GetTransaction(ctx, &chargeplanev1.GetTransactionRequest{Id: s.ended16.ID})
		if err != nil {
			t.Fatal(err)
		}
		tx := got.GetTransaction()
		if tx.GetStationId() != "CP-16" || tx.GetOcppVersion() != "1.6" || tx.GetConnectorId() != 1 || tx.GetEvseId() != 0 ||
			tx.GetIdToken() != "TAG-16" || tx.GetStopIdToken() != "TAG-16" || tx.GetAuthStatus() != "Accepted" ||
			tx.GetStatus() != "Ended" || tx.GetStopReason() != "EVDisconnected" || !tx.GetStartReceived() ||
			tx.GetTransactionUid() != fmt.Sprint(s.ended16.ID) {
			t.Errorf("1.6 transaction = %v", tx)
		}
		if tx.GetMeterStartWh() != 1000 || tx.GetMeterStopWh() != 2500 || tx.EnergyWh == nil || tx.GetEnergyWh() != 1500 {
			t.Errorf("1.6 energy: start %v stop %v energy %v, want 1000/2500/1500", tx.MeterStartWh, tx.MeterStopWh, tx.EnergyWh)
		}
		if !tx.GetStartedAt().AsTime().Equal(s.t0) || !tx.GetStoppedAt().AsTime().Equal(s.t0.Add(3*time.Minute)) {
			t.Errorf("1.6 times %v – %v", tx.GetStartedAt().AsTime(), tx.GetStoppedAt().AsTime())
		}
		mv := tx.GetMeterValues()
		if len(mv) != 3 {
			t.Fatalf("1.6 meter values = %v, want 3", mv)
		}
		byMeasurand := map[string]*chargeplanev1.MeterValue{}
		for _, m := range mv {
			byMeasurand[m.GetMeasurand()+"/"+m.GetValue()] = m
		}
		if m := byMeasurand["Energy.Active.Import.Register/2.1"]; m == nil || m.GetUnit() != "kWh" || m.GetValueWh() != 2100 ||
			m.GetContext() != "Sample.Periodic" || m.GetLocation() != "Outlet" || m.GetConnectorId() != 1 ||
			!m.GetTimestamp().AsTime().Equal(s.t0.Add(2*time.Minute)) {
			t.Errorf("kWh sample = %v", m)
		}
		if m := byMeasurand["Current.Import/16.2"]; m == nil || m.GetPhase() != "L1" || m.GetUnit() != "A" || m.ValueWh != nil {
			t.Errorf("current sample = %v", m)
		}
		if !mv[len(mv)-1].GetTimestamp().AsTime().After(mv[0].GetTimestamp().AsTime()) {
			t.Errorf("meter values not oldest first: %v", mv)
		}

		got, err = a.txs.GetTransaction(ctx, &chargeplanev1.GetTransactionRequest{Id: s.ended201.ID})
		if err != nil {
			t.Fatal(err)
		}
		tx = got.GetTransaction()
		if tx.GetTransactionUid() != "uid-a" || tx.GetOcppVersion() != "2.0.1" || tx.GetEvseId() != 1 || tx.GetConnectorId() != 1 ||
			tx.GetIdTokenType() != "ISO14443" || tx.GetAuthStatus() != store.AuthUnknown || tx.GetSeqNo() != 2 ||
			tx.GetEnergyWh() != 2000 || tx.GetStopReason() != "EVDisconnected" || len(tx.GetMeterValues()) != 3 {
			t.Errorf("2.0.1 transaction = %v", tx)
		}

		_, err = a.txs.GetTransaction(ctx, &chargeplanev1.GetTransactionRequest{Id: 999999})
		wantCode(t, err, codes.NotFound)
		_, err = a.txs.GetTransaction(ctx, &chargeplanev1.GetTransactionRequest{Id: 0})
		wantCode(t, err, codes.InvalidArgument)

		list := func(req *chargeplanev1.ListTransactionsRequest) []int64 {
			t.Helper()
			resp, err := a.txs.ListTransactions(ctx, req)
			if err != nil {
				t.Fatalf("list %v: %v", req, err)
			}
			var ids []int64
			for _, x := range resp.GetTransactions() {
				if len(x.GetMeterValues()) != 0 {
					t.Errorf("listed transaction carries meter values")
				}
				ids = append(ids, x.GetId())
			}
			if int(resp.GetTotalSize()) != len(ids) && resp.GetNextPageToken() == "" {
				t.Errorf("total %d for %d rows on the only page", resp.GetTotalSize(), len(ids))
			}
			return ids
		}
		eq := func(what string, got []int64, want ...*store.Transaction) {
			t.Helper()
			var w []int64
			for _, x := range want {
				w = append(w, x.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s = %v, want %v", what, got, w)
			}
		}
		yes, no := true, false
		// Newest (highest id) first.
		eq("all", list(&chargeplanev1.ListTransactionsRequest{}), s.active201, s.ended201, s.active16, s.ended16)
		eq("station", list(&chargeplanev1.ListTransactionsRequest{StationId: "CP-16"}), s.active16, s.ended16)
		eq("token", list(&chargeplanev1.ListTransactionsRequest{IdToken: "tag-201"}), s.active201, s.ended201)
		eq("active", list(&chargeplanev1.ListTransactionsRequest{Active: &yes}), s.active201, s.active16)
		eq("ended", list(&chargeplanev1.ListTransactionsRequest{Active: &no, StationId: "CP-201"}), s.ended201)
		eq("range", list(&chargeplanev1.ListTransactionsRequest{
			StartedAfter:  timestamppb.New(s.t0.Add(10 * time.Minute)),
			StartedBefore: timestamppb.New(s.t0.Add(60 * time.Minute)),
		}), s.ended201)
		eq("unknown station", list(&chargeplanev1.ListTransactionsRequest{StationId: "nobody"}))

		// Paging one at a time visits all four, newest first.
		var paged []int64
		token := ""
		for range 10 {
			resp, err := a.txs.ListTransactions(ctx, &chargeplanev1.ListTransactionsRequest{PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTotalSize() != 4 {
				t.Errorf("total = %d", resp.GetTotalSize())
			}
			for _, x := range resp.GetTransactions() {
				paged = append(paged, x.GetId())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		eq("paged", paged, s.active201, s.ended201, s.active16, s.ended16)

		for name, req := range map[string]*chargeplanev1.ListTransactionsRequest{
			"bad token":      {PageToken: "garbage!"},
			"id token page":  {PageToken: "aWR0MTox"}, // "idt1:1"
			"non-numeric":    {PageToken: "dHgxOmFi"}, // "tx1:ab"
			"negative size":  {PageSize: -3},
			"bad station":    {StationId: strings.Repeat("x", 49)}, // longer than any id
			"empty range":    {StartedAfter: timestamppb.New(s.t0), StartedBefore: timestamppb.New(s.t0)},
			"bad started_at": {StartedAfter: &timestamppb.Timestamp{Nanos: 2e9}},
		} {
			_, err := a.txs.ListTransactions(ctx, req)
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Errorf("%s: code %v (%v), want InvalidArgument", name, c, err)
			}
		}

		// The station resource lists its sessions in progress.
		stn, err := a.stations.GetStation(ctx, &chargeplanev1.GetStationRequest{Id: "CP-201"})
		if err != nil {
			t.Fatal(err)
		}
		act := stn.GetStation().GetActiveTransactions()
		if len(act) != 1 || act[0].GetId() != s.active201.ID || act[0].GetTransactionUid() != "uid-b" || act[0].GetIdToken() != "TAG-201" ||
			act[0].GetEvseId() != 1 || act[0].GetMeterStartWh() != 500 || act[0].GetEnergyWh() != 300 {
			t.Errorf("active sessions of CP-201 = %v", act)
		}
		up, err := a.stations.UpdateStation(ctx, &chargeplanev1.UpdateStationRequest{Id: "CP-16", Name: ptr("renamed")})
		if err != nil {
			t.Fatal(err)
		}
		if act := up.GetStation().GetActiveTransactions(); len(act) != 1 || act[0].GetId() != s.active16.ID || act[0].GetConnectorId() != 2 {
			t.Errorf("active sessions of CP-16 = %v", act)
		}
	})
}

// TestSessionsREST drives the id token and transaction APIs over HTTP, the
// way the front-end does.
func TestSessionsREST(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	a := serveSessions(t, st)
	s := seedSessions(t, st, "REST-16", "REST-201")

	do := func(method, path, body string, want int, out any) string {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, a.restURL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+a.bearer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, raw)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s %s: %s: %v", method, path, raw, err)
			}
		}
		return string(raw)
	}

	type token struct {
		ID                    string     `json:"id"`
		Value                 string     `json:"value"`
		Type                  string     `json:"type"`
		Status                string     `json:"status"`
		ExpiresAt             *time.Time `json:"expiresAt"`
		GroupID               string     `json:"groupId"`
		MaxActiveTransactions *int       `json:"maxActiveTransactions"`
	}
	var created token
	do("POST", "/api/v1/id-tokens", `{"value":"RFID-0001","type":"ISO14443","status":"Blocked","expiresAt":"2030-01-02T03:04:05Z","groupId":"G1","maxActiveTransactions":1}`, http.StatusCreated, &created)
	if created.ID == "" || created.Value != "RFID-0001" || created.Type != "ISO14443" || created.Status != "Blocked" ||
		created.ExpiresAt == nil || created.ExpiresAt.Year() != 2030 || created.GroupID != "G1" || created.MaxActiveTransactions == nil || *created.MaxActiveTransactions != 1 {
		t.Errorf("created = %+v", created)
	}
	do("POST", "/api/v1/id-tokens", `{"value":"rfid-0001"}`, http.StatusConflict, nil)
	do("POST", "/api/v1/id-tokens", `{"value":"X","status":"Maybe"}`, http.StatusBadRequest, nil)
	do("POST", "/api/v1/id-tokens", `{"value":"`+strings.Repeat("x", 37)+`"}`, http.StatusBadRequest, nil)
	do("GET", "/api/v1/id-tokens/"+created.ID, "", http.StatusOK, &created)
	do("GET", "/api/v1/id-tokens/nope", "", http.StatusNotFound, nil)

	var patched token
	do("PATCH", "/api/v1/id-tokens/"+created.ID, `{"status":"Accepted","clearExpiresAt":true}`, http.StatusOK, &patched)
	if patched.Status != "Accepted" || patched.ExpiresAt != nil || patched.GroupID != "G1" || patched.Type != "ISO14443" {
		t.Errorf("patched = %+v", patched)
	}
	var page struct {
		IDTokens      []token `json:"idTokens"`
		NextPageToken string  `json:"nextPageToken"`
		TotalSize     string  `json:"totalSize"`
	}
	do("GET", "/api/v1/id-tokens?valuePrefix=rfid&status=Accepted", "", http.StatusOK, &page)
	if len(page.IDTokens) != 1 || page.IDTokens[0].ID != created.ID || page.TotalSize != "1" {
		t.Errorf("filtered list = %+v", page)
	}
	do("DELETE", "/api/v1/id-tokens/"+created.ID, "", http.StatusOK, nil)
	do("DELETE", "/api/v1/id-tokens/"+created.ID, "", http.StatusNotFound, nil)

	type sample struct {
		Timestamp time.Time `json:"timestamp"`
		Value     string    `json:"value"`
		ValueWh   *float64  `json:"valueWh"`
		Measurand string    `json:"measurand"`
		Unit      string    `json:"unit"`
	}
	type transaction struct {
		ID           string    `json:"id"` // int64 is a JSON string in proto3 JSON
		StationID    string    `json:"stationId"`
		Status       string    `json:"status"`
		EnergyWh     *float64  `json:"energyWh"`
		MeterStartWh *float64  `json:"meterStartWh"`
		MeterStopWh  *float64  `json:"meterStopWh"`
		MeterValues  []sample  `json:"meterValues"`
		StartedAt    time.Time `json:"startedAt"`
	}
	var txs struct {
		Transactions []transaction `json:"transactions"`
		TotalSize    string        `json:"totalSize"`
	}
	do("GET", "/api/v1/transactions?stationId=REST-16", "", http.StatusOK, &txs)
	if len(txs.Transactions) != 2 || txs.TotalSize != "2" {
		t.Fatalf("REST-16 transactions = %+v", txs)
	}
	ended := txs.Transactions[1]
	if ended.ID != fmt.Sprint(s.ended16.ID) || ended.Status != "Ended" || ended.EnergyWh == nil || *ended.EnergyWh != 1500 {
		t.Errorf("ended 1.6 session = %+v", ended)
	}
	do("GET", "/api/v1/transactions?stationId=REST-201&active=true", "", http.StatusOK, &txs)
	if len(txs.Transactions) != 1 || txs.Transactions[0].ID != fmt.Sprint(s.active201.ID) {
		t.Errorf("active 2.0.1 sessions = %+v", txs)
	}
	q := url.Values{"startedAfter": {s.t0.Add(5 * time.Minute).Format(time.RFC3339)}, "startedBefore": {s.t0.Add(time.Hour).Format(time.RFC3339)}}
	do("GET", "/api/v1/transactions?"+q.Encode(), "", http.StatusOK, &txs)
	if len(txs.Transactions) != 1 || txs.Transactions[0].ID != fmt.Sprint(s.ended201.ID) {
		t.Errorf("time range = %+v", txs)
	}

	var one transaction
	do("GET", "/api/v1/transactions/"+ended.ID, "", http.StatusOK, &one)
	if len(one.MeterValues) != 3 || one.MeterStartWh == nil || *one.MeterStartWh != 1000 || *one.MeterStopWh != 2500 {
		t.Fatalf("GET transaction = %+v", one)
	}
	var kwh *sample
	for i := range one.MeterValues {
		if one.MeterValues[i].Unit == "kWh" {
			kwh = &one.MeterValues[i]
		}
	}
	if kwh == nil || kwh.Value != "2.1" || kwh.ValueWh == nil || *kwh.ValueWh != 2100 {
		t.Errorf("kWh sample = %+v", kwh)
	}
	do("GET", "/api/v1/transactions/424242", "", http.StatusNotFound, nil)
	do("GET", "/api/v1/transactions/abc", "", http.StatusBadRequest, nil)
	do("GET", "/api/v1/transactions?pageToken=junk", "", http.StatusBadRequest, nil)

	var station struct {
		ActiveTransactions []struct {
			ID       string   `json:"id"`
			EnergyWh *float64 `json:"energyWh"`
		} `json:"activeTransactions"`
	}
	do("GET", "/api/v1/stations/REST-201", "", http.StatusOK, &station)
	if len(station.ActiveTransactions) != 1 || station.ActiveTransactions[0].ID != fmt.Sprint(s.active201.ID) ||
		station.ActiveTransactions[0].EnergyWh == nil || *station.ActiveTransactions[0].EnergyWh != 300 {
		t.Errorf("station active sessions = %+v", station)
	}
}
