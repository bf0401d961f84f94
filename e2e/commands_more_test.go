package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// TestMoreCommands drives the firmware/log, reservation, local list and
// smart charging commands over REST, in both deployments and both protocol
// versions, to strict simulated chargers: each charger must receive the
// version's action with the right payload (pkg/chargepoint checks it
// against the official request schema), its answer must come back to the
// REST caller, and what it reports afterwards must show in the API.
func TestMoreCommands(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			for _, v := range versions {
				t.Run("Firmware/"+v.name, func(t *testing.T) { testFirmwareCommands(t, sys, v) })
				t.Run("Reservations/"+v.name, func(t *testing.T) { testReservations(t, sys, v) })
				// Sequential on purpose: the local list is built from the whole
				// id token table of the system.
				t.Run("LocalList/"+v.name, func(t *testing.T) { testLocalList(t, sys, v) })
				t.Run("SmartCharging/"+v.name, func(t *testing.T) { testSmartCharging(t, sys, v) })
				t.Run("GenericCallEffects/"+v.name, func(t *testing.T) { testGenericCallEffects(t, sys, v) })
			}
		})
	}
}

// opCall is a CALL a charger got from the CSMS.
type opCall struct {
	action  string
	payload map[string]any
}

// opsCharger is a strict charger that answers the CSMS's CALLs from a
// per-action table and hands every CALL to the test.
type opsCharger struct {
	*chargepoint.Client
	id    string
	v     ocppVersion
	calls chan opCall

	mu      sync.Mutex
	answers map[string]any
}

func dialOpsCharger(ctx context.Context, t *testing.T, sys *system, v ocppVersion, prefix string) *opsCharger {
	t.Helper()
	oc := &opsCharger{id: newStationID(prefix), v: v, calls: make(chan opCall, 32), answers: map[string]any{}}
	sys.rest.createStation(ctx, t, oc.id, "")
	opts := chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      sys.schemas,
		Compress:     v.name == "2.0.1",
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			var p map[string]any
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Errorf("%s: CALL %s with a payload that is not an object: %s", oc.id, action, payload)
			}
			select {
			case oc.calls <- opCall{action, p}:
			default:
				t.Errorf("%s: CALL %s not collected by the test", oc.id, action)
			}
			oc.mu.Lock()
			ans, ok := oc.answers[action]
			oc.mu.Unlock()
			if !ok {
				return nil, &chargepoint.CallError{Code: "NotSupported", Description: "no answer set for " + action}
			}
			return ans, nil
		},
	}
	c, err := chargepoint.Dial(ctx, sys.gateway(v.index)+oc.id, opts)
	if err != nil {
		t.Fatalf("connect %s: %v", oc.id, err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", oc.id, err)
		}
	})
	oc.Client = c
	boot(ctx, t, c, v, "SN-"+oc.id)
	return oc
}

func (c *opsCharger) answer(action string, payload any) {
	c.mu.Lock()
	c.answers[action] = payload
	c.mu.Unlock()
}

// next returns the next CALL, which must be action.
func (c *opsCharger) next(ctx context.Context, t *testing.T, action string) map[string]any {
	t.Helper()
	select {
	case rc := <-c.calls:
		if rc.action != action {
			t.Fatalf("%s: got CALL %s %v, want %s", c.id, rc.action, rc.payload, action)
		}
		return rc.payload
	case <-ctx.Done():
		t.Fatalf("%s: no %s CALL from the CSMS: %v", c.id, action, ctx.Err())
		return nil
	}
}

// nothingSent asserts the charger received no CALL.
func (c *opsCharger) nothingSent(t *testing.T) {
	t.Helper()
	select {
	case rc := <-c.calls:
		t.Errorf("%s: unexpected CALL %s %v", c.id, rc.action, rc.payload)
	default:
	}
}

// api sends a REST request for the station and decodes the JSON answer.
func (c *opsCharger) api(ctx context.Context, t *testing.T, sys *system, method, path string, body any) (int, map[string]any) {
	t.Helper()
	full := "/api/v1/stations/" + c.id + path
	code, _, raw, err := sys.rest.do(ctx, method, full, body, true)
	if err != nil {
		t.Fatalf("%s %s: %v", method, full, err)
	}
	var out map[string]any
	if err := decodeAPI(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, full, code, raw, err)
	}
	return code, out
}

// apiOK is api for a request that must succeed.
func (c *opsCharger) apiOK(ctx context.Context, t *testing.T, sys *system, method, path string, body any) map[string]any {
	t.Helper()
	code, out := c.api(ctx, t, sys, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

// field walks a decoded JSON document: field(m, "a", "b") is m["a"]["b"].
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// num reads a JSON number (proto3 JSON writes 64-bit integers as strings).
func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return -1
}

func wantFields(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if wn, ok := w.(int); ok {
			if num(g) != float64(wn) {
				t.Errorf("%s: %s = %v, want %v (in %v)", what, k, g, w, got)
			}
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: %s = %v, want %v (in %v)", what, k, g, w, got)
		}
	}
}

func sameInstant(t *testing.T, what string, got any, want time.Time) {
	t.Helper()
	s, _ := got.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !at.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want.Format(time.RFC3339Nano))
	}
}

