package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func ptr[T any](v T) *T { return &v }

func mustToken(t *testing.T, s *Store, tok *IDToken) *IDToken {
	t.Helper()
	if err := s.CreateIDToken(context.Background(), tok); err != nil {
		t.Fatalf("create token %q: %v", tok.Value, err)
	}
	return tok
}

func TestIDTokenCRUD(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		exp := t0.Add(24 * time.Hour)
		a := mustToken(t, s, &IDToken{Value: "AbC123", Type: "ISO14443", ExpiresAt: &exp, GroupID: ptr("GROUP"), MaxActiveTransactions: ptr(2)})
		if a.ID == "" || a.Status != IDTokenAccepted {
			t.Fatalf("created %+v", a)
		}
		b := mustToken(t, s, &IDToken{Value: "abd999"})
		if b.Type != DefaultIDTokenType || b.Status != IDTokenAccepted {
			t.Fatalf("defaults %+v", b)
		}
		if err := s.CreateIDToken(ctx, &IDToken{Value: "ABC123"}); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("same value other case: err = %v, want ErrAlreadyExists", err)
		}
		for _, bad := range []IDToken{{Value: ""}, {Value: "x", Type: "Badge"}, {Value: "y", Status: "Maybe"},
			{Value: "z", MaxActiveTransactions: ptr(0)}, {Value: "0123456789012345678901234567890123456789"}} {
			if err := s.CreateIDToken(ctx, &bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("create %+v: err = %v, want ErrInvalid", bad, err)
			}
		}

		got, err := s.GetIDTokenByValue(ctx, "abc123")
		if err != nil || got.ID != a.ID || got.Value != "AbC123" || got.Type != "ISO14443" || *got.GroupID != "GROUP" ||
			*got.MaxActiveTransactions != 2 || !got.ExpiresAt.Equal(exp) || !got.CreatedAt.Equal(t0) {
			t.Fatalf("by value = %+v, %v", got, err)
		}
		if _, err := s.GetIDToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get missing: %v", err)
		}
		if _, err := s.GetIDTokenByValue(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get missing by value: %v", err)
		}

		mustToken(t, s, &IDToken{Value: "zz_1", Status: IDTokenBlocked})
		mustToken(t, s, &IDToken{Value: "zzX1", Status: IDTokenBlocked})
		list, total, err := s.ListIDTokens(ctx, IDTokenFilter{ValuePrefix: "AB"}, Page{})
		if err != nil || total != 2 || len(list) != 2 {
			t.Fatalf("prefix list = %v total %d err %v", list, total, err)
		}
		// "_" is a literal, not a LIKE wildcard.
		if _, total, _ := s.ListIDTokens(ctx, IDTokenFilter{ValuePrefix: "zz_"}, Page{}); total != 1 {
			t.Errorf("prefix zz_ matched %d, want 1", total)
		}
		if _, total, _ := s.ListIDTokens(ctx, IDTokenFilter{Status: IDTokenBlocked, Type: DefaultIDTokenType}, Page{}); total != 2 {
			t.Errorf("status filter matched %d, want 2", total)
		}
		var seen []string
		p := Page{Limit: 3}
		for {
			page, total, err := s.ListIDTokens(ctx, IDTokenFilter{}, p)
			if err != nil || total != 4 {
				t.Fatalf("page: total %d err %v", total, err)
			}
			if len(page) == 0 {
				break
			}
			for _, tk := range page {
				seen = append(seen, tk.ID)
			}
			p.AfterID = page[len(page)-1].ID
		}
		if len(seen) != 4 {
			t.Errorf("paged through %d tokens, want 4", len(seen))
		}

		clk.Add(time.Minute)
		up, err := s.UpdateIDToken(ctx, a.ID, IDTokenPatch{Status: ptr(IDTokenBlocked), ClearExpiresAt: true, GroupID: ptr(""), ClearMaxActiveTransactions: true})
		if err != nil || up.Status != IDTokenBlocked || up.ExpiresAt != nil || up.GroupID != nil || up.MaxActiveTransactions != nil ||
			up.Value != "AbC123" || !up.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("update = %+v, %v", up, err)
		}
		again, _ := s.GetIDToken(ctx, a.ID)
		if again.Status != IDTokenBlocked || again.ExpiresAt != nil || again.GroupID != nil {
			t.Errorf("stored after update %+v", again)
		}
		if _, err := s.UpdateIDToken(ctx, a.ID, IDTokenPatch{Value: ptr("ABD999")}); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("update to a taken value: %v", err)
		}
		if _, err := s.UpdateIDToken(ctx, a.ID, IDTokenPatch{Type: ptr("Nope")}); !errors.Is(err, ErrInvalid) {
			t.Errorf("update to a bad type: %v", err)
		}
		if _, err := s.UpdateIDToken(ctx, "nope", IDTokenPatch{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("update missing: %v", err)
		}
		if err := s.DeleteIDToken(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteIDToken(ctx, a.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

func TestAuthorizeIDToken(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		past, future := t0.Add(-time.Hour), t0.Add(time.Hour)
		mustToken(t, s, &IDToken{Value: "OK", GroupID: ptr("G1"), ExpiresAt: &future})
		mustToken(t, s, &IDToken{Value: "BLOCKED", Status: IDTokenBlocked, ExpiresAt: &past})
		mustToken(t, s, &IDToken{Value: "EXPIRED", Status: IDTokenExpired})
		mustToken(t, s, &IDToken{Value: "OLD", ExpiresAt: &past})
		mustToken(t, s, &IDToken{Value: "INVALID", Status: IDTokenInvalid})
		mustToken(t, s, &IDToken{Value: "ONE", MaxActiveTransactions: ptr(1)})
		cases := map[string]string{
			"ok": IDTokenAccepted, "NOPE": AuthUnknown, "blocked": IDTokenBlocked, "expired": IDTokenExpired,
			"old": IDTokenExpired, "invalid": IDTokenInvalid, "one": IDTokenAccepted,
		}
		for v, want := range cases {
			a, err := s.AuthorizeIDToken(ctx, v, t0)
			if err != nil || a.Status != want {
				t.Errorf("authorize %s = %q, %v; want %q", v, a.Status, err, want)
			}
			if (a.Token == nil) != (want == AuthUnknown) {
				t.Errorf("authorize %s: token %v", v, a.Token)
			}
		}
		if a, _ := s.AuthorizeIDToken(ctx, "OK", future); a.Status != IDTokenExpired {
			t.Errorf("at expiry: %q, want Expired", a.Status)
		}

		// A transaction of ONE takes its only slot; ended, it frees it.
		res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "CP1", ConnectorID: 1, IDTag: "one", Timestamp: t0})
		if err != nil || res.Authorization.Status != IDTokenAccepted {
			t.Fatalf("start: %+v %v", res, err)
		}
		if a, _ := s.AuthorizeIDToken(ctx, "ONE", t0); a.Status != AuthConcurrentTx || a.Active != 1 {
			t.Errorf("with one active: %+v, want ConcurrentTx", a)
		}
		second, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "CP1", ConnectorID: 2, IDTag: "ONE", Timestamp: t0})
		if err != nil || second.Authorization.Status != AuthConcurrentTx || second.Transaction.ID == 0 {
			t.Fatalf("second start must be recorded and answered ConcurrentTx: %+v %v", second, err)
		}
		for _, id := range []int64{res.Transaction.ID, second.Transaction.ID} {
			if _, err := s.StopTransaction16(ctx, StopTransaction16{StationID: "CP1", TransactionID: id, Timestamp: t0.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		if a, _ := s.AuthorizeIDToken(ctx, "ONE", t0); a.Status != IDTokenAccepted {
			t.Errorf("after stop: %q, want Accepted", a.Status)
		}
	})
}

