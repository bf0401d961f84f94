package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/pkg/logtest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// stepClock moves on by step each time it is read: every meter sample is
// step of charging, whatever the machine's speed.
type stepClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func newStepClock(step time.Duration) *stepClock {
	return &stepClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: step}
}

// until answers the station's periodic meter values (MeterValues, 2.0.1
// TransactionEvent Updated) with {} until it sends action, which it checks
// and answers. It returns action's payload and the meter values skipped.
func (s *session) until(ctx context.Context, action, answer string) (json.RawMessage, []json.RawMessage) {
	t := s.f.t
	t.Helper()
	var meter []json.RawMessage
	for {
		var fr ocppj.Frame
		select {
		case fr = <-s.calls:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", action, ctx.Err())
		}
		if err := s.f.reg.ValidateRequest(s.f.v, fr.Action, fr.Payload); err != nil {
			t.Errorf("station sent an invalid %s: %v", fr.Action, err)
		}
		periodic := fr.Action == "MeterValues" || (fr.Action == "TransactionEvent" && strings.Contains(string(fr.Payload), `"eventType":"Updated"`))
		if fr.Action == "Heartbeat" || periodic {
			if periodic {
				s.reply(ctx, fr.ID, `{}`)
				meter = append(meter, fr.Payload)
			} else {
				s.reply(ctx, fr.ID, `{"currentTime":`+now+`}`)
			}
			continue
		}
		if fr.Action != action {
			t.Fatalf("got a %s CALL %s, want %s", fr.Action, fr.Payload, action)
		}
		s.reply(ctx, fr.ID, answer)
		return fr.Payload, meter
	}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

// sampled returns a 1.6 or 2.0.1 meterValue's sampled values by measurand.
func sampled(t *testing.T, mv any) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, sv := range mv.(map[string]any)["sampledValue"].([]any) {
		m := sv.(map[string]any)
		var v float64
		switch x := m["value"].(type) {
		case string:
			v, _ = strconv.ParseFloat(x, 64)
		case float64:
			v = x
		}
		out[m["measurand"].(string)] = v
	}
	return out
}

func TestCharging16RemoteStartStop(t *testing.T) {
	csms := newFakeCSMS(t, ocppj.V16)
	clock := newStepClock(time.Minute)
	startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-C16", Version: ocppj.V16, Connectors: 2,
		PowerKW: 11, BatteryKWh: 60, MeterInterval: 20 * time.Millisecond, Now: clock.Now})
	ctx := testCtx(t)
	s := csms.accept(ctx)
	s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)
	s.expect(ctx, "StatusNotification", `{}`)
	s.expect(ctx, "StatusNotification", `{}`)

	if a := s.call(ctx, "RemoteStartTransaction", `{"connectorId":2,"idTag":"TAG1"}`); !strings.Contains(string(a.Payload), "Accepted") {
		t.Fatalf("RemoteStartTransaction answered %s", a.Payload)
	}
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["connectorId"] != 2.0 || p["status"] != "Preparing" {
		t.Errorf("StatusNotification %v, want connector 2 Preparing", p)
	}
	st := decode(t, s.expect(ctx, "StartTransaction", `{"idTagInfo":{"status":"Accepted"},"transactionId":42}`))
	if st["connectorId"] != 2.0 || st["idTag"] != "TAG1" || st["meterStart"] != 0.0 {
		t.Errorf("StartTransaction %v", st)
	}
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["status"] != "Charging" {
		t.Errorf("StatusNotification %v, want Charging", p)
	}
	// A busy connector takes no second session.
	if a := s.call(ctx, "RemoteStartTransaction", `{"connectorId":2,"idTag":"TAG2"}`); !strings.Contains(string(a.Payload), "Rejected") {
		t.Errorf("RemoteStartTransaction on a busy connector answered %s", a.Payload)
	}
	last := 0.0
	for i := 0; i < 3; i++ {
		mv := decode(t, s.expect(ctx, "MeterValues", `{}`))
		if mv["transactionId"] != 42.0 || mv["connectorId"] != 2.0 {
			t.Errorf("MeterValues %v, want transaction 42 on connector 2", mv)
		}
		v := sampled(t, mv["meterValue"].([]any)[0])
		// One minute at 11 kW is 183 Wh; the car is at 20%: full power.
		if v["Energy.Active.Import.Register"] <= last || v["Power.Active.Import"] != 11000 || v["SoC"] < 20 {
			t.Errorf("sample %d = %v after %v Wh: want the register growing at 11 kW", i, v, last)
		}
		last = v["Energy.Active.Import.Register"]
	}
	if a := s.call(ctx, "RemoteStopTransaction", `{"transactionId":41}`); !strings.Contains(string(a.Payload), "Rejected") {
		t.Errorf("RemoteStopTransaction of an unknown transaction answered %s", a.Payload)
	}
	if a := s.call(ctx, "RemoteStopTransaction", `{"transactionId":42}`); !strings.Contains(string(a.Payload), "Accepted") {
		t.Fatalf("RemoteStopTransaction answered %s", a.Payload)
	}
	p, _ := s.until(ctx, "StopTransaction", `{}`)
	stop := decode(t, p)
	if stop["transactionId"] != 42.0 || stop["reason"] != "Remote" || stop["meterStop"].(float64) < last || stop["idTag"] != "TAG1" {
		t.Errorf("StopTransaction %v, want transaction 42 stopped Remote at ≥ %v Wh", stop, last)
	}
	if p, _ := s.until(ctx, "StatusNotification", `{}`); decode(t, p)["status"] != "Available" {
		t.Errorf("StatusNotification %s, want Available", p)
	}
}

