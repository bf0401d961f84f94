package ocpp

import (
	"context"
	"fmt"
	"testing"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestTransactionCosts: a transaction is priced by its EVSE's (1.6:
// connector's) tariff, else its station's; 2.0.1 answers carry the cost
// so far, and an ended transaction of either version keeps its final cost.
func TestTransactionCosts(t *testing.T) {
	ctx := context.Background()
	tariffs := func(h *harness) {
		for _, tr := range []store.Tariff{
			{StationID: stationID, EVSEID: 0, Currency: "EUR", PerKWh: 0.4, PerMinute: 0.1, PerSession: 1},
			{StationID: stationID, EVSEID: 1, Currency: "EUR", PerKWh: 0.5, PerMinute: 0.02},
		} {
			if err := h.store.PutTariff(ctx, &tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, db := range databases {
		t.Run(db+"/2.0.1", func(t *testing.T) {
			h := newHarness(t, db)
			tariffs(h)
			// EVSE 1's tariff; active, priced up to now (05:06:07.89).
			events := []struct {
				payload string
				want    float64
			}{
				{txEvent("Started", 0, "2025-03-04T05:00:00Z", register("2025-03-04T05:00:00Z", 20, "Transaction.Begin")+
					`,"evse":{"id":1,"connectorId":1}`), 0.12}, // 6.13 min × 0.02
				{txEvent("Updated", 1, "2025-03-04T05:30:00Z", register("2025-03-04T05:30:00Z", 21.5, "Sample.Periodic")), 0.87}, // + 1.5 kWh × 0.5
				{txEvent("Ended", 2, "2025-03-04T06:00:00Z", register("2025-03-04T06:00:00Z", 23.25, "Transaction.End")), 2.83},  // 3.25 kWh, 60 min
			}
			for _, ev := range events {
				var resp ocpp201.TransactionEventResponse
				h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", ev.payload), &resp)
				if resp.TotalCost == nil || *resp.TotalCost != ev.want {
					t.Errorf("totalCost %v, want %g after %s", resp.TotalCost, ev.want, ev.payload)
				}
			}
			if tx := h.transactionByUID("TX-9"); tx.Cost == nil || *tx.Cost != 2.83 || tx.CostCurrency != "EUR" {
				t.Errorf("final cost %v %q", tx.Cost, tx.CostCurrency)
			}
		})
		t.Run(db+"/1.6", func(t *testing.T) {
			h := newHarness(t, db)
			tariffs(h)
			var start ocpp16.StartTransactionResponse
			h.result(ocppj.V16, "StartTransaction", h.call(ocppj.V16, "StartTransaction",
				`{"connectorId":2,"idTag":"CARD","meterStart":12000,"timestamp":"2025-03-04T05:00:00Z"}`), &start)
			stop := fmt.Sprintf(`{"transactionId":%d,"meterStop":15500,"timestamp":"2025-03-04T06:00:00Z"}`, start.TransactionId)
			for range 2 { // a retry prices the same
				h.result(ocppj.V16, "StopTransaction", h.call(ocppj.V16, "StopTransaction", stop), nil)
			}
			// Connector 2 has no tariff of its own: the station's, 1 + 3.5 kWh × 0.4 + 60 min × 0.1.
			if tx := h.transaction(int64(start.TransactionId)); tx.Cost == nil || *tx.Cost != 8.4 || tx.CostCurrency != "EUR" {
				t.Errorf("final cost %v %q", tx.Cost, tx.CostCurrency)
			}
		})
	}
	t.Run("no tariff", func(t *testing.T) {
		h := newHarness(t, "sqlite")
		var resp ocpp201.TransactionEventResponse
		h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Ended", 0, "2025-03-04T06:00:00Z", "")), &resp)
		if tx := h.transactionByUID("TX-9"); resp.TotalCost != nil || tx.Cost != nil {
			t.Errorf("priced without a tariff: %v %v", resp.TotalCost, tx.Cost)
		}
	})
}