func energyOf(t *testing.T, tx *Transaction) float64 {
	t.Helper()
	if tx.EnergyWh == nil {
		t.Fatalf("transaction %d has no energy: start %v stop %v", tx.ID, tx.MeterStartWh, tx.MeterStopWh)
	}
	return *tx.EnergyWh
}

// A token without a limit is not locked by the starts that use it: the
// sessions of a shared token (a fleet card) must not queue on its row. A
// limited token still is, so that two stations cannot both take its last
// slot. Row locks are PostgreSQL's; SQLite serialises every write anyway.
func TestStartLocksOnlyLimitedTokens(t *testing.T) {
	s := openStore(t, "postgres", &clock{t: t0})
	ctx := context.Background()
	mustCreateStation(t, s, "CP1")
	mustToken(t, s, &IDToken{Value: "FLEET"})
	mustToken(t, s, &IDToken{Value: "LIMITED", MaxActiveTransactions: ptr(1)})
	holdLock := func(value string) func() {
		t.Helper()
		tx := s.db.Begin()
		var id string
		if err := tx.Raw("SELECT id FROM id_tokens WHERE value = ? FOR UPDATE", value).Scan(&id).Error; err != nil || id == "" {
			t.Fatalf("lock %s: %q %v", value, id, err)
		}
		return func() { tx.Rollback() }
	}

	release := holdLock("FLEET")
	// Bounded only so that a regression fails instead of hanging.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := s.StartTransaction16(wctx, StartTransaction16{StationID: "CP1", ConnectorID: 1, IDTag: "FLEET", MeterStartWh: 1, Timestamp: t0})
	if err != nil || res.Authorization.Status != IDTokenAccepted {
		t.Fatalf("start with an unlimited token whose row is locked = %+v, %v", res, err)
	}
	ev, err := s.RecordTransactionEvent(wctx, TransactionEvent{StationID: "CP1", TransactionUID: "T1", SeqNo: 0, EventType: EventStarted, Timestamp: t0, IDToken: "FLEET"})
	cancel()
	release()
	if err != nil || ev.Authorization == nil || ev.Authorization.Status != IDTokenAccepted {
		t.Fatalf("2.0.1 start with an unlimited token whose row is locked = %+v, %v", ev, err)
	}

	release = holdLock("LIMITED")
	wctx, cancel = context.WithTimeout(ctx, time.Second)
	_, err = s.StartTransaction16(wctx, StartTransaction16{StationID: "CP1", ConnectorID: 2, IDTag: "LIMITED", MeterStartWh: 1, Timestamp: t0})
	cancel()
	release()
	if err == nil {
		t.Fatal("a start of a limited token went ahead while another transaction held the token")
	}
	res, err = s.StartTransaction16(ctx, StartTransaction16{StationID: "CP1", ConnectorID: 2, IDTag: "LIMITED", MeterStartWh: 1, Timestamp: t0})
	if err != nil || res.Authorization.Status != IDTokenAccepted {
		t.Fatalf("start of the limited token once free = %+v, %v", res, err)
	}
}

