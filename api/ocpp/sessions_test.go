package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func ptrTo[T any](v T) *T { return &v }

func (h *harness) token(tok store.IDToken) {
	h.t.Helper()
	if err := h.store.CreateIDToken(context.Background(), &tok); err != nil {
		h.t.Fatal(err)
	}
}

// deliver hands the router one CALL envelope with a fixed message id, as
// the bus would (again, on redelivery), and returns the reply.
func (h *harness) deliver(v ocppj.Version, id, action, payload string) ocppj.Frame {
	h.t.Helper()
	frame, err := ocppj.EncodeCall(id, action, json.RawMessage(payload))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.router.HandleUpstream(context.Background(), h.frameEnvelope(v, frame)); err != nil {
		h.t.Fatalf("HandleUpstream: %v", err)
	}
	return h.reply(v)
}

func (h *harness) transaction(id int64) *store.Transaction {
	h.t.Helper()
	tx, err := h.store.GetTransaction(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return tx
}

func (h *harness) transactionByUID(uid string) *store.Transaction {
	h.t.Helper()
	tx, err := h.store.GetTransactionByUID(context.Background(), stationID, uid)
	if err != nil {
		h.t.Fatal(err)
	}
	return tx
}

func (h *harness) transactionCount() int64 {
	h.t.Helper()
	_, total, err := h.store.ListTransactions(context.Background(), store.TransactionFilter{StationID: stationID}, store.Page{})
	if err != nil {
		h.t.Fatal(err)
	}
	return total
}

func TestAuthorizeStatuses(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			past, future := testNow.Add(-time.Hour), testNow.Add(time.Hour)
			h.token(store.IDToken{Value: "GOOD", GroupID: ptrTo("FLEET"), ExpiresAt: &future})
			h.token(store.IDToken{Value: "BLOCKED", Status: store.IDTokenBlocked})
			h.token(store.IDToken{Value: "EXPIRED", Status: store.IDTokenExpired})
			h.token(store.IDToken{Value: "LAPSED", ExpiresAt: &past})
			h.token(store.IDToken{Value: "SINGLE", MaxActiveTransactions: ptrTo(1)})
			// SINGLE is charging already.
			var start ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction",
				`{"connectorId":1,"idTag":"SINGLE","meterStart":0,"timestamp":"2025-03-04T05:00:00Z"}`), &start)
			if start.IdTagInfo.Status != ocpp16.AuthorizationStatusAccepted {
				t.Fatalf("start for SINGLE: %+v", start)
			}
			cases := []struct{ tag, v16, v201 string }{
				{"GOOD", "Accepted", "Accepted"},
				{"good", "Accepted", "Accepted"},
				{"NOBODY", "Invalid", "Unknown"},
				{"BLOCKED", "Blocked", "Blocked"},
				{"EXPIRED", "Expired", "Expired"},
				{"LAPSED", "Expired", "Expired"},
				{"SINGLE", "ConcurrentTx", "ConcurrentTx"},
			}
			for _, c := range cases {
				var r16 ocpp16.AuthorizeResponse
				h.result(ocppj.V16, "Authorize", h.call(ocppj.V16, "Authorize", fmt.Sprintf(`{"idTag":%q}`, c.tag)), &r16)
				if string(r16.IdTagInfo.Status) != c.v16 {
					t.Errorf("1.6 %s: %s, want %s", c.tag, r16.IdTagInfo.Status, c.v16)
				}
				var r201 ocpp201.AuthorizeResponse
				h.result(ocppj.V201, "Authorize", h.call(ocppj.V201, "Authorize",
					fmt.Sprintf(`{"idToken":{"idToken":%q,"type":"ISO14443"}}`, c.tag)), &r201)
				if string(r201.IdTokenInfo.Status) != c.v201 {
					t.Errorf("2.0.1 %s: %s, want %s", c.tag, r201.IdTokenInfo.Status, c.v201)
				}
				if c.tag == "GOOD" {
					if r16.IdTagInfo.ParentIdTag != "FLEET" || !r16.IdTagInfo.ExpiryDate.Equal(future) {
						t.Errorf("1.6 GOOD info %+v", r16.IdTagInfo)
					}
					if g := r201.IdTokenInfo.GroupIdToken; g == nil || g.IdToken != "FLEET" || !r201.IdTokenInfo.CacheExpiryDateTime.Equal(future) {
						t.Errorf("2.0.1 GOOD info %+v", r201.IdTokenInfo)
					}
				}
			}
			var free ocpp201.AuthorizeResponse
			h.result(ocppj.V201, "Authorize", h.call(ocppj.V201, "Authorize", `{"idToken":{"idToken":"","type":"NoAuthorization"}}`), &free)
			if free.IdTokenInfo.Status != ocpp201.AuthorizationStatusAccepted {
				t.Errorf("NoAuthorization: %s", free.IdTokenInfo.Status)
			}
		})
	}
}

