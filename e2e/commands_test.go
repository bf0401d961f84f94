package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestCommands drives the core→charger path over real sockets: the generic
// call and every one of its outcomes, in both deployments and versions.
func TestCommands(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			for _, v := range versions {
				t.Run(v.name, func(t *testing.T) { testCommandOutcomes(t, sys, v) })
			}
			t.Run("NotConnected", func(t *testing.T) { testCommandNotConnected(t, sys) })
		})
	}
	t.Run("TwoCores", testCommandsTwoCores)
}

// cmdCharger is a strict simulated charger that answers the CSMS's CALLs:
// ClearCache → Accepted (held briefly, to see whether a second CALL
// overtakes it), DataTransfer → CALLERROR, GetLocalListVersion → never,
// TriggerMessage → sends its own Heartbeat first (crossing CALLs).
type cmdCharger struct {
	*chargepoint.Client
	mu       sync.Mutex
	received []string // action + payload, in order
	inFlight atomic.Int32
	maxIn    atomic.Int32
	// release lets the held GetLocalListVersion answer (late, after the
	// core gave up); answered is closed once it has.
	release  chan struct{}
	answered chan struct{}
}

func (c *cmdCharger) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.received...)
}

func dialCommandCharger(ctx context.Context, t *testing.T, gwURL, id string, v ocppVersion) *cmdCharger {
	t.Helper()
	reg, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	cc := &cmdCharger{release: make(chan struct{}), answered: make(chan struct{})}
	// OnCall may run before Dial returns; it reads the client under mu.
	cc.mu.Lock()
	defer cc.mu.Unlock()
	gone := make(chan struct{})
	t.Cleanup(func() { close(gone) })
	opts := chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      reg,
		Compress:     v.name == "2.0.1",
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			cc.mu.Lock()
			cc.received = append(cc.received, action+" "+string(payload))
			cc.mu.Unlock()
			switch action {
			case "ClearCache":
				n := cc.inFlight.Add(1)
				defer cc.inFlight.Add(-1)
				for {
					m := cc.maxIn.Load()
					if n <= m || cc.maxIn.CompareAndSwap(m, n) {
						break
					}
				}
				// Long enough that a second CALL sent too early would be seen.
				select {
				case <-time.After(300 * time.Millisecond):
				case <-ctx.Done():
				}
				return map[string]any{"status": "Accepted"}, nil
			case "DataTransfer":
				return nil, &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: "e2e charger knows no vendor"}
			case "GetLocalListVersion":
				select {
				case <-cc.release:
				case <-ctx.Done():
				case <-gone:
				}
				// The strict client counts this CALL as outstanding until it
				// is answered; the answer comes too late and must be dropped.
				return chargepoint.Reply{Payload: map[string]any{"listVersion": 7}, After: func() { close(cc.answered) }}, nil
			case "TriggerMessage":
				// The charger's own CALL crosses the core's outstanding one.
				var hb heartbeatResponse
				cc.mu.Lock()
				self := cc.Client
				cc.mu.Unlock()
				if err := call(ctx, self, "Heartbeat", struct{}{}, &hb); err != nil {
					return nil, fmt.Errorf("heartbeat while answering TriggerMessage: %w", err)
				}
				return map[string]any{"status": "Accepted"}, nil
			}
			return nil, &chargepoint.CallError{Code: ocppj.CodeNotImplemented, Description: action}
		},
	}
	c, err := chargepoint.Dial(ctx, gwURL+id, opts)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	cc.Client = c
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", id, err)
		}
	})
	return cc
}

type callResult struct {
	status int
	body   []byte
	took   time.Duration
	out    struct {
		CommandID string          `json:"commandId"`
		Payload   json.RawMessage `json:"payload"`
		Code      int             `json:"code"`
		Message   string          `json:"message"`
		Details   []struct {
			Reason   string            `json:"reason"`
			Metadata map[string]string `json:"metadata"`
		} `json:"details"`
	}
}

