package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestSystem runs every scenario against both deployments. The two modes run
// in parallel; the scenarios within a mode share one running system (each
// with its own stations), which keeps the package well under a minute.
func TestSystem(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)

			t.Run("RESTWithoutToken", func(t *testing.T) { testRESTWithoutToken(t, sys) })
			for _, v := range versions {
				t.Run("Lifecycle/"+v.name, func(t *testing.T) { testLifecycle(t, sys, v) })
			}
			for _, v := range versions {
				t.Run("Admission/"+v.name, func(t *testing.T) { testAdmission(t, sys, v) })
			}
			for _, v := range versions {
				t.Run("Malformed/"+v.name, func(t *testing.T) { testMalformed(t, sys, v) })
			}
			for _, v := range versions {
				t.Run("NewestWins/"+v.name, func(t *testing.T) { testNewestWins(t, sys, v) })
			}
			for _, v := range versions {
				t.Run("Pipelining/"+v.name, func(t *testing.T) { testPipelining(t, sys, v) })
			}
			t.Run("NoSubprotocol", func(t *testing.T) { testNoSubprotocol(t, sys) })
			t.Run("Identity", func(t *testing.T) { testIdentity(t, sys) })
			t.Run("OversizedFrames", func(t *testing.T) { testOversizedFrames(t, sys) })
			t.Run("TransactionRetries/1.6", func(t *testing.T) { testTransactionRetries16(t, sys) })
			t.Run("TransactionRetries/2.0.1", func(t *testing.T) { testTransactionRetries201(t, sys) })
			t.Run("ManyChargers", func(t *testing.T) { testManyChargers(t, sys) })
			if sys.extraGateway != nil {
				t.Run("GatewayDrain", func(t *testing.T) { testGatewayDrain(t, sys) })
				t.Run("GatewayLeaseExpiry", func(t *testing.T) { testGatewayLeaseExpiry(t, sys) })
				t.Run("CommandToDeadGateway", func(t *testing.T) { testCommandToDeadGateway(t, sys) })
				t.Run("GatewayLeaseLost", func(t *testing.T) { testGatewayLeaseLost(t, sys) })
				t.Run("DeadSocket", func(t *testing.T) { testDeadSocket(t, sys) })
				t.Run("GatewayWithWrongSecret", func(t *testing.T) { testGatewayWithWrongSecret(t, sys) })
			}
		})
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialCharger connects a strict charger: every CALL and CALLRESULT the CSMS
// sends is checked against the official schema by pkg/chargepoint.
func dialCharger(ctx context.Context, t *testing.T, sys *system, gw int, id string, v ocppVersion, password string) *chargepoint.Client {
	t.Helper()
	opts := chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      sys.schemas,
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			// The foundation sends no commands yet; any CALL here is a
			// surprise worth failing on.
			t.Errorf("unexpected CALL from the CSMS: %s %s", action, payload)
			return nil, fmt.Errorf("e2e charger: %s not expected", action)
		},
	}
	if password != "" {
		opts.Username, opts.Password = id, password
	}
	// 2.0.1 requires the CSMS to support permessage-deflate: offer it.
	opts.Compress = v.name == "2.0.1"

	c, err := chargepoint.Dial(ctx, sys.gateway(gw)+id, opts)
	if err != nil {
		t.Fatalf("connect %s to %s: %v", id, sys.gateway(gw), err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", id, err)
		}
	})
	if opts.Compress && !c.Compressed() {
		t.Errorf("the CSMS did not accept permessage-deflate, which OCPP 2.0.1 requires")
	}
	want := ocppj.V16
	if v.name == "2.0.1" {
		want = ocppj.V201
	}
	if got := c.Version(); got != want {
		t.Fatalf("negotiated %v, want %v", got, want)
	}
	return c
}

func boot(ctx context.Context, t *testing.T, c *chargepoint.Client, v ocppVersion, serial string) bootResponse {
	t.Helper()
	var resp bootResponse
	if err := call(ctx, c, "BootNotification", v.boot(serial), &resp); err != nil {
		t.Fatalf("BootNotification: %v", err)
	}
	if resp.Status != "Accepted" {
		t.Fatalf("BootNotification status = %q, want Accepted", resp.Status)
	}
	if resp.Interval != heartbeatInterval {
		t.Errorf("BootNotification interval = %d, want HEARTBEAT_INTERVAL %d", resp.Interval, heartbeatInterval)
	}
	assertNow(t, "BootNotification currentTime", resp.CurrentTime)
	return resp
}

func heartbeat(ctx context.Context, t *testing.T, c *chargepoint.Client) {
	t.Helper()
	var resp heartbeatResponse
	if err := call(ctx, c, "Heartbeat", struct{}{}, &resp); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	assertNow(t, "Heartbeat currentTime", resp.CurrentTime)
}