// TestSession16 runs a 1.6 session with every transaction message retried
// under a new message id, and meter values that arrive before the
// transaction they belong to is known.
func TestSession16(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			h.token(store.IDToken{Value: "CARD"})
			startReq := `{"connectorId":1,"idTag":"CARD","meterStart":12000,"timestamp":"2025-03-04T05:00:00Z"}`
			var first, retry ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction", startReq), &first)
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction", startReq), &retry)
			if first.TransactionId == 0 || retry != first || first.IdTagInfo.Status != ocpp16.AuthorizationStatusAccepted {
				t.Fatalf("start %+v, retry %+v", first, retry)
			}
			id := first.TransactionId
			mv := fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"2025-03-04T05:30:00Z","sampledValue":[
				{"value":"12.5","unit":"kWh","measurand":"Energy.Active.Import.Register","context":"Sample.Periodic","location":"Outlet"},
				{"value":"16.1","measurand":"Current.Import","phase":"L1","unit":"A"},
				{"value":"16.3","measurand":"Current.Import","phase":"L2","unit":"A"}]}]}`, id)
			for range 2 {
				h.result(ocppj.V16, "MeterValues", h.call(ocppj.V16, "MeterValues", mv), nil)
			}
			// Outside a transaction: kept, linked to none.
			h.result(ocppj.V16, "MeterValues", h.call(ocppj.V16, "MeterValues",
				`{"connectorId":0,"meterValue":[{"timestamp":"2025-03-04T05:30:00Z","sampledValue":[{"value":"99999"}]}]}`), nil)

			stopReq := fmt.Sprintf(`{"transactionId":%d,"idTag":"CARD","meterStop":15500,"timestamp":"2025-03-04T06:00:00Z","reason":"EVDisconnected",
				"transactionData":[{"timestamp":"2025-03-04T06:00:00Z","sampledValue":[{"value":"15500","context":"Transaction.End"}]}]}`, id)
			for range 2 {
				var stop ocpp16.StopTransactionResponse
				h.result(ocppj.V16, "StopTransaction", h.call(ocppj.V16, "StopTransaction", stopReq), &stop)
				if stop.IdTagInfo == nil || stop.IdTagInfo.Status != ocpp16.AuthorizationStatusAccepted {
					t.Fatalf("stop answer %+v", stop)
				}
			}
			if n := h.transactionCount(); n != 1 {
				t.Fatalf("%d transactions, want 1", n)
			}
			tx := h.transaction(int64(id))
			if tx.Status != store.TxEnded || tx.EnergyWh == nil || *tx.EnergyWh != 3500 || len(tx.MeterValues) != 4 ||
				tx.StopReason != "EVDisconnected" || tx.IDToken != "CARD" || !tx.StoppedAt.Equal(time.Date(2025, 3, 4, 6, 0, 0, 0, time.UTC)) {
				t.Fatalf("transaction %+v (energy %v, %d samples)", tx, tx.EnergyWh, len(tx.MeterValues))
			}
			if c := tx.MeterValues[1]; c.Measurand != "Current.Import" || c.Phase != "L1" || c.Unit != "A" || c.Value != "16.1" {
				t.Errorf("current sample %+v", c)
			}

			// An unknown transactionId is still answered and its data kept.
			h.result(ocppj.V16, "MeterValues", h.call(ocppj.V16, "MeterValues",
				`{"connectorId":2,"transactionId":777777,"meterValue":[{"timestamp":"2025-03-04T05:10:00Z","sampledValue":[{"value":"100"}]}]}`), nil)
			h.result(ocppj.V16, "StopTransaction", h.call(ocppj.V16, "StopTransaction",
				`{"transactionId":777777,"meterStop":400,"timestamp":"2025-03-04T06:00:00Z"}`), nil)
			orphan := h.transactionByUID(store.UnknownTransactionUID(777777))
			if orphan.Status != store.TxEnded || len(orphan.MeterValues) != 1 || orphan.EnergyWh == nil || *orphan.EnergyWh != 300 {
				t.Fatalf("unknown transaction kept as %+v", orphan)
			}
		})
	}
}

// TestRedelivery: the bus delivers the same envelope again (the core died
// before acking): nothing changes and the answer is the same.
func TestRedelivery(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			start := `{"connectorId":1,"idTag":"ANY","meterStart":100,"timestamp":"2025-03-04T05:00:00Z"}`
			a := h.deliver(ocppj.V16, "s1", "StartTransaction", start)
			b := h.deliver(ocppj.V16, "s1", "StartTransaction", start)
			if string(a.Payload) != string(b.Payload) {
				t.Fatalf("redelivered start answered %s, first %s", b.Payload, a.Payload)
			}
			var resp ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", a, &resp)
			ev := `{"eventType":"Started","timestamp":"2025-03-04T05:00:00Z","triggerReason":"Authorized","seqNo":0,
				"transactionInfo":{"transactionId":"R1"},"idToken":{"idToken":"ANY","type":"ISO14443"},
				"meterValue":[{"timestamp":"2025-03-04T05:00:00Z","sampledValue":[{"value":1000,"context":"Transaction.Begin"}]}]}`
			a = h.deliver(ocppj.V201, "e1", "TransactionEvent", ev)
			b = h.deliver(ocppj.V201, "e1", "TransactionEvent", ev)
			if string(a.Payload) != string(b.Payload) {
				t.Fatalf("redelivered event answered %s, first %s", b.Payload, a.Payload)
			}
			stop := fmt.Sprintf(`{"transactionId":%d,"meterStop":600,"timestamp":"2025-03-04T06:00:00Z"}`, resp.TransactionId)
			h.deliver(ocppj.V16, "s2", "StopTransaction", stop)
			h.deliver(ocppj.V16, "s2", "StopTransaction", stop)
			if n := h.transactionCount(); n != 2 {
				t.Fatalf("%d transactions, want 2", n)
			}
			if tx := h.transactionByUID("R1"); len(tx.MeterValues) != 1 || *tx.MeterStartWh != 1000 {
				t.Fatalf("2.0.1 transaction after redelivery %+v", tx)
			}
			if tx := h.transaction(int64(resp.TransactionId)); *tx.EnergyWh != 500 {
				t.Fatalf("1.6 energy %v", *tx.EnergyWh)
			}
		})
	}
}

// TestCrashBetweenCommitAndReply: StopTransaction is committed but its
// reply cannot be published (HandleUpstream fails, so the bus would
// redeliver); processed again with a working bus it ends the transaction
// exactly once, with the same energy.
func TestCrashBetweenCommitAndReply(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			var start ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction",
				`{"connectorId":1,"idTag":"T","meterStart":1000,"timestamp":"2025-03-04T05:00:00Z"}`), &start)
			stop := fmt.Sprintf(`{"transactionId":%d,"meterStop":4200,"timestamp":"2025-03-04T06:00:00Z","reason":"Local",
				"transactionData":[{"timestamp":"2025-03-04T06:00:00Z","sampledValue":[{"value":"4200"}]}]}`, start.TransactionId)
			frame, _ := ocppj.EncodeCall("stop-1", "StopTransaction", json.RawMessage(stop))
			env := h.frameEnvelope(ocppj.V16, frame)

			dead := inproc.New(inproc.Config{Logger: quietLogger()})
			_ = dead.Close()
			h.router.bus = dead
			if err := h.router.HandleUpstream(context.Background(), env); err == nil {
				t.Fatal("HandleUpstream succeeded although the reply could not be sent")
			}
			tx := h.transaction(int64(start.TransactionId))
			if tx.Status != store.TxEnded || *tx.EnergyWh != 3200 {
				t.Fatalf("after the first attempt %+v", tx)
			}
			firstUpdate := tx.UpdatedAt

			h.router.bus = h.bus
			if err := h.router.HandleUpstream(context.Background(), env); err != nil {
				t.Fatal(err)
			}
			h.result(ocppj.V16, "StopTransaction", h.reply(ocppj.V16), nil)
			tx = h.transaction(int64(start.TransactionId))
			if tx.Status != store.TxEnded || *tx.EnergyWh != 3200 || len(tx.MeterValues) != 1 || !tx.UpdatedAt.Equal(firstUpdate) {
				t.Fatalf("after redelivery %+v (%d samples)", tx, len(tx.MeterValues))
			}
		})
	}
}

func txEvent(typ string, seq int, at string, extra string) string {
	return fmt.Sprintf(`{"eventType":%q,"timestamp":%q,"triggerReason":"MeterValuePeriodic","seqNo":%d,
		"transactionInfo":{"transactionId":"TX-9"%s}%s}`, typ, at, seq, map[bool]string{true: `,"stoppedReason":"EVDisconnected"`}[typ == "Ended"], extra)
}

func register(at string, kwh float64, ctx string) string {
	return fmt.Sprintf(`,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":%g,"context":%q,"unitOfMeasure":{"unit":"kWh"}}]}]`, at, kwh, ctx)
}

