package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// TestControlCommands drives every remote-control and configuration command
// over REST, in both deployments and both protocol versions, to a strict
// simulated charger: the charger must receive the version's action with the
// right payload (pkg/chargepoint checks it against the official request
// schema), and its answer must come back to the REST caller.
func TestControlCommands(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			for _, v := range versions {
				t.Run("Typed/"+v.name, func(t *testing.T) { testCtlTyped(t, sys, v) })
			}
			t.Run("RemoteStartStop/1.6", func(t *testing.T) { testCtlRemoteStartStop16(t, sys) })
			t.Run("RemoteStartStop/2.0.1", func(t *testing.T) { testCtlRemoteStartStop201(t, sys) })
			t.Run("DeviceModel", func(t *testing.T) { testCtlDeviceModel(t, sys) })
			t.Run("VersionMismatch", func(t *testing.T) { testCtlVersionMismatch(t, sys) })
		})
	}
}

// ctlCall is a CALL the simulated charger got from the CSMS.
type ctlCall struct {
	action  string
	payload json.RawMessage
}

// ctlCharger is a strict charger that answers the CSMS's CALLs with
// whatever the test sets, and hands every CALL it got to the test.
type ctlCharger struct {
	*chargepoint.Client
	id    string
	calls chan ctlCall

	mu     sync.Mutex
	answer func(action string, payload json.RawMessage) (any, error)
}

// dialCtlCharger registers a station, connects it on the version's gateway
// and boots it.
func dialCtlCharger(ctx context.Context, t *testing.T, sys *system, v ocppVersion, prefix string) *ctlCharger {
	t.Helper()
	cc := &ctlCharger{id: newStationID(prefix), calls: make(chan ctlCall, 16)}
	sys.rest.createStation(ctx, t, cc.id, "")
	opts := chargepoint.Options{
		Subprotocols: []string{v.subprotocol},
		Schemas:      sys.schemas,
		Compress:     v.name == "2.0.1",
		OnCall: func(ctx context.Context, action string, payload json.RawMessage) (any, error) {
			select {
			case cc.calls <- ctlCall{action, payload}:
			default:
				t.Errorf("%s: CALL %s not collected by the test", cc.id, action)
			}
			cc.mu.Lock()
			answer := cc.answer
			cc.mu.Unlock()
			if answer == nil {
				return nil, &chargepoint.CallError{Code: "NotSupported", Description: "no answer set"}
			}
			return answer(action, payload)
		},
	}
	c, err := chargepoint.Dial(ctx, sys.gateway(v.index)+cc.id, opts)
	if err != nil {
		t.Fatalf("connect %s: %v", cc.id, err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			t.Errorf("strict charger %s: %v", cc.id, err)
		}
	})
	cc.Client = c
	boot(ctx, t, c, v, "SN-"+cc.id)
	return cc
}

func (c *ctlCharger) answerWith(f func(action string, payload json.RawMessage) (any, error)) {
	c.mu.Lock()
	c.answer = f
	c.mu.Unlock()
}

// next returns the next CALL the charger received.
func (c *ctlCharger) next(ctx context.Context, t *testing.T) ctlCall {
	t.Helper()
	select {
	case rc := <-c.calls:
		return rc
	case <-ctx.Done():
		t.Fatalf("%s: no CALL from the CSMS: %v", c.id, ctx.Err())
		return ctlCall{}
	}
}

// none asserts the charger received no CALL.
func (c *ctlCharger) none(t *testing.T) {
	t.Helper()
	select {
	case rc := <-c.calls:
		t.Errorf("%s: unexpected CALL %s %s", c.id, rc.action, rc.payload)
	default:
	}
}

// ctlREST sends a REST request and decodes the JSON answer into a map.
func ctlREST(ctx context.Context, t *testing.T, sys *system, method, path string, body any) (int, map[string]any) {
	t.Helper()
	code, _, raw, err := sys.rest.do(ctx, method, path, body, true)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var out map[string]any
	if err := decodeAPI(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, code, raw, err)
	}
	return code, out
}

// ctlSameJSON compares JSON documents by value.
func ctlSameJSON(t *testing.T, got json.RawMessage, want any) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("payload %s: %v", got, err)
	}
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &w)
	return reflect.DeepEqual(g, w)
}