// call bounds one CALL, so that a lost answer fails the test in seconds
// instead of hanging it.
func call(ctx context.Context, c *chargepoint.Client, action string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Call(ctx, action, req, resp)
}

// assertNow checks a time the CSMS reports as its current time. The margin is
// about clocks, not speed: the two run on the same machine.
func assertNow(t *testing.T, what string, at time.Time) {
	t.Helper()
	if d := time.Since(at); d > time.Minute || d < -time.Minute {
		t.Errorf("%s = %v, want close to now (%v)", what, at, time.Now().UTC())
	}
}

// eventually polls cond until it holds or 10 s have passed; the message of
// the last failed attempt explains a timeout.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 10s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testRESTWithoutToken(t *testing.T, sys *system) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, method, path string
		body               any
		token              string
	}{
		{"list without token", http.MethodGet, "/api/v1/stations", nil, ""},
		{"get without token", http.MethodGet, "/api/v1/stations/anything", nil, ""},
		{"create without token", http.MethodPost, "/api/v1/stations", map[string]string{"id": newStationID("noauth")}, ""},
		{"list with a forged token", http.MethodGet, "/api/v1/stations", nil, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"},
		{"list with garbage", http.MethodGet, "/api/v1/stations", nil, "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anon := &restClient{base: sys.rest.base, http: sys.rest.http, token: tc.token}
			code, ctype, body, err := anon.do(ctx, tc.method, tc.path, tc.body, tc.token != "")
			if err != nil {
				t.Fatal(err)
			}
			if code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401 (%s)", code, body)
			}
			if !strings.HasPrefix(ctype, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ctype)
			}
			var obj map[string]any
			if err := json.Unmarshal(body, &obj); err != nil {
				t.Errorf("401 body is not a JSON object: %q", body)
			}
		})
	}
	// And the same token-holder sees a 404 for a station that does not exist.
	code, _, body, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+newStationID("nobody"), nil, true)
	if err != nil || code != http.StatusNotFound {
		t.Errorf("GET unknown station: %d %s %v, want 404", code, body, err)
	}
}

func testLifecycle(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("life" + strings.ReplaceAll(v.name, ".", ""))
	serial := "SN-" + id
	created := sys.rest.createStation(ctx, t, id, "")
	if created.Connected {
		t.Errorf("a new station is connected before it ever connected: %+v", created)
	}

	c := dialCharger(ctx, t, sys, v.index, id, v, "")
	boot(ctx, t, c, v, serial)
	heartbeat(ctx, t, c)
	for _, req := range v.statuses(time.Now()) {
		if err := call(ctx, c, "StatusNotification", req, &struct{}{}); err != nil {
			t.Fatalf("StatusNotification %v: %v", req, err)
		}
	}

	// The core answers after commit, so everything is visible at once.
	st := sys.rest.getStation(ctx, t, id)
	if st.Vendor != vendor || st.Model != v.model() || st.SerialNumber != serial || st.FirmwareVersion != v.firmware() {
		t.Errorf("boot data: vendor %q model %q serial %q firmware %q; want %q %q %q %q",
			st.Vendor, st.Model, st.SerialNumber, st.FirmwareVersion, vendor, v.model(), serial, v.firmware())
	}
	if st.OCPPVersion != v.name {
		t.Errorf("ocppVersion = %q, want %q", st.OCPPVersion, v.name)
	}
	if !st.Connected {
		t.Errorf("connected = false while the charger is connected")
	}
	// No station-level status was reported (1.6 connector 0), so a
	// connected station is simply Available.
	if st.Status != "Available" {
		t.Errorf("status = %q while connected, want Available", st.Status)
	}
	if st.LastSeen == nil {
		t.Errorf("lastSeen missing after a Heartbeat")
	} else {
		assertNow(t, "lastSeen", *st.LastSeen)
	}
	if st.RegistrationStatus != "" && st.RegistrationStatus != "Accepted" {
		t.Errorf("registrationStatus = %q, want Accepted", st.RegistrationStatus)
	}
	for _, want := range v.want {
		got, ok := st.connector(want.EVSEID, want.ConnectorID)
		if !ok {
			t.Errorf("connector evse %d connector %d missing: %+v", want.EVSEID, want.ConnectorID, st.Connectors)
			continue
		}
		if got.Status != want.Status || got.ErrorCode != want.ErrorCode {
			t.Errorf("connector %d/%d = %q %q, want %q %q", want.EVSEID, want.ConnectorID, got.Status, got.ErrorCode, want.Status, want.ErrorCode)
		}
	}
	if len(st.Connectors) != len(v.want) {
		t.Errorf("connectors = %+v, want exactly %d", st.Connectors, len(v.want))
	}

	// The charger goes away: the station and every connector become
	// Unavailable, while what it reported at boot stays.
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	eventually(t, "station offline after the socket closed", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		if st.Connected || st.Status != "Unavailable" {
			return false, fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
		}
		for _, cn := range st.Connectors {
			if cn.Status != "Unavailable" {
				return false, fmt.Sprintf("connector %d/%d still %q", cn.EVSEID, cn.ConnectorID, cn.Status)
			}
		}
		if len(st.Connectors) != len(v.want) {
			return false, fmt.Sprintf("connectors %+v", st.Connectors)
		}
		return true, ""
	})
	if st := sys.rest.getStation(ctx, t, id); st.Vendor != vendor || st.SerialNumber != serial {
		t.Errorf("boot data lost on disconnect: %+v", st)
	}

	// A reconnect is not a reboot: the station is connected again and is
	// served without a new BootNotification. In scale-out it comes back
	// through the other gateway, as after a gateway failure.
	c2 := dialCharger(ctx, t, sys, v.index+1, id, v, "")
	heartbeat(ctx, t, c2)
	eventually(t, "station online after reconnecting", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return st.Connected && st.Status == "Available", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})
	// A fresh status after the reconnect is recorded again.
	if err := call(ctx, c2, "StatusNotification", v.statuses(time.Now())[0], &struct{}{}); err != nil {
		t.Fatalf("StatusNotification after reconnect: %v", err)
	}
	st = sys.rest.getStation(ctx, t, id)
	if got, _ := st.connector(v.want[0].EVSEID, v.want[0].ConnectorID); got.Status != v.want[0].Status {
		t.Errorf("after reconnect connector %d/%d = %q, want %q", v.want[0].EVSEID, v.want[0].ConnectorID, got.Status, v.want[0].Status)
	}
}