// TestSession201 sends a 2.0.1 session in order with retries, and the same
// session as an offline backlog in reverse order: both end the same.
func TestSession201(t *testing.T) {
	events := []string{
		txEvent("Started", 0, "2025-03-04T05:00:00Z", register("2025-03-04T05:00:00Z", 20, "Transaction.Begin")+
			`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`),
		txEvent("Updated", 1, "2025-03-04T05:30:00Z", register("2025-03-04T05:30:00Z", 21.5, "Sample.Periodic")),
		txEvent("Ended", 2, "2025-03-04T06:00:00Z", register("2025-03-04T06:00:00Z", 23.25, "Transaction.End")),
	}
	check := func(t *testing.T, tx *store.Transaction) {
		t.Helper()
		if tx.Status != store.TxEnded || !tx.StartedSeen || tx.EnergyWh == nil || *tx.EnergyWh != 3250 || len(tx.MeterValues) != 3 ||
			tx.EVSEID != 1 || tx.ConnectorID != 1 || tx.IDToken != "APP-1" || tx.StopReason != "EVDisconnected" || tx.SeqNo != 2 ||
			!tx.StartedAt.Equal(time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)) {
			t.Fatalf("transaction %+v (energy %v, %d samples)", tx, tx.EnergyWh, len(tx.MeterValues))
		}
	}
	for _, db := range databases {
		t.Run(db+"/in order with retries", func(t *testing.T) {
			h := newHarness(t, db)
			h.token(store.IDToken{Value: "APP-1"})
			for _, ev := range events {
				for range 2 {
					var resp ocpp201.TransactionEventResponse
					h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", ev), &resp)
					if (resp.IdTokenInfo != nil) != (ev == events[0]) {
						t.Fatalf("idTokenInfo %+v for %s", resp.IdTokenInfo, ev)
					}
					if resp.IdTokenInfo != nil && resp.IdTokenInfo.Status != ocpp201.AuthorizationStatusAccepted {
						t.Fatalf("idTokenInfo %+v", resp.IdTokenInfo)
					}
				}
			}
			check(t, h.transactionByUID("TX-9"))
			if n := h.transactionCount(); n != 1 {
				t.Fatalf("%d transactions", n)
			}
		})
		t.Run(db+"/offline backlog, Ended first", func(t *testing.T) {
			h := newHarness(t, db)
			h.token(store.IDToken{Value: "APP-1"})
			for i := len(events) - 1; i >= 0; i-- {
				ev := events[i][:len(events[i])-1] + `,"offline":true}`
				h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", ev), nil)
				if i == len(events)-1 {
					// Ended before Started: recorded from what is known.
					if tx := h.transactionByUID("TX-9"); tx.Status != store.TxEnded || tx.StartedSeen {
						t.Fatalf("from Ended alone: %+v", tx)
					}
				}
			}
			tx := h.transactionByUID("TX-9")
			check(t, tx)
			if !tx.Offline {
				t.Fatal("offline flag lost")
			}
		})
	}
}