func TestTransactions16(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustToken(t, s, &IDToken{Value: "TAG1", GroupID: ptr("PARENT")})
		start := StartTransaction16{StationID: "CP1", ConnectorID: 1, IDTag: "tag1", MeterStartWh: 1000, Timestamp: t0}
		res, err := s.StartTransaction16(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		tx := res.Transaction
		if res.Duplicate || tx.ID == 0 || tx.TransactionUID != strconv.FormatInt(tx.ID, 10) || tx.Status != TxActive ||
			tx.OCPPVersion != ocppj.V16 || tx.IDToken != "tag1" || tx.AuthStatus != IDTokenAccepted || *tx.MeterStartWh != 1000 ||
			res.Authorization.Token == nil || *res.Authorization.Token.GroupID != "PARENT" {
			t.Fatalf("start = %+v, tx %+v", res, tx)
		}
		// A retry: same transaction, nothing new.
		clk.Add(time.Second)
		again, err := s.StartTransaction16(ctx, start)
		if err != nil || !again.Duplicate || again.Transaction.ID != tx.ID || again.Authorization.Status != IDTokenAccepted {
			t.Fatalf("retried start = %+v, %v", again, err)
		}
		// Another start (other meterStart) is another transaction.
		other, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "CP1", ConnectorID: 2, IDTag: "unknown", MeterStartWh: 5, Timestamp: t0})
		if err != nil || other.Duplicate || other.Transaction.ID == tx.ID || other.Authorization.Status != AuthUnknown {
			t.Fatalf("other start = %+v, %v", other, err)
		}

		// In-transaction meter values, in kWh, sent twice.
		mv := MeterReport{StationID: "CP1", ConnectorID: 1, OCPP16TransactionID: &tx.ID, Samples: []Sample{
			{Timestamp: t0.Add(time.Minute), Value: "1.5", Unit: "kWh"},
			{Timestamp: t0.Add(time.Minute), Value: "230.1", Measurand: "Voltage", Phase: "L1-N", Unit: "V", Location: "Outlet", Context: "Sample.Periodic"},
		}}
		for range 2 {
			if err := s.RecordMeterValues(ctx, mv); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetTransaction(ctx, tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.MeterValues) != 2 || energyOf(t, got) != 500 || *got.MeterStopWh != 1500 || got.MeterStopReported {
			t.Fatalf("after meter values: %d samples, energy %v, stop %v", len(got.MeterValues), got.EnergyWh, got.MeterStopWh)
		}
		v := got.MeterValues[0]
		if v.Measurand != DefaultMeasurand || v.Context != DefaultContext || v.Location != DefaultLocation || v.Format != DefaultFormat ||
			v.Unit != "kWh" || *v.ValueWh != 1500 || v.Value != "1.5" || v.ConnectorID != 1 || *v.TransactionUID != tx.TransactionUID {
			t.Errorf("stored sample %+v", v)
		}
		if w := got.MeterValues[1]; w.Measurand != "Voltage" || w.Phase != "L1-N" || w.Unit != "V" || w.ValueWh != nil {
			t.Errorf("voltage sample %+v", w)
		}

		stop := StopTransaction16{StationID: "CP1", TransactionID: tx.ID, IDTag: "TAG1", MeterStopWh: 3000, Timestamp: t0.Add(time.Hour),
			Reason: "EVDisconnected", Samples: []Sample{{Timestamp: t0.Add(time.Hour), Value: "3000", Context: "Transaction.End"}}}
		sr, err := s.StopTransaction16(ctx, stop)
		if err != nil || sr.Duplicate || sr.Unknown {
			t.Fatalf("stop = %+v, %v", sr, err)
		}
		if st := sr.Transaction; st.Status != TxEnded || energyOf(t, st) != 2000 || !st.StoppedAt.Equal(t0.Add(time.Hour)) ||
			st.StopReason != "EVDisconnected" || st.StopIDToken != "TAG1" {
			t.Fatalf("stopped %+v", st)
		}
		// A retried stop, even with other numbers, changes nothing.
		stop.MeterStopWh = 9999
		sr2, err := s.StopTransaction16(ctx, stop)
		if err != nil || !sr2.Duplicate || energyOf(t, sr2.Transaction) != 2000 {
			t.Fatalf("retried stop = %+v, %v", sr2, err)
		}
		got, _ = s.GetTransaction(ctx, tx.ID)
		if len(got.MeterValues) != 3 || *got.MeterStopWh != 3000 {
			t.Fatalf("after retried stop: %d samples stop %v", len(got.MeterValues), *got.MeterStopWh)
		}

		// Stop without reason: Local.
		sr3, err := s.StopTransaction16(ctx, StopTransaction16{StationID: "CP1", TransactionID: other.Transaction.ID, MeterStopWh: 5, Timestamp: t0.Add(time.Hour)})
		if err != nil || sr3.Transaction.StopReason != "Local" || energyOf(t, sr3.Transaction) != 0 {
			t.Fatalf("stop other = %+v, %v", sr3.Transaction, err)
		}
	})
}