func testAdmission(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	const password = "e2e-Passw0rd-16to20" // 19 bytes: valid for 1.6 and 2.0.1
	id := newStationID("auth" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, password)
	open := newStationID("open" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, open, "")

	for gw := range sys.gateways {
		for _, tc := range []struct {
			name, station, user, pass string
			want                      int
		}{
			{"unknown station", newStationID("unknown"), "", "", http.StatusNotFound},
			{"unknown station with credentials", newStationID("unknown"), "x", password, http.StatusNotFound},
			{"missing password", id, "", "", http.StatusUnauthorized},
			{"wrong password", id, id, password + "x", http.StatusUnauthorized},
			{"empty password", id, id, "", http.StatusUnauthorized},
			{"right password, other username", id, "someone-else", password, http.StatusUnauthorized},
		} {
			t.Run(fmt.Sprintf("gateway%d/%s", gw+1, tc.name), func(t *testing.T) {
				_, resp, err := dialRaw(ctx, t, sys.gateways[gw]+tc.station, v.subprotocol, tc.user, tc.pass)
				if err == nil {
					t.Fatalf("the upgrade succeeded, want HTTP %d before any upgrade", tc.want)
				}
				if resp == nil {
					t.Fatalf("no HTTP response (%v), want %d", err, tc.want)
				}
				if resp.StatusCode != tc.want {
					t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.want)
				}
			})
		}
	}

	t.Run("right password connects", func(t *testing.T) {
		c := dialCharger(ctx, t, sys, v.index, id, v, password)
		boot(ctx, t, c, v, "SN-"+id)
		heartbeat(ctx, t, c)
		if st := sys.rest.getStation(ctx, t, id); !st.Connected || !st.HasPassword {
			t.Errorf("after connecting with the password: connected %v hasPassword %v", st.Connected, st.HasPassword)
		}
	})
	t.Run("no password needed", func(t *testing.T) {
		c := dialCharger(ctx, t, sys, v.index, open, v, "")
		boot(ctx, t, c, v, "SN-"+open)
	})
}

// badFrame is one malformed or unexpected message and the CALLERROR it must
// get; no codes means the CSMS must not answer at all.
type badFrame struct {
	name   string
	frame  string
	id     string
	codes  []string
	answer bool
}

