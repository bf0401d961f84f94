package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestRunningCost: with COST_UPDATE_INTERVAL set, in both deployments, a
// 2.0.1 station that says it shows costs gets CostUpdated with the cost so
// far of its priced transaction, growing as it charges, and a 1.6 station
// whose CustomDisplayCostAndPrice is true gets the California Pricing
// RunningCost during its session and FinalCost after it stopped. The
// strict simulated chargers check every CALL against its official schema.
func TestRunningCost(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t, func(env map[string]string) { env["COST_UPDATE_INTERVAL"] = "1s" })
			t.Run("2.0.1", func(t *testing.T) { testRunningCost201(t, sys) })
			t.Run("1.6", func(t *testing.T) { testRunningCost16(t, sys) })
		})
	}
	// Two core instances sweep the same transactions: each update reaches
	// the station once.
	t.Run("two cores", func(t *testing.T) {
		t.Parallel()
		sys, _, _ := startTwoCores(t, "e2e-costgw", func(env map[string]string) { env["COST_UPDATE_INTERVAL"] = "1s" })
		t.Run("2.0.1", func(t *testing.T) { testRunningCost201(t, sys) })
		t.Run("1.6", func(t *testing.T) { testRunningCost16(t, sys) })
	})
}

func testRunningCost201(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v201, "cost201")
	c.answerWith(func(action string, _ json.RawMessage) (any, error) {
		if action == "GetVariables" {
			return map[string]any{"getVariableResult": []any{map[string]any{"attributeStatus": "Accepted", "attributeValue": "true",
				"component": map[string]any{"name": "TariffCostCtrlr"}, "variable": map[string]any{"name": "Enabled", "instance": "Cost"}}}}, nil
		}
		return map[string]any{}, nil
	})
	if code, out := ctlREST(ctx, t, sys, "PUT", "/api/v1/stations/"+c.id+"/tariffs/0", map[string]any{"currency": "EUR", "perKwh": 0.5}); code != http.StatusOK {
		t.Fatalf("put tariff: %d %v", code, out)
	}
	txID := "TX-" + uuid.NewString()[:18]
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	event := func(typ string, seq int, kwh float64) {
		t.Helper()
		at := start.Add(time.Duration(seq) * time.Minute).Format(time.RFC3339)
		if err := call(ctx, c.Client, "TransactionEvent", map[string]any{"eventType": typ, "timestamp": at,
			"triggerReason": "MeterValuePeriodic", "seqNo": seq, "transactionInfo": map[string]any{"transactionId": txID},
			"evse": map[string]any{"id": 1, "connectorId": 1},
			"meterValue": []any{map[string]any{"timestamp": at, "sampledValue": []any{
				map[string]any{"value": kwh, "unitOfMeasure": map[string]any{"unit": "kWh"}}}}}}, &map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	// nextCost waits for the next CostUpdated, past the question whether
	// the station shows costs.
	nextCost := func() float64 {
		t.Helper()
		for {
			rc := c.next(ctx, t)
			if rc.action == "GetVariables" {
				continue
			}
			var req struct {
				TransactionID string  `json:"transactionId"`
				TotalCost     float64 `json:"totalCost"`
			}
			if err := json.Unmarshal(rc.payload, &req); err != nil || rc.action != "CostUpdated" || req.TransactionID != txID {
				t.Fatalf("charger received %s %s, want CostUpdated of %s", rc.action, rc.payload, txID)
			}
			return req.TotalCost
		}
	}
	// costReaches waits until a CostUpdated says want; those before it
	// (a sweep may fall between two events) only go up: never the same
	// cost twice.
	last := -1.0
	costReaches := func(want float64) {
		t.Helper()
		for {
			got := nextCost()
			if got <= last || got > want {
				t.Fatalf("CostUpdated totalCost %v after %v, want it growing to %v", got, last, want)
			}
			if last = got; got == want {
				return
			}
		}
	}
	event("Started", 0, 10)
	event("Updated", 1, 12)
	costReaches(1) // 2 kWh × 0.5
	event("Updated", 2, 15)
	costReaches(2.5) // 5 kWh × 0.5
	// Unchanged for two intervals: nothing sent.
	time.Sleep(2500 * time.Millisecond)
	c.none(t)
	event("Ended", 3, 16)
	time.Sleep(1500 * time.Millisecond)
	c.none(t)
	code, hist := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c.id+"/commands?pageSize=100", nil)
	if code != http.StatusOK || !historyHas(hist, "CostUpdated", "csms:runningcost") {
		t.Errorf("command history: %d %v", code, hist)
	}
}