func TestUnknown16TransactionKept(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		id := int64(424242)
		// Meter values for an id the core never handed out arrive first.
		if err := s.RecordMeterValues(ctx, MeterReport{StationID: "CP1", ConnectorID: 2, OCPP16TransactionID: &id,
			Samples: []Sample{{Timestamp: t0.Add(time.Minute), Value: "100"}}}); err != nil {
			t.Fatal(err)
		}
		stop := StopTransaction16{StationID: "CP1", TransactionID: id, IDTag: "X", MeterStopWh: 350, Timestamp: t0.Add(time.Hour),
			Samples: []Sample{{Timestamp: t0.Add(30 * time.Minute), Value: "200"}}}
		sr, err := s.StopTransaction16(ctx, stop)
		if err != nil || !sr.Unknown || sr.Duplicate {
			t.Fatalf("stop unknown = %+v, %v", sr, err)
		}
		tx, err := s.GetTransaction(ctx, sr.Transaction.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tx.TransactionUID != UnknownTransactionUID(id) || tx.Status != TxEnded || tx.StartedSeen || len(tx.MeterValues) != 2 ||
			!tx.StartedAt.Equal(t0.Add(30*time.Minute)) || energyOf(t, tx) != 250 {
			t.Fatalf("kept %+v (energy %v, %d samples)", tx, tx.EnergyWh, len(tx.MeterValues))
		}
		sr2, err := s.StopTransaction16(ctx, stop)
		if err != nil || !sr2.Duplicate || sr2.Transaction.ID != tx.ID {
			t.Fatalf("retried unknown stop = %+v, %v", sr2, err)
		}
	})
}