func malformedCases(v ocppVersion) []badFrame {
	ts := time.Now().UTC().Format(time.RFC3339)
	cases := []badFrame{
		// The id can't be read: "-1" (2.0.1 Part 4 §4.2.3; 1.6 has no
		// RpcFrameworkError, FormationViolation is its frame-level code).
		{name: "not JSON", frame: `this is not json`, id: "-1", codes: []string{v.badFrame}, answer: true},
		{name: "truncated JSON", frame: `[2,"x0","Heartbeat",{`, id: "-1", codes: []string{v.badFrame}, answer: true},
		{name: "JSON object, not an array", frame: `{"a":1}`, id: "-1", codes: []string{v.badFrame}, answer: true},
		// The id is readable, so the answer carries it.
		{name: "CALL without action and payload", frame: `[2,"x1"]`, id: "x1", codes: []string{v.badFrame}, answer: true},
		// The frame is a valid RPC but its payload is not an object: the
		// payload is "syntactically incorrect", FormationViolation (1.6) /
		// FormatViolation (2.0.1), not a frame-level error.
		{name: "CALL with a non-object payload", frame: `[2,"x2","Heartbeat",42]`, id: "x2", codes: []string{v.formatViolation}, answer: true},
		{name: "CALL with a null payload", frame: `[2,"x3","Heartbeat",null]`, id: "x3", codes: []string{v.formatViolation}, answer: true},
		{name: "CALL with an unknown action", frame: `[2,"x5","FlyToTheMoon",{}]`, id: "x5", codes: []string{"NotImplemented"}, answer: true},
		// A CALLRESULT or CALLERROR is never answered, even unmatched.
		{name: "unmatched CALLRESULT", frame: `[3,"nobody-asked",{}]`},
		{name: "unmatched CALLERROR", frame: `[4,"nobody-asked","GenericError","",{}]`},
	}
	if v.name == "1.6" {
		cases = append(cases,
			// OCPP-J 1.6 §4.1.3: an unknown message type is ignored.
			badFrame{name: "unknown message type 7", frame: `[7,"x7",{}]`},
			badFrame{name: "schema: required field missing", frame: `[2,"x6a","StatusNotification",{"connectorId":1,"errorCode":"NoError"}]`,
				id: "x6a", codes: []string{"OccurenceConstraintViolation"}, answer: true},
			badFrame{name: "schema: wrong type", frame: `[2,"x6b","StatusNotification",{"connectorId":"one","errorCode":"NoError","status":"Available"}]`,
				id: "x6b", codes: []string{"TypeConstraintViolation"}, answer: true},
			badFrame{name: "schema: value not in enum", frame: `[2,"x6c","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}]`,
				id: "x6c", codes: []string{"PropertyConstraintViolation"}, answer: true},
		)
	} else {
		cases = append(cases,
			// OCPP 2.0.1 Part 4 §4.2.3: MessageTypeNotSupported, with the id.
			badFrame{name: "unknown message type 7", frame: `[7,"x7",{}]`, id: "x7", codes: []string{"MessageTypeNotSupported"}, answer: true},
			badFrame{name: "schema: required field missing", frame: `[2,"x6a","StatusNotification",{"timestamp":"` + ts + `","connectorStatus":"Available","evseId":1}]`,
				id: "x6a", codes: []string{"OccurenceConstraintViolation"}, answer: true},
			badFrame{name: "schema: wrong type", frame: `[2,"x6b","StatusNotification",{"timestamp":"` + ts + `","connectorStatus":"Available","evseId":"one","connectorId":1}]`,
				id: "x6b", codes: []string{"TypeConstraintViolation"}, answer: true},
			badFrame{name: "schema: value not in enum", frame: `[2,"x6c","StatusNotification",{"timestamp":"` + ts + `","connectorStatus":"Sleeping","evseId":1,"connectorId":1}]`,
				id: "x6c", codes: []string{"PropertyConstraintViolation"}, answer: true},
		)
	}
	return cases
}