func testRunningCost16(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v16, "cost16")
	c.answerWith(func(action string, _ json.RawMessage) (any, error) {
		if action == "GetConfiguration" {
			return map[string]any{"configurationKey": []any{map[string]any{"key": "CustomDisplayCostAndPrice", "readonly": true, "value": "true"}}}, nil
		}
		return map[string]any{"status": "Accepted"}, nil
	})
	if code, out := ctlREST(ctx, t, sys, "PUT", "/api/v1/stations/"+c.id+"/tariffs/0", map[string]any{"currency": "USD", "perKwh": 0.4, "perSession": 1}); code != http.StatusOK {
		t.Fatalf("put tariff: %d %v", code, out)
	}
	var st struct {
		TransactionID int `json:"transactionId"`
	}
	if err := call(ctx, c.Client, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T" + uuid.NewString()[:8],
		"meterStart": 1000, "timestamp": time.Now().UTC().Format(time.RFC3339)}, &st); err != nil {
		t.Fatal(err)
	}
	// costMessage waits for the next cost DataTransfer, past the question
	// whether the station shows costs.
	costMessage := func(messageID string) map[string]any {
		t.Helper()
		for {
			rc := c.next(ctx, t)
			if rc.action == "GetConfiguration" {
				continue
			}
			var req struct {
				VendorID  string `json:"vendorId"`
				MessageID string `json:"messageId"`
				Data      string `json:"data"`
			}
			var data map[string]any
			if err := json.Unmarshal(rc.payload, &req); err != nil || rc.action != "DataTransfer" || req.VendorID != "org.openchargealliance.costmsg" ||
				req.MessageID != messageID || json.Unmarshal([]byte(req.Data), &data) != nil || data["transactionId"] != float64(st.TransactionID) {
				t.Fatalf("charger received %s %s, want %s of transaction %d", rc.action, rc.payload, messageID, st.TransactionID)
			}
			return data
		}
	}
	if d := costMessage("RunningCost"); d["cost"] != float64(1) || d["state"] != "Charging" {
		t.Errorf("RunningCost %v, want the session fee", d)
	}
	if err := call(ctx, c.Client, "MeterValues", map[string]any{"connectorId": 1, "transactionId": st.TransactionID,
		"meterValue": []any{map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339), "sampledValue": []any{
			map[string]any{"value": "3500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}}}}}, &map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if d := costMessage("RunningCost"); d["cost"] != float64(2) || d["meterValue"] != float64(3500) { // 1 + 2.5 kWh × 0.4
		t.Errorf("RunningCost %v, want 2 at 3500 Wh", d)
	}
	if err := call(ctx, c.Client, "StopTransaction", map[string]any{"transactionId": st.TransactionID, "meterStop": 6000,
		"timestamp": time.Now().UTC().Format(time.RFC3339)}, &map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if d := costMessage("FinalCost"); d["cost"] != float64(3) || d["priceText"] != fmt.Sprintf("Total %.2f USD", 3.0) { // 1 + 5 kWh × 0.4
		t.Errorf("FinalCost %v, want 3", d)
	}
}

// historyHas says whether a station's command history lists action as
// requested by by.
func historyHas(hist map[string]any, action, by string) bool {
	cmds, _ := hist["commands"].([]any)
	for _, c := range cmds {
		if m, _ := c.(map[string]any); m["action"] == action && m["requestedBy"] == by {
			return true
		}
	}
	return false
}