func testFirmwareCommands(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "fw")
	retrieve := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	is16 := v.name == "1.6"

	// UpdateFirmware.
	if is16 {
		c.answer("UpdateFirmware", map[string]any{})
	} else {
		c.answer("UpdateFirmware", map[string]any{"status": "Accepted"})
	}
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/firmware/update", map[string]any{
		"location": "https://fw.example/image.bin", "retrieveTime": retrieve.Format(time.RFC3339), "retries": 2, "retryInterval": 30,
	})
	got := c.next(ctx, t, "UpdateFirmware")
	var fwRequestID float64
	if is16 {
		wantFields(t, "1.6 UpdateFirmware", got, map[string]any{"location": "https://fw.example/image.bin", "retries": 2, "retryInterval": 30})
		sameInstant(t, "retrieveDate", got["retrieveDate"], retrieve)
	} else {
		wantFields(t, "2.0.1 UpdateFirmware", got, map[string]any{"retries": 2, "retryInterval": 30})
		fwRequestID = num(got["requestId"])
		if fwRequestID <= 0 || field(got, "firmware", "location") != "https://fw.example/image.bin" {
			t.Errorf("2.0.1 UpdateFirmware payload %v", got)
		}
		sameInstant(t, "firmware.retrieveDateTime", field(got, "firmware", "retrieveDateTime"), retrieve)
		if num(resp["requestId"]) != fwRequestID {
			t.Errorf("REST requestId %v, charger got %v", resp["requestId"], fwRequestID)
		}
	}
	if resp["status"] != "Accepted" || resp["commandId"] == "" {
		t.Errorf("UpdateFirmware answer %v", resp)
	}
	if is16 {
		// A field 1.6 cannot express: refused, nothing sent.
		code, out := c.api(ctx, t, sys, http.MethodPost, "/firmware/update", map[string]any{"location": "https://fw.example/x", "signature": "c2ln"})
		if code != http.StatusBadRequest {
			t.Errorf("1.6 UpdateFirmware with a signature: %d %v, want 400", code, out)
		}
		c.nothingSent(t)
	}

	// The station reports progress; the newest shows on the station.
	fwStatus := map[string]any{"status": "Downloading"}
	fwDone := map[string]any{"status": "Installed"}
	if !is16 {
		fwStatus["requestId"], fwDone["requestId"] = int(fwRequestID), int(fwRequestID)
	}
	for _, p := range []map[string]any{fwStatus, fwDone} {
		if err := call(ctx, c.Client, "FirmwareStatusNotification", p, &struct{}{}); err != nil {
			t.Fatalf("FirmwareStatusNotification: %v", err)
		}
	}

	// GetDiagnostics (1.6) / GetLog (2.0.1).
	oldest := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	action, logAnswer := "GetLog", map[string]any{"status": "Accepted", "filename": "log.tar.gz"}
	if is16 {
		action, logAnswer = "GetDiagnostics", map[string]any{"fileName": "log.tar.gz"}
	}
	c.answer(action, logAnswer)
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/logs/upload", map[string]any{
		"location": "ftp://logs.example/up", "oldestTime": oldest.Format(time.RFC3339),
	})
	got = c.next(ctx, t, action)
	var logRequestID float64
	if is16 {
		wantFields(t, "GetDiagnostics", got, map[string]any{"location": "ftp://logs.example/up"})
		sameInstant(t, "startTime", got["startTime"], oldest)
	} else {
		wantFields(t, "GetLog", got, map[string]any{"logType": "DiagnosticsLog"})
		logRequestID = num(got["requestId"])
		if logRequestID <= 0 || field(got, "log", "remoteLocation") != "ftp://logs.example/up" {
			t.Errorf("GetLog payload %v", got)
		}
		sameInstant(t, "log.oldestTimestamp", field(got, "log", "oldestTimestamp"), oldest)
	}
	wantFields(t, action+" answer", resp, map[string]any{"status": "Accepted", "filename": "log.tar.gz"})
	if is16 {
		// A log type is the security whitepaper's GetLog.
		c.answer("GetLog", map[string]any{"status": "Accepted", "filename": "security.log"})
		sec := c.apiOK(ctx, t, sys, http.MethodPost, "/logs/upload", map[string]any{"location": "ftp://x", "logType": "SecurityLog"})
		got := c.next(ctx, t, "GetLog")
		if got["logType"] != "SecurityLog" || num(got["requestId"]) <= 0 || field(got, "log", "remoteLocation") != "ftp://x" ||
			num(sec["requestId"]) != num(got["requestId"]) || sec["filename"] != "security.log" {
			t.Errorf("1.6 GetLog %v, answer %v", got, sec)
		}
		if err := call(ctx, c.Client, "DiagnosticsStatusNotification", map[string]any{"status": "Uploaded"}, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := call(ctx, c.Client, "LogStatusNotification", map[string]any{"status": "Uploaded", "requestId": int(logRequestID)}, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}

	code, _, raw, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+c.id, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET station: %d %s %v", code, raw, err)
	}
	var st map[string]any
	if err := decodeAPI(raw, &st); err != nil {
		t.Fatal(err)
	}
	if field(st, "firmwareStatus", "status") != "Installed" || field(st, "firmwareStatus", "action") != "FirmwareStatusNotification" {
		t.Errorf("station firmwareStatus = %v", st["firmwareStatus"])
	}
	if field(st, "logStatus", "status") != "Uploaded" {
		t.Errorf("station logStatus = %v", st["logStatus"])
	}
	if !is16 && num(field(st, "logStatus", "requestId")) != logRequestID {
		t.Errorf("station logStatus requestId = %v, want %v", field(st, "logStatus", "requestId"), logRequestID)
	}
	hist := c.apiOK(ctx, t, sys, http.MethodGet, "/status-reports?kind=firmware", nil)
	reports, _ := hist["reports"].([]any)
	if len(reports) != 2 || field(reports[0], "status") != "Installed" || field(reports[1], "status") != "Downloading" {
		t.Errorf("firmware history = %v", hist)
	}
	testPublishFirmware(ctx, t, sys, c)
	testNetworkProfile(ctx, t, sys, c)
}

