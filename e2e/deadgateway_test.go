package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/gateway/server"
)

// testCommandToDeadGateway: a command waiting on a charger whose gateway
// dies is answered 409 (not connected) once the core knows, from the
// expired lease, rather than 504 at COMMAND_TIMEOUT; a new command to it
// is answered 409 at once. Scale-out only (the gateway is a process).
func testCommandToDeadGateway(t *testing.T, sys *system) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gw, id, r := bootOnShortLease(ctx, t, sys, "deadgw")

	// The charger gets the command and never answers it (COMMAND_TIMEOUT
	// is 30 s here).
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/trigger-message",
			map[string]any{"requestedMessage": "Heartbeat"}, true)
		done <- result{code, string(body), err}
	}()
	if f := r.read(ctx, t); len(f) < 3 || string(f[2]) != `"TriggerMessage"` {
		t.Fatalf("charger got %s, want the TriggerMessage CALL", f)
	}
	gw.kill()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("the command never got an answer")
	}
	if res.err != nil || res.code != http.StatusConflict {
		t.Fatalf("command whose gateway died: %d %s %v, want 409 (station not connected)", res.code, res.body, res.err)
	}
	eventually(t, "station offline", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected, fmt.Sprintf("connected %v", st.Connected)
	})
	code, _, body, err := sys.rest.do(ctx, http.MethodPost, "/api/v1/stations/"+id+"/trigger-message",
		map[string]any{"requestedMessage": "Heartbeat"}, true)
	if err != nil || code != http.StatusConflict {
		t.Fatalf("new command to the offline station: %d %s %v, want 409", code, body, err)
	}
}

// testGatewayLeaseLost: a live gateway cut off from the core for longer
// than its lease has its stations marked disconnected; once it renews
// again it is told its lease had expired and closes its sockets with 1012
// (service restart), so the chargers reconnect and are shown connected
// again, instead of staying open and Unavailable until they happen to
// reconnect. Scale-out only (the gateway talks to the core over gRPC).
func testGatewayLeaseLost(t *testing.T, sys *system) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gw, id, r := bootOnShortLease(ctx, t, sys, "leaselost")

	gw.cut(true)
	eventually(t, "station offline once the cut-off gateway's lease expired", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected && st.Status == "Unavailable", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})
	gw.cut(false)
	if code := r.waitClosed(ctx, t); code != websocket.StatusServiceRestart {
		t.Fatalf("socket of the gateway that lost its lease closed with %v, want 1012 (service restart)", code)
	}

	// The charger reconnects through the same gateway and is online again.
	r2, _, err := dialRaw(ctx, t, gw.url+id, v16.subprotocol, "", "")
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	b, _ := json.Marshal(v16.boot("SN-" + id))
	r2.call(ctx, t, "boot-2", "BootNotification", string(b))
	eventually(t, "station online again after reconnecting", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return st.Connected && st.Status != "Unavailable", fmt.Sprintf("connected %v status %q", st.Connected, st.Status)
	})
}

// bootOnShortLease starts a gateway of its own with a 2 s lease, and a
// new 1.6 station (id prefix name) connected and booted through it.
func bootOnShortLease(ctx context.Context, t *testing.T, sys *system, name string) (gatewayHandle, string, *rawCharger) {
	t.Helper()
	gw := sys.extraGateway(t, func(c *server.Config) { c.LeaseTTL = 2 * time.Second })
	id := newStationID(name)
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, gw.url+id, v16.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b, _ := json.Marshal(v16.boot("SN-" + id))
	r.call(ctx, t, "boot-1", "BootNotification", string(b))
	if st := sys.rest.getStation(ctx, t, id); !st.Connected {
		t.Fatalf("station %s not connected after its boot", id)
	}
	return gw, id, r
}
