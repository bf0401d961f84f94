package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeplane/chargeplane/gateway/server"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
	"github.com/chargeplane/chargeplane/pkg/metrics"
)

func TestRefusedBeforeUpgrade(t *testing.T) {
	h := newHarness(t, server.Config{})
	long := strings.Repeat("A", 49)
	cases := []struct {
		name       string
		station    string
		opts       dialOpts
		coreFails  bool
		wantStatus int
		wantAdmit  bool
	}{
		{name: "unknown station", station: "NOPE", wantStatus: http.StatusNotFound, wantAdmit: true},
		{name: "password required, none sent", station: "SECURE", wantStatus: http.StatusUnauthorized, wantAdmit: true},
		{name: "wrong password", station: "SECURE", opts: dialOpts{user: "SECURE", pass: "wrong-password-16"}, wantStatus: http.StatusUnauthorized, wantAdmit: true},
		{name: "id too long", station: long, wantStatus: http.StatusBadRequest},
		{name: "colon in id", station: "CP%3A1", wantStatus: http.StatusBadRequest},
		{name: "empty id", station: "", wantStatus: http.StatusBadRequest},
		{name: "extra path segment", station: "CP1/x", wantStatus: http.StatusBadRequest},
		{name: "encoded slash", station: "a%2Fb", wantStatus: http.StatusBadRequest},
		{name: "encoded traversal", station: "..%2Fetc", wantStatus: http.StatusBadRequest},
		{name: "dot-dot", station: "%2E%2E", wantStatus: http.StatusBadRequest},
		{name: "backslash", station: "a%5Cb", wantStatus: http.StatusBadRequest},
		{name: "control character", station: "CP%01", wantStatus: http.StatusBadRequest},
		{name: "space", station: "CP%201", wantStatus: http.StatusBadRequest},
		{name: "not ASCII", station: "CP%C3%BC", wantStatus: http.StatusBadRequest},
		{name: "core unreachable", station: "CP1", coreFails: true, wantStatus: http.StatusServiceUnavailable, wantAdmit: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.core.mu.Lock()
			if tc.coreFails {
				h.core.fail = errors.New("connection refused")
			} else {
				h.core.fail = nil
			}
			h.core.mu.Unlock()
			before := h.core.admitCount()
			tc.opts.subprotocols = []string{"ocpp1.6"}
			c, resp, err := h.dial(tc.station, tc.opts)
			if err == nil {
				t.Fatalf("upgrade succeeded (%s), want HTTP %d", c.Subprotocol(), tc.wantStatus)
			}
			if resp == nil || resp.StatusCode != tc.wantStatus {
				t.Fatalf("got %v / %v, want HTTP %d", resp, err, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without WWW-Authenticate: Basic, got %q", resp.Header.Get("WWW-Authenticate"))
			}
			if asked := h.core.admitCount() > before; asked != tc.wantAdmit {
				t.Errorf("core asked = %v, want %v", asked, tc.wantAdmit)
			}
		})
	}
	h.core.mu.Lock()
	h.core.fail = nil
	h.core.mu.Unlock()

	// The right password, a 48-character id and a percent-encoded id get in.
	c, _, err := h.dial("SECURE", dialOpts{subprotocols: []string{"ocpp1.6"}, user: "SECURE", pass: "s3cret-password-16"})
	if err != nil {
		t.Fatalf("correct credentials refused: %v", err)
	}
	if got := h.core.lastAdmit(); !got.GetHasBasicAuth() || got.GetPassword() != "s3cret-password-16" || got.GetGatewayId() != gatewayID {
		t.Errorf("admission request lacks credentials or gateway: %v", got)
	}
	c.CloseNow()

	h.core.mu.Lock()
	h.core.stations[strings.Repeat("B", 48)] = ""
	h.core.stations["CP#7%?"] = ""
	h.core.mu.Unlock()
	for _, path := range []string{strings.Repeat("B", 48), "CP%237%25%3F"} {
		c, _, err := h.dial(path, dialOpts{subprotocols: []string{"ocpp2.0.1"}})
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		c.CloseNow()
	}
	if got := h.core.lastAdmit().GetStationId(); got != "CP#7%?" {
		t.Errorf("station id not percent-decoded: %q", got)
	}
}

