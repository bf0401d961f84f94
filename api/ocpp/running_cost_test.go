package ocpp

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/runningcost"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// connect records the harness's station as connected on version v.
func (h *harness) connect(v ocppj.Version) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.store.RecordAdmission(ctx, store.ConnectionEvent{StationID: stationID, GatewayID: gatewayID,
		ConnectionID: connID, OCPPVersion: v, At: testNow}); err != nil {
		h.t.Fatal(err)
	}
	if err := h.router.HandleUpstream(ctx, &busv1.Envelope{Kind: busv1.Kind_KIND_CONNECTED, StationId: stationID,
		GatewayId: gatewayID, ConnectionId: connID, OcppVersion: bus.EnvelopeVersion(v)}); err != nil {
		h.t.Fatal(err)
	}
}

// sentActions are the CALLs the station got, from the n-th on.
func (c *stationCaller) sentFrom(n int) []command.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]command.Request(nil), c.sent[n:]...)
}

// lateFinalCosts lets a harness's router reach a service built on the
// harness's own store.
type lateFinalCosts struct{ svc *runningcost.Service }

func (l *lateFinalCosts) Ended(t store.Transaction, p tariff.Price) { l.svc.Ended(t, p) }

// TestRunningCost201: a 2.0.1 station whose device model says it shows
// the cost gets the running cost of its priced transaction through the
// command table (schema-valid, in its command history), once per change,
// once however many core instances sweep, and none once it ended.
func TestRunningCost201(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, db)
			h.connect(ocppj.V201)
			if err := h.store.PutTariff(ctx, &store.Tariff{StationID: stationID, Currency: "EUR", PerKWh: 0.5}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.RecordReportPart(ctx, store.ReportPart{StationID: stationID, RequestID: 1, GeneratedAt: testNow,
				Data: json.RawMessage(`[{"component":{"name":"TariffCostCtrlr"},"variable":{"name":"Enabled","instance":"Cost"},
					"variableAttribute":[{"type":"Actual","value":"true"}]}]`)}); err != nil {
				t.Fatal(err)
			}
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				register("2025-03-04T05:00:00Z", 20, "Transaction.Begin")+`,"evse":{"id":1,"connectorId":1}`)), nil)
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Updated", 1, "2025-03-04T05:10:00Z",
				register("2025-03-04T05:10:00Z", 21.5, "Sample.Periodic"))), nil)

			var mu sync.Mutex
			now := testNow
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			c := &stationCaller{t: t, v: ocppj.V201, schemas: h.schemas, answers: map[string]string{"CostUpdated": `{}`}}
			cmds := command.NewSender(c, CommandTables(h.store, clock), quietLogger())
			core := func() *runningcost.Service {
				return runningcost.New(runningcost.Config{Store: h.store, Costs: tariff.Coster{Store: h.store, Now: clock},
					Sender: runningcost.CommandSender{Commands: cmds, Store: h.store}, Now: clock, Interval: time.Minute, Logger: quietLogger()})
			}
			a, b := core(), core()

			a.Sweep(ctx)
			if got := c.sentFrom(0); len(got) != 1 || got[0].Action != "CostUpdated" ||
				string(got[0].Payload.(json.RawMessage)) != `{"totalCost":0.75,"transactionId":"TX-9"}` {
				t.Fatalf("sent %v, want CostUpdated of 1.5 kWh × 0.5", got)
			}
			if tx := h.transactionByUID("TX-9"); tx.RunningCostSent == nil || *tx.RunningCostSent != 0.75 {
				t.Errorf("recorded as sent: %v", tx.RunningCostSent)
			}
			// Unchanged: neither instance sends it again, even once the
			// interval is over.
			mu.Lock()
			now = now.Add(time.Minute)
			mu.Unlock()
			a.Sweep(ctx)
			b.Sweep(ctx)
			if got := c.sentFrom(1); len(got) != 0 {
				t.Errorf("unchanged cost sent again: %v", got)
			}

			// Changed, two instances sweeping at once: one update.
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Updated", 2, "2025-03-04T05:20:00Z",
				register("2025-03-04T05:20:00Z", 23, "Sample.Periodic"))), nil)
			var wg sync.WaitGroup
			for _, s := range []*runningcost.Service{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); s.Sweep(ctx) }()
			}
			wg.Wait()
			if got := c.sentFrom(1); len(got) != 1 || string(got[0].Payload.(json.RawMessage)) != `{"totalCost":1.5,"transactionId":"TX-9"}` {
				t.Errorf("two instances sent %v, want one CostUpdated of 1.5", got)
			}

			// A cost changed within the interval waits for it.
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Updated", 3, "2025-03-04T05:30:00Z",
				register("2025-03-04T05:30:00Z", 24, "Sample.Periodic"))), nil)
			a.Sweep(ctx)
			if got := c.sentFrom(2); len(got) != 0 {
				t.Errorf("sent within the interval: %v", got)
			}
			mu.Lock()
			now = now.Add(time.Minute)
			mu.Unlock()
			b.Sweep(ctx)
			if got := c.sentFrom(2); len(got) != 1 || string(got[0].Payload.(json.RawMessage)) != `{"totalCost":2,"transactionId":"TX-9"}` {
				t.Errorf("after the interval: %v", got)
			}

			// Ended: nothing more.
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Ended", 4, "2025-03-04T05:40:00Z",
				register("2025-03-04T05:40:00Z", 25, "Transaction.End"))), nil)
			mu.Lock()
			now = now.Add(time.Hour)
			mu.Unlock()
			a.Sweep(ctx)
			if got := c.sentFrom(3); len(got) != 0 {
				t.Errorf("sent after the end: %v", got)
			}
		})
	}
}