func testMalformed(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("bad" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, sys.gateway(v.index)+id, v.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b, _ := json.Marshal(v.boot("SN-" + id))
	r.call(ctx, t, "boot-1", "BootNotification", string(b))

	for i, tc := range malformedCases(v) {
		t.Run(tc.name, func(t *testing.T) {
			r.send(ctx, t, tc.frame)
			if tc.answer {
				f := r.read(ctx, t)
				if len(f) != 5 || string(f[0]) != "4" {
					t.Fatalf("want a CALLERROR [4,id,code,description,{details}], got %s", joinFrame(f))
				}
				if got := str(f[1]); got != tc.id {
					t.Errorf("CALLERROR id = %q, want %q", got, tc.id)
				}
				code := str(f[2])
				if !contains(tc.codes, code) {
					t.Errorf("CALLERROR code = %q, want %s", code, strings.Join(tc.codes, " or "))
				}
				var desc string
				if err := json.Unmarshal(f[3], &desc); err != nil || len(desc) > 255 {
					t.Errorf("errorDescription must be a string ≤ 255 chars, got %s", f[3])
				}
				var details map[string]any
				if err := json.Unmarshal(f[4], &details); err != nil || details == nil {
					t.Errorf("errorDetails must be an object, got %s", f[4])
				}
			}
			// The connection keeps working; for frames that must not be
			// answered, the next frame being the Heartbeat's result proves
			// nothing was sent for them (the gateway answers frame errors at
			// once, before it forwards the next frame).
			hb := fmt.Sprintf("hb-%d", i)
			res := r.call(ctx, t, hb, "Heartbeat", "{}")
			var resp heartbeatResponse
			if err := json.Unmarshal(res, &resp); err != nil {
				t.Fatalf("Heartbeat result %s: %v", res, err)
			}
			assertNow(t, "Heartbeat currentTime", resp.CurrentTime)
			if err := sys.schemas.ValidateResponse(versionOf(v), "Heartbeat", res); err != nil {
				t.Errorf("Heartbeat result %s violates the schema: %v", res, err)
			}
		})
	}
	if st := sys.rest.getStation(ctx, t, id); !st.Connected {
		t.Errorf("station not connected after the malformed frames")
	}
}

func testNewestWins(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("twice" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, "")

	first, _, err := dialRaw(ctx, t, sys.gateway(v.index)+id, v.subprotocol, "", "")
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	b, _ := json.Marshal(v.boot("SN-" + id))
	first.call(ctx, t, "boot-1", "BootNotification", string(b))

	// The same identity connects again, in scale-out through the other
	// gateway: the newer socket wins and the older one is closed by its
	// gateway.
	second := dialCharger(ctx, t, sys, v.index+1, id, v, "")
	code := first.waitClosed(ctx, t)
	t.Logf("first connection closed with %v", code)

	heartbeat(ctx, t, second)
	st := sys.rest.getStation(ctx, t, id)
	if !st.Connected {
		t.Fatalf("station not connected via the second connection")
	}
	// The first socket's "disconnected" is fenced by its connection id: the
	// station must stay connected. The event may still be in flight, so
	// watch for a while and check the second connection still works.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if st := sys.rest.getStation(ctx, t, id); !st.Connected || st.Status == "Unavailable" {
			t.Fatalf("the old connection's close took the station offline: connected %v status %q", st.Connected, st.Status)
		}
	}
	heartbeat(ctx, t, second)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func versionOf(v ocppVersion) ocppj.Version {
	if v.name == "2.0.1" {
		return ocppj.V201
	}
	return ocppj.V16
}

// Real chargers send BootNotification and StatusNotifications back to back
// without waiting: every CALL is answered, in the order sent (one station's
// messages are processed in order).
func testPipelining(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("pipe" + strings.ReplaceAll(v.name, ".", ""))
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, sys.gateway(v.index)+id, v.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	type sent struct{ id, action string }
	var calls []sent
	send := func(action string, payload any) {
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		mid := fmt.Sprintf("p%d", len(calls))
		calls = append(calls, sent{mid, action})
		r.send(ctx, t, fmt.Sprintf(`[2,%q,%q,%s]`, mid, action, b))
	}
	send("BootNotification", v.boot("SN-"+id))
	for _, st := range v.statuses(time.Now()) {
		send("StatusNotification", st)
	}
	send("Heartbeat", struct{}{})

	for _, c := range calls {
		f := r.read(ctx, t)
		if len(f) != 3 || string(f[0]) != "3" {
			t.Fatalf("want the CALLRESULT of %s %s, got %s", c.action, c.id, joinFrame(f))
		}
		if got := str(f[1]); got != c.id {
			t.Fatalf("answers out of order: got id %q, want %q (%s)", got, c.id, c.action)
		}
		if err := sys.schemas.ValidateResponse(versionOf(v), c.action, f[2]); err != nil {
			t.Errorf("%s result %s violates the schema: %v", c.action, f[2], err)
		}
	}
	st := sys.rest.getStation(ctx, t, id)
	for _, want := range v.want {
		if got, ok := st.connector(want.EVSEID, want.ConnectorID); !ok || got.Status != want.Status {
			t.Errorf("connector %d/%d = %+v, want status %q", want.EVSEID, want.ConnectorID, got, want.Status)
		}
	}
}

// OCPP-J: when none of the offered subprotocols is supported, the CSMS
// finishes the handshake without Sec-WebSocket-Protocol and closes at once.
func testNoSubprotocol(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("noproto")
	sys.rest.createStation(ctx, t, id, "")
	r, resp, err := dialRaw(ctx, t, sys.gateway(0)+id, "ocpp9.9", "", "")
	if err != nil {
		t.Fatalf("the handshake must complete even without a common subprotocol: %v (HTTP %v)", err, resp)
	}
	if p := r.conn.Subprotocol(); p != "" {
		t.Errorf("the CSMS chose subprotocol %q, which was not offered", p)
	}
	r.waitClosed(ctx, t)
	eventually(t, "station not connected after the refused session", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected, fmt.Sprintf("connected %v", st.Connected)
	})
}