// ctlSubset reports whether every field of want is in got with the same value
// (nested objects compared the same way; arrays whole).
func ctlSubset(got map[string]any, want map[string]any) bool {
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			return false
		}
		wm, wok := wv.(map[string]any)
		gm, gok := gv.(map[string]any)
		if wok && gok {
			if !ctlSubset(gm, wm) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(ctlNormalize(gv), ctlNormalize(wv)) {
			return false
		}
	}
	return true
}

func ctlNormalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

type ctlCase struct {
	name         string
	method, path string // path after /api/v1/stations/{id}
	body         any
	action       string
	payload      any // what the charger must receive
	answer       any // what it answers
	want         map[string]any
}

func ctlCases(v ocppVersion) []ctlCase {
	if v.name == "1.6" {
		return []ctlCase{
			{"Reset", "POST", "/reset", map[string]any{"type": "Hard"}, "Reset",
				map[string]any{"type": "Hard"}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
			{"ResetDefaultSoft", "POST", "/reset", map[string]any{}, "Reset",
				map[string]any{"type": "Soft"}, map[string]any{"status": "Rejected"}, map[string]any{"status": "Rejected"}},
			{"ChangeAvailability", "POST", "/change-availability", map[string]any{"operationalStatus": "Inoperative", "connectorId": 2}, "ChangeAvailability",
				map[string]any{"connectorId": 2, "type": "Inoperative"}, map[string]any{"status": "Scheduled"}, map[string]any{"status": "Scheduled"}},
			{"ChangeAvailabilityStation", "POST", "/change-availability", map[string]any{"operationalStatus": "Operative"}, "ChangeAvailability",
				map[string]any{"connectorId": 0, "type": "Operative"}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
			{"UnlockConnector", "POST", "/unlock-connector", map[string]any{"connectorId": 1}, "UnlockConnector",
				map[string]any{"connectorId": 1}, map[string]any{"status": "Unlocked"}, map[string]any{"status": "Unlocked"}},
			{"TriggerMessage", "POST", "/trigger-message", map[string]any{"requestedMessage": "StatusNotification", "connectorId": 1}, "TriggerMessage",
				map[string]any{"requestedMessage": "StatusNotification", "connectorId": 1}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
			{"ClearCache", "POST", "/clear-cache", map[string]any{}, "ClearCache",
				map[string]any{}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
			{"DataTransfer", "POST", "/data-transfer", map[string]any{"vendorId": "com.example", "messageId": "ping", "data": "hello"}, "DataTransfer",
				map[string]any{"vendorId": "com.example", "messageId": "ping", "data": "hello"},
				map[string]any{"status": "Accepted", "data": "pong"}, map[string]any{"status": "Accepted", "data": "pong"}},
			{"GetConfiguration", "GET", "/configuration?keys=HeartbeatInterval&keys=NoSuchKey", nil, "GetConfiguration",
				map[string]any{"key": []string{"HeartbeatInterval", "NoSuchKey"}},
				map[string]any{"configurationKey": []map[string]any{{"key": "HeartbeatInterval", "readonly": false, "value": "42"}}, "unknownKey": []string{"NoSuchKey"}},
				map[string]any{"configurationKeys": []map[string]any{{"key": "HeartbeatInterval", "readonly": false, "value": "42"}}, "unknownKeys": []string{"NoSuchKey"}}},
			{"GetConfigurationAll", "GET", "/configuration", nil, "GetConfiguration",
				map[string]any{}, map[string]any{"configurationKey": []map[string]any{{"key": "AuthorizeRemoteTxRequests", "readonly": true, "value": "true"}}},
				map[string]any{"configurationKeys": []map[string]any{{"key": "AuthorizeRemoteTxRequests", "readonly": true, "value": "true"}}}},
			{"ChangeConfiguration", "POST", "/configuration", map[string]any{"key": "HeartbeatInterval", "value": "300"}, "ChangeConfiguration",
				map[string]any{"key": "HeartbeatInterval", "value": "300"}, map[string]any{"status": "RebootRequired"}, map[string]any{"status": "RebootRequired"}},
		}
	}
	comp := map[string]any{"name": "OCPPCommCtrlr"}
	vr := map[string]any{"name": "HeartbeatInterval"}
	return []ctlCase{
		{"Reset", "POST", "/reset", map[string]any{"type": "Immediate", "evseId": 1}, "Reset",
			map[string]any{"type": "Immediate", "evseId": 1}, map[string]any{"status": "Scheduled"}, map[string]any{"status": "Scheduled"}},
		{"ResetDefaultOnIdle", "POST", "/reset", map[string]any{}, "Reset",
			map[string]any{"type": "OnIdle"}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
		{"ChangeAvailability", "POST", "/change-availability", map[string]any{"operationalStatus": "Inoperative", "evseId": 1, "connectorId": 1}, "ChangeAvailability",
			map[string]any{"operationalStatus": "Inoperative", "evse": map[string]any{"id": 1, "connectorId": 1}},
			map[string]any{"status": "Rejected", "statusInfo": map[string]any{"reasonCode": "UnknownEvse", "additionalInfo": "no such EVSE"}},
			map[string]any{"status": "Rejected", "reasonCode": "UnknownEvse", "additionalInfo": "no such EVSE"}},
		{"ChangeAvailabilityStation", "POST", "/change-availability", map[string]any{"operationalStatus": "Operative"}, "ChangeAvailability",
			map[string]any{"operationalStatus": "Operative"}, map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
		{"UnlockConnector", "POST", "/unlock-connector", map[string]any{"evseId": 2, "connectorId": 1}, "UnlockConnector",
			map[string]any{"evseId": 2, "connectorId": 1}, map[string]any{"status": "OngoingAuthorizedTransaction"}, map[string]any{"status": "OngoingAuthorizedTransaction"}},
		{"TriggerMessage", "POST", "/trigger-message", map[string]any{"requestedMessage": "StatusNotification", "evseId": 1, "connectorId": 1}, "TriggerMessage",
			map[string]any{"requestedMessage": "StatusNotification", "evse": map[string]any{"id": 1, "connectorId": 1}},
			map[string]any{"status": "Accepted"}, map[string]any{"status": "Accepted"}},
		{"ClearCache", "POST", "/clear-cache", map[string]any{}, "ClearCache",
			map[string]any{}, map[string]any{"status": "Rejected"}, map[string]any{"status": "Rejected"}},
		{"DataTransfer", "POST", "/data-transfer", map[string]any{"vendorId": "com.example", "messageId": "ping", "data": map[string]any{"a": 1, "b": []any{"x"}}}, "DataTransfer",
			map[string]any{"vendorId": "com.example", "messageId": "ping", "data": map[string]any{"a": 1, "b": []any{"x"}}},
			map[string]any{"status": "Accepted", "data": []any{1, 2}}, map[string]any{"status": "Accepted", "data": []any{1, 2}}},
		{"GetVariables", "POST", "/variables/get", map[string]any{"variables": []any{map[string]any{"component": comp, "variable": vr}}}, "GetVariables",
			map[string]any{"getVariableData": []any{map[string]any{"component": comp, "variable": vr}}},
			map[string]any{"getVariableResult": []any{map[string]any{"attributeStatus": "Accepted", "attributeValue": "42", "component": comp, "variable": vr}}},
			map[string]any{"results": []any{map[string]any{"attributeStatus": "Accepted", "attributeValue": "42", "attributeType": "Actual",
				"component": map[string]any{"name": "OCPPCommCtrlr", "instance": ""}, "variable": map[string]any{"name": "HeartbeatInterval", "instance": ""},
				"reasonCode": "", "additionalInfo": ""}}}},
		{"SetVariables", "POST", "/variables/set", map[string]any{"variables": []any{map[string]any{
			"component": map[string]any{"name": "EVSE", "evseId": 1}, "variable": map[string]any{"name": "AvailabilityState"}, "attributeType": "Target", "attributeValue": "Available"}}}, "SetVariables",
			map[string]any{"setVariableData": []any{map[string]any{"component": map[string]any{"name": "EVSE", "evse": map[string]any{"id": 1}},
				"variable": map[string]any{"name": "AvailabilityState"}, "attributeType": "Target", "attributeValue": "Available"}}},
			map[string]any{"setVariableResult": []any{map[string]any{"attributeStatus": "RebootRequired", "attributeType": "Target",
				"component": map[string]any{"name": "EVSE", "evse": map[string]any{"id": 1}}, "variable": map[string]any{"name": "AvailabilityState"}}}},
			map[string]any{"results": []any{map[string]any{"attributeStatus": "RebootRequired", "attributeType": "Target",
				"component": map[string]any{"name": "EVSE", "instance": "", "evseId": 1}, "variable": map[string]any{"name": "AvailabilityState", "instance": ""},
				"reasonCode": "", "additionalInfo": ""}}}},
		{"GetTransactionStatusAny", "GET", "/transaction-status", nil, "GetTransactionStatus",
			map[string]any{}, map[string]any{"messagesInQueue": true}, map[string]any{"messagesInQueue": true}},
		{"GetBaseReport", "POST", "/reports/base", map[string]any{"reportBase": "ConfigurationInventory", "requestId": 77}, "GetBaseReport",
			map[string]any{"reportBase": "ConfigurationInventory", "requestId": 77},
			map[string]any{"status": "EmptyResultSet"}, map[string]any{"status": "EmptyResultSet", "requestId": 77}},
	}
}

func testCtlTyped(t *testing.T, sys *system, v ocppVersion) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v, "cmd")
	for _, tc := range ctlCases(v) {
		t.Run(tc.name, func(t *testing.T) {
			c.answerWith(func(action string, _ json.RawMessage) (any, error) {
				if action != tc.action {
					return nil, fmt.Errorf("expected %s", tc.action)
				}
				return tc.answer, nil
			})
			code, got := ctlREST(ctx, t, sys, tc.method, "/api/v1/stations/"+c.id+tc.path, tc.body)
			rc := c.next(ctx, t)
			if rc.action != tc.action || !ctlSameJSON(t, rc.payload, tc.payload) {
				b, _ := json.Marshal(tc.payload)
				t.Errorf("charger received %s %s, want %s %s", rc.action, rc.payload, tc.action, b)
			}
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d %v", tc.method, tc.path, code, got)
			}
			if id, _ := got["commandId"].(string); id == "" {
				t.Errorf("answer has no commandId: %v", got)
			}
			if !ctlSubset(got, tc.want) {
				t.Errorf("REST answer %v, want at least %v", got, tc.want)
			}
		})
	}
	c.none(t)

	// Every command is in the station's history with its outcome.
	code, hist := ctlREST(ctx, t, sys, "GET", "/api/v1/stations/"+c.id+"/commands?pageSize=100", nil)
	if code != http.StatusOK {
		t.Fatalf("command history: %d %v", code, hist)
	}
	cmds, _ := hist["commands"].([]any)
	if len(cmds) != len(ctlCases(v)) {
		t.Errorf("command history has %d commands, want %d: %v", len(cmds), len(ctlCases(v)), hist)
	}
	for _, cm := range cmds {
		if m, _ := cm.(map[string]any); m["status"] != "answered" || m["requestedBy"] != operatorEmail {
			t.Errorf("recorded command %v, want answered, requested by %s", cm, operatorEmail)
		}
	}
}

// ctlRemoteStart is the REST answer of remote-start.
type ctlRemoteStart struct {
	CommandID     string          `json:"commandId"`
	Status        string          `json:"status"`
	RemoteStartID int             `json:"remoteStartId"`
	Transaction   *apiTransaction `json:"transaction"`
}

// ctlPostAsync sends a REST request on its own goroutine, for a command whose
// answer depends on what the charger does meanwhile.
func ctlPostAsync(ctx context.Context, t *testing.T, sys *system, path string, body any) <-chan ctlAnswer {
	out := make(chan ctlAnswer, 1)
	go func() {
		code, _, raw, err := sys.rest.do(ctx, http.MethodPost, path, body, true)
		out <- ctlAnswer{code, raw, err}
	}()
	return out
}

type ctlAnswer struct {
	code int
	body []byte
	err  error
}

func ctlAwaitRemoteStart(ctx context.Context, t *testing.T, ch <-chan ctlAnswer) ctlRemoteStart {
	t.Helper()
	var a ctlAnswer
	select {
	case a = <-ch:
	case <-ctx.Done():
		t.Fatalf("remote start: no REST answer: %v", ctx.Err())
	}
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("remote start: %d %s %v", a.code, a.body, a.err)
	}
	var r ctlRemoteStart
	if err := decodeAPI(a.body, &r); err != nil {
		t.Fatalf("remote start answer %s: %v", a.body, err)
	}
	if r.CommandID == "" {
		t.Errorf("remote start answer has no commandId: %s", a.body)
	}
	return r
}

func testCtlRemoteStartStop16(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v16, "rs16")
	tag := "RS" + strings.ToUpper(uuid.NewString()[:8])
	answered := make(chan struct{}, 1)
	c.answerWith(func(action string, _ json.RawMessage) (any, error) {
		return chargepoint.Reply{Payload: map[string]any{"status": "Accepted"}, After: func() { answered <- struct{}{} }}, nil
	})
	res := ctlPostAsync(ctx, t, sys, "/api/v1/stations/"+c.id+"/remote-start", map[string]any{"idToken": tag, "connectorId": 2})
	rc := c.next(ctx, t)
	if rc.action != "RemoteStartTransaction" || !ctlSameJSON(t, rc.payload, map[string]any{"connectorId": 2, "idTag": tag}) {
		t.Fatalf("charger received %s %s", rc.action, rc.payload)
	}
	<-answered
	// As a charger does after accepting: start the transaction.
	var st struct {
		TransactionID int `json:"transactionId"`
	}
	if err := call(ctx, c.Client, "StartTransaction", map[string]any{
		"connectorId": 2, "idTag": tag, "meterStart": 1000, "timestamp": time.Now().UTC().Format(time.RFC3339),
	}, &st); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	got := ctlAwaitRemoteStart(ctx, t, res)
	if got.Status != "Accepted" || got.Transaction == nil {
		t.Fatalf("remote start = %+v, want Accepted with the transaction", got)
	}
	if got.Transaction.ID != strconv.Itoa(st.TransactionID) || got.Transaction.TransactionUID != strconv.Itoa(st.TransactionID) ||
		got.Transaction.ConnectorID != 2 || got.Transaction.IDToken != tag {
		t.Errorf("remote start transaction = %+v, want id %d on connector 2 for %s", got.Transaction, st.TransactionID, tag)
	}

	// Rejected: no transaction, and no waiting for one.
	c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": "Rejected"}, nil })
	// The charging profile passes through as written.
	profile := map[string]any{
		"chargingProfileId": 7, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
		"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": []any{map[string]any{"startPeriod": 0, "limit": 16.5}}},
	}
	code, rej := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/remote-start", map[string]any{"idToken": tag, "chargingProfile": profile})
	if rc := c.next(ctx, t); !ctlSameJSON(t, rc.payload, map[string]any{"idTag": tag, "chargingProfile": profile}) {
		t.Errorf("charger received %s", rc.payload)
	}
	if code != http.StatusOK || rej["status"] != "Rejected" || rej["transaction"] != nil {
		t.Errorf("rejected remote start: %d %v", code, rej)
	}

	// Accepted, but the station starts nothing within wait_seconds: the
	// answer comes without a transaction (the earlier one of the same tag
	// is not mistaken for it).
	c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": "Accepted"}, nil })
	code, none := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/remote-start", map[string]any{"idToken": tag, "connectorId": 2, "waitSeconds": 1})
	c.next(ctx, t)
	if code != http.StatusOK || none["status"] != "Accepted" || none["transaction"] != nil {
		t.Errorf("remote start with no transaction: %d %v", code, none)
	}

	// Remote stop names our transaction id; 1.6 sends it as the integer.
	c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{"status": "Accepted"}, nil })
	code, stop := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/remote-stop", map[string]any{"transactionId": got.Transaction.ID})
	rc = c.next(ctx, t)
	if rc.action != "RemoteStopTransaction" || !ctlSameJSON(t, rc.payload, map[string]any{"transactionId": st.TransactionID}) {
		t.Errorf("charger received %s %s", rc.action, rc.payload)
	}
	if code != http.StatusOK || stop["status"] != "Accepted" {
		t.Errorf("remote stop: %d %v", code, stop)
	}
	// Another station's transaction is not this one's to stop.
	other := dialCtlCharger(ctx, t, sys, v16, "rs16o")
	code, nf := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+other.id+"/remote-stop", map[string]any{"transactionId": got.Transaction.ID})
	if code != http.StatusNotFound {
		t.Errorf("stop another station's transaction: %d %v, want 404", code, nf)
	}
	other.none(t)
	c.none(t)
}

