package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestOnboarding runs station onboarding (UNKNOWN_STATIONS=pending) with a
// real charger of each version in both deployments: an unknown station is
// pending until an operator accepts it, then charges; while pending, what
// the operator triggers is taken; a rejected one is answered Rejected and
// then refused; a blocked one is refused and closed with its history
// kept, until unblocked.
func TestOnboarding(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t, func(env map[string]string) { env["UNKNOWN_STATIONS"] = "pending" })
			for _, v := range versions {
				t.Run("Accept/"+v.name, func(t *testing.T) { testOnboardAccept(t, sys, v) })
				t.Run("Triggered/"+v.name, func(t *testing.T) { testOnboardTriggered(t, sys, v) })
				t.Run("Reject/"+v.name, func(t *testing.T) { testOnboardReject(t, sys, v) })
				t.Run("Block/"+v.name, func(t *testing.T) { testOnboardBlock(t, sys, v) })
			}
		})
	}
}

// onboardingCharger is a strict charger that answers TriggerMessage
// BootNotification or StatusNotification with Accepted and reports the
// requested message of each one on triggered.
type onboardingCharger struct {
	*chargepoint.Client
	triggered chan string
}

func dialOnboarding(ctx context.Context, t *testing.T, sys *system, gw int, id string, v ocppVersion, password string) (*onboardingCharger, error) {
	t.Helper()
	oc := &onboardingCharger{triggered: make(chan string, 4)}
	opts := chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      sys.schemas,
		Compress:     v.name == "2.0.1",
		OnCall: func(_ context.Context, action string, payload json.RawMessage) (any, error) {
			if action == "GetBaseReport" && v.name == "2.0.1" {
				return map[string]any{"status": "Accepted"}, nil
			}
			var req struct {
				RequestedMessage string `json:"requestedMessage"`
			}
			if action != "TriggerMessage" || json.Unmarshal(payload, &req) != nil ||
				(req.RequestedMessage != "BootNotification" && req.RequestedMessage != "StatusNotification") {
				t.Errorf("unexpected CALL from the CSMS: %s %s", action, payload)
				return nil, fmt.Errorf("e2e charger: %s not expected", action)
			}
			oc.triggered <- req.RequestedMessage
			return map[string]any{"status": "Accepted"}, nil
		},
	}
	if password != "" {
		opts.Username, opts.Password = id, password
	}
	c, err := chargepoint.Dial(ctx, sys.gateway(gw)+id, opts)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", id, err)
		}
	})
	oc.Client = c
	return oc, nil
}