// A gateway told to stop closes its sockets with 1001 (going away) so that
// chargers reconnect elsewhere; the core then shows the station offline until
// it reconnects through another gateway.
func testGatewayDrain(t *testing.T, sys *system) {
	ctx := testCtx(t)
	gw := sys.extraGateway(t, nil)
	url, stop := gw.url, gw.stop
	id := newStationID("drain")
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, url+id, v16.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b, _ := json.Marshal(v16.boot("SN-" + id))
	r.call(ctx, t, "boot-1", "BootNotification", string(b))

	stopped := make(chan struct{})
	go func() { defer close(stopped); stop() }()
	if code := r.waitClosed(ctx, t); code != 1001 {
		t.Errorf("drained socket closed with %v, want 1001 (going away)", code)
	}
	<-stopped
	eventually(t, "station offline after its gateway drained", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected && st.Status == "Unavailable", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})

	c := dialCharger(ctx, t, sys, 0, id, v16, "")
	heartbeat(ctx, t, c)
	if st := sys.rest.getStation(ctx, t, id); !st.Connected {
		t.Errorf("station not connected after reconnecting through another gateway")
	}
}

// A gateway that dies says nothing: when its lease runs out, the core treats
// all of its connections as closed.
func testGatewayLeaseExpiry(t *testing.T, sys *system) {
	ctx := testCtx(t)
	gw, id, _ := bootOnShortLease(ctx, t, sys, "orphan")

	gw.kill()
	eventually(t, "station offline once the dead gateway's lease expired", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected && st.Status == "Unavailable", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})

	// The charger comes back through a live gateway.
	c := dialCharger(ctx, t, sys, 1, id, v16, "")
	heartbeat(ctx, t, c)
	eventually(t, "station online through a live gateway", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return st.Connected, fmt.Sprintf("connected %v", st.Connected)
	})
}

// A charger whose socket silently died (no close, no pong) is found by the
// gateway's pings within seconds, not minutes, and shown offline.
func testDeadSocket(t *testing.T, sys *system) {
	ctx := testCtx(t)
	gw := sys.extraGateway(t, func(c *server.Config) { c.PingInterval, c.PingTimeout = time.Second, time.Second })
	id := newStationID("silent")
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, gw.url+id, v16.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b, _ := json.Marshal(v16.boot("SN-" + id))
	r.call(ctx, t, "boot-1", "BootNotification", string(b))
	// From here on nothing reads the socket, so no pong is ever sent
	// (coder/websocket answers pings only from within Read).
	eventually(t, "station offline after its socket stopped answering pings", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected && st.Status == "Unavailable", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})
}