func event(uid, typ string, seq int, at time.Time, samples ...Sample) TransactionEvent {
	return TransactionEvent{StationID: "CP1", TransactionUID: uid, EventType: typ, TriggerReason: "Authorized", SeqNo: seq, Timestamp: at, Samples: samples}
}

func TestTransactionEvents201(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustToken(t, s, &IDToken{Value: "RFID1", Type: "ISO14443", MaxActiveTransactions: ptr(1)})

		started := event("tx-a", EventStarted, 0, t0, Sample{Timestamp: t0, Value: "10", Unit: "kWh", Context: "Transaction.Begin"})
		started.IDToken, started.IDTokenType, started.EVSEID, started.ConnectorID = "RFID1", "ISO14443", 1, 1
		r, err := s.RecordTransactionEvent(ctx, started)
		if err != nil || r.Duplicate || r.Authorization == nil || r.Authorization.Status != IDTokenAccepted {
			t.Fatalf("started = %+v, %v", r, err)
		}
		if tx := r.Transaction; tx.OCPPVersion != ocppj.V201 || tx.EVSEID != 1 || tx.ConnectorID != 1 || tx.IDToken != "RFID1" ||
			!tx.StartedSeen || *tx.MeterStartWh != 10000 || !tx.MeterStartReported || tx.Status != TxActive {
			t.Fatalf("started tx %+v", tx)
		}
		// The started transaction itself does not count against the limit
		// when a later event repeats the token.
		upd := event("tx-a", EventUpdated, 1, t0.Add(time.Minute), Sample{Timestamp: t0.Add(time.Minute), Value: "10500"})
		upd.IDToken, upd.IDTokenType, upd.Offline = "RFID1", "ISO14443", true
		r, err = s.RecordTransactionEvent(ctx, upd)
		if err != nil || r.Authorization.Status != IDTokenAccepted || energyOf(t, r.Transaction) != 500 || !r.Transaction.Offline {
			t.Fatalf("updated = %+v %+v, %v", r, r.Transaction, err)
		}
		// A retry (same seqNo): duplicate, same answer, nothing twice.
		clk.Add(time.Second)
		r, err = s.RecordTransactionEvent(ctx, upd)
		if err != nil || !r.Duplicate || r.Authorization.Status != IDTokenAccepted || r.Transaction.SeqNo != 1 {
			t.Fatalf("duplicate = %+v, %v", r, err)
		}
		// Another transaction of the same token is over its limit.
		other := event("tx-b", EventStarted, 0, t0)
		other.IDToken, other.IDTokenType = "rfid1", "ISO14443"
		if r, err := s.RecordTransactionEvent(ctx, other); err != nil || r.Authorization.Status != AuthConcurrentTx {
			t.Fatalf("second transaction: %+v, %v", r, err)
		}

		ended := event("tx-a", EventEnded, 2, t0.Add(time.Hour), Sample{Timestamp: t0.Add(time.Hour), Value: "12.25", Unit: "kWh", Context: "Transaction.End"})
		ended.StoppedReason = "EVDisconnected"
		r, err = s.RecordTransactionEvent(ctx, ended)
		if err != nil || r.Authorization != nil {
			t.Fatalf("ended = %+v, %v", r, err)
		}
		tx, err := s.GetTransactionByUID(ctx, "CP1", "tx-a")
		if err != nil {
			t.Fatal(err)
		}
		if tx.Status != TxEnded || energyOf(t, tx) != 2250 || tx.StopReason != "EVDisconnected" || !tx.StoppedAt.Equal(t0.Add(time.Hour)) ||
			tx.SeqNo != 2 || len(tx.MeterValues) != 3 || !tx.MeterStopReported {
			t.Fatalf("ended tx %+v (%d samples)", tx, len(tx.MeterValues))
		}
	})
}

