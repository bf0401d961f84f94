package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/gateway/server"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// wantFailed reads the next envelope on the core's reply queue and checks
// it is a KIND_CALL_FAILED for id with reason.
func (h *harness) wantFailed(id, reason string) *busv1.Envelope {
	h.t.Helper()
	ans := h.nextAnswer()
	if ans.GetKind() != busv1.Kind_KIND_CALL_FAILED || ans.GetMessageId() != id || ans.GetReason() != reason {
		h.t.Fatalf("want CALL_FAILED %q for %s, got %v", reason, id, ans)
	}
	if ans.GetGatewayId() != gatewayID || ans.GetStationId() == "" {
		h.t.Fatalf("CALL_FAILED lacks gateway or station: %v", ans)
	}
	return ans
}

func (h *harness) noAnswer() {
	h.t.Helper()
	select {
	case a := <-h.ans:
		h.t.Fatalf("unexpected message to the core: %v", a)
	case <-time.After(100 * time.Millisecond):
	}
}

// commandVia plays the core sending a CALL it believes gateway gw holds.
func (h *harness) commandVia(gw, station, connID, id, frame string) {
	h.t.Helper()
	env := &busv1.Envelope{
		Kind: busv1.Kind_KIND_FRAME, StationId: station, GatewayId: gw, ConnectionId: connID,
		MessageId: id, Frame: []byte(frame), ReplyTo: coreID,
	}
	if err := h.bus.PublishDownstream(context.Background(), env); err != nil {
		h.t.Fatal(err)
	}
}

func TestCoreCallsFailOnDisconnect(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	h.command("CP1", con.GetConnectionId(), "c1", `[2,"c1","ClearCache",{}]`, time.Time{})
	h.command("CP1", con.GetConnectionId(), "c2", `[2,"c2","ClearCache",{}]`, time.Time{})
	if got := read(t, c); got != `[2,"c1","ClearCache",{}]` {
		t.Fatal(got)
	}
	// The charger goes away with c1 outstanding and c2 queued: both
	// callers hear of it at once, outstanding first.
	_ = c.Close(websocket.StatusNormalClosure, "bye")
	h.wantFailed("c1", "connection closed")
	h.wantFailed("c2", "connection closed")
	h.disconnected(con.GetConnectionId())
	h.noAnswer()
}

func TestCoreCallForConnectionNotHere(t *testing.T) {
	h := newHarness(t, server.Config{})
	h.connect("CP1")

	// The core believes this gateway holds CP2: it does not, so it says so.
	h.commandVia(gatewayID, "CP2", "conn-gone", "c1", `[2,"c1","ClearCache",{}]`)
	if a := h.wantFailed("c1", "connection closed"); a.GetConnectionId() != "conn-gone" || a.GetStationId() != "CP2" {
		t.Fatalf("CALL_FAILED names the wrong connection: %v", a)
	}
	// A stale connection id on this gateway: the socket it names is gone.
	h.commandVia(gatewayID, "CP1", "conn-old", "c2", `[2,"c2","ClearCache",{}]`)
	h.wantFailed("c2", "connection closed")
	// Another gateway holds it: that one answers, this one keeps quiet.
	h.commandVia("gw-other", "CP2", "conn-x", "c3", `[2,"c3","ClearCache",{}]`)
	h.commandVia("gw-other", "CP1", "conn-x", "c4", `[2,"c4","ClearCache",{}]`)
	h.noAnswer()
}

func TestCoreCallQueueFull(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	// One outstanding plus 64 queued fit; the next is refused at once.
	for i := range 66 {
		id := "c" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		h.command("CP1", con.GetConnectionId(), id, `[2,"`+id+`","ClearCache",{}]`, time.Time{})
	}
	if got := read(t, c); got != `[2,"cAa","ClearCache",{}]` {
		t.Fatal(got)
	}
	h.wantFailed("cCn", "queue full")
}

func TestCoreCallExpiredBeforeSend(t *testing.T) {
	h := newHarness(t, server.Config{})
	c, con := h.connect("CP1")
	// Its caller already gave up: never sent, reported expired.
	h.command("CP1", con.GetConnectionId(), "c1", `[2,"c1","ClearCache",{}]`, fixedNow.Add(-time.Millisecond))
	h.wantFailed("c1", "expired")
	h.command("CP1", con.GetConnectionId(), "c2", `[2,"c2","ClearCache",{}]`, time.Time{})
	if got := read(t, c); got != `[2,"c2","ClearCache",{}]` {
		t.Fatalf("want c2 only, got %s", got)
	}
}
