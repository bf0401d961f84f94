package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestDisplayMessages: over REST, in both deployments, a strict 2.0.1
// charger gets SetDisplayMessage, GetDisplayMessages and
// ClearDisplayMessage (each checked against its schema by the charger);
// the station's messages as listed follow the answers and the report it
// sends in two parts; bad input is refused before anything is sent, and a
// 1.6 station is told the command does not exist in its version.
func TestDisplayMessages(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			c := dialCtlCharger(ctx, t, sys, v201, "dm")
			status := "Accepted"
			c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": status}, nil })
			base := "/api/v1/stations/" + c.id + "/display-messages"
			listed := func() string {
				t.Helper()
				code, out := ctlREST(ctx, t, sys, "GET", base, nil)
				if code != http.StatusOK {
					t.Fatalf("list: %d %v", code, out)
				}
				ms, _ := out["messages"].([]any)
				var got []string
				for _, m := range ms {
					m := m.(map[string]any)
					got = append(got, fmt.Sprintf("%v %v %v %v", m["id"], m["priority"], m["content"], m["source"]))
				}
				return fmt.Sprint(got)
			}

			end := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
			for _, id := range []int{1, 2} {
				code, out := ctlREST(ctx, t, sys, "POST", base, map[string]any{"message": map[string]any{"id": id, "priority": "InFront",
					"format": "UTF8", "content": fmt.Sprintf("Welcome %d", id), "language": "en", "endTime": end.Format(time.RFC3339),
					"display": map[string]any{"name": "Display", "evseId": 1}}})
				if code != http.StatusOK || out["status"] != "Accepted" {
					t.Fatalf("set %d: %d %v", id, code, out)
				}
				rc := c.next(ctx, t)
				want := map[string]any{"message": map[string]any{"id": id, "priority": "InFront", "endDateTime": end.Format(time.RFC3339),
					"message": map[string]any{"format": "UTF8", "language": "en", "content": fmt.Sprintf("Welcome %d", id)},
					"display": map[string]any{"name": "Display", "evse": map[string]any{"id": 1}}}}
				if rc.action != "SetDisplayMessage" || !ctlSameJSON(t, rc.payload, want) {
					t.Errorf("charger received %s %s", rc.action, rc.payload)
				}
			}
			status = "NotSupportedPriority"
			if code, out := ctlREST(ctx, t, sys, "POST", base, map[string]any{"message": map[string]any{"id": 3, "priority": "AlwaysFront",
				"format": "ASCII", "content": "no"}}); code != http.StatusOK || out["status"] != "NotSupportedPriority" {
				t.Errorf("refused set: %d %v", code, out)
			}
			c.next(ctx, t)
			if got, want := listed(), "[1 InFront Welcome 1 set 2 InFront Welcome 2 set]"; got != want {
				t.Errorf("after set: %s, want %s", got, want)
			}

			status = "Accepted"
			code, out := ctlREST(ctx, t, sys, "POST", base+"/report", map[string]any{"requestId": 31, "priority": "InFront"})
			if code != http.StatusOK || out["status"] != "Accepted" || out["requestId"] != float64(31) {
				t.Fatalf("report: %d %v", code, out)
			}
			if rc := c.next(ctx, t); rc.action != "GetDisplayMessages" || !ctlSameJSON(t, rc.payload, map[string]any{"requestId": 31, "priority": "InFront"}) {
				t.Errorf("charger received %s %s", rc.action, rc.payload)
			}
			// The station shows 2 (changed) and 7, no longer 1.
			for i, part := range []map[string]any{
				{"requestId": 31, "tbc": true, "messageInfo": []any{map[string]any{"id": 2, "priority": "InFront",
					"message": map[string]any{"format": "UTF8", "content": "Welcome back"}}}},
				{"requestId": 31, "messageInfo": []any{map[string]any{"id": 7, "priority": "InFront", "state": "Charging",
					"message": map[string]any{"format": "URI", "content": "https://example.com/7"}}}},
			} {
				if err := call(ctx, c.Client, "NotifyDisplayMessages", part, &map[string]any{}); err != nil {
					t.Fatalf("NotifyDisplayMessages part %d: %v", i, err)
				}
			}
			if got, want := listed(), "[2 InFront Welcome back reported 7 InFront https://example.com/7 reported]"; got != want {
				t.Errorf("after the report: %s, want %s", got, want)
			}

			if code, out := ctlREST(ctx, t, sys, "POST", base+"/clear", map[string]any{"id": 7}); code != http.StatusOK || out["status"] != "Accepted" {
				t.Fatalf("clear: %d %v", code, out)
			}
			if rc := c.next(ctx, t); rc.action != "ClearDisplayMessage" || !ctlSameJSON(t, rc.payload, map[string]any{"id": 7}) {
				t.Errorf("charger received %s %s", rc.action, rc.payload)
			}
			if got, want := listed(), "[2 InFront Welcome back reported]"; got != want {
				t.Errorf("after clear: %s, want %s", got, want)
			}

			for _, bad := range []map[string]any{
				{"message": map[string]any{"id": 1, "priority": "Loud", "format": "UTF8", "content": "x"}},
				{"message": map[string]any{"id": 1, "priority": "InFront", "format": "UTF8", "content": ""}},
				{"message": map[string]any{"id": 1, "priority": "InFront", "format": "Morse", "content": "x"}},
			} {
				if code, out := ctlREST(ctx, t, sys, "POST", base, bad); code != http.StatusBadRequest {
					t.Errorf("bad %v: %d %v", bad, code, out)
				}
			}
			if code, out := ctlREST(ctx, t, sys, "POST", base+"/report", map[string]any{"state": "Asleep"}); code != http.StatusBadRequest {
				t.Errorf("bad state: %d %v", code, out)
			}
			c.none(t)

			old := dialCtlCharger(ctx, t, sys, v16, "dm16")
			if code, out := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+old.id+"/display-messages/clear", map[string]any{"id": 1}); code == http.StatusOK {
				t.Errorf("ClearDisplayMessage on a 1.6 station: %d %v", code, out)
			}
			old.none(t)
		})
	}
}