// Many chargers at once, spread over the gateways and both versions: each
// gets its own answers and its own data, nothing crosses between stations.
func testManyChargers(t *testing.T, sys *system) {
	ctx := testCtx(t)
	const n = 24
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newStationID(fmt.Sprintf("many%02d", i))
		sys.rest.createStation(ctx, t, ids[i], "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, id := range ids {
		v := versions[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- oneCharger(ctx, sys, i, id, v)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for i, id := range ids {
		v := versions[i%2]
		st := sys.rest.getStation(ctx, t, id)
		if st.SerialNumber != "SN-"+id || st.OCPPVersion != v.name || len(st.Connectors) != len(v.want) {
			t.Errorf("station %s: serial %q version %q connectors %+v", id, st.SerialNumber, st.OCPPVersion, st.Connectors)
		}
	}
}

// oneCharger runs a short session; it reports instead of failing because it
// runs off the test goroutine.
func oneCharger(ctx context.Context, sys *system, i int, id string, v ocppVersion) error {
	opts := chargepoint.Options{Subprotocols: []string{v.subprotocol}, Schemas: sys.schemas, Compress: v.name == "2.0.1"}
	c, err := chargepoint.Dial(ctx, sys.gateway(i)+id, opts)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", id, err)
	}
	defer c.Close()
	var boot bootResponse
	if err := call(ctx, c, "BootNotification", v.boot("SN-"+id), &boot); err != nil || boot.Status != "Accepted" || boot.Interval != heartbeatInterval {
		return fmt.Errorf("%s: BootNotification: %+v %v", id, boot, err)
	}
	for _, req := range v.statuses(time.Now()) {
		if err := call(ctx, c, "StatusNotification", req, nil); err != nil {
			return fmt.Errorf("%s: StatusNotification: %w", id, err)
		}
	}
	var hb heartbeatResponse
	if err := call(ctx, c, "Heartbeat", nil, &hb); err != nil || hb.CurrentTime.IsZero() {
		return fmt.Errorf("%s: Heartbeat: %+v %v", id, hb, err)
	}
	if v := c.Violations(); len(v) > 0 {
		return fmt.Errorf("%s: the CSMS violated OCPP: %v", id, v)
	}
	return nil
}

// A charger retries transaction messages it got no answer for; the CSMS
// answers after commit and deduplicates, so a retry never double-counts:
// 1.6 StartTransaction on (station, connector, idTag, timestamp, meterStart)
// returns the same transactionId, also when the retry is pipelined.
func testTransactionRetries16(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("tx16")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, v16.index, id, v16, "")
	boot(ctx, t, c, v16, "SN-"+id)

	type startResp struct {
		TransactionID int `json:"transactionId"`
		IDTagInfo     struct {
			Status string `json:"status"`
		} `json:"idTagInfo"`
	}
	at := time.Now().UTC().Truncate(time.Second)
	start := map[string]any{"connectorId": 1, "idTag": "E2ETAG01", "meterStart": 1000, "timestamp": at.Format(time.RFC3339)}
	var first, retry startResp
	if err := call(ctx, c, "StartTransaction", start, &first); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	if err := call(ctx, c, "StartTransaction", start, &retry); err != nil {
		t.Fatalf("StartTransaction retry: %v", err)
	}
	if retry.TransactionID != first.TransactionID || retry.IDTagInfo.Status != first.IDTagInfo.Status {
		t.Errorf("retry answered %+v, first answer %+v: a retry must get the same transaction", retry, first)
	}

	// Pipelined duplicates of a new transaction all get one id.
	start2 := map[string]any{"connectorId": 2, "idTag": "E2ETAG02", "meterStart": 5000, "timestamp": at.Add(time.Second).Format(time.RFC3339)}
	got := make([]startResp, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = call(ctx, c, "StartTransaction", start2, &got[i]) }()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("pipelined StartTransaction: %v", errs[i])
		}
		if got[i].TransactionID != got[0].TransactionID {
			t.Errorf("pipelined duplicates got different transactions: %+v", got)
		}
	}
	if got[0].TransactionID == first.TransactionID {
		t.Errorf("two different transactions share id %d", first.TransactionID)
	}

	stop := map[string]any{"transactionId": first.TransactionID, "meterStop": 4200, "timestamp": at.Add(time.Minute).Format(time.RFC3339), "reason": "Local"}
	for i := 0; i < 2; i++ {
		if err := call(ctx, c, "StopTransaction", stop, nil); err != nil {
			t.Fatalf("StopTransaction (attempt %d): %v", i+1, err)
		}
	}
	heartbeat(ctx, t, c)
}

// 2.0.1 TransactionEvent retries carry a new message id and the same
// (transactionId, seqNo); duplicates are acknowledged again.
func testTransactionRetries201(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("tx201")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, v201.index, id, v201, "")
	boot(ctx, t, c, v201, "SN-"+id)

	txID := "e2e-" + newStationID("tx")
	at := time.Now().UTC().Truncate(time.Second)
	event := func(kind string, seq int, trigger string, wh float64, offset time.Duration) map[string]any {
		return map[string]any{
			"eventType":       kind,
			"timestamp":       at.Add(offset).Format(time.RFC3339),
			"triggerReason":   trigger,
			"seqNo":           seq,
			"transactionInfo": map[string]any{"transactionId": txID},
			"evse":            map[string]any{"id": 1, "connectorId": 1},
			"idToken":         map[string]any{"idToken": "E2ETOKEN", "type": "ISO14443"},
			"meterValue": []any{map[string]any{
				"timestamp":    at.Add(offset).Format(time.RFC3339),
				"sampledValue": []any{map[string]any{"value": wh, "measurand": "Energy.Active.Import.Register"}},
			}},
		}
	}
	type txResp struct {
		IDTokenInfo *struct {
			Status string `json:"status"`
		} `json:"idTokenInfo"`
	}
	started := event("Started", 0, "Authorized", 1000, 0)
	var r1, r2 txResp
	if err := call(ctx, c, "TransactionEvent", started, &r1); err != nil {
		t.Fatalf("TransactionEvent Started: %v", err)
	}
	if err := call(ctx, c, "TransactionEvent", started, &r2); err != nil {
		t.Fatalf("TransactionEvent Started retry: %v", err)
	}
	if (r1.IDTokenInfo == nil) != (r2.IDTokenInfo == nil) || (r1.IDTokenInfo != nil && r1.IDTokenInfo.Status != r2.IDTokenInfo.Status) {
		t.Errorf("retry answered differently: %+v vs %+v", r2.IDTokenInfo, r1.IDTokenInfo)
	}
	if r1.IDTokenInfo == nil {
		t.Errorf("TransactionEvent with an idToken must be answered with idTokenInfo")
	}
	ended := event("Ended", 1, "EVCommunicationLost", 2500, time.Minute)
	ended["transactionInfo"] = map[string]any{"transactionId": txID, "stoppedReason": "EVDisconnected"}
	for i := 0; i < 2; i++ {
		if err := call(ctx, c, "TransactionEvent", ended, nil); err != nil {
			t.Fatalf("TransactionEvent Ended (attempt %d): %v", i+1, err)
		}
	}
	heartbeat(ctx, t, c)
}