// Events arrive in any order; the result is the same.
func TestTransactionEventsOutOfOrder(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		ended := event("late", EventEnded, 3, t0.Add(time.Hour), Sample{Timestamp: t0.Add(time.Hour), Value: "5000", Context: "Transaction.End"})
		ended.EVSEID, ended.ConnectorID = 2, 1
		r, err := s.RecordTransactionEvent(ctx, ended)
		if err != nil {
			t.Fatal(err)
		}
		if tx := r.Transaction; tx.Status != TxEnded || tx.StartedSeen || !tx.StartedAt.Equal(t0.Add(time.Hour)) || tx.EVSEID != 2 ||
			tx.StopReason != "Local" || tx.EnergyWh == nil || *tx.EnergyWh != 0 {
			t.Fatalf("from Ended alone: %+v", tx)
		}
		upd := event("late", EventUpdated, 1, t0.Add(30*time.Minute), Sample{Timestamp: t0.Add(30 * time.Minute), Value: "3000"})
		if _, err := s.RecordTransactionEvent(ctx, upd); err != nil {
			t.Fatal(err)
		}
		st := event("late", EventStarted, 0, t0, Sample{Timestamp: t0, Value: "1000"})
		st.IDToken, st.IDTokenType = "T", "Central"
		r, err = s.RecordTransactionEvent(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		tx := r.Transaction
		if tx.Status != TxEnded || !tx.StartedSeen || !tx.StartedAt.Equal(t0) || energyOf(t, tx) != 4000 || tx.SeqNo != 3 ||
			tx.EVSEID != 2 || tx.IDToken != "T" || r.Authorization.Status != AuthUnknown {
			t.Fatalf("completed out of order: %+v", tx)
		}
	})
}

func TestEnergyAcrossMeterReset(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "CP1", ConnectorID: 1, IDTag: "A", MeterStartWh: 900, Timestamp: t0})
		if err != nil {
			t.Fatal(err)
		}
		id := res.Transaction.ID
		if err := s.RecordMeterValues(ctx, MeterReport{StationID: "CP1", ConnectorID: 1, OCPP16TransactionID: &id, Samples: []Sample{
			{Timestamp: t0.Add(1 * time.Minute), Value: "950"},
			{Timestamp: t0.Add(2 * time.Minute), Value: "20"},
			{Timestamp: t0.Add(3 * time.Minute), Value: "80"},
		}}); err != nil {
			t.Fatal(err)
		}
		sr, err := s.StopTransaction16(ctx, StopTransaction16{StationID: "CP1", TransactionID: id, MeterStopWh: 100, Timestamp: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if e := energyOf(t, sr.Transaction); e != 130 {
			t.Fatalf("energy across a reset = %v, want 130", e)
		}
	})
}