func TestSubprotocolFollowsChargerPreference(t *testing.T) {
	h := newHarness(t, server.Config{})
	cases := []struct {
		offer   []string
		want    string
		version busv1.OcppVersion
	}{
		{[]string{"ocpp2.0.1", "ocpp1.6"}, "ocpp2.0.1", busv1.OcppVersion_OCPP_VERSION_201},
		{[]string{"ocpp1.6", "ocpp2.0.1"}, "ocpp1.6", busv1.OcppVersion_OCPP_VERSION_16},
		{[]string{"ocpp1.5", "ocpp1.6"}, "ocpp1.6", busv1.OcppVersion_OCPP_VERSION_16},
	}
	for _, tc := range cases {
		c, env := h.connect("CP1", tc.offer...)
		if c.Subprotocol() != tc.want {
			t.Errorf("offer %v: negotiated %q, want %q", tc.offer, c.Subprotocol(), tc.want)
		}
		if env.GetOcppVersion() != tc.version {
			t.Errorf("offer %v: CONNECTED carries %v, want %v", tc.offer, env.GetOcppVersion(), tc.version)
		}
		if got := h.core.lastAdmit().GetSubprotocol(); got != tc.want {
			t.Errorf("offer %v: core told %q", tc.offer, got)
		}
		c.Close(websocket.StatusNormalClosure, "")
		h.disconnected(env.GetConnectionId())
	}
}