func testCtlRemoteStartStop201(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v201, "rs201")
	tag := "RS" + strings.ToUpper(uuid.NewString()[:8])
	txID := "TX-" + uuid.NewString()[:18]
	answered := make(chan struct{}, 1)
	c.answerWith(func(string, json.RawMessage) (any, error) {
		return chargepoint.Reply{Payload: map[string]any{"status": "Accepted"}, After: func() { answered <- struct{}{} }}, nil
	})
	res := ctlPostAsync(ctx, t, sys, "/api/v1/stations/"+c.id+"/remote-start", map[string]any{"idToken": tag, "evseId": 1})
	rc := c.next(ctx, t)
	var req struct {
		EvseID        int            `json:"evseId"`
		IDToken       map[string]any `json:"idToken"`
		RemoteStartID int            `json:"remoteStartId"`
	}
	if err := json.Unmarshal(rc.payload, &req); err != nil || rc.action != "RequestStartTransaction" || req.EvseID != 1 ||
		!reflect.DeepEqual(req.IDToken, map[string]any{"idToken": tag, "type": "Central"}) || req.RemoteStartID <= 0 {
		t.Fatalf("charger received %s %s", rc.action, rc.payload)
	}
	<-answered
	if err := call(ctx, c.Client, "TransactionEvent", map[string]any{
		"eventType": "Started", "timestamp": time.Now().UTC().Format(time.RFC3339), "triggerReason": "RemoteStart", "seqNo": 0,
		"transactionInfo": map[string]any{"transactionId": txID, "remoteStartId": req.RemoteStartID},
		"evse":            map[string]any{"id": 1, "connectorId": 1},
		"idToken":         map[string]any{"idToken": tag, "type": "Central"},
	}, &map[string]any{}); err != nil {
		t.Fatalf("TransactionEvent: %v", err)
	}
	got := ctlAwaitRemoteStart(ctx, t, res)
	if got.Status != "Accepted" || got.RemoteStartID != req.RemoteStartID || got.Transaction == nil ||
		got.Transaction.TransactionUID != txID || got.Transaction.EVSEID != 1 {
		t.Fatalf("remote start = %+v (transaction %+v), want Accepted, remoteStartId %d, transaction %s", got, got.Transaction, req.RemoteStartID, txID)
	}

	// The station had a transaction going already and names it.
	c.answerWith(func(string, json.RawMessage) (any, error) {
		return map[string]any{"status": "Accepted", "transactionId": txID}, nil
	})
	code, _, raw, err := sys.rest.do(ctx, "POST", "/api/v1/stations/"+c.id+"/remote-start", map[string]any{"idToken": tag, "idTokenType": "ISO14443"}, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("second remote start: %d %s %v", code, raw, err)
	}
	var again ctlRemoteStart
	_ = decodeAPI(raw, &again)
	if rc := c.next(ctx, t); !strings.Contains(string(rc.payload), `"type":"ISO14443"`) {
		t.Errorf("charger received %s, want idToken type ISO14443", rc.payload)
	}
	if again.Transaction == nil || again.Transaction.ID != got.Transaction.ID {
		t.Errorf("remote start naming an existing transaction = %s, want transaction %s", raw, got.Transaction.ID)
	}

	// The transaction's status and running cost name it by the station's id.
	c.answerWith(func(string, json.RawMessage) (any, error) {
		return map[string]any{"messagesInQueue": false, "ongoingIndicator": true}, nil
	})
	code, st := ctlREST(ctx, t, sys, "GET", fmt.Sprintf("/api/v1/stations/%s/transaction-status?transactionId=%s", c.id, got.Transaction.ID), nil)
	if rc := c.next(ctx, t); rc.action != "GetTransactionStatus" || !ctlSameJSON(t, rc.payload, map[string]any{"transactionId": txID}) {
		t.Errorf("charger received %s %s", rc.action, rc.payload)
	}
	if code != http.StatusOK || st["ongoing"] != true || st["messagesInQueue"] != false {
		t.Errorf("transaction status: %d %v", code, st)
	}
	c.answerWith(func(string, json.RawMessage) (any, error) { return map[string]any{}, nil })
	code, cu := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/cost-updated", map[string]any{"transactionId": got.Transaction.ID, "totalCost": 4.25})
	if rc := c.next(ctx, t); rc.action != "CostUpdated" || !ctlSameJSON(t, rc.payload, map[string]any{"transactionId": txID, "totalCost": 4.25}) {
		t.Errorf("charger received %s %s", rc.action, rc.payload)
	}
	if id, _ := cu["commandId"].(string); code != http.StatusOK || id == "" {
		t.Errorf("cost updated: %d %v", code, cu)
	}
	if code, bad := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/cost-updated", map[string]any{"transactionId": got.Transaction.ID, "totalCost": -1}); code != http.StatusBadRequest {
		t.Errorf("negative cost: %d %v", code, bad)
	}

	// Remote stop sends the station's own transaction id.
	c.answerWith(func(string, json.RawMessage) (any, error) {
		return map[string]any{"status": "Rejected", "statusInfo": map[string]any{"reasonCode": "TxNotFound"}}, nil
	})
	code, stop := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/remote-stop", map[string]any{"transactionId": got.Transaction.ID})
	rc = c.next(ctx, t)
	if rc.action != "RequestStopTransaction" || !ctlSameJSON(t, rc.payload, map[string]any{"transactionId": txID}) {
		t.Errorf("charger received %s %s", rc.action, rc.payload)
	}
	if code != http.StatusOK || stop["status"] != "Rejected" || stop["reasonCode"] != "TxNotFound" {
		t.Errorf("remote stop: %d %v", code, stop)
	}
	c.none(t)
}