// The identity is the last path segment, percent-encoded; at most 48
// printable ASCII characters, no ':' (it is the Basic-auth username), no
// '/' or '\' and not "." or ".." (ocppj.ValidateIdentity). A bad one is
// refused with 400 before the upgrade, and cannot be registered.
func testIdentity(t *testing.T, sys *system) {
	ctx := testCtx(t)
	for _, tc := range []struct{ name, path string }{
		{"49 characters", strings.Repeat("a", 49)},
		{"colon", "e2e%3Acp"},
		{"raw colon", "e2e:cp"},
		{"nested path", "e2e/cp"},
		{"encoded slash", "e2e%2Fcp"},
		{"traversal", "..%2Fetc"},
		{"dot-dot", "%2E%2E"},
		{"control character", "e2e%01cp"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := dialRaw(ctx, t, sys.gateway(0)+tc.path, v16.subprotocol, "", "")
			if err == nil {
				t.Fatalf("upgrade accepted for identity %q", tc.path)
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("identity %q: %v, want HTTP 400 before any upgrade", tc.path, err)
			}
		})
	}
	for _, id := range []string{"e2e/cp", "../etc", "..", strings.Repeat("a", 49), "e2e\x01cp", "e2e:cp"} {
		code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations", map[string]string{"id": id}, true)
		if err != nil || code != http.StatusBadRequest || !strings.Contains(string(body), "station id") {
			t.Errorf("registering %q: %d %s %v, want 400 saying what is wrong with the station id", id, code, body, err)
		}
	}

	// 48 characters including ones that must be percent-encoded in a URL
	// (the core allows printable ASCII without spaces).
	id := "E2E#1+%&" + strings.ReplaceAll(newStationID("x"), "-", "")
	id += strings.Repeat("z", 48-len(id))
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, 0, url.PathEscape(id), v16, "")
	boot(ctx, t, c, v16, "SN-48")
	if st := sys.rest.getStation(ctx, t, url.PathEscape(id)); !st.Connected || st.SerialNumber != "SN-48" {
		t.Errorf("station %q: connected %v serial %q", id, st.Connected, st.SerialNumber)
	}
}

// testOversizedFrames: big frames (below MAX_MESSAGE_BYTES, so processed)
// are kept cut in the message log (MESSAGE_LOG_MAX_FRAME, 64 KiB by
// default), and a log full of them still reads: 25 frames of 200 KB were
// 5 MB of page, more than a gRPC client takes.
func testOversizedFrames(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("bigframes")
	sys.rest.createStation(ctx, t, id, "")
	c := dialCharger(ctx, t, sys, 0, id, v16, "")
	data := strings.Repeat("d", 200_000)
	for range 25 {
		if err := call(ctx, c, "DataTransfer", map[string]any{"vendorId": "com.example.big", "data": data}, nil); err != nil {
			t.Fatalf("DataTransfer: %v", err)
		}
	}
	var frames []string
	eventually(t, "the big frames in the message log", func() (bool, string) {
		code, _, body, err := sys.rest.do(ctx, http.MethodGet, "/api/v1/stations/"+id+"/messages?pageSize=1000", nil, true)
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("GET messages: %d %.200s %v", code, body, err)
		}
		var page struct {
			Messages []struct {
				Direction, Action, Frame string
			}
		}
		if err := decodeAPI(body, &page); err != nil {
			return false, err.Error()
		}
		frames = frames[:0]
		for _, m := range page.Messages {
			if m.Direction == "in" && m.Action == "DataTransfer" {
				frames = append(frames, m.Frame)
			}
		}
		return len(frames) == 25, fmt.Sprintf("%d DataTransfer frames of %d messages", len(frames), len(page.Messages))
	})
	for _, f := range frames {
		if len(f) > 64<<10+64 || !strings.HasPrefix(f, `[2,"`) || !regexp.MustCompile(`…\(truncated, 2000\d\d bytes\)$`).MatchString(f) {
			t.Fatalf("stored frame of %d bytes: %.80s…%s", len(f), f, f[max(0, len(f)-40):])
		}
	}
}
