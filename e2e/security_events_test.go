package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSecurityEvents checks, in both deployments and versions, that a
// station's SecurityEventNotifications are stored once (a retry is not a
// second event) beside the CSMS's own events (a refused admission with its
// remote address, a rejected CSR), and that both listings page and filter
// them over REST.
func TestSecurityEvents(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t, func(env map[string]string) { env["CSMS_ORGANIZATION"] = e2eOrganization })
			for _, v := range versions {
				t.Run(v.name, func(t *testing.T) { testSecurityEvents(t, sys, v) })
			}
		})
	}
}

type apiSecurityEvent struct {
	ID          string    `json:"id"`
	StationID   string    `json:"stationId"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	OccurredAt  time.Time `json:"occurredAt"`
	TechInfo    string    `json:"techInfo"`
	RemoteAddr  string    `json:"remoteAddr"`
	CertSubject string    `json:"certSubject"`
}

type apiSecurityEvents struct {
	Events        []apiSecurityEvent `json:"events"`
	NextPageToken string             `json:"nextPageToken"`
	Total         string             `json:"total"`
}

func listSecurityEvents(ctx context.Context, t *testing.T, sys *system, path string, q url.Values) apiSecurityEvents {
	t.Helper()
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	code, _, body, err := sys.rest.do(ctx, http.MethodGet, path, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, code, body, err)
	}
	var out apiSecurityEvents
	if err := decodeAPI(body, &out); err != nil {
		t.Fatalf("security events %s: %v", body, err)
	}
	return out
}

func testSecurityEvents(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	const password = "e2e-Passw0rd-16to20"
	id := newStationID("sec" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, password)
	stationPath := "/api/v1/stations/" + id + "/security-events"

	// A wrong password: 401 for the charger, the reason for the operator.
	if _, resp, err := dialRaw(ctx, t, sys.gateway(v.index)+id, v.subprotocol, id, password+"x"); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v %v, want 401", resp, err)
	}
	unknown := newStationID("ghost")
	if _, resp, err := dialRaw(ctx, t, sys.gateway(v.index)+unknown, v.subprotocol, "", ""); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown station: %v %v, want 404", resp, err)
	}

	c := dialCharger(ctx, t, sys, v.index, id, v, password)
	boot(ctx, t, c, v, "SN-"+id)
	at := time.Now().UTC().Truncate(time.Millisecond)
	notification := map[string]any{"type": "SettingSystemTime", "timestamp": at.Format(time.RFC3339Nano), "techInfo": "ntp step 3s"}
	for range 2 { // a retry must not be a second event
		var ans map[string]any
		if err := call(ctx, c, "SecurityEventNotification", notification, &ans); err != nil {
			t.Fatalf("SecurityEventNotification: %v", err)
		}
	}
	// A CSR for another station's id is rejected and recorded.
	_, csr := newCSR(t, "p256", "someone-else", e2eOrganization)
	req := map[string]any{"csr": csr}
	if v.name == "2.0.1" {
		req["certificateType"] = "ChargingStationCertificate"
	}
	var ans signAnswer
	if err := call(ctx, c, "SignCertificate", req, &ans); err != nil || ans.Status != "Rejected" {
		t.Fatalf("SignCertificate of another id: %+v %v, want Rejected", ans, err)
	}

	got := listSecurityEvents(ctx, t, sys, stationPath, nil)
	byType := map[string][]apiSecurityEvent{}
	for _, e := range got.Events {
		if e.StationID != id {
			t.Errorf("event of %q listed for %s: %+v", e.StationID, id, e)
		}
		byType[e.Type] = append(byType[e.Type], e)
	}
	if got.Total != "3" || len(got.Events) != 3 {
		t.Fatalf("events of %s: total %s, %+v; want 3 (notification once, refused admission, rejected CSR)", id, got.Total, got.Events)
	}
	if e := byType["SettingSystemTime"]; len(e) != 1 || e[0].Source != "station" || e[0].TechInfo != "ntp step 3s" || !e[0].OccurredAt.Equal(at) {
		t.Errorf("station's notification: %+v (sent at %s)", e, at)
	}
	if e := byType["AdmissionRefused"]; len(e) != 1 || e[0].Source != "csms" || !strings.Contains(e[0].TechInfo, "wrong password") || !strings.HasPrefix(e[0].RemoteAddr, "127.0.0.1:") {
		t.Errorf("refused admission: %+v", e)
	}
	if e := byType["CSRRejected"]; len(e) != 1 || e[0].Source != "csms" || e[0].TechInfo == "" {
		t.Errorf("rejected CSR: %+v", e)
	}

	// Paging and filters.
	page1 := listSecurityEvents(ctx, t, sys, stationPath, url.Values{"pageSize": {"2"}})
	if len(page1.Events) != 2 || page1.NextPageToken == "" {
		t.Fatalf("page 1: %+v", page1)
	}
	page2 := listSecurityEvents(ctx, t, sys, stationPath, url.Values{"pageSize": {"2"}, "pageToken": {page1.NextPageToken}})
	if len(page2.Events) != 1 || page2.NextPageToken != "" || page2.Events[0].ID == page1.Events[1].ID {
		t.Fatalf("page 2: %+v", page2)
	}
	if s := listSecurityEvents(ctx, t, sys, stationPath, url.Values{"source": {"station"}}); len(s.Events) != 1 || s.Events[0].Type != "SettingSystemTime" {
		t.Errorf("source=station: %+v", s.Events)
	}
	window := url.Values{"from": {at.Add(-time.Second).Format(time.RFC3339Nano)}, "to": {at.Add(time.Millisecond).Format(time.RFC3339Nano)}, "source": {"station"}}
	if s := listSecurityEvents(ctx, t, sys, stationPath, window); len(s.Events) != 1 {
		t.Errorf("time window around the notification: %+v", s.Events)
	}
	window.Set("from", at.Add(time.Millisecond).Format(time.RFC3339Nano))
	window.Set("to", at.Add(time.Hour).Format(time.RFC3339Nano))
	if s := listSecurityEvents(ctx, t, sys, stationPath, window); len(s.Events) != 0 {
		t.Errorf("time window after the notification: %+v", s.Events)
	}

	// Across stations: the unknown id's refusal, under no station.
	all := listSecurityEvents(ctx, t, sys, "/api/v1/security-events", url.Values{"type": {"AdmissionRefused"}, "pageSize": {"1000"}})
	found := false
	for _, e := range all.Events {
		if e.StationID == "" && strings.Contains(e.TechInfo, fmt.Sprintf("%q", unknown)) {
			found = true
		}
	}
	if !found {
		t.Errorf("refusal of unknown id %s not listed across stations: %+v", unknown, all.Events)
	}

	// Bad input is refused, and an unknown station is 404.
	for _, q := range []string{stationPath + "?source=nobody", stationPath + "?pageToken=garbage", "/api/v1/stations/" + newStationID("none") + "/security-events"} {
		code, _, body, err := sys.rest.do(ctx, http.MethodGet, q, nil, true)
		want := http.StatusBadRequest
		if strings.Contains(q, "none") {
			want = http.StatusNotFound
		}
		if err != nil || code != want {
			t.Errorf("GET %s: %d %s %v, want %d", q, code, body, err, want)
		}
	}
}