func restCall(ctx context.Context, t *testing.T, rc *restClient, station, action string, payload any, timeoutSec int) callResult {
	t.Helper()
	body := map[string]any{"action": action, "payload": payload}
	if timeoutSec > 0 {
		body["timeoutSeconds"] = timeoutSec
	}
	start := time.Now()
	code, _, b, err := rc.do(ctx, http.MethodPost, "/api/v1/stations/"+station+"/call", body, true)
	if err != nil {
		t.Fatalf("POST call %s: %v", action, err)
	}
	r := callResult{status: code, body: b, took: time.Since(start)}
	if err := json.Unmarshal(b, &r.out); err != nil {
		t.Fatalf("call %s answer %s: %v", action, b, err)
	}
	return r
}

func (r callResult) reason() string {
	if len(r.out.Details) == 0 {
		return ""
	}
	return r.out.Details[0].Reason
}

type apiCommand struct {
	ID               string          `json:"id"`
	Action           string          `json:"action"`
	Status           string          `json:"status"`
	RequestedBy      string          `json:"requestedBy"`
	Response         json.RawMessage `json:"response"`
	ErrorCode        string          `json:"errorCode"`
	ErrorDescription string          `json:"errorDescription"`
}

func listCommands(ctx context.Context, t *testing.T, rc *restClient, station string) []apiCommand {
	t.Helper()
	code, _, b, err := rc.do(ctx, http.MethodGet, "/api/v1/stations/"+station+"/commands?pageSize=100", nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET commands: %d %s %v", code, b, err)
	}
	var out struct {
		Commands  []apiCommand `json:"commands"`
		TotalSize string       `json:"totalSize"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("commands %s: %v", b, err)
	}
	return out.Commands
}

type apiMessage struct {
	Direction   string `json:"direction"`
	MessageType string `json:"messageType"`
	MessageID   string `json:"messageId"`
	Action      string `json:"action"`
	Frame       string `json:"frame"`
}

func listMessages(ctx context.Context, t *testing.T, rc *restClient, station string) []apiMessage {
	t.Helper()
	code, _, b, err := rc.do(ctx, http.MethodGet, "/api/v1/stations/"+station+"/messages?pageSize=1000", nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET messages: %d %s %v", code, b, err)
	}
	var out struct {
		Messages []apiMessage `json:"messages"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("messages %s: %v", b, err)
	}
	return out.Messages
}