func TestCharging201LocalTagEnergyTargetAndFaults(t *testing.T) {
	csms := newFakeCSMS(t, ocppj.V201)
	cmds := make(chan string, 4)
	startStation(t, Config{URLs: []string{csms.url()}, ID: "CP-C201", Version: ocppj.V201, Connectors: 1, Tag: "LOCAL1",
		PowerKW: 22, BatteryKWh: 60, EnergyKWh: 1, MeterInterval: 20 * time.Millisecond, Now: newStepClock(time.Minute).Now, Commands: cmds})
	ctx := testCtx(t)
	s := csms.accept(ctx)
	s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)
	s.expect(ctx, "StatusNotification", `{}`)
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["connectorStatus"] != "Occupied" {
		t.Errorf("plug-in StatusNotification %v, want Occupied", p)
	}
	if p := decode(t, s.expect(ctx, "Authorize", `{"idTokenInfo":{"status":"Accepted"}}`)); p["idToken"].(map[string]any)["idToken"] != "LOCAL1" {
		t.Errorf("Authorize %v", p)
	}
	started := decode(t, s.expect(ctx, "TransactionEvent", `{"idTokenInfo":{"status":"Accepted"}}`))
	info := started["transactionInfo"].(map[string]any)
	uid, _ := info["transactionId"].(string)
	if started["eventType"] != "Started" || started["triggerReason"] != "Authorized" || started["seqNo"] != 0.0 || uid == "" {
		t.Errorf("TransactionEvent %v, want Started, Authorized, seqNo 0", started)
	}
	begin := sampled(t, started["meterValue"].([]any)[0])["Energy.Active.Import.Register"]
	s.expect(ctx, "StatusNotification", `{}`)

	// 22 kW for a minute a sample is 367 Wh: the 1 kWh target is reached at
	// the third, exactly.
	p, updates := s.until(ctx, "TransactionEvent", `{}`)
	ended := decode(t, p)
	info = ended["transactionInfo"].(map[string]any)
	end := sampled(t, ended["meterValue"].([]any)[0])["Energy.Active.Import.Register"]
	if ended["eventType"] != "Ended" || info["stoppedReason"] != "EnergyLimitReached" || info["transactionId"] != uid ||
		end-begin != 1000 || ended["seqNo"] != float64(len(updates)+1) {
		t.Errorf("TransactionEvent %v after %d updates, want Ended EnergyLimitReached with 1000 Wh (got %v)", ended, len(updates), end-begin)
	}
	for i, u := range updates {
		if m := decode(t, u); m["seqNo"] != float64(i+1) || m["transactionInfo"].(map[string]any)["transactionId"] != uid {
			t.Errorf("update %d: %v", i, m)
		}
	}
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["connectorStatus"] != "Available" {
		t.Errorf("StatusNotification %v, want Available", p)
	}
	if a := s.call(ctx, "RequestStopTransaction", `{"transactionId":"`+uid+`"}`); !strings.Contains(string(a.Payload), "Rejected") {
		t.Errorf("RequestStopTransaction of an ended transaction answered %s", a.Payload)
	}

	// Faults on demand; a command that makes no sense sends nothing.
	cmds <- "fault 7"
	cmds <- "fault 1 GroundFault"
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["connectorStatus"] != "Faulted" || p["evseId"] != 1.0 {
		t.Errorf("StatusNotification %v, want EVSE 1 Faulted", p)
	}
	if a := s.call(ctx, "RequestStartTransaction", `{"idToken":{"idToken":"T","type":"ISO14443"},"remoteStartId":5}`); !strings.Contains(string(a.Payload), "Rejected") {
		t.Errorf("RequestStartTransaction on a faulted EVSE answered %s", a.Payload)
	}
	cmds <- "clear 1"
	if p := decode(t, s.expect(ctx, "StatusNotification", `{}`)); p["connectorStatus"] != "Available" {
		t.Errorf("StatusNotification %v, want Available", p)
	}
}

func TestPowerCurveTapers(t *testing.T) {
	prev := powerAt(11000, 0)
	for soc := 0.0; soc <= 1.0; soc += 0.01 {
		p := powerAt(11000, soc)
		if p > prev || p < 0 || (soc < taperSoC && p != 11000) {
			t.Fatalf("power at %.2f = %v after %v", soc, p, prev)
		}
		prev = p
	}
	if powerAt(11000, 1) != 0 || powerAt(11000, 0.95) >= 11000/2 {
		t.Errorf("full: %v, 95%%: %v", powerAt(11000, 1), powerAt(11000, 0.95))
	}
}

func TestFailoverToTheNextURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + l.Addr().String() + "/ocpp"
	_ = l.Close()
	csms := newFakeCSMS(t, ocppj.V16)
	startStation(t, Config{URLs: []string{dead, csms.url()}, ID: "CP-F", Version: ocppj.V16, Connectors: 1})
	ctx := testCtx(t)
	s := csms.accept(ctx)
	s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)
	s.expect(ctx, "StatusNotification", `{}`)
	// The live one drops the station: it tries the dead one, then comes back.
	_ = s.conn.Close(websocket.StatusGoingAway, "")
	s = csms.accept(ctx)
	s.expect(ctx, "StatusNotification", `{}`)
}

func TestRefusedSaysWhy(t *testing.T) {
	for status, want := range map[int]string{
		http.StatusUnauthorized: "wrong password for station CP-R: -password must be the one registered",
		http.StatusNotFound:     "the CSMS does not know station CP-R: register it first",
	} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
			t.Cleanup(srv.Close)
			logs := &logtest.Buffer{}
			stop := startStationLogging(t, Config{URLs: []string{"ws" + strings.TrimPrefix(srv.URL, "http")}, ID: "CP-R", Version: ocppj.V16}, logs)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("logs %q do not say %q", logs.String(), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
		})
	}
}
