package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSmartCharging: a 2.0.1 station over a real socket, in both
// deployments, reports a limit and a transaction; its EV's charging needs
// are answered Accepted and followed, within seconds, by a TxProfile for
// that transaction within the limit (the strict charger checks it against
// the schema), planned again when the limit is cleared and when the
// operator sets a ChargingStationMaxProfile; the operator sees the limit,
// the needs with the profile sent, the stored profile, and a
// ReportChargingProfiles in two parts complete once the second is in.
func TestSmartCharging(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			c := dialCtlCharger(ctx, t, sys, v201, "sc")
			c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": "Accepted"}, nil })
			now := time.Now().UTC()
			stamp := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
			send := func(action string, req any, resp any) {
				t.Helper()
				if err := call(ctx, c.Client, action, req, resp); err != nil {
					t.Fatalf("%s: %v", action, err)
				}
			}
			send("NotifyChargingLimit", map[string]any{"evseId": 1, "chargingLimit": map[string]any{"chargingLimitSource": "EMS"},
				"chargingSchedule": []any{map[string]any{"id": 1, "startSchedule": stamp(-time.Minute), "chargingRateUnit": "A",
					"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 13}}}}}, &map[string]any{})
			txID := "TX-" + uuid.NewString()[:18]
			send("TransactionEvent", map[string]any{"eventType": "Started", "timestamp": stamp(0), "triggerReason": "CablePluggedIn",
				"seqNo": 0, "transactionInfo": map[string]any{"transactionId": txID}, "evse": map[string]any{"id": 1, "connectorId": 1}},
				&map[string]any{})

			var needs map[string]any
			send("NotifyEVChargingNeeds", map[string]any{"evseId": 1, "chargingNeeds": map[string]any{
				"requestedEnergyTransfer": "AC_single_phase", "departureTime": stamp(2 * time.Hour),
				"acChargingParameters": map[string]any{"energyAmount": 15000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 230}}}, &needs)
			if needs["status"] != "Accepted" {
				t.Fatalf("NotifyEVChargingNeeds answered %v", needs)
			}
			rc := c.next(ctx, t)
			var sent struct {
				EvseID          int `json:"evseId"`
				ChargingProfile struct {
					ID               int    `json:"id"`
					Purpose          string `json:"chargingProfilePurpose"`
					TransactionID    string `json:"transactionId"`
					ChargingSchedule []struct {
						Unit    string `json:"chargingRateUnit"`
						Periods []struct {
							Limit float64 `json:"limit"`
						} `json:"chargingSchedulePeriod"`
					} `json:"chargingSchedule"`
				} `json:"chargingProfile"`
			}
			if err := json.Unmarshal(rc.payload, &sent); err != nil || rc.action != "SetChargingProfile" {
				t.Fatalf("charger received %s %s", rc.action, rc.payload)
			}
			p := sent.ChargingProfile
			if sent.EvseID != 1 || p.Purpose != "TxProfile" || p.TransactionID != txID || len(p.ChargingSchedule) != 1 ||
				p.ChargingSchedule[0].Unit != "A" || len(p.ChargingSchedule[0].Periods) != 1 || p.ChargingSchedule[0].Periods[0].Limit != 13 {
				t.Fatalf("SetChargingProfile %s, want a TxProfile of 13 A for %s", rc.payload, txID)
			}

			state := func() map[string]any {
				code, out := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c.id+"/charging-state", nil)
				if code != http.StatusOK {
					t.Fatalf("charging state: %d %v", code, out)
				}
				return out
			}
			eventually(t, "the needs answered with the profile", func() (bool, string) {
				s := state()
				ns, _ := s["evChargingNeeds"].([]any)
				if len(ns) != 1 {
					return false, fmt.Sprint(s)
				}
				n := ns[0].(map[string]any)
				return n["planStatus"] == "Accepted" && n["planProfileId"] == float64(p.ID), fmt.Sprint(n)
			})
			if ls, _ := state()["chargingLimits"].([]any); len(ls) != 1 || ls[0].(map[string]any)["source"] != "EMS" {
				t.Errorf("charging limits %v", ls)
			}
			code, profiles := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c.id+"/charging-profiles?source=set", nil)
			if ps, _ := profiles["chargingProfiles"].([]any); code != http.StatusOK || len(ps) != 1 ||
				ps[0].(map[string]any)["transactionId"] != txID {
				t.Errorf("stored profiles: %d %v", code, profiles)
			}

			send("ClearedChargingLimit", map[string]any{"evseId": 1, "chargingLimitSource": "EMS"}, &map[string]any{})
			if ls, _ := state()["chargingLimits"].([]any); len(ls) != 0 {
				t.Errorf("charging limits after clearing %v", ls)
			}
			// Within seconds the EV's profile is planned again without the
			// limit: its own 32 A.
			rc = c.next(ctx, t)
			var again struct {
				ChargingProfile struct {
					TransactionID    string `json:"transactionId"`
					ChargingSchedule []struct {
						Periods []struct {
							Limit float64 `json:"limit"`
						} `json:"chargingSchedulePeriod"`
					} `json:"chargingSchedule"`
				} `json:"chargingProfile"`
			}
			if err := json.Unmarshal(rc.payload, &again); err != nil || rc.action != "SetChargingProfile" {
				t.Fatalf("after clearing, charger received %s %s", rc.action, rc.payload)
			}
			if p := again.ChargingProfile; p.TransactionID != txID || len(p.ChargingSchedule) != 1 || len(p.ChargingSchedule[0].Periods) == 0 ||
				p.ChargingSchedule[0].Periods[0].Limit != 32 {
				t.Errorf("re-planned SetChargingProfile %s, want 32 A for %s", rc.payload, txID)
			}

			// The operator caps the whole station at 16 A
			// (ChargingStationMaxProfile): once the station accepts it, the
			// EV's profile is planned again within it.
			code, out := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/charging-profiles", map[string]any{"evseId": 0,
				"profile": map[string]any{"id": 500, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
					"chargingProfileKind": "Absolute", "chargingSchedule": []any{map[string]any{"id": 1, "startSchedule": stamp(-time.Hour),
						"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}}})
			if code != http.StatusOK {
				t.Fatalf("set the station maximum: %d %v", code, out)
			}
			if rc = c.next(ctx, t); rc.action != "SetChargingProfile" {
				t.Fatalf("charger received %s %s, want the operator's profile", rc.action, rc.payload)
			}
			rc = c.next(ctx, t)
			again.ChargingProfile.ChargingSchedule = nil
			if err := json.Unmarshal(rc.payload, &again); err != nil || rc.action != "SetChargingProfile" {
				t.Fatalf("after the station maximum, charger received %s %s", rc.action, rc.payload)
			}
			if p := again.ChargingProfile; p.TransactionID != txID || len(p.ChargingSchedule) != 1 || len(p.ChargingSchedule[0].Periods) == 0 ||
				p.ChargingSchedule[0].Periods[0].Limit != 16 {
				t.Errorf("re-planned SetChargingProfile %s, want 16 A for %s", rc.payload, txID)
			}

			for i, tbc := range []bool{true, false} {
				send("ReportChargingProfiles", map[string]any{"requestId": 41, "chargingLimitSource": "CSO", "evseId": 1, "tbc": tbc,
					"chargingProfile": []any{map[string]any{"id": 100 + i, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
						"chargingProfileKind": "Relative", "chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A",
							"chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}}}}, &map[string]any{})
				_, rep := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c.id+"/charging-profiles?requestId=41", nil)
				ps, _ := rep["chargingProfiles"].([]any)
				if complete := rep["complete"] == true; len(ps) != i+1 || complete == tbc {
					t.Errorf("after part %d (tbc %v): %v", i, tbc, rep)
				}
			}
			c.none(t)
		})
	}
}
