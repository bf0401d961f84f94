package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/gateway/server"
)

// testCommandToDeadGateway: a command waiting on a charger whose gateway
// dies is answered 409 (not connected) once the core knows, from the
// expired lease, rather than 504 at COMMAND_TIMEOUT; a new command to it
// is answered 409 at once. Scale-out only (the gateway is a process).
func testCommandToDeadGateway(t *testing.T, sys *system) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gw := sys.extraGateway(t, func(c *server.Config) { c.LeaseTTL = 2 * time.Second })
	id := newStationID("deadgw")
	sys.rest.createStation(ctx, t, id, "")
	r, _, err := dialRaw(ctx, t, gw.url+id, v16.subprotocol, "", "")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b, _ := json.Marshal(v16.boot("SN-" + id))
	r.call(ctx, t, "boot-1", "BootNotification", string(b))

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