func TestNoMatchingSubprotocolHandshakesThenCloses(t *testing.T) {
	h := newHarness(t, server.Config{})
	for _, offer := range [][]string{{"ocpp1.5"}, nil} {
		c, resp, err := h.dial("CP1", dialOpts{subprotocols: offer})
		if err != nil {
			t.Fatalf("offer %v: handshake must complete, got %v", offer, err)
		}
		if resp.Header.Get("Sec-WebSocket-Protocol") != "" || c.Subprotocol() != "" {
			t.Errorf("offer %v: a subprotocol was returned", offer)
		}
		if code := readClose(t, c); code != websocket.StatusProtocolError {
			t.Errorf("offer %v: close code %v, want 1002", offer, code)
		}
		// The core admitted it, so it must hear that it is gone, and never
		// that it was connected.
		env := h.nextUp()
		if env.GetKind() != busv1.Kind_KIND_DISCONNECTED || env.GetConnectionId() != "conn-"+itoa(h.core.admitCount()) {
			t.Fatalf("offer %v: want DISCONNECTED of the admitted connection, got %v", offer, env)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCallPublishedAndReplyRoutedByConnection(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1", "ocpp1.6")
	connID := con.GetConnectionId()
	if con.GetGatewayId() != gatewayID || connID == "" || !con.GetReceivedAt().AsTime().Equal(fixedNow) {
		t.Fatalf("CONNECTED envelope incomplete: %v", con)
	}

	frame := `[2,"m1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]`
	write(t, c, frame)
	env := h.nextUp()
	switch {
	case env.GetKind() != busv1.Kind_KIND_FRAME,
		env.GetStationId() != "CP1",
		env.GetGatewayId() != gatewayID,
		env.GetConnectionId() != connID,
		env.GetOcppVersion() != busv1.OcppVersion_OCPP_VERSION_16,
		env.GetMessageId() != "m1",
		env.GetAction() != "BootNotification", // the bus picks durability by it
		!env.GetReceivedAt().AsTime().Equal(fixedNow),
		string(env.GetFrame()) != frame:
		t.Fatalf("CALL envelope wrong: %v", env)
	}

	// A reply for an older connection of the same station is not delivered;
	// the one for this connection is, and it is the first thing read.
	h.reply("CP1", "conn-old", `[3,"m0",{}]`)
	h.reply("OTHER", connID, `[3,"mX",{}]`)
	h.reply("CP1", connID, `[3,"m1",{"status":"Accepted"}]`)
	if got := read(t, c); got != `[3,"m1",{"status":"Accepted"}]` {
		t.Fatalf("charger read %s", got)
	}
}

func TestPipelinedCallsAllForwarded(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	for i := range 5 {
		write(t, c, `[2,"p`+itoa(i)+`","Heartbeat",{}]`)
	}
	for i := range 5 {
		if got := h.nextUp().GetMessageId(); got != "p"+itoa(i) {
			t.Fatalf("CALL %d forwarded as %q: order lost", i, got)
		}
	}
	for i := 4; i >= 0; i-- {
		h.reply("CP1", con.GetConnectionId(), `[3,"p`+itoa(i)+`",{}]`)
	}
	for i := 4; i >= 0; i-- {
		if got := read(t, c); got != `[3,"p`+itoa(i)+`",{}]` {
			t.Fatalf("got %s", got)
		}
	}
}

func TestPublishFailureAnswersInternalError(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	h.bus.failUpstream.Store(true)
	write(t, c, `[2,"m1","Heartbeat",{}]`)
	var got []any
	if err := json.Unmarshal([]byte(read(t, c)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0] != float64(4) || got[1] != "m1" || got[2] != "InternalError" {
		t.Fatalf("want CALLERROR InternalError for m1, got %v", got)
	}
	h.bus.failUpstream.Store(false)
	write(t, c, `[2,"m2","Heartbeat",{}]`)
	if env := h.nextUp(); env.GetMessageId() != "m2" {
		t.Fatalf("connection broken after a failed publish: %v", env)
	}
	h.reply("CP1", con.GetConnectionId(), `[3,"m2",{}]`)
	if got := read(t, c); got != `[3,"m2",{}]` {
		t.Fatalf("got %s", got)
	}
}

func TestMalformedFrames(t *testing.T) {
	cases := []struct {
		name  string
		frame string
		// Expected CALLERROR id and code per version; empty code: no answer.
		id       string
		code16   string
		code201  string
		binaryWS bool
	}{
		{name: "not json", frame: `hello`, id: "-1", code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "json null", frame: `null`, id: "-1", code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "empty array", frame: `[]`, id: "-1", code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "truncated", frame: `[2,"x0","Heartbeat",{`, id: "-1", code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "short call", frame: `[2,"x1"]`, id: "x1", code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "unknown type", frame: `[9,"x2",{}]`, id: "x2", code201: "MessageTypeNotSupported"},
		{name: "payload not object", frame: `[2,"x3","Heartbeat",[]]`, id: "x3", code16: "FormationViolation", code201: "FormatViolation"},
		{name: "id too long", frame: `[2,"` + strings.Repeat("i", 37) + `","Heartbeat",{}]`, id: strings.Repeat("i", 37), code16: "FormationViolation", code201: "RpcFrameworkError"},
		{name: "broken callresult", frame: `[3,"x4"]`},
		{name: "broken callerror", frame: `[4,"x5"]`},
		{name: "unmatched callresult", frame: `[3,"x6",{}]`},
		{name: "unmatched callerror", frame: `[4,"x7","GenericError","",{}]`},
		{name: "binary garbage", frame: "\xff\x00\x01", id: "-1", code16: "FormationViolation", code201: "RpcFrameworkError", binaryWS: true},
	}
	for _, sub := range []string{"ocpp1.6", "ocpp2.0.1"} {
		t.Run(sub, func(t *testing.T) {
			h := newHarness(t, server.Config{})
			c, con := h.connect("CP1", sub)
			for i, tc := range cases {
				typ := websocket.MessageText
				if tc.binaryWS {
					typ = websocket.MessageBinary
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				if err := c.Write(ctx, typ, []byte(tc.frame)); err != nil {
					t.Fatal(err)
				}
				cancel()
				// A valid CALL right after: its answer is read next when the
				// bad frame got none, proving both silence and a live socket.
				okID := "ok" + itoa(i)
				write(t, c, `[2,"`+okID+`","Heartbeat",{}]`)
				if env := h.nextUp(); env.GetMessageId() != okID {
					t.Fatalf("%s: next CALL not forwarded, got %v", tc.name, env)
				}
				h.reply("CP1", con.GetConnectionId(), `[3,"`+okID+`",{}]`)

				want := tc.code16
				if sub == "ocpp2.0.1" {
					want = tc.code201
				}
				if want != "" {
					var got []any
					raw := read(t, c)
					if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got) != 5 {
						t.Fatalf("%s: want a CALLERROR, got %s", tc.name, raw)
					}
					if got[0] != float64(4) || got[1] != tc.id || got[2] != want {
						t.Errorf("%s: got %s, want [4,%q,%q,...]", tc.name, raw, tc.id, want)
					}
					if _, ok := got[4].(map[string]any); !ok {
						t.Errorf("%s: details not an object: %s", tc.name, raw)
					}
				}
				if got := read(t, c); got != `[3,"`+okID+`",{}]` {
					t.Fatalf("%s: got %s, want the answer to %s", tc.name, got, okID)
				}
			}
		})
	}
}

func TestCoreCallsOneOutstanding(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	connID := con.GetConnectionId()
	later := fixedNow.Add(time.Hour)

	h.command("CP1", connID, "c1", `[2,"c1","Reset",{"type":"Soft"}]`, later)
	h.command("CP1", connID, "c2", `[2,"c2","Reset",{"type":"Immediate"}]`, later)
	h.command("CP1", "", "c3", `[2,"c3","ClearCache",{}]`, fixedNow.Add(-time.Second)) // expired
	h.command("CP1", "", "c4", `[2,"c4","ClearCache",{}]`, time.Time{})
	h.command("CP1", "conn-elsewhere", "cX", `[2,"cX","ClearCache",{}]`, later) // another gateway's
	h.command("CP2", "", "cY", `[2,"cY","ClearCache",{}]`, later)               // not held here

	if got := read(t, c); got != `[2,"c1","Reset",{"type":"Soft"}]` {
		t.Fatalf("first core CALL: %s", got)
	}
	// While c1 is outstanding c2 must wait: the charger's own CALL gets its
	// answer first.
	write(t, c, `[2,"m1","Heartbeat",{}]`)
	h.upUntil(func(e *busv1.Envelope) bool { return e.GetMessageId() == "m1" })
	h.reply("CP1", connID, `[3,"m1",{}]`)
	if got := read(t, c); got != `[3,"m1",{}]` {
		t.Fatalf("c2 sent while c1 outstanding: %s", got)
	}

	write(t, c, `[3,"c1",{"status":"Accepted"}]`)
	ans := h.nextAnswer()
	if ans.GetKind() != busv1.Kind_KIND_FRAME || ans.GetStationId() != "CP1" || ans.GetConnectionId() != connID ||
		ans.GetMessageId() != "c1" || string(ans.GetFrame()) != `[3,"c1",{"status":"Accepted"}]` {
		t.Fatalf("answer to c1 published wrongly: %v", ans)
	}
	if got := read(t, c); got != `[2,"c2","Reset",{"type":"Immediate"}]` {
		t.Fatalf("second core CALL: %s", got)
	}
	write(t, c, `[4,"c2","NotSupported","nope",{}]`)
	if ans := h.nextAnswer(); ans.GetMessageId() != "c2" {
		t.Fatalf("CALLERROR to c2 not published: %v", ans)
	}
	// c3 expired while queued: never sent, its core told so; c4 is next.
	if ans := h.nextAnswer(); ans.GetKind() != busv1.Kind_KIND_CALL_FAILED || ans.GetMessageId() != "c3" || ans.GetReason() != "expired" {
		t.Fatalf("want CALL_FAILED expired for c3, got %v", ans)
	}
	if got := read(t, c); got != `[2,"c4","ClearCache",{}]` {
		t.Fatalf("after c2: %s", got)
	}
	write(t, c, `[3,"c4",{"status":"Accepted"}]`)
	if ans := h.nextAnswer(); ans.GetMessageId() != "c4" {
		t.Fatalf("answer to c4 not published: %v", ans)
	}
	select {
	case a := <-h.ans:
		t.Fatalf("unexpected answer %v", a)
	default:
	}
}

func TestCoreCallTimeoutFreesSlot(t *testing.T) {
	h := newHarness(t, server.Config{CallTimeout: 100 * time.Millisecond})
	c, con := h.connect("CP1")
	h.command("CP1", con.GetConnectionId(), "c1", `[2,"c1","ClearCache",{}]`, time.Time{})
	h.command("CP1", con.GetConnectionId(), "c2", `[2,"c2","ClearCache",{}]`, time.Time{})
	if got := read(t, c); got != `[2,"c1","ClearCache",{}]` {
		t.Fatal(got)
	}
	// No answer: after CallTimeout c2 goes out.
	if got := read(t, c); got != `[2,"c2","ClearCache",{}]` {
		t.Fatal(got)
	}
	// The core learns at once that c1 timed out.
	if ans := h.nextAnswer(); ans.GetKind() != busv1.Kind_KIND_CALL_FAILED || ans.GetMessageId() != "c1" ||
		ans.GetReason() != "timeout" || ans.GetConnectionId() != con.GetConnectionId() {
		t.Fatalf("want CALL_FAILED timeout for c1, got %v", ans)
	}
	// A late answer to c1 is dropped; only c2's reaches the core.
	write(t, c, `[3,"c1",{"status":"Accepted"}]`)
	write(t, c, `[3,"c2",{"status":"Rejected"}]`)
	if ans := h.nextAnswer(); ans.GetMessageId() != "c2" {
		t.Fatalf("late answer forwarded: %v", ans)
	}
}

func TestCrossingCalls(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	h.command("CP1", con.GetConnectionId(), "c1", `[2,"c1","GetVariables",{}]`, time.Time{})
	if got := read(t, c); got != `[2,"c1","GetVariables",{}]` {
		t.Fatal(got)
	}
	// The charger sends its own CALL before answering the core's.
	write(t, c, `[2,"m1","StatusNotification",{}]`)
	if env := h.nextUp(); env.GetMessageId() != "m1" {
		t.Fatalf("charger CALL not forwarded while a core CALL is outstanding: %v", env)
	}
	write(t, c, `[3,"c1",{"getVariableResult":[]}]`)
	h.reply("CP1", con.GetConnectionId(), `[3,"m1",{}]`)
	if ans := h.nextAnswer(); ans.GetMessageId() != "c1" {
		t.Fatalf("core CALL answer lost: %v", ans)
	}
	if got := read(t, c); got != `[3,"m1",{}]` {
		t.Fatalf("charger CALL answer lost: %s", got)
	}
}

func TestNewestConnectionWins(t *testing.T) {
	h := newHarness(t, server.Config{})
	old, oldEnv := h.connect("CP1")
	cur, curEnv := h.connect("CP1")
	if code := readClose(t, old); code != websocket.StatusPolicyViolation {
		t.Errorf("old socket closed with %v, want 1008", code)
	}
	if d := h.disconnected(oldEnv.GetConnectionId()); d.GetStationId() != "CP1" {
		t.Fatalf("bad DISCONNECTED %v", d)
	}
	write(t, cur, `[2,"m1","Heartbeat",{}]`)
	env := h.nextUp()
	if env.GetConnectionId() != curEnv.GetConnectionId() {
		t.Fatalf("CALL on new socket carries %q", env.GetConnectionId())
	}
	// The old connection's disconnection must not have unregistered the new
	// one: a core CALL still reaches it.
	h.command("CP1", "", "c1", `[2,"c1","ClearCache",{}]`, time.Time{})
	h.reply("CP1", curEnv.GetConnectionId(), `[3,"m1",{}]`)
	got := []string{read(t, cur), read(t, cur)}
	if !(contains(got, `[2,"c1","ClearCache",{}]`) && contains(got, `[3,"m1",{}]`)) {
		t.Fatalf("new socket got %v", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCloseConnectionControl(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	ctx := context.Background()
	// For an older connection id: ignored.
	if err := h.bus.PublishDownstream(ctx, &busv1.Envelope{Kind: busv1.Kind_KIND_CLOSE_CONNECTION, StationId: "CP1", ConnectionId: "conn-0"}); err != nil {
		t.Fatal(err)
	}
	if err := h.bus.PublishDownstream(ctx, &busv1.Envelope{Kind: busv1.Kind_KIND_CLOSE_CONNECTION, StationId: "CP1", ConnectionId: con.GetConnectionId(), Reason: "replaced by a newer connection"}); err != nil {
		t.Fatal(err)
	}
	if code := readClose(t, c); code != websocket.StatusPolicyViolation {
		t.Errorf("closed with %v, want 1008", code)
	}
	d := h.disconnected(con.GetConnectionId())
	if d.GetReason() != "replaced by a newer connection" {
		t.Errorf("reason %q", d.GetReason())
	}
}

func TestPingClosesDeadPeer(t *testing.T) {
	h := newHarness(t, server.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	// The live charger reads (and so answers pings); the dead one never reads.
	live, liveEnv := h.connect("CP1")
	liveCtx := live.CloseRead(context.Background())
	_, deadEnv := h.connect("CP2")

	d := h.upUntil(func(e *busv1.Envelope) bool {
		if e.GetKind() == busv1.Kind_KIND_DISCONNECTED && e.GetConnectionId() == liveEnv.GetConnectionId() {
			t.Fatalf("a charger answering pings was disconnected: %v", e)
		}
		return e.GetKind() == busv1.Kind_KIND_DISCONNECTED && e.GetConnectionId() == deadEnv.GetConnectionId()
	})
	if d.GetReason() != "no pong" {
		t.Errorf("reason %q", d.GetReason())
	}
	if liveCtx.Err() != nil {
		t.Fatal("live charger's socket was closed")
	}
}

func TestReadLimit(t *testing.T) {
	h := newHarness(t, server.Config{MaxMessageBytes: 1024})
	c, con := h.connect("CP1")
	write(t, c, `[2,"m1","DataTransfer",{"vendorId":"`+strings.Repeat("x", 900)+`"}]`)
	if env := h.nextUp(); env.GetMessageId() != "m1" {
		t.Fatalf("message under the limit not forwarded: %v", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_ = c.Write(ctx, websocket.MessageText, []byte(`[2,"m2","DataTransfer",{"vendorId":"`+strings.Repeat("x", 2000)+`"}]`))
	if code := readClose(t, c); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %v, want 1009", code)
	}
	if d := h.disconnected(con.GetConnectionId()); d.GetReason() != "message too big" {
		t.Errorf("reason %q", d.GetReason())
	}
}

func TestPermessageDeflate(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, resp, err := h.dial("CP1", dialOpts{subprotocols: []string{"ocpp2.0.1"}, compress: true})
	if err != nil {
		t.Fatal(err)
	}
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	if !strings.Contains(ext, "permessage-deflate") || !strings.Contains(ext, "server_no_context_takeover") {
		t.Fatalf("deflate not negotiated without context takeover: %q", ext)
	}
	con := h.nextUp()
	big := `[2,"m1","DataTransfer",{"vendorId":"` + strings.Repeat("abc", 1000) + `"}]`
	write(t, c, big)
	if env := h.nextUp(); string(env.GetFrame()) != big {
		t.Fatal("compressed frame not forwarded intact")
	}
	reply := `[3,"m1",{"data":"` + strings.Repeat("xyz", 1000) + `"}]`
	h.reply("CP1", con.GetConnectionId(), reply)
	if got := read(t, c); got != reply {
		t.Fatal("compressed reply corrupted")
	}
}

func TestLeaseRenewed(t *testing.T) {
	h := newHarness(t, server.Config{LeaseTTL: 1500 * time.Millisecond})
	deadline := time.Now().Add(3 * wait)
	for {
		h.core.mu.Lock()
		n := len(h.core.renewals)
		var last *gatewayv1.RenewLeaseRequest
		if n > 0 {
			last = h.core.renewals[n-1]
		}
		h.core.mu.Unlock()
		if n >= 3 {
			if last.GetGatewayId() != gatewayID || last.GetTtlSeconds() != 2 {
				t.Fatalf("renewal %v, want gateway %s ttl 2", last, gatewayID)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d renewals", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When a renewal finds the lease expired (the core marked this gateway's
// stations disconnected), the gateway closes every socket with 1012 so
// that the chargers reconnect and are admitted again; renewals of a lease
// it holds close nothing.
func TestLeaseLostClosesSocketsWith1012(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, server.Config{LeaseTTL: 300 * time.Millisecond, Metrics: metrics.NewGateway(reg, "gw-lease")})
	c, con := h.connect("CP1")
	h.waitRenewals(2)
	// Still open: a CALL is forwarded.
	write(t, c, `[2,"m1","Heartbeat",{}]`)
	if env := h.nextUp(); env.GetMessageId() != "m1" {
		t.Fatalf("socket not forwarding after plain renewals: %v", env)
	}

	h.core.mu.Lock()
	h.core.newLeases = 1
	h.core.mu.Unlock()
	if code := readClose(t, c); code != websocket.StatusServiceRestart {
		t.Fatalf("close code %v, want 1012 (service restart)", code)
	}
	if d := h.disconnected(con.GetConnectionId()); d.GetReason() != "gateway lease expired" {
		t.Errorf("reason %q", d.GetReason())
	}
	if got := counterValue(t, reg, "chargeplane_gateway_leases_lost_total", "gateway", "gw-lease"); got != 1 {
		t.Errorf("leases lost = %v, want 1", got)
	}
	// The charger comes back and stays: the next renewals are plain.
	c2, con2 := h.connect("CP1")
	if con2.GetConnectionId() == con.GetConnectionId() {
		t.Fatalf("reconnected with the old connection id %s", con.GetConnectionId())
	}
	h.waitRenewals(2)
	write(t, c2, `[2,"m2","Heartbeat",{}]`)
	if env := h.nextUp(); env.GetMessageId() != "m2" {
		t.Fatalf("reconnected socket not forwarding: %v", env)
	}
}

func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, server.Config{DrainWindow: 200 * time.Millisecond})
	a, aEnv := h.connect("CP1")
	b, bEnv := h.connect("CP2")

	// A CALL whose publish is still in flight when Shutdown starts must
	// reach the bus.
	gate := make(chan struct{})
	h.bus.gate.Store(&gate)
	write(t, a, `[2,"inflight","Heartbeat",{}]`)
	select {
	case <-h.bus.held:
	case <-time.After(wait):
		t.Fatal("publish never started")
	}

	// CP1 keeps reading, as a real charger does, so it answers the close
	// handshake while its CALL is still being published.
	aClosed := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			if _, _, err := a.Read(context.Background()); err != nil {
				aClosed <- websocket.CloseStatus(err)
				return
			}
		}
	}()

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.gw.Shutdown(ctx)
	}()
	// New chargers are turned away while draining.
	for !h.gw.Draining() {
		time.Sleep(5 * time.Millisecond)
	}
	if _, resp, err := h.dial("CP1", dialOpts{subprotocols: []string{"ocpp1.6"}}); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial while draining: %v %v, want 503", resp, err)
	}
	if code := readClose(t, b); code != websocket.StatusGoingAway {
		t.Errorf("CP2 closed with %v, want 1001", code)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a publish was in flight", err)
	default:
	}
	close(gate)

	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := <-aClosed; code != websocket.StatusGoingAway {
		t.Errorf("CP1 closed with %v, want 1001", code)
	}
	// Everything was handed to the bus before Shutdown returned; the test's
	// consumer may see it a moment later.
	want := map[string]bool{"inflight": true, aEnv.GetConnectionId(): true, bEnv.GetConnectionId(): true}
	h.upUntil(func(env *busv1.Envelope) bool {
		switch {
		case env.GetMessageId() == "inflight":
			delete(want, "inflight")
		case env.GetKind() == busv1.Kind_KIND_DISCONNECTED:
			delete(want, env.GetConnectionId())
		}
		return len(want) == 0
	})
}

func TestGarbageNeverBreaksGateway(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1", "ocpp2.0.1")
	inputs := []string{
		`[2,"x1"]`, `[2]`, `[2,1,"A",{}]`, `[2,"a","",{}]`, `[2,null,null,null]`, `{"a":1}`, `"str"`, `1e999`,
		`[` + strings.Repeat(`[`, 10000), `[2,"a","B",{}` + strings.Repeat(" ", 1000), `[4,"a",1,2,3]`, `[3,"a",null]`,
		`[6,"a","B",{}]`, `[5,"a","x","y",{}]`, `[-1]`, `[2.0,"a","B",{}]`, `[2,"a","B",{},{}]`, "\x00",
	}
	for _, in := range inputs {
		write(t, c, in)
	}
	write(t, c, `[2,"alive","Heartbeat",{}]`)
	h.upUntil(func(e *busv1.Envelope) bool { return e.GetMessageId() == "alive" })
	h.reply("CP1", con.GetConnectionId(), `[3,"alive",{}]`)
	for {
		got := read(t, c)
		if got == `[3,"alive",{}]` {
			break
		}
		if !strings.HasPrefix(got, `[4,`) {
			t.Fatalf("unexpected frame %s", got)
		}
	}
}

// When the bus cannot take CONNECTED the socket is closed so the charger
// retries, and the disconnection is retried until the bus is back.
func TestConnectedNotPublishedClosesAndRetriesDisconnect(t *testing.T) {
	h := newHarness(t, server.Config{})
	h.bus.failUpstream.Store(true)
	c, _, err := h.dial("CP1", dialOpts{subprotocols: []string{"ocpp1.6"}})
	if err != nil {
		t.Fatal(err)
	}
	if code := readClose(t, c); code != websocket.StatusTryAgainLater {
		t.Errorf("closed with %v, want 1013", code)
	}
	h.bus.failUpstream.Store(false)
	d := h.nextUp()
	if d.GetKind() != busv1.Kind_KIND_DISCONNECTED || d.GetConnectionId() != h.core.lastConnID() {
		t.Fatalf("want DISCONNECTED after retries, got %v", d)
	}
}

// A charger that never answers the close handshake cannot hold Shutdown past
// its deadline: the socket is dropped and its disconnection still published.
func TestShutdownDeadlineDropsUnresponsiveSockets(t *testing.T) {
	h := newHarness(t, server.Config{DrainWindow: 50 * time.Millisecond, PingInterval: -1})
	_, env := h.connect("CP1") // never reads, so never answers the close
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := h.gw.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if d := h.disconnected(env.GetConnectionId()); d.GetReason() != "gateway shutting down" {
		t.Errorf("reason %q", d.GetReason())
	}
}

// RFC 6455 section 8.1: a text frame that is not valid UTF-8 fails the
// connection with 1007; nothing of it is forwarded, and it is counted.
func TestInvalidUTF8TextFrameClosesWith1007(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, server.Config{Metrics: metrics.NewGateway(reg, "gw-utf8")})
	c, con := h.connect("CP1")
	write(t, c, "[2,\"m1\",\"Heartbeat\",{\"x\":\"\xff\xfe\"}]")
	if code := readClose(t, c); code != websocket.StatusInvalidFramePayloadData {
		t.Errorf("close code %v, want 1007", code)
	}
	// The disconnection is the next upstream envelope: the frame itself
	// was never published.
	if env := h.nextUp(); env.GetKind() != busv1.Kind_KIND_DISCONNECTED || env.GetConnectionId() != con.GetConnectionId() {
		t.Errorf("next upstream envelope = %v, want the DISCONNECTED of %s", env, con.GetConnectionId())
	}
	if got := counterValue(t, reg, "chargeplane_gateway_protocol_violations_total", "violation", "invalid_utf8"); got != 1 {
		t.Errorf("invalid_utf8 violations = %v, want 1", got)
	}

	// Valid UTF-8 beyond ASCII is fine.
	c2, _ := h.connect("CP2")
	write(t, c2, `[2,"m2","DataTransfer",{"vendorId":"Bäckerei-Ω"}]`)
	if env := h.nextUp(); env.GetMessageId() != "m2" {
		t.Fatalf("valid UTF-8 frame not forwarded: %v", env)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("%s{%s=%q} not registered", name, label, value)
	return 0
}

// A flapping station id is told to come back later: 503 with Retry-After,
// before any upgrade.
func TestTryLaterIs503WithRetryAfter(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, resp, err := h.dial("FLAPPING", dialOpts{subprotocols: []string{"ocpp1.6"}})
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("upgrade succeeded, want HTTP 503")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "42" {
		t.Fatalf("got %v / %v, want HTTP 503 with Retry-After 42", resp, err)
	}
}