func mustDialOnboarding(ctx context.Context, t *testing.T, sys *system, gw int, id string, v ocppVersion, password string) *onboardingCharger {
	t.Helper()
	c, err := dialOnboarding(ctx, t, sys, gw, id, v, password)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// wantRefused dials and expects the handshake to be refused with code.
func wantRefused(ctx context.Context, t *testing.T, sys *system, gw int, id string, v ocppVersion, password string, code int) {
	t.Helper()
	c, err := dialOnboarding(ctx, t, sys, gw, id, v, password)
	var he *chargepoint.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != code {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("connect %s: %v, want HTTP %d at the handshake", id, err, code)
	}
}

// bootAs sends a BootNotification and checks the registration status and
// the interval (the retry wait when not Accepted).
func bootAs(ctx context.Context, t *testing.T, c *chargepoint.Client, v ocppVersion, serial, want string) {
	t.Helper()
	var resp bootResponse
	if err := call(ctx, c, "BootNotification", v.boot(serial), &resp); err != nil {
		t.Fatalf("BootNotification: %v", err)
	}
	if resp.Status != want {
		t.Fatalf("BootNotification status = %q, want %q", resp.Status, want)
	}
	if resp.Interval != heartbeatInterval {
		t.Errorf("BootNotification interval = %d, want %d", resp.Interval, heartbeatInterval)
	}
}

// wantSecurityError checks that a Heartbeat is refused (B02.FR.09,
// B03.FR.07: only BootNotification while not accepted).
func wantSecurityError(ctx context.Context, t *testing.T, c *chargepoint.Client) {
	t.Helper()
	err := call(ctx, c, "Heartbeat", struct{}{}, &heartbeatResponse{})
	var ce *chargepoint.CallError
	if !errors.As(err, &ce) || ce.Code != ocppj.CodeSecurityError {
		t.Fatalf("Heartbeat of a station not accepted: %v, want CALLERROR SecurityError", err)
	}
}

func (c *restClient) onboard(ctx context.Context, t *testing.T, id, verb string, body any) (int, []byte) {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	code, _, raw, err := c.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/"+verb, body, true)
	if err != nil {
		t.Fatalf("POST %s/%s: %v", id, verb, err)
	}
	return code, raw
}

func (c *restClient) stationsWithStatus(ctx context.Context, t *testing.T, status string) []string {
	t.Helper()
	code, _, raw, err := c.do(ctx, http.MethodGet, "/api/v1/stations?page_size=1000&status="+url.QueryEscape(status), nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/stations?status=%s: %d %s %v", status, code, raw, err)
	}
	var out struct {
		Stations []apiStation `json:"stations"`
	}
	if err := decodeAPI(raw, &out); err != nil {
		t.Fatalf("stations %s: %v", raw, err)
	}
	ids := make([]string, len(out.Stations))
	for i, st := range out.Stations {
		ids[i] = st.ID
	}
	return ids
}

func testOnboardAccept(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("new" + strings.ReplaceAll(v.name, ".", ""))
	serial := "SN-" + id

	c := mustDialOnboarding(ctx, t, sys, v.index, id, v, "")
	bootAs(ctx, t, c.Client, v, serial, "Pending")
	wantSecurityError(ctx, t, c.Client)
	if v.name == "2.0.1" {
		// The CSMS may read a Pending station's device model (B02:
		// GetBaseReport): its NotifyReport is taken after the request,
		// not before.
		report := map[string]any{"requestId": 1, "generatedAt": time.Now().UTC().Format(time.RFC3339), "seqNo": 0,
			"reportData": []map[string]any{{"component": map[string]any{"name": "SecurityCtrlr"},
				"variable": map[string]any{"name": "SecurityProfile"}, "variableAttribute": []map[string]any{{"value": "1"}}}}}
		var ce *chargepoint.CallError
		if err := call(ctx, c.Client, "NotifyReport", report, &struct{}{}); !errors.As(err, &ce) || ce.Code != ocppj.CodeSecurityError {
			t.Fatalf("NotifyReport of a pending station before any request: %v, want CALLERROR SecurityError", err)
		}
		code, rep := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+id+"/reports/base", map[string]any{})
		if code != http.StatusOK || rep["status"] != "Accepted" {
			t.Fatalf("GetBaseReport of a pending station: %d %v", code, rep)
		}
		report["requestId"] = rep["requestId"]
		// A refusal is remembered for a second (api/ocpp refusalTTL).
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := call(ctx, c.Client, "NotifyReport", report, &struct{}{})
			if err == nil {
				break
			}
			if !errors.As(err, &ce) || ce.Code != ocppj.CodeSecurityError || time.Now().After(deadline) {
				t.Fatalf("NotifyReport of a pending station after GetBaseReport: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	st := sys.rest.getStation(ctx, t, id)
	if st.Onboarding != "pending" || st.HasPassword || st.SerialNumber != serial || st.Vendor != vendor || st.RegistrationStatus != "Pending" {
		t.Fatalf("pending station = %+v", st)
	}
	if got := sys.rest.stationsWithStatus(ctx, t, "pending"); !contains(got, id) {
		t.Fatalf("GET ?status=pending = %v, want %s in it", got, id)
	}
	if got := sys.rest.stationsWithStatus(ctx, t, "accepted"); contains(got, id) {
		t.Fatalf("GET ?status=accepted lists the pending station %s", id)
	}

	// Accepted with a password: the connected charger is asked to boot now.
	const password = "onboard-Passw0rd-17"
	code, raw := sys.rest.onboard(ctx, t, id, "accept", map[string]any{"password": password})
	if code != http.StatusOK {
		t.Fatalf("accept: %d %s", code, raw)
	}
	if strings.Contains(string(raw), password) {
		t.Errorf("accept response leaks the password: %s", raw)
	}
	var accepted struct {
		Station       apiStation `json:"station"`
		BootTriggered bool       `json:"bootTriggered"`
	}
	if err := decodeAPI(raw, &accepted); err != nil {
		t.Fatal(err)
	}
	if !accepted.BootTriggered || accepted.Station.Onboarding != "accepted" || !accepted.Station.HasPassword {
		t.Fatalf("accept answered %s", raw)
	}
	select {
	case <-c.triggered:
	case <-ctx.Done():
		t.Fatal("the charger never got TriggerMessage BootNotification")
	}
	bootAs(ctx, t, c.Client, v, serial, "Accepted")
	heartbeat(ctx, t, c.Client)
	charge(ctx, t, sys, c.Client, v, id)

	// From now on the password is required.
	_ = c.Close()
	wantRefused(ctx, t, sys, v.index+1, id, v, "", http.StatusUnauthorized)
	c2 := mustDialOnboarding(ctx, t, sys, v.index+1, id, v, password)
	heartbeat(ctx, t, c2.Client)

	// An accepted station cannot be rejected (block it instead).
	if code, raw := sys.rest.onboard(ctx, t, id, "reject", nil); code < 400 || code >= 500 {
		t.Errorf("reject an accepted station: %d %s, want a 4xx", code, raw)
	}
	if st := sys.rest.getStation(ctx, t, id); st.Onboarding != "accepted" {
		t.Errorf("after a refused reject the station is %q", st.Onboarding)
	}
}

// testOnboardTriggered: the operator reads a Pending station with
// TriggerMessage StatusNotification over REST (2.0.1 B02.FR.02, 1.6 §4.2:
// a Pending station sends what the CSMS triggers). The station answers
// Accepted, then sends its StatusNotification: it is answered (the strict
// charger checks the answer's schema) and the status stored, although the
// station is still pending; what was not triggered stays refused. In the
// scaled deployment the core that sent the trigger need not be the one
// that handles the station's message.
func testOnboardTriggered(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("trg" + strings.ReplaceAll(v.name, ".", ""))
	c := mustDialOnboarding(ctx, t, sys, v.index, id, v, "")
	bootAs(ctx, t, c.Client, v, "SN-"+id, "Pending")
	wantSecurityError(ctx, t, c.Client)

	trigger := map[string]any{"requestedMessage": "StatusNotification", "connectorId": 1}
	status := map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
	meters := map[string]any{"connectorId": 1, "meterValue": []map[string]any{{"timestamp": time.Now().UTC().Format(time.RFC3339),
		"sampledValue": []map[string]any{{"value": "10"}}}}}
	evse, wantStatus := 0, "Preparing"
	if v.name == "2.0.1" {
		trigger = map[string]any{"requestedMessage": "StatusNotification", "evseId": 1, "connectorId": 1}
		status = map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
		meters = map[string]any{"evseId": 1, "meterValue": []map[string]any{{"timestamp": time.Now().UTC().Format(time.RFC3339),
			"sampledValue": []map[string]any{{"value": 10}}}}}
		evse, wantStatus = 1, "Occupied"
	}
	code, _, raw, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/trigger-message", trigger, true)
	if err != nil || code != http.StatusOK || !strings.Contains(string(raw), `"Accepted"`) {
		t.Fatalf("TriggerMessage StatusNotification to the pending station: %d %s %v", code, raw, err)
	}
	select {
	case got := <-c.triggered:
		if got != "StatusNotification" {
			t.Fatalf("the charger was asked for %s", got)
		}
	case <-ctx.Done():
		t.Fatal("the charger never got TriggerMessage StatusNotification")
	}
	if err := call(ctx, c.Client, "StatusNotification", status, &struct{}{}); err != nil {
		t.Fatalf("triggered StatusNotification of a pending station: %v", err)
	}
	st := sys.rest.getStation(ctx, t, id)
	if cn, ok := st.connector(evse, 1); !ok || cn.Status != wantStatus {
		t.Fatalf("connectors after the triggered StatusNotification = %+v, want %d/1 %s", st.Connectors, evse, wantStatus)
	}
	if st.Onboarding != "pending" || st.RegistrationStatus != "Pending" {
		t.Fatalf("a triggered message changed the onboarding: %+v", st)
	}
	// Only what was triggered: MeterValues and Heartbeat are still refused.
	err = call(ctx, c.Client, "MeterValues", meters, &struct{}{})
	if ce := (*chargepoint.CallError)(nil); !errors.As(err, &ce) || ce.Code != ocppj.CodeSecurityError {
		t.Fatalf("untriggered MeterValues of a pending station: %v, want CALLERROR SecurityError", err)
	}
	wantSecurityError(ctx, t, c.Client)
}

// charge runs one charging session and finds it through the REST API.
func charge(ctx context.Context, t *testing.T, sys *system, c *chargepoint.Client, v ocppVersion, id string) {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Second)
	if v.name == "1.6" {
		var start struct {
			TransactionID int `json:"transactionId"`
		}
		if err := call(ctx, c, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "ONBOARD1", "meterStart": 100,
			"timestamp": at.Format(time.RFC3339)}, &start); err != nil {
			t.Fatalf("StartTransaction: %v", err)
		}
		if err := call(ctx, c, "StopTransaction", map[string]any{"transactionId": start.TransactionID, "meterStop": 1100,
			"timestamp": at.Add(time.Minute).Format(time.RFC3339), "reason": "Local"}, nil); err != nil {
			t.Fatalf("StopTransaction: %v", err)
		}
	} else {
		tx := "onboard-" + newStationID("tx")
		for seq, kind := range []string{"Started", "Ended"} {
			ev := map[string]any{"eventType": kind, "timestamp": at.Add(time.Duration(seq) * time.Minute).Format(time.RFC3339),
				"triggerReason": "Authorized", "seqNo": seq, "transactionInfo": map[string]any{"transactionId": tx},
				"evse": map[string]any{"id": 1, "connectorId": 1}}
			if err := call(ctx, c, "TransactionEvent", ev, &struct{}{}); err != nil {
				t.Fatalf("TransactionEvent %s: %v", kind, err)
			}
		}
	}
	if txs := listTransactions(ctx, t, sys, url.Values{"station_id": {id}}); len(txs) != 1 {
		t.Fatalf("transactions of the accepted station = %+v, want 1", txs)
	}
}

func testOnboardReject(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("rej" + strings.ReplaceAll(v.name, ".", ""))
	c := mustDialOnboarding(ctx, t, sys, v.index, id, v, "")
	bootAs(ctx, t, c.Client, v, "SN-"+id, "Pending")

	code, raw := sys.rest.onboard(ctx, t, id, "reject", nil)
	if code != http.StatusOK {
		t.Fatalf("reject: %d %s", code, raw)
	}
	if st := sys.rest.getStation(ctx, t, id); st.Onboarding != "rejected" {
		t.Fatalf("rejected station = %+v", st)
	}
	if got := sys.rest.stationsWithStatus(ctx, t, "rejected"); !contains(got, id) {
		t.Fatalf("GET ?status=rejected = %v, want %s in it", got, id)
	}
	bootAs(ctx, t, c.Client, v, "SN-"+id, "Rejected")
	wantSecurityError(ctx, t, c.Client)
	_ = c.Close()
	wantRefused(ctx, t, sys, v.index, id, v, "", http.StatusUnauthorized)
	if got := sys.rest.stationsWithStatus(ctx, t, "pending"); contains(got, id) {
		t.Fatalf("a refused reconnect made the rejected station pending again")
	}
	wantRefusalRecorded(ctx, t, sys, id, "station_rejected")
}

// wantRefusalRecorded checks that the station's refused connection is in
// its security events, with the check it failed.
func wantRefusalRecorded(ctx context.Context, t *testing.T, sys *system, id, check string) {
	t.Helper()
	got := listSecurityEvents(ctx, t, sys, "/api/v1/stations/"+id+"/security-events", url.Values{"type": {"AdmissionRefused"}})
	for _, e := range got.Events {
		if e.Source == "csms" && strings.HasPrefix(e.TechInfo, check+":") && e.RemoteAddr != "" {
			return
		}
	}
	t.Fatalf("no AdmissionRefused %s event for %s: %+v", check, id, got.Events)
}

func testOnboardBlock(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("blk" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, "")
	c := mustDialOnboarding(ctx, t, sys, v.index, id, v, "")
	bootAs(ctx, t, c.Client, v, "SN-"+id, "Accepted")

	code, raw := sys.rest.onboard(ctx, t, id, "block", nil)
	if code != http.StatusOK {
		t.Fatalf("block: %d %s", code, raw)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the blocked station's connection was not closed")
	}
	wantRefused(ctx, t, sys, v.index+1, id, v, "", http.StatusUnauthorized)
	wantRefusalRecorded(ctx, t, sys, id, "station_blocked")
	st := sys.rest.getStation(ctx, t, id)
	if !st.Blocked || st.SerialNumber != "SN-"+id || st.Onboarding != "accepted" {
		t.Fatalf("blocked station (history kept) = %+v", st)
	}
	if got := sys.rest.stationsWithStatus(ctx, t, "blocked"); !contains(got, id) {
		t.Fatalf("GET ?status=blocked = %v, want %s in it", got, id)
	}
	eventually(t, "blocked station offline", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected, fmt.Sprintf("connected %v", st.Connected)
	})

	if code, raw := sys.rest.onboard(ctx, t, id, "unblock", nil); code != http.StatusOK {
		t.Fatalf("unblock: %d %s", code, raw)
	}
	c2 := mustDialOnboarding(ctx, t, sys, v.index+1, id, v, "")
	bootAs(ctx, t, c2.Client, v, "SN-"+id, "Accepted")
	heartbeat(ctx, t, c2.Client)
}