func testCommandOutcomes(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	id := newStationID("cmd" + v.name[:1])
	sys.rest.createStation(ctx, t, id, "")
	c := dialCommandCharger(ctx, t, sys.gateway(v.index), id, v)
	boot(ctx, t, c.Client, v, "SN-"+id)

	// The answer comes back to the REST caller.
	r := restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 0)
	if r.status != http.StatusOK || r.out.CommandID == "" || string(r.out.Payload) != `{"status":"Accepted"}` {
		t.Fatalf("ClearCache: %d %s", r.status, r.body)
	}
	if got := c.calls(); len(got) != 1 || got[0] != "ClearCache {}" {
		t.Fatalf("charger received %v", got)
	}

	// The charger's CALLERROR: 502 with its code and description.
	r = restCall(ctx, t, sys.rest, id, "DataTransfer", map[string]any{"vendorId": "com.example"}, 0)
	if r.status != http.StatusBadGateway || r.reason() != "CHARGER_CALL_ERROR" ||
		r.out.Details[0].Metadata["code"] != "NotSupported" || r.out.Details[0].Metadata["description"] != "e2e charger knows no vendor" {
		t.Fatalf("DataTransfer: %d %s", r.status, r.body)
	}

	// Invalid payload or an action the CSMS does not send: 400, nothing sent.
	before := len(c.calls())
	reset := map[string]any{"type": "Sideways"}
	if r := restCall(ctx, t, sys.rest, id, "Reset", reset, 0); r.status != http.StatusBadRequest || r.reason() != "INVALID_COMMAND" {
		t.Fatalf("invalid Reset: %d %s", r.status, r.body)
	}
	if r := restCall(ctx, t, sys.rest, id, "Heartbeat", map[string]any{}, 0); r.status != http.StatusBadRequest {
		t.Fatalf("charger-side action: %d %s", r.status, r.body)
	}
	if r := restCall(ctx, t, sys.rest, id, "NoSuchAction", map[string]any{}, 0); r.status != http.StatusBadRequest {
		t.Fatalf("unknown action: %d %s", r.status, r.body)
	}

	// No answer: 504 after the request's timeout, and the connection's
	// CALL slot is free again afterwards.
	r = restCall(ctx, t, sys.rest, id, "GetLocalListVersion", map[string]any{}, 1)
	if r.status != http.StatusGatewayTimeout || r.reason() != "COMMAND_TIMEOUT" {
		t.Fatalf("GetLocalListVersion: %d %s", r.status, r.body)
	}
	if r.took > 8*time.Second {
		t.Errorf("timeout of 1s took %v", r.took)
	}
	close(c.release)
	select {
	case <-c.answered:
	case <-ctx.Done():
		t.Fatal("late answer not sent")
	}

	// Crossing CALLs: the charger sends Heartbeat while TriggerMessage is
	// outstanding; both complete.
	r = restCall(ctx, t, sys.rest, id, "TriggerMessage", map[string]any{"requestedMessage": "Heartbeat"}, 0)
	if r.status != http.StatusOK || string(r.out.Payload) != `{"status":"Accepted"}` {
		t.Fatalf("TriggerMessage: %d %s", r.status, r.body)
	}

	// One outstanding CALL: two commands issued at once reach the charger
	// one after the other, and both callers get their answer.
	var wg sync.WaitGroup
	results := make([]callResult, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 0)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusOK || string(r.out.Payload) != `{"status":"Accepted"}` {
			t.Fatalf("concurrent ClearCache %d: %d %s", i, r.status, r.body)
		}
	}
	if m := c.maxIn.Load(); m != 1 {
		t.Fatalf("the charger had %d CALLs outstanding at once", m)
	}
	got := c.calls()
	if len(got) != before+4 { // GetLocalListVersion, TriggerMessage, 2 ClearCache
		t.Fatalf("charger received %d CALLs after the invalid ones, want %d: %v", len(got)-before, 4, got[before:])
	}
	for _, g := range got {
		if strings.HasPrefix(g, "Reset") || strings.HasPrefix(g, "Heartbeat") || strings.HasPrefix(g, "NoSuchAction") {
			t.Fatalf("an invalid command reached the charger: %v", got)
		}
	}

	// History: every outcome, newest first; invalid ones never recorded.
	cmds := listCommands(ctx, t, sys.rest, id)
	var statuses []string
	for _, cmd := range cmds {
		statuses = append(statuses, cmd.Action+":"+cmd.Status)
		if cmd.RequestedBy != operatorEmail {
			t.Errorf("command %s requested by %q", cmd.ID, cmd.RequestedBy)
		}
	}
	want := []string{"ClearCache:answered", "ClearCache:answered", "TriggerMessage:answered",
		"GetLocalListVersion:timeout", "DataTransfer:charger_error", "ClearCache:answered"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("history %v, want %v", statuses, want)
	}
	if dt := cmds[4]; dt.ErrorCode != "NotSupported" || dt.ErrorDescription != "e2e charger knows no vendor" {
		t.Errorf("DataTransfer recorded as %+v", dt)
	}
	if first := cmds[5]; string(first.Response) != `{"status":"Accepted"}` {
		t.Errorf("ClearCache response recorded as %s", first.Response)
	}

	// The message log shows both directions: the boot and its answer, the
	// command and the charger's answer. It is written asynchronously.
	cmdID := cmds[5].ID
	eventually(t, "message log", func() (bool, string) {
		msgs := listMessages(ctx, t, sys.rest, id)
		seen := map[string]bool{}
		for _, m := range msgs {
			switch {
			case m.Direction == "in" && m.MessageType == "CALL" && m.Action == "BootNotification":
				seen["boot in"] = true
			case m.Direction == "out" && m.MessageType == "CALLRESULT":
				seen["reply out"] = true
			case m.Direction == "out" && m.MessageType == "CALL" && m.MessageID == cmdID && m.Action == "ClearCache":
				seen["command out"] = true
			case m.Direction == "in" && m.MessageType == "CALLRESULT" && m.MessageID == cmdID:
				seen["answer in"] = true
			case m.Direction == "in" && m.MessageType == "CALLERROR":
				seen["callerror in"] = true
			}
		}
		return len(seen) == 5, fmt.Sprintf("saw %v in %d messages", seen, len(msgs))
	})

	// Gone: 409 at once.
	_ = c.Close()
	eventually(t, "station disconnected", func() (bool, string) {
		st := sys.rest.getStation(ctx, t, id)
		return !st.Connected, "still connected"
	})
	if r := restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 0); r.status != http.StatusConflict || r.reason() != "STATION_NOT_CONNECTED" {
		t.Fatalf("after disconnect: %d %s", r.status, r.body)
	}
}