func testCtlDeviceModel(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c := dialCtlCharger(ctx, t, sys, v201, "dm")
	path := "/api/v1/stations/" + c.id + "/device-model"
	if code, body := ctlREST(ctx, t, sys, "GET", path, nil); code != http.StatusNotFound {
		t.Fatalf("device model before any report: %d %v, want 404", code, body)
	}
	answered := make(chan struct{}, 1)
	c.answerWith(func(string, json.RawMessage) (any, error) {
		return chargepoint.Reply{Payload: map[string]any{"status": "Accepted"}, After: func() { answered <- struct{}{} }}, nil
	})
	code, rep := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+c.id+"/reports/base", map[string]any{})
	rc := c.next(ctx, t)
	var req struct {
		RequestID  int    `json:"requestId"`
		ReportBase string `json:"reportBase"`
	}
	if err := json.Unmarshal(rc.payload, &req); err != nil || rc.action != "GetBaseReport" || req.ReportBase != "FullInventory" || req.RequestID <= 0 {
		t.Fatalf("charger received %s %s", rc.action, rc.payload)
	}
	if code != http.StatusOK || rep["status"] != "Accepted" || rep["requestId"] != float64(req.RequestID) {
		t.Fatalf("GetBaseReport: %d %v, want Accepted with requestId %d", code, rep, req.RequestID)
	}
	<-answered

	now := time.Now().UTC().Format(time.RFC3339)
	entry := func(comp map[string]any, variable string, attrs []any, chars map[string]any) map[string]any {
		e := map[string]any{"component": comp, "variable": map[string]any{"name": variable}, "variableAttribute": attrs}
		if chars != nil {
			e["variableCharacteristics"] = chars
		}
		return e
	}
	parts := []map[string]any{
		{"seqNo": 1, "tbc": false, "reportData": []any{
			entry(map[string]any{"name": "EVSE", "evse": map[string]any{"id": 1}}, "AvailabilityState",
				[]any{map[string]any{"value": "Available", "mutability": "ReadOnly"}}, map[string]any{"dataType": "OptionList", "valuesList": "Available,Occupied", "supportsMonitoring": true}),
		}},
		{"seqNo": 0, "tbc": true, "reportData": []any{
			entry(map[string]any{"name": "OCPPCommCtrlr"}, "HeartbeatInterval",
				[]any{map[string]any{"value": "42"}, map[string]any{"type": "MaxSet", "value": "3600", "persistent": true}},
				map[string]any{"dataType": "integer", "unit": "s", "minLimit": 1, "supportsMonitoring": false}),
			entry(map[string]any{"name": "SecurityCtrlr"}, "BasicAuthPassword",
				[]any{map[string]any{"mutability": "WriteOnly"}}, nil),
		}},
	}
	send := func(p map[string]any) {
		t.Helper()
		p["requestId"], p["generatedAt"] = req.RequestID, now
		if err := call(ctx, c.Client, "NotifyReport", p, &map[string]any{}); err != nil {
			t.Fatalf("NotifyReport part %v: %v", p["seqNo"], err)
		}
	}
	// The last part first: the report is not complete yet.
	send(parts[0])
	if code, body := ctlREST(ctx, t, sys, "GET", path, nil); code != http.StatusNotFound {
		t.Fatalf("device model with part 0 missing: %d %v, want 404", code, body)
	}
	send(parts[1])
	send(parts[1]) // a retry changes nothing

	var dm struct {
		StationID  string `json:"stationId"`
		RequestID  int    `json:"requestId"`
		Parts      int    `json:"parts"`
		Components []struct {
			Name      string `json:"name"`
			EvseID    *int   `json:"evseId"`
			Variables []struct {
				Name       string `json:"name"`
				Attributes []struct {
					Type       string  `json:"type"`
					Value      *string `json:"value"`
					Mutability string  `json:"mutability"`
					Persistent bool    `json:"persistent"`
				} `json:"attributes"`
				Characteristics *struct {
					Unit       string   `json:"unit"`
					DataType   string   `json:"dataType"`
					MinLimit   *float64 `json:"minLimit"`
					ValuesList string   `json:"valuesList"`
				} `json:"characteristics"`
			} `json:"variables"`
		} `json:"components"`
	}
	code, _, raw, err := sys.rest.do(ctx, "GET", path, nil, true)
	if err != nil || code != http.StatusOK {
		t.Fatalf("device model: %d %s %v", code, raw, err)
	}
	if err := decodeAPI(raw, &dm); err != nil {
		t.Fatalf("device model %s: %v", raw, err)
	}
	if dm.StationID != c.id || dm.RequestID != req.RequestID || dm.Parts != 2 || len(dm.Components) != 3 {
		t.Fatalf("device model = %s", raw)
	}
	evse, ocppc, sec := dm.Components[0], dm.Components[1], dm.Components[2]
	if evse.Name != "EVSE" || evse.EvseID == nil || *evse.EvseID != 1 || len(evse.Variables) != 1 ||
		evse.Variables[0].Characteristics == nil || evse.Variables[0].Characteristics.ValuesList != "Available,Occupied" ||
		evse.Variables[0].Attributes[0].Mutability != "ReadOnly" {
		t.Errorf("EVSE component wrong: %s", raw)
	}
	hb := ocppc.Variables[0]
	if ocppc.Name != "OCPPCommCtrlr" || hb.Name != "HeartbeatInterval" || len(hb.Attributes) != 2 ||
		hb.Attributes[0].Type != "Actual" || *hb.Attributes[0].Value != "42" || hb.Attributes[0].Mutability != "ReadWrite" ||
		hb.Attributes[1].Type != "MaxSet" || !hb.Attributes[1].Persistent ||
		hb.Characteristics == nil || hb.Characteristics.Unit != "s" || hb.Characteristics.MinLimit == nil || *hb.Characteristics.MinLimit != 1 {
		t.Errorf("OCPPCommCtrlr component wrong: %s", raw)
	}
	if sec.Name != "SecurityCtrlr" || sec.Variables[0].Attributes[0].Value != nil || sec.Variables[0].Characteristics != nil {
		t.Errorf("a write-only variable must have no value: %s", raw)
	}
	c.none(t)
}