func TestListTransactions(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		var ids []int64
		for i := range 5 {
			st := "CP1"
			if i%2 == 1 {
				st = "CP2"
			}
			res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: st, ConnectorID: 1, IDTag: fmt.Sprintf("TAG%d", i%2), Timestamp: t0.Add(time.Duration(i) * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.Transaction.ID)
		}
		if _, err := s.StopTransaction16(ctx, StopTransaction16{StationID: "CP1", TransactionID: ids[0], Timestamp: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		count := func(f TransactionFilter) int64 {
			t.Helper()
			_, total, err := s.ListTransactions(ctx, f, Page{})
			if err != nil {
				t.Fatal(err)
			}
			return total
		}
		checks := []struct {
			f    TransactionFilter
			want int64
		}{
			{TransactionFilter{}, 5},
			{TransactionFilter{StationID: "CP1"}, 3},
			{TransactionFilter{IDToken: "tag1"}, 2},
			{TransactionFilter{Active: ptr(true)}, 4},
			{TransactionFilter{Active: ptr(false)}, 1},
			{TransactionFilter{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)}, 2},
		}
		for _, c := range checks {
			if got := count(c.f); got != c.want {
				t.Errorf("filter %+v matched %d, want %d", c.f, got, c.want)
			}
		}
		page, _, err := s.ListTransactions(ctx, TransactionFilter{}, Page{Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
			t.Fatalf("first page %v, %v", page, err)
		}
		page, _, err = s.ListTransactions(ctx, TransactionFilter{}, Page{Limit: 2, AfterID: strconv.FormatInt(page[1].ID, 10)})
		if err != nil || len(page) != 2 || page[0].ID != ids[2] {
			t.Fatalf("second page %v, %v", page, err)
		}
		if _, _, err := s.ListTransactions(ctx, TransactionFilter{}, Page{AfterID: "x"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad cursor: %v", err)
		}
		active, err := s.ActiveTransactions(ctx, "CP1")
		if err != nil || len(active) != 2 || active[0].ID != ids[2] {
			t.Fatalf("active = %v, %v", active, err)
		}
		if _, err := s.GetTransaction(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing transaction: %v", err)
		}
		if _, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "NOPE", Timestamp: t0}); !errors.Is(err, ErrNotFound) {
			t.Errorf("start on unknown station: %v", err)
		}
	})
}

func TestMeterBatcher(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		b := s.NewMeterBatcher(MeterBatcherConfig{MaxBatch: 16})
		const callers = 40
		var wg sync.WaitGroup
		errs := make(chan error, 2*callers)
		for i := range callers {
			for range 2 { // every report twice, as a retry would
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- b.RecordMeterValues(ctx, MeterReport{StationID: "CP1", EVSEID: 1, Samples: []Sample{
						{Timestamp: t0.Add(time.Duration(i) * time.Second), Value: strconv.Itoa(i)},
					}})
				}()
			}
		}
		// A report for a station that does not exist fails alone.
		badErr := b.RecordMeterValues(ctx, MeterReport{StationID: "GONE", Samples: []Sample{{Timestamp: t0, Value: "1"}}})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("record: %v", err)
			}
		}
		if !errors.Is(badErr, ErrNotFound) {
			t.Errorf("unknown station: %v, want ErrNotFound", badErr)
		}
		// Returned means committed: the rows are there now.
		var n int64
		if err := s.db.Model(&MeterValue{}).Where("station_id = ?", "CP1").Count(&n).Error; err != nil || n != callers {
			t.Errorf("stored %d readings, want %d (%v)", n, callers, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.RecordMeterValues(ctx, MeterReport{StationID: "CP1", Samples: []Sample{{Timestamp: t0, Value: "1"}}}); !errors.Is(err, ErrClosed) {
			t.Errorf("after close: %v", err)
		}
	})
}
