package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestMonitoring: in both deployments, an operator sets a monitor on a
// strict 2.0.1 charger through the typed REST method; the charger's
// accepted monitor joins its monitors. The charger then reports two
// events: one raised by that monitor (severity 2, an alert at the default
// level) and one of a hard-wired monitor the CSMS does not know. Both are
// listed; only the first is an alert, listed as one and published once as
// a live station.alert event with its severity. Then the rest of the
// block: SetMonitoringLevel, SetMonitoringBase, GetMonitoringReport with
// the station's NotifyMonitoringReport adding its own monitor, and
// ClearVariableMonitoring forgetting the cleared one.
func TestMonitoring(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			alerts := openEvents(ctx, t, sys.rest, "type=station.alert", "", false)
			defer alerts.close()
			c := dialCtlCharger(ctx, t, sys, v201, "mon")
			evse := map[string]any{"name": "EVSE", "evse": map[string]any{"id": 1}}
			power := map[string]any{"name": "Power"}
			c.answerWith(func(action string, _ json.RawMessage) (any, error) {
				switch action {
				case "SetVariableMonitoring":
					return map[string]any{"setMonitoringResult": []any{map[string]any{"id": 7, "status": "Accepted",
						"type": "UpperThreshold", "severity": 2, "component": evse, "variable": power}}}, nil
				case "ClearVariableMonitoring":
					return map[string]any{"clearMonitoringResult": []any{map[string]any{"id": 7, "status": "Accepted"}}}, nil
				}
				return map[string]any{"status": "Accepted"}, nil
			})

			base := "/api/v1/stations/" + c.id
			code, out := ctlREST(ctx, t, sys, "POST", base+"/monitors", map[string]any{"monitors": []any{map[string]any{
				"component": map[string]any{"name": "EVSE", "evseId": 1}, "variable": map[string]any{"name": "Power"},
				"type": "UpperThreshold", "value": 22000, "severity": 2}}})
			results, _ := out["results"].([]any)
			if code != http.StatusOK || len(results) != 1 || results[0].(map[string]any)["status"] != "Accepted" {
				t.Fatalf("set monitor: %d %v", code, out)
			}
			if rc := c.next(ctx, t); rc.action != "SetVariableMonitoring" || !ctlSameJSON(t, rc.payload, map[string]any{"setMonitoringData": []any{
				map[string]any{"value": 22000, "type": "UpperThreshold", "severity": 2, "transaction": false, "component": evse, "variable": power}}}) {
				t.Errorf("charger received %s %s", rc.action, rc.payload)
			}
			code, out = ctlREST(ctx, t, sys, "GET", base+"/monitors", nil)
			if ms, _ := out["monitors"].([]any); code != http.StatusOK || len(ms) != 1 || fmt.Sprint(ms[0].(map[string]any)["id"]) != "7" {
				t.Fatalf("monitors: %d %v", code, out)
			}

			now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
			notify := map[string]any{"generatedAt": now, "seqNo": 0, "eventData": []any{
				map[string]any{"eventId": 1, "timestamp": now, "trigger": "Alerting", "actualValue": "23000", "variableMonitoringId": 7,
					"eventNotificationType": "CustomMonitor", "component": evse, "variable": power},
				map[string]any{"eventId": 2, "timestamp": now, "trigger": "Delta", "actualValue": "Occupied", "variableMonitoringId": 99,
					"eventNotificationType": "HardWiredMonitor", "component": map[string]any{"name": "ChargingStation"},
					"variable": map[string]any{"name": "AvailabilityState"}},
			}}
			if err := call(ctx, c.Client, "NotifyEvent", notify, &struct{}{}); err != nil {
				t.Fatalf("NotifyEvent: %v", err)
			}

			seen := alerts.waitFor(t, c.id, "station.alert")
			var p struct {
				EventID, Severity, MonitorID              int
				Component, Variable, ActualValue, Trigger string
			}
			if err := json.Unmarshal(seen[len(seen)-1].Payload, &p); err != nil || p.EventID != 1 || p.Severity != 2 || p.MonitorID != 7 ||
				p.Component != "EVSE" || p.Variable != "Power" || p.ActualValue != "23000" || p.Trigger != "Alerting" {
				t.Errorf("station.alert %s %v", seen[len(seen)-1].Payload, err)
			}
			code, out = ctlREST(ctx, t, sys, "GET", base+"/events", nil)
			if code != http.StatusOK || out["total"] != "2" {
				t.Fatalf("events: %d %v", code, out)
			}
			code, out = ctlREST(ctx, t, sys, "GET", base+"/events?alertsOnly=true", nil)
			evs, _ := out["events"].([]any)
			if code != http.StatusOK || out["total"] != "1" || len(evs) != 1 {
				t.Fatalf("alerts: %d %v", code, out)
			}
			if e := evs[0].(map[string]any); e["eventId"] != float64(1) || e["alert"] != true || e["severity"] != float64(2) {
				t.Errorf("alert listed as %v", e)
			}

			// A retried NotifyEvent stores and raises nothing again: the
			// next alert on the stream is the next event's.
			if err := call(ctx, c.Client, "NotifyEvent", notify, &struct{}{}); err != nil {
				t.Fatalf("NotifyEvent again: %v", err)
			}
			next := map[string]any{"generatedAt": now, "seqNo": 0, "eventData": []any{
				map[string]any{"eventId": 3, "timestamp": now, "trigger": "Alerting", "actualValue": "22500", "variableMonitoringId": 7,
					"eventNotificationType": "CustomMonitor", "component": evse, "variable": power, "cleared": true}}}
			if err := call(ctx, c.Client, "NotifyEvent", next, &struct{}{}); err != nil {
				t.Fatalf("NotifyEvent 3: %v", err)
			}
			seen = alerts.waitFor(t, c.id, "station.alert")
			if err := json.Unmarshal(seen[len(seen)-1].Payload, &p); err != nil || p.EventID != 3 {
				t.Errorf("next station.alert %s %v, want event 3 (the retry raised event 1 again?)", seen[len(seen)-1].Payload, err)
			}
			code, out = ctlREST(ctx, t, sys, "GET", base+"/events", nil)
			if code != http.StatusOK || out["total"] != "3" {
				t.Errorf("events after a retry and one more: %d %v", code, out)
			}

			// The rest of the block: level, base, a report that brings a
			// monitor the CSMS did not set, and a clear.
			for _, tc := range []struct {
				path, action string
				body, sent   map[string]any
			}{
				{"/monitoring/level", "SetMonitoringLevel", map[string]any{"severity": 4}, map[string]any{"severity": 4}},
				{"/monitoring/base", "SetMonitoringBase", map[string]any{"monitoringBase": "All"}, map[string]any{"monitoringBase": "All"}},
				{"/monitoring/report", "GetMonitoringReport", map[string]any{"requestId": 41, "monitoringCriteria": []string{"DeltaMonitoring"}},
					map[string]any{"requestId": 41, "monitoringCriteria": []any{"DeltaMonitoring"}}},
			} {
				if code, out := ctlREST(ctx, t, sys, "POST", base+tc.path, tc.body); code != http.StatusOK || out["status"] != "Accepted" {
					t.Fatalf("%s: %d %v", tc.action, code, out)
				}
				if rc := c.next(ctx, t); rc.action != tc.action || !ctlSameJSON(t, rc.payload, tc.sent) {
					t.Errorf("charger received %s %s, want %s %v", rc.action, rc.payload, tc.action, tc.sent)
				}
			}
			report := map[string]any{"requestId": 41, "seqNo": 0, "generatedAt": now, "monitor": []any{map[string]any{
				"component":          map[string]any{"name": "Connector", "evse": map[string]any{"id": 1, "connectorId": 1}},
				"variable":           map[string]any{"name": "Temperature"},
				"variableMonitoring": []any{map[string]any{"id": 8, "transaction": true, "value": 5, "type": "Delta", "severity": 7}}}}}
			if err := call(ctx, c.Client, "NotifyMonitoringReport", report, &struct{}{}); err != nil {
				t.Fatalf("NotifyMonitoringReport: %v", err)
			}
			monitorIDs := func() string {
				t.Helper()
				code, out := ctlREST(ctx, t, sys, "GET", base+"/monitors", nil)
				if code != http.StatusOK {
					t.Fatalf("monitors: %d %v", code, out)
				}
				var ids []string
				for _, m := range out["monitors"].([]any) {
					ids = append(ids, fmt.Sprint(m.(map[string]any)["id"]))
				}
				return fmt.Sprint(ids)
			}
			if got := monitorIDs(); got != "[7 8]" {
				t.Errorf("monitors after the report: %s, want [7 8]", got)
			}
			code, out = ctlREST(ctx, t, sys, "POST", base+"/monitors/clear", map[string]any{"ids": []int{7}})
			if cleared, _ := out["results"].([]any); code != http.StatusOK || len(cleared) != 1 || cleared[0].(map[string]any)["status"] != "Accepted" {
				t.Fatalf("clear: %d %v", code, out)
			}
			if rc := c.next(ctx, t); rc.action != "ClearVariableMonitoring" || !ctlSameJSON(t, rc.payload, map[string]any{"id": []any{7}}) {
				t.Errorf("charger received %s %s", rc.action, rc.payload)
			}
			if got := monitorIDs(); got != "[8]" {
				t.Errorf("monitors after clearing 7: %s, want [8]", got)
			}
		})
	}
}