// testPublishFirmware: a 2.0.1 local controller is told to publish
// firmware and to stop; what it reports shows on the station. A 1.6
// station has no such command: 400, nothing sent.
func testPublishFirmware(ctx context.Context, t *testing.T, sys *system, c *opsCharger) {
	const md5 = "9e107d9d372bb6826bd81d3542a419d6"
	body := map[string]any{"location": "https://fw.example/lc.bin", "checksum": md5, "retries": 1}
	if c.v.name == "1.6" {
		if code, out := c.api(ctx, t, sys, http.MethodPost, "/firmware/publish", body); code != http.StatusBadRequest {
			t.Errorf("1.6 PublishFirmware: %d %v, want 400", code, out)
		}
		c.nothingSent(t)
		return
	}
	c.answer("PublishFirmware", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/firmware/publish", body)
	got := c.next(ctx, t, "PublishFirmware")
	wantFields(t, "PublishFirmware", got, map[string]any{"location": "https://fw.example/lc.bin", "checksum": md5, "retries": 1})
	if resp["status"] != "Accepted" || num(resp["requestId"]) <= 0 || num(resp["requestId"]) != num(got["requestId"]) {
		t.Errorf("PublishFirmware sent %v answered %v", got, resp)
	}
	for _, p := range []map[string]any{{"status": "Downloading", "requestId": int(num(got["requestId"]))},
		{"status": "Published", "requestId": int(num(got["requestId"])), "location": []string{"http://lc.local/fw.bin"}}} {
		if err := call(ctx, c.Client, "PublishFirmwareStatusNotification", p, &struct{}{}); err != nil {
			t.Fatalf("PublishFirmwareStatusNotification: %v", err)
		}
	}
	st := c.apiOK(ctx, t, sys, http.MethodGet, "", nil)
	if field(st, "publishStatus", "status") != "Published" || fmt.Sprint(field(st, "publishStatus", "locations")) != "[http://lc.local/fw.bin]" ||
		num(field(st, "publishStatus", "requestId")) != num(got["requestId"]) {
		t.Errorf("station publishStatus = %v", st["publishStatus"])
	}
	hist := c.apiOK(ctx, t, sys, http.MethodGet, "/status-reports?kind=publish", nil)
	if reports, _ := hist["reports"].([]any); len(reports) != 2 || field(reports[1], "status") != "Downloading" {
		t.Errorf("publish history = %v", hist)
	}

	c.answer("UnpublishFirmware", map[string]any{"status": "Unpublished"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/firmware/unpublish", map[string]any{"checksum": md5})
	got = c.next(ctx, t, "UnpublishFirmware")
	if got["checksum"] != md5 || resp["status"] != "Unpublished" || resp["commandId"] == "" {
		t.Errorf("UnpublishFirmware sent %v answered %v", got, resp)
	}
}

// testNetworkProfile: SetNetworkProfile (2.0.1) goes out as asked (the
// e2e stations are lab stations of profile 0, which OCPP cannot send, so
// the profile is given); the accepted profile is listed without its VPN
// password, which neither the command history nor the message log shows
// either.
func testNetworkProfile(ctx context.Context, t *testing.T, sys *system, c *opsCharger) {
	const secret = "vpn-pw-e2e-0042"
	body := map[string]any{"configurationSlot": 1, "csmsUrl": "wss://csms.example/ocpp", "securityProfile": 2,
		"vpn": map[string]any{"server": "vpn.example", "user": "cs", "password": secret, "key": "k", "type": "IKEv2"}}
	if c.v.name == "1.6" {
		if code, out := c.api(ctx, t, sys, http.MethodPost, "/network-profiles", body); code != http.StatusBadRequest {
			t.Errorf("1.6 SetNetworkProfile: %d %v, want 400", code, out)
		}
		c.nothingSent(t)
		return
	}
	c.answer("SetNetworkProfile", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/network-profiles", body)
	got := c.next(ctx, t, "SetNetworkProfile")
	if num(got["configurationSlot"]) != 1 || field(got, "connectionData", "ocppCsmsUrl") != "wss://csms.example/ocpp" ||
		num(field(got, "connectionData", "securityProfile")) != 2 || field(got, "connectionData", "vpn", "password") != secret {
		t.Errorf("SetNetworkProfile sent %v", got)
	}
	if resp["status"] != "Accepted" || field(resp, "profile", "csmsUrl") != "wss://csms.example/ocpp" {
		t.Errorf("SetNetworkProfile answered %v", resp)
	}
	list := c.apiOK(ctx, t, sys, http.MethodGet, "/network-profiles", nil)
	profiles, _ := list["profiles"].([]any)
	if len(profiles) != 1 || num(field(profiles[0], "configurationSlot")) != 1 || field(profiles[0], "connectionData", "vpn", "server") != "vpn.example" {
		t.Errorf("network profiles = %v", list)
	}
	for _, path := range []string{"/network-profiles", "/commands?pageSize=100", "/messages?pageSize=100"} {
		_, _, raw, _ := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+c.id+path, nil, true)
		if strings.Contains(string(raw), secret) || !strings.Contains(string(raw), "redacted") {
			t.Errorf("%s: the VPN password is not redacted: %s", path, raw)
		}
	}
}

func testReservations(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "rsv")
	is16 := v.name == "1.6"
	tag := "RSV" + strings.ToUpper(uuid.NewString()[:8])
	expires := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)

	c.answer("ReserveNow", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/reservations", map[string]any{
		"idToken": tag, "expiresAt": expires.Format(time.RFC3339), "evseId": 1,
	})
	got := c.next(ctx, t, "ReserveNow")
	resID := num(field(resp, "reservation", "id"))
	if resID <= 0 || resp["status"] != "Accepted" || field(resp, "reservation", "status") != "Accepted" {
		t.Fatalf("ReserveNow answer %v", resp)
	}
	if is16 {
		wantFields(t, "1.6 ReserveNow", got, map[string]any{"connectorId": 1, "idTag": tag, "reservationId": int(resID)})
		sameInstant(t, "expiryDate", got["expiryDate"], expires)
	} else {
		wantFields(t, "2.0.1 ReserveNow", got, map[string]any{"evseId": 1, "id": int(resID)})
		if field(got, "idToken", "idToken") != tag || field(got, "idToken", "type") != "Central" {
			t.Errorf("2.0.1 ReserveNow idToken %v", got["idToken"])
		}
		sameInstant(t, "expiryDateTime", got["expiryDateTime"], expires)
	}

	// Cancel it.
	c.answer("CancelReservation", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, fmt.Sprintf("/reservations/%d/cancel", int64(resID)), nil)
	got = c.next(ctx, t, "CancelReservation")
	wantFields(t, "CancelReservation", got, map[string]any{"reservationId": int(resID)})
	if resp["status"] != "Accepted" || field(resp, "reservation", "status") != "Cancelled" {
		t.Errorf("CancelReservation answer %v", resp)
	}

	// A second one the station refuses is recorded with its answer.
	c.answer("ReserveNow", map[string]any{"status": "Occupied"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/reservations", map[string]any{"idToken": tag, "expiresAt": expires.Format(time.RFC3339)})
	got = c.next(ctx, t, "ReserveNow")
	if is16 && num(got["connectorId"]) != 0 {
		t.Errorf("1.6 ReserveNow without a connector: connectorId %v, want 0", got["connectorId"])
	}
	if !is16 && got["evseId"] != nil {
		t.Errorf("2.0.1 ReserveNow without an EVSE sent evseId %v", got["evseId"])
	}
	if resp["status"] != "Occupied" || field(resp, "reservation", "status") != "Occupied" {
		t.Errorf("refused ReserveNow answer %v", resp)
	}

	if !is16 {
		// 2.0.1: an accepted reservation the station later removes.
		c.answer("ReserveNow", map[string]any{"status": "Accepted"})
		resp = c.apiOK(ctx, t, sys, http.MethodPost, "/reservations", map[string]any{"idToken": tag, "expiresAt": expires.Format(time.RFC3339), "evseId": 2})
		c.next(ctx, t, "ReserveNow")
		third := num(field(resp, "reservation", "id"))
		if err := call(ctx, c.Client, "ReservationStatusUpdate", map[string]any{"reservationId": int(third), "reservationUpdateStatus": "Removed"}, &struct{}{}); err != nil {
			t.Fatal(err)
		}
	}

	list := c.apiOK(ctx, t, sys, http.MethodGet, "/reservations", nil)
	items, _ := list["reservations"].([]any)
	var statuses []string
	for _, it := range items {
		statuses = append(statuses, fmt.Sprint(field(it, "status")))
	}
	want := []string{"Occupied", "Cancelled"}
	if !is16 {
		want = append([]string{"Removed"}, want...)
	}
	if !slices.Equal(statuses, want) {
		t.Errorf("reservations newest first = %v, want %v", statuses, want)
	}
	active := c.apiOK(ctx, t, sys, http.MethodGet, "/reservations?active_only=true", nil)
	if items, _ := active["reservations"].([]any); len(items) != 0 {
		t.Errorf("active reservations = %v, want none", items)
	}
}

// localListEntries maps the tokens of a SendLocalList to their status
// ("" for an entry without authorization info: removed).
func localListEntries(t *testing.T, v ocppVersion, payload map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := payload["localAuthorizationList"].([]any)
	for _, e := range list {
		if v.name == "1.6" {
			out[fmt.Sprint(field(e, "idTag"))] = strOrEmpty(field(e, "idTagInfo", "status"))
		} else {
			out[fmt.Sprint(field(e, "idToken", "idToken"))] = strOrEmpty(field(e, "idTokenInfo", "status"))
		}
	}
	return out
}

// asJSON is v as encoding/json decodes it (numbers float64, maps of any).
func asJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func strOrEmpty(v any) string {
	s, _ := v.(string)
	return s
}

func createToken(ctx context.Context, t *testing.T, sys *system, body map[string]any) string {
	t.Helper()
	code, _, raw, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/id-tokens", body, true)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/v1/id-tokens %v: %d %s %v", body, code, raw, err)
	}
	var tok apiIDToken
	if err := decodeAPI(raw, &tok); err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

func testLocalList(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "ll")
	versionKey, versionAnswer := "versionNumber", map[string]any{"versionNumber": 0}
	if v.name == "1.6" {
		versionKey, versionAnswer = "listVersion", map[string]any{"listVersion": 0}
	}
	sfx := strings.ToUpper(uuid.NewString()[:8])
	a, b, cc := "LLA"+sfx, "LLB"+sfx, "LLC"+sfx
	aID := createToken(ctx, t, sys, map[string]any{"value": a, "type": "ISO14443", "groupId": b})
	bID := createToken(ctx, t, sys, map[string]any{"value": b})

	c.answer("GetLocalListVersion", versionAnswer)
	resp := c.apiOK(ctx, t, sys, http.MethodGet, "/local-list/version", nil)
	c.next(ctx, t, "GetLocalListVersion")
	if num(resp["version"]) != 0 || num(resp["acceptedVersion"]) != 0 {
		t.Errorf("GetLocalListVersion answer %v", resp)
	}

	// Differential before any accepted list: refused, nothing sent.
	if code, out := c.api(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Differential"}); code == http.StatusOK {
		t.Errorf("differential without a base list: %d %v", code, out)
	}
	c.nothingSent(t)

	// The station is asked how much of a list it takes before each update;
	// this one says nothing (1.6: keys unknown, 2.0.1: variables unknown).
	c.localListLimits(0, 0, 0)
	c.answer("SendLocalList", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Full"})
	c.limitsAsked(ctx, t)
	got := c.next(ctx, t, "SendLocalList")
	if got["updateType"] != "Full" || num(got[map[bool]string{true: "listVersion", false: "versionNumber"}[v.name == "1.6"]]) != 1 {
		t.Errorf("full SendLocalList %v", got)
	}
	full := localListEntries(t, v, got)
	if full[a] != "Accepted" || full[b] != "Accepted" || len(full) != int(num(resp["updated"])) {
		t.Errorf("full list %v (answer %v)", full, resp)
	}
	for _, e := range got["localAuthorizationList"].([]any) {
		if v.name == "1.6" && field(e, "idTag") == a && field(e, "idTagInfo", "parentIdTag") != b {
			t.Errorf("1.6 entry %v: want parentIdTag %s", e, b)
		}
		if v.name == "2.0.1" && field(e, "idToken", "idToken") == a &&
			(field(e, "idToken", "type") != "ISO14443" || field(e, "idTokenInfo", "groupIdToken", "idToken") != b) {
			t.Errorf("2.0.1 entry %v: want type ISO14443 and group %s", e, b)
		}
	}
	if resp["status"] != "Accepted" || num(resp["version"]) != 1 {
		t.Errorf("full SendLocalList answer %v", resp)
	}

	// Change one token, remove one, add one: the differential carries
	// exactly those.
	code, _, raw, err := sys.rest.do(ctx, http.MethodPatch, "/api/v1/id-tokens/"+aID, map[string]any{"status": "Blocked", "groupId": ""}, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("block %s: %d %s %v", a, code, raw, err)
	}
	if code, _, raw, err := sys.rest.do(ctx, http.MethodDelete, "/api/v1/id-tokens/"+bID, nil, true); err != nil || code != http.StatusOK {
		t.Fatalf("delete %s: %d %s %v", b, code, raw, err)
	}
	createToken(ctx, t, sys, map[string]any{"value": cc})

	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Differential"})
	c.limitsAsked(ctx, t)
	got = c.next(ctx, t, "SendLocalList")
	diff := localListEntries(t, v, got)
	want := map[string]string{a: "Blocked", b: "", cc: "Accepted"}
	if fmt.Sprint(diff) != fmt.Sprint(want) || got["updateType"] != "Differential" {
		t.Errorf("differential %v %v, want entries %v", got["updateType"], diff, want)
	}
	if num(resp["version"]) != 2 || num(resp["updated"]) != 2 || num(resp["removed"]) != 1 {
		t.Errorf("differential answer %v", resp)
	}

	// Nothing changed since: an empty differential.
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Differential"})
	c.limitsAsked(ctx, t)
	got = c.next(ctx, t, "SendLocalList")
	if len(localListEntries(t, v, got)) != 0 || num(resp["version"]) != 3 {
		t.Errorf("empty differential %v answer %v", got, resp)
	}

	c.answer("GetLocalListVersion", map[string]any{versionKey: 3})
	resp = c.apiOK(ctx, t, sys, http.MethodGet, "/local-list/version", nil)
	c.next(ctx, t, "GetLocalListVersion")
	if num(resp["version"]) != 3 || num(resp["acceptedVersion"]) != 3 {
		t.Errorf("GetLocalListVersion after updates %v", resp)
	}

	// A station that takes fewer entries per message than the list has
	// gets a Full part, then Differential parts of the following versions,
	// each within its limit; together they are the whole list.
	// As many tokens as the first Full list: a blocked, b gone, cc new.
	n := len(full)
	per := max(1, (n+2)/3)
	c.localListLimits(0, per, 0)
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Full"})
	c.limitsAsked(ctx, t)
	parts := int(num(resp["plannedMessages"]))
	if parts != (n+per-1)/per || num(resp["messages"]) != float64(parts) || resp["status"] != "Accepted" ||
		num(resp["version"]) != float64(3+parts) || num(resp["updated"]) != float64(n) {
		t.Errorf("split Full answer %v, want %d messages of at most %d", resp, (n+per-1)/per, per)
	}
	whole := map[string]string{}
	versionField := map[bool]string{true: "listVersion", false: "versionNumber"}[v.name == "1.6"]
	for i := range parts {
		got := c.next(ctx, t, "SendLocalList")
		entries := localListEntries(t, v, got)
		wantType := map[bool]string{true: "Full", false: "Differential"}[i == 0]
		if got["updateType"] != wantType || num(got[versionField]) != float64(4+i) || len(entries) > per || len(entries) == 0 {
			t.Errorf("part %d: %s version %v with %d entries, want %s version %d with at most %d",
				i, got["updateType"], got[versionField], len(entries), wantType, 4+i, per)
		}
		maps.Copy(whole, entries)
	}
	if len(whole) != n || whole[a] != "Blocked" || whole[cc] != "Accepted" || whole[b] != "" {
		t.Errorf("the parts carried %v, want the %d tokens", whole, n)
	}

	// 1.6: a list longer than the station holds is refused; no
	// SendLocalList.
	if v.name == "1.6" {
		c.localListLimits(n-1, 0, 0)
		if code, out := c.api(ctx, t, sys, http.MethodPost, "/local-list", map[string]any{"updateType": "Full"}); code != http.StatusBadRequest ||
			!strings.Contains(fmt.Sprint(out), "longer than the station holds") {
			t.Errorf("a list of %d for a station of %d: %d %v", n, n-1, code, out)
		}
		c.limitsAsked(ctx, t)
		c.nothingSent(t)
	}
}

// localListLimits sets how the charger answers the question of its local
// list limits: 1.6 LocalAuthListMaxLength and SendLocalListMaxLength, 2.0.1
// ItemsPerMessage and BytesPerMessage (2.0.1 has no entries limit to ask;
// entries must be 0 for it). 0 leaves a limit unknown to the station.
func (c *opsCharger) localListLimits(entries, items, bytes int) {
	if c.v.name == "1.6" {
		var keys []any
		var unknown []string
		for _, kv := range []struct {
			key string
			n   int
		}{{"LocalAuthListMaxLength", entries}, {"SendLocalListMaxLength", items}} {
			if kv.n > 0 {
				keys = append(keys, map[string]any{"key": kv.key, "readonly": true, "value": strconv.Itoa(kv.n)})
			} else {
				unknown = append(unknown, kv.key)
			}
		}
		ans := map[string]any{}
		if len(keys) > 0 {
			ans["configurationKey"] = keys
		}
		if len(unknown) > 0 {
			ans["unknownKey"] = unknown
		}
		c.answer("GetConfiguration", ans)
		return
	}
	var results []any
	for _, kv := range []struct {
		name string
		n    int
	}{{"ItemsPerMessage", items}, {"BytesPerMessage", bytes}, {"ItemsPerMessageSendLocalList", 0}, {"BytesPerMessageSendLocalList", 0}} {
		r := map[string]any{"component": map[string]any{"name": "LocalAuthListCtrlr"}, "variable": map[string]any{"name": kv.name},
			"attributeStatus": "UnknownVariable"}
		if kv.n > 0 {
			r["attributeStatus"], r["attributeValue"] = "Accepted", strconv.Itoa(kv.n)
		}
		results = append(results, r)
	}
	c.answer("GetVariables", map[string]any{"getVariableResult": results})
}

// limitsAsked takes the question of the station's local list limits.
func (c *opsCharger) limitsAsked(ctx context.Context, t *testing.T) {
	t.Helper()
	if c.v.name == "1.6" {
		got := c.next(ctx, t, "GetConfiguration")
		if fmt.Sprint(got["key"]) != "[LocalAuthListMaxLength SendLocalListMaxLength]" {
			t.Errorf("limits asked with %v", got)
		}
		return
	}
	got := c.next(ctx, t, "GetVariables")
	if data, _ := got["getVariableData"].([]any); len(data) != 4 || field(data[0], "component", "name") != "LocalAuthListCtrlr" {
		t.Errorf("limits asked with %v", got)
	}
}

func testSmartCharging(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "sc")
	is16 := v.name == "1.6"
	profile := func(id, level int) map[string]any {
		if is16 {
			return map[string]any{"chargingProfileId": id, "stackLevel": level, "chargingProfilePurpose": "TxDefaultProfile",
				"chargingProfileKind": "Relative",
				"chargingSchedule":    map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}
		}
		return map[string]any{"id": id, "stackLevel": level, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
			"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}}}
	}
	profileKey, evseKey := "chargingProfile", "evseId"
	if is16 {
		profileKey, evseKey = "csChargingProfiles", "connectorId"
	}

	c.answer("SetChargingProfile", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/charging-profiles", map[string]any{"evseId": 1, "profile": profile(11, 1)})
	got := c.next(ctx, t, "SetChargingProfile")
	if num(got[evseKey]) != 1 || fmt.Sprint(asJSON(got[profileKey])) != fmt.Sprint(asJSON(profile(11, 1))) {
		t.Errorf("SetChargingProfile payload %v", got)
	}
	if resp["status"] != "Accepted" || num(field(resp, "chargingProfile", "profileId")) != 11 {
		t.Errorf("SetChargingProfile answer %v", resp)
	}
	// A rejected profile is not stored.
	c.answer("SetChargingProfile", map[string]any{"status": "Rejected"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/charging-profiles", map[string]any{"evseId": 1, "profile": profile(12, 2)})
	c.next(ctx, t, "SetChargingProfile")
	if resp["status"] != "Rejected" {
		t.Errorf("rejected SetChargingProfile answer %v", resp)
	}
	// A profile its version's schema refuses: 400, nothing sent.
	bad := profile(13, 3)
	delete(bad, "chargingSchedule")
	if code, out := c.api(ctx, t, sys, http.MethodPost, "/charging-profiles", map[string]any{"evseId": 1, "profile": bad}); code != http.StatusBadRequest {
		t.Errorf("invalid profile: %d %v, want 400", code, out)
	}
	c.nothingSent(t)

	list := c.apiOK(ctx, t, sys, http.MethodGet, "/charging-profiles", nil)
	stored, _ := list["chargingProfiles"].([]any)
	if len(stored) != 1 || num(field(stored[0], "profileId")) != 11 || field(stored[0], "source") != "set" ||
		num(field(stored[0], "evseId")) != 1 || field(stored[0], "purpose") != "TxDefaultProfile" {
		t.Fatalf("stored profiles %v", list)
	}

	// GetCompositeSchedule.
	start := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	sched := map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16}}}
	if is16 {
		c.answer("GetCompositeSchedule", map[string]any{"status": "Accepted", "connectorId": 1, "scheduleStart": start, "chargingSchedule": sched})
	} else {
		c.answer("GetCompositeSchedule", map[string]any{"status": "Accepted", "schedule": map[string]any{"evseId": 1, "duration": 3600,
			"scheduleStart": start, "chargingRateUnit": "A", "chargingSchedulePeriod": sched["chargingSchedulePeriod"]}})
	}
	resp = c.apiOK(ctx, t, sys, http.MethodGet, "/composite-schedule?evse_id=1&duration=3600&charging_rate_unit=A", nil)
	got = c.next(ctx, t, "GetCompositeSchedule")
	wantFields(t, "GetCompositeSchedule", got, map[string]any{evseKey: 1, "duration": 3600, "chargingRateUnit": "A"})
	if resp["status"] != "Accepted" || field(resp, "schedule", "scheduleStart") != start {
		t.Errorf("GetCompositeSchedule answer %v", resp)
	}

	// ClearChargingProfile by id removes the stored profile.
	c.answer("ClearChargingProfile", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/charging-profiles/clear", map[string]any{"profileId": 11})
	got = c.next(ctx, t, "ClearChargingProfile")
	idKey := "chargingProfileId"
	if is16 {
		idKey = "id"
	}
	wantFields(t, "ClearChargingProfile", got, map[string]any{idKey: 11})
	if resp["status"] != "Accepted" || num(resp["removed"]) != 1 {
		t.Errorf("ClearChargingProfile answer %v", resp)
	}
	list = c.apiOK(ctx, t, sys, http.MethodGet, "/charging-profiles?source=set", nil)
	if stored, _ := list["chargingProfiles"].([]any); len(stored) != 0 {
		t.Errorf("profiles after clear %v", stored)
	}

	// GetChargingProfiles: 2.0.1 only; the report that follows is stored.
	if is16 {
		if code, out := c.api(ctx, t, sys, http.MethodPost, "/charging-profiles/report", map[string]any{}); code != http.StatusBadRequest {
			t.Errorf("1.6 GetChargingProfiles: %d %v, want 400", code, out)
		}
		c.nothingSent(t)
		return
	}
	c.answer("GetChargingProfiles", map[string]any{"status": "Accepted"})
	resp = c.apiOK(ctx, t, sys, http.MethodPost, "/charging-profiles/report", map[string]any{"evseId": 1, "purpose": "TxDefaultProfile"})
	got = c.next(ctx, t, "GetChargingProfiles")
	reqID := num(got["requestId"])
	if reqID <= 0 || num(resp["requestId"]) != reqID || num(got["evseId"]) != 1 || field(got, "chargingProfile", "chargingProfilePurpose") != "TxDefaultProfile" {
		t.Errorf("GetChargingProfiles payload %v answer %v", got, resp)
	}
	report := map[string]any{"requestId": int(reqID), "chargingLimitSource": "CSO", "evseId": 1, "chargingProfile": []any{profile(21, 4)}}
	if err := call(ctx, c.Client, "ReportChargingProfiles", report, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"source": {"reported"}, "request_id": {strconv.Itoa(int(reqID))}}
	list = c.apiOK(ctx, t, sys, http.MethodGet, "/charging-profiles?"+q.Encode(), nil)
	stored, _ = list["chargingProfiles"].([]any)
	if len(stored) != 1 || num(field(stored[0], "profileId")) != 21 || field(stored[0], "chargingLimitSource") != "CSO" ||
		num(field(stored[0], "stackLevel")) != 4 {
		t.Errorf("reported profiles %v", list)
	}
}

// testGenericCallEffects: a command sent through the generic call has the
// effects of its typed method (both go through the version's command
// table): an accepted profile is stored, an accepted cancellation cancels
// the reservation, an accepted local list is the station's accepted list.
func testGenericCallEffects(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialOpsCharger(ctx, t, sys, v, "gce")
	is16 := v.name == "1.6"
	call := func(action string, payload map[string]any) {
		t.Helper()
		r := restCall(ctx, t, sys.rest, c.id, action, payload, 0)
		c.next(ctx, t, action)
		if r.status != http.StatusOK {
			t.Fatalf("call %s: %d %s", action, r.status, r.body)
		}
	}

	profile := map[string]any{"chargingProfileId": 31, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile",
		"chargingProfileKind": "Relative",
		"chargingSchedule":    map[string]any{"chargingRateUnit": "W", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 7400}}}}
	set := map[string]any{"connectorId": 1, "csChargingProfiles": profile}
	if !is16 {
		profile = map[string]any{"id": 31, "stackLevel": 2, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
			"chargingSchedule": []any{map[string]any{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 7400}}}}}
		set = map[string]any{"evseId": 1, "chargingProfile": profile}
	}
	c.answer("SetChargingProfile", map[string]any{"status": "Accepted"})
	call("SetChargingProfile", set)
	list := c.apiOK(ctx, t, sys, http.MethodGet, "/charging-profiles?source=set", nil)
	stored, _ := list["chargingProfiles"].([]any)
	if len(stored) != 1 || num(field(stored[0], "profileId")) != 31 || num(field(stored[0], "evseId")) != 1 ||
		num(field(stored[0], "stackLevel")) != 2 || field(stored[0], "requestedBy") != operatorEmail ||
		fmt.Sprint(asJSON(field(stored[0], "profile"))) != fmt.Sprint(asJSON(profile)) {
		t.Errorf("profile accepted through the generic call: stored %v", list)
	}

	c.answer("ReserveNow", map[string]any{"status": "Accepted"})
	resp := c.apiOK(ctx, t, sys, http.MethodPost, "/reservations", map[string]any{
		"idToken": "GCE" + strings.ToUpper(uuid.NewString()[:8]), "expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	c.next(ctx, t, "ReserveNow")
	resID := int(num(field(resp, "reservation", "id")))
	c.answer("CancelReservation", map[string]any{"status": "Accepted"})
	call("CancelReservation", map[string]any{"reservationId": resID})
	list = c.apiOK(ctx, t, sys, http.MethodGet, "/reservations", nil)
	if items, _ := list["reservations"].([]any); len(items) != 1 || field(items[0], "status") != "Cancelled" {
		t.Errorf("reservation cancelled through the generic call: %v", list)
	}

	entry := map[string]any{"idTag": "GCETAG", "idTagInfo": map[string]any{"status": "Accepted"}}
	send := map[string]any{"listVersion": 5, "updateType": "Full", "localAuthorizationList": []any{entry}}
	versionAnswer := map[string]any{"listVersion": 5}
	if !is16 {
		entry = map[string]any{"idToken": map[string]any{"idToken": "GCETAG", "type": "Central"}, "idTokenInfo": map[string]any{"status": "Accepted"}}
		send = map[string]any{"versionNumber": 5, "updateType": "Full", "localAuthorizationList": []any{entry}}
		versionAnswer = map[string]any{"versionNumber": 5}
	}
	c.answer("SendLocalList", map[string]any{"status": "Accepted"})
	call("SendLocalList", send)
	c.answer("GetLocalListVersion", versionAnswer)
	resp = c.apiOK(ctx, t, sys, http.MethodGet, "/local-list/version", nil)
	c.next(ctx, t, "GetLocalListVersion")
	if num(resp["acceptedVersion"]) != 5 {
		t.Errorf("local list accepted through the generic call: %v", resp)
	}
}