func testCommandNotConnected(t *testing.T, sys *system) {
	ctx := testCtx(t)
	id := newStationID("cmdnc")
	sys.rest.createStation(ctx, t, id, "")
	r := restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 0)
	if r.status != http.StatusConflict || r.reason() != "STATION_NOT_CONNECTED" {
		t.Fatalf("never connected: %d %s", r.status, r.body)
	}
	if r.took > 5*time.Second {
		t.Errorf("not connected took %v; it must be known at once", r.took)
	}
	if r := restCall(ctx, t, sys.rest, "no-such-station", "ClearCache", map[string]any{}, 0); r.status != http.StatusNotFound {
		t.Fatalf("unknown station: %d %s", r.status, r.body)
	}
	if cmds := listCommands(ctx, t, sys.rest, id); len(cmds) != 0 {
		t.Fatalf("refused commands recorded: %v", cmds)
	}
}

// testCommandsTwoCores: two core instances and two gateways over RabbitMQ;
// a command issued on either core reaches a charger on either gateway and
// its answer comes back to the instance whose caller waits.
func testCommandsTwoCores(t *testing.T) {
	t.Parallel()
	sys1, sys2, gws := startTwoCores(t, "e2e-cmdgw")
	ctx := testCtx(t)

	// One charger per gateway, one of each version.
	var ids []string
	for _, v := range versions {
		id := newStationID("cmd2c" + v.name[:1])
		sys1.rest.createStation(ctx, t, id, "")
		c := dialCommandCharger(ctx, t, gws[v.index], id, v)
		boot(ctx, t, c.Client, v, "SN-"+id)
		ids = append(ids, id)
	}
	for _, sys := range []*system{sys1, sys2} {
		for _, id := range ids {
			r := restCall(ctx, t, sys.rest, id, "ClearCache", map[string]any{}, 5)
			if r.status != http.StatusOK || string(r.out.Payload) != `{"status":"Accepted"}` {
				t.Fatalf("%s → %s: %d %s", sys.mode, id, r.status, r.body)
			}
			r = restCall(ctx, t, sys.rest, id, "DataTransfer", map[string]any{"vendorId": "x"}, 5)
			if r.status != http.StatusBadGateway {
				t.Fatalf("%s → %s DataTransfer: %d %s", sys.mode, id, r.status, r.body)
			}
		}
	}
	// Both instances see the whole history.
	for _, id := range ids {
		if cmds := listCommands(ctx, t, sys2.rest, id); len(cmds) != 4 {
			t.Fatalf("%s history on core2: %v", id, cmds)
		}
	}
}