func testCtlVersionMismatch(t *testing.T, sys *system) {
	ctx := testCtx(t)
	c16 := dialCtlCharger(ctx, t, sys, v16, "vm16")
	c201 := dialCtlCharger(ctx, t, sys, v201, "vm201")
	comp := map[string]any{"component": map[string]any{"name": "X"}, "variable": map[string]any{"name": "Y"}}
	for _, tc := range []struct {
		c            *ctlCharger
		method, path string
		body         any
	}{
		{c16, "POST", "/variables/get", map[string]any{"variables": []any{comp}}},
		{c16, "POST", "/reports/base", map[string]any{}},
		{c16, "POST", "/reset", map[string]any{"type": "Immediate"}},
		{c16, "POST", "/reset", map[string]any{"evseId": 1}},
		{c16, "POST", "/remote-start", map[string]any{"idToken": "T", "evseId": 1}},
		{c16, "POST", "/data-transfer", map[string]any{"vendorId": "v", "data": map[string]any{"a": 1}}},
		{c16, "POST", "/unlock-connector", map[string]any{"connectorId": 1, "evseId": 1}},
		// A charging profile the official schema refuses: nothing sent.
		{c16, "POST", "/remote-start", map[string]any{"idToken": "T", "chargingProfile": map[string]any{"chargingProfileId": 1}}},
		{c201, "GET", "/configuration", nil},
		{c201, "POST", "/configuration", map[string]any{"key": "K", "value": "V"}},
		{c201, "POST", "/reset", map[string]any{"type": "Hard"}},
		{c201, "POST", "/remote-start", map[string]any{"idToken": "T", "connectorId": 1}},
		{c201, "POST", "/unlock-connector", map[string]any{"connectorId": 1}},
		{c201, "POST", "/change-availability", map[string]any{"operationalStatus": "Operative", "connectorId": 1}},
		// The official schema refuses it (an unknown trigger): nothing sent.
		{c201, "POST", "/trigger-message", map[string]any{"requestedMessage": "Coffee"}},
	} {
		code, body := ctlREST(ctx, t, sys, tc.method, "/api/v1/stations/"+tc.c.id+tc.path, tc.body)
		if code != http.StatusBadRequest {
			t.Errorf("%s %s on a %s station: %d %v, want 400", tc.method, tc.path, tc.c.id, code, body)
		}
		if msg, _ := body["message"].(string); msg == "" {
			t.Errorf("%s %s: 400 without a message: %v", tc.method, tc.path, body)
		}
	}
	c16.none(t)
	c201.none(t)
}