// TestRunningCost16: a 1.6 station whose CustomDisplayCostAndPrice is
// true (asked with GetConfiguration) gets RunningCost during its
// transaction and FinalCost after StopTransaction, as DataTransfer of the
// OCA California Pricing note; one that says false gets neither.
func TestRunningCost16(t *testing.T) {
	for _, db := range databases {
		for _, shows := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/shows=%v", db, shows), func(t *testing.T) {
				ctx := context.Background()
				final := &lateFinalCosts{}
				h := newHarness(t, db, func(d *Deps) { d.FinalCosts = final })
				h.connect(ocppj.V16)
				if err := h.store.PutTariff(ctx, &store.Tariff{StationID: stationID, Currency: "USD", PerKWh: 0.4, PerSession: 1}); err != nil {
					t.Fatal(err)
				}
				c := &stationCaller{t: t, v: ocppj.V16, schemas: h.schemas, answers: map[string]string{
					"GetConfiguration": fmt.Sprintf(`{"configurationKey":[{"key":"CustomDisplayCostAndPrice","readonly":true,"value":"%v"}]}`, shows),
					"DataTransfer":     `{"status":"Accepted"}`,
				}}
				cmds := tableSender(c, h.store)
				svc := runningcost.New(runningcost.Config{Store: h.store, Costs: tariff.Coster{Store: h.store, Now: func() time.Time { return testNow }},
					Sender: runningcost.CommandSender{Commands: cmds, Store: h.store}, Now: func() time.Time { return testNow },
					Interval: time.Minute, Send16: true, Logger: quietLogger()})
				final.svc = svc
				runCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				svc.Start(runCtx)

				var start ocpp16.StartTransactionResponse
				h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction",
					`{"connectorId":1,"idTag":"CARD","meterStart":12000,"timestamp":"2025-03-04T05:00:00Z"}`), &start)
				h.result(ocppj.V16, "MeterValues", h.call(ocppj.V16, "MeterValues", fmt.Sprintf(`{"connectorId":1,"transactionId":%d,
					"meterValue":[{"timestamp":"2025-03-04T05:30:00Z","sampledValue":[{"value":"14500","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}`,
					start.TransactionId)), nil)
				svc.Sweep(ctx)
				got := c.sentFrom(0)
				if !shows {
					if len(got) != 1 || got[0].Action != "GetConfiguration" {
						t.Fatalf("sent %v, want only the question", got)
					}
				} else {
					if len(got) != 2 || got[0].Action != "GetConfiguration" || got[1].Action != "DataTransfer" {
						t.Fatalf("sent %v, want GetConfiguration then DataTransfer", got)
					}
					var dt ocpp16.DataTransferRequest
					var data map[string]any
					if err := json.Unmarshal(got[1].Payload.(json.RawMessage), &dt); err != nil || json.Unmarshal([]byte(dt.Data), &data) != nil {
						t.Fatalf("DataTransfer %s: %v", got[1].Payload, err)
					}
					// 1 + 2.5 kWh × 0.4
					if dt.VendorId != "org.openchargealliance.costmsg" || dt.MessageId != "RunningCost" || data["transactionId"] != float64(start.TransactionId) ||
						data["cost"] != float64(2) || data["meterValue"] != float64(14500) || data["state"] != "Charging" || data["timestamp"] != "2025-03-04T05:06:07Z" {
						t.Errorf("RunningCost %s", got[1].Payload)
					}
				}

				h.result(ocppj.V16, "StopTransaction", h.call(ocppj.V16, "StopTransaction", fmt.Sprintf(
					`{"transactionId":%d,"meterStop":15000,"timestamp":"2025-03-04T06:00:00Z"}`, start.TransactionId)), nil)
				// The final cost goes out after the answer, in the background;
				// stopping the service first would drop it (as a shutdown
				// does), so wait for it before stopping.
				before := len(got)
				for deadline := time.Now().Add(10 * time.Second); shows && len(c.sentFrom(before)) == 0 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				svc.Wait()
				got = c.sentFrom(before)
				if !shows {
					if len(got) != 0 {
						t.Errorf("after the stop: sent %v", got)
					}
					return
				}
				var dt ocpp16.DataTransferRequest
				var data map[string]any
				if len(got) != 1 || json.Unmarshal(got[0].Payload.(json.RawMessage), &dt) != nil || json.Unmarshal([]byte(dt.Data), &data) != nil {
					t.Fatalf("after the stop: sent %v", got)
				}
				if dt.VendorId != "org.openchargealliance.costmsg" || dt.MessageId != "FinalCost" || data["transactionId"] != float64(start.TransactionId) ||
					data["cost"] != 2.2 || data["priceText"] != "Total 2.20 USD" {
					t.Errorf("FinalCost %s", got[0].Payload)
				}
			})
		}
	}
}