func TestMeterValues201(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			req := `{"evseId":0,"meterValue":[{"timestamp":"2025-03-04T05:00:00Z","sampledValue":[
				{"value":1234.5,"location":"Inlet","unitOfMeasure":{"unit":"Wh","multiplier":3}},
				{"value":229.9,"measurand":"Voltage","phase":"L1-N","unitOfMeasure":{"unit":"V"}}]}]}`
			for range 2 {
				h.result(ocppj.V201, "MeterValues", h.call(ocppj.V201, "MeterValues", req), nil)
			}
			var rows []store.MeterValue
			if err := h.countMeterValues(&rows); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d readings stored, want 2", len(rows))
			}
			r := rows[0]
			if r.TransactionUID != nil || r.EVSEID != 0 || r.Location != "Inlet" || r.Multiplier != 3 || r.ValueWh == nil || *r.ValueWh != 1234500 {
				t.Errorf("main meter reading %+v", r)
			}
		})
	}
}

func (h *harness) countMeterValues(out *[]store.MeterValue) error {
	var err error
	*out, err = h.store.ListMeterValues(context.Background(), store.MeterValueFilter{StationID: stationID}, 0)
	return err
}

// TestMeterValuesGroupCommit drives concurrent MeterValues through the
// router with the batcher, each sent twice: every one is answered after its
// commit and nothing is stored twice.
func TestMeterValuesGroupCommit(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			batcher := h.store.NewMeterBatcher(store.MeterBatcherConfig{MaxBatch: 8})
			defer batcher.Close()
			h.router = NewRouter(Deps{Store: h.store, Bus: h.bus, Schemas: h.schemas, Now: func() time.Time { return testNow },
				Logger: quietLogger(), ValidateResponses: true, Meters: batcher})
			var start ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction",
				`{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"2025-03-04T05:00:00Z"}`), &start)

			const n = 30
			var wg sync.WaitGroup
			errs := make(chan error, 2*n)
			for i := range n {
				for try := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						at := time.Date(2025, 3, 4, 5, 0, i+1, 0, time.UTC).Format(time.RFC3339)
						payload := fmt.Sprintf(`{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":%q,"sampledValue":[{"value":"%d"}]}]}`,
							start.TransactionId, at, (i+1)*10)
						frame, _ := ocppj.EncodeCall("mv-"+strconv.Itoa(i)+"-"+strconv.Itoa(try), "MeterValues", json.RawMessage(payload))
						errs <- h.router.HandleUpstream(context.Background(), h.frameEnvelope(ocppj.V16, frame))
					}()
				}
			}
			replies := 0
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for replies < 2*n {
				f := h.reply(ocppj.V16)
				h.result(ocppj.V16, "MeterValues", f, nil)
				replies++
			}
			<-done
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			tx := h.transaction(int64(start.TransactionId))
			if len(tx.MeterValues) != n || tx.EnergyWh == nil || *tx.EnergyWh != n*10 {
				t.Fatalf("%d readings, energy %v; want %d and %d", len(tx.MeterValues), tx.EnergyWh, n, n*10)
			}
		})
	}
}
