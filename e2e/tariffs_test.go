package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestTariffs: tariffs set over REST in both deployments price real
// sessions: a 2.0.1 station gets the cost so far in its TransactionEvent
// answers, and an ended 1.6 transaction shows its final cost by the
// station's tariff (its connector has none of its own).
func TestTariffs(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)

			c16 := dialCtlCharger(ctx, t, sys, v16, "tar16")
			base := "/api/v1/stations/" + c16.id + "/tariffs/"
			if code, out := ctlREST(ctx, t, sys, "PUT", base+"0", map[string]any{"currency": "EUR", "perKwh": 0.4, "perMinute": 0.1, "perSession": 1}); code != http.StatusOK {
				t.Fatalf("put tariff: %d %v", code, out)
			}
			for _, bad := range []map[string]any{{"currency": "euro"}, {"currency": "EUR", "perKwh": -1}} {
				if code, out := ctlREST(ctx, t, sys, "PUT", base+"0", bad); code != http.StatusBadRequest {
					t.Errorf("put %v: %d %v", bad, code, out)
				}
			}
			if code, out := ctlREST(ctx, t, sys, "PUT", "/api/v1/stations/no-such-station/tariffs/0", map[string]any{"currency": "EUR"}); code != http.StatusNotFound {
				t.Errorf("tariff of an unknown station: %d %v", code, out)
			}
			// A tariff of connector 1, then removed again.
			if code, out := ctlREST(ctx, t, sys, "PUT", base+"1", map[string]any{"currency": "EUR", "perKwh": 9}); code != http.StatusOK {
				t.Fatalf("put connector tariff: %d %v", code, out)
			}
			if code, out := ctlREST(ctx, t, sys, "DELETE", base+"1", nil); code != http.StatusOK {
				t.Fatalf("delete tariff: %d %v", code, out)
			}
			if code, out := ctlREST(ctx, t, sys, "DELETE", base+"1", nil); code != http.StatusNotFound {
				t.Errorf("delete again: %d %v", code, out)
			}
			code, list := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c16.id+"/tariffs", nil)
			if ts, _ := list["tariffs"].([]any); code != http.StatusOK || len(ts) != 1 || ts[0].(map[string]any)["perSession"] != float64(1) {
				t.Errorf("tariffs: %d %v", code, list)
			}

			start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			var st struct {
				TransactionID int `json:"transactionId"`
			}
			if err := call(ctx, c16.Client, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T" + uuid.NewString()[:8],
				"meterStart": 1000, "timestamp": start.Format(time.RFC3339)}, &st); err != nil {
				t.Fatal(err)
			}
			if err := call(ctx, c16.Client, "StopTransaction", map[string]any{"transactionId": st.TransactionID, "meterStop": 11000,
				"timestamp": start.Add(30 * time.Minute).Format(time.RFC3339)}, &map[string]any{}); err != nil {
				t.Fatal(err)
			}
			code, tx := ctlREST(ctx, t, sys, "GET", fmt.Sprintf("/api/v1/transactions/%d", st.TransactionID), nil)
			// 1 + 10 kWh × 0.4 + 30 min × 0.1
			if code != http.StatusOK || tx["cost"] != float64(8) || tx["costCurrency"] != "EUR" {
				t.Errorf("1.6 transaction: %d %v", code, tx)
			}

			c201 := dialCtlCharger(ctx, t, sys, v201, "tar201")
			if code, out := ctlREST(ctx, t, sys, "PUT", "/api/v1/stations/"+c201.id+"/tariffs/1", map[string]any{"currency": "CHF", "perKwh": 0.5}); code != http.StatusOK {
				t.Fatalf("put EVSE tariff: %d %v", code, out)
			}
			txID := "TX-" + uuid.NewString()[:18]
			event := func(typ string, seq int, kwh float64) map[string]any {
				var out map[string]any
				at := start.Add(time.Duration(seq) * time.Minute).Format(time.RFC3339)
				if err := call(ctx, c201.Client, "TransactionEvent", map[string]any{"eventType": typ, "timestamp": at,
					"triggerReason": "MeterValuePeriodic", "seqNo": seq, "transactionInfo": map[string]any{"transactionId": txID},
					"evse": map[string]any{"id": 1, "connectorId": 1},
					"meterValue": []any{map[string]any{"timestamp": at, "sampledValue": []any{
						map[string]any{"value": kwh, "unitOfMeasure": map[string]any{"unit": "kWh"}}}}}}, &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			event("Started", 0, 10)
			if got := event("Updated", 1, 14); got["totalCost"] != float64(2) {
				t.Errorf("running cost %v, want 2 (4 kWh × 0.5)", got)
			}
			if got := event("Ended", 2, 16); got["totalCost"] != float64(3) {
				t.Errorf("final cost %v, want 3", got)
			}
		})
	}
}
