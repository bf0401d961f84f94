package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestDataTransfer: with DATA_TRANSFER_VENDORS set, in both deployments,
// strict chargers of both versions send DataTransfer: a listed vendor's
// listed message (or any message of a vendor listed alone) is answered
// Accepted, another message of a listed vendor UnknownMessageId, any other
// vendor UnknownVendorId (each answer checked against its schema by the
// charger); every one is listed per station with its data and answer, and
// is a live station.data_transfer event. (The CSMS's own DataTransfer to a
// charger, typed and both versions, is in TestControlCommands.)
func TestDataTransfer(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t, func(env map[string]string) { env["DATA_TRANSFER_VENDORS"] = "com.acme/Ping, org.example" })
			ctx := testCtx(t)
			events := openEvents(ctx, t, sys.rest, "type=station.data_transfer", "", false)
			defer events.close()

			for _, v := range versions {
				c := dialCtlCharger(ctx, t, sys, v, "dt")
				data := func(s string) any {
					if v.name == "1.6" {
						return s
					}
					return map[string]any{"text": s}
				}
				for _, tc := range []struct {
					vendor, message, want string
				}{
					{"com.acme", "Ping", "Accepted"},
					{"com.acme", "Pong", "UnknownMessageId"},
					{"org.example", "Anything", "Accepted"},
					{"net.unknown", "Ping", "UnknownVendorId"},
				} {
					var resp struct{ Status string }
					req := map[string]any{"vendorId": tc.vendor, "messageId": tc.message, "data": data(tc.vendor)}
					if err := call(ctx, c.Client, "DataTransfer", req, &resp); err != nil {
						t.Fatalf("%s DataTransfer %s/%s: %v", v.name, tc.vendor, tc.message, err)
					}
					if resp.Status != tc.want {
						t.Errorf("%s DataTransfer %s/%s answered %s, want %s", v.name, tc.vendor, tc.message, resp.Status, tc.want)
					}
				}

				seen := events.waitFor(t, c.id, "station.data_transfer")
				var p struct {
					VendorID, MessageID, Status string
					Data                        json.RawMessage
				}
				if err := json.Unmarshal(seen[len(seen)-1].Payload, &p); err != nil || p.VendorID != "com.acme" || p.MessageID != "Ping" ||
					p.Status != "Accepted" || !ctlSameJSON(t, p.Data, data("com.acme")) {
					t.Errorf("%s first event %s %v", v.name, seen[len(seen)-1].Payload, err)
				}

				base := "/api/v1/stations/" + c.id + "/data-transfers"
				code, out := ctlREST(ctx, t, sys, "GET", base+"?pageSize=3", nil)
				list, _ := out["dataTransfers"].([]any)
				if code != http.StatusOK || out["total"] != "4" || len(list) != 3 || out["nextPageToken"] == "" {
					t.Fatalf("%s list: %d %v", v.name, code, out)
				}
				newest := list[0].(map[string]any)
				if newest["vendorId"] != "net.unknown" || newest["status"] != "UnknownVendorId" || newest["ocppVersion"] != v.name ||
					fmt.Sprint(newest["data"]) != fmt.Sprint(data("net.unknown")) {
					t.Errorf("%s newest %v", v.name, newest)
				}
				code, out = ctlREST(ctx, t, sys, "GET", base+"?pageSize=3&pageToken="+out["nextPageToken"].(string), nil)
				if list, _ := out["dataTransfers"].([]any); code != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["messageId"] != "Ping" {
					t.Errorf("%s second page: %d %v", v.name, code, out)
				}
				code, out = ctlREST(ctx, t, sys, "GET", base+"?vendorId=com.acme", nil)
				if code != http.StatusOK || out["total"] != "2" {
					t.Errorf("%s by vendor: %d %v", v.name, code, out)
				}
				c.none(t)
			}
			if code, out := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/no-such-station/data-transfers", nil); code != http.StatusNotFound {
				t.Errorf("unknown station: %d %v", code, out)
			}
		})
	}
}
