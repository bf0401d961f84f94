package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCSMS hands each accepted connection to the test, which drives it;
// every frame the station sends is checked against the official schemas.
type fakeCSMS struct {
	t       *testing.T
	v       ocppj.Version
	reg     *schema.Registry
	srv     *httptest.Server
	conns   chan *session
	closing chan struct{}
	wg      sync.WaitGroup
}

// session is one station connection. A reader goroutine sorts what the
// station sends: its CALLs, and its answers to the test's CALLs.
type session struct {
	f       *fakeCSMS
	conn    *websocket.Conn
	r       *http.Request
	calls   chan ocppj.Frame
	answers chan ocppj.Frame
	closed  chan struct{} // the reader saw the connection end
	seq     int
}

func newFakeCSMS(t *testing.T, v ocppj.Version) *fakeCSMS {
	f := unstartedFakeCSMS(t, v)
	f.srv.Start()
	return f
}

// newTLSFakeCSMS serves wss:// with config.
func newTLSFakeCSMS(t *testing.T, v ocppj.Version, config *tls.Config) *fakeCSMS {
	f := unstartedFakeCSMS(t, v)
	f.srv.TLS = config
	f.srv.StartTLS()
	return f
}

func unstartedFakeCSMS(t *testing.T, v ocppj.Version) *fakeCSMS {
	reg, err := schema.Load()
	if err != nil {
		t.Fatalf("schema.Load: %v", err)
	}
	f := &fakeCSMS{t: t, v: v, reg: reg, conns: make(chan *session), closing: make(chan struct{})}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		defer f.wg.Done()
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{v.Subprotocol()}})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		s := &session{f: f, conn: conn, r: r, calls: make(chan ocppj.Frame, 64),
			answers: make(chan ocppj.Frame, 64), closed: make(chan struct{})}
		go s.read()
		select {
		case f.conns <- s:
		case <-f.closing:
		}
		select {
		case <-s.closed:
		case <-f.closing:
		}
	}))
	// Cleanups run last-in first-out: this one runs after the station stopped.
	t.Cleanup(func() {
		close(f.closing)
		f.srv.Close()
		f.wg.Wait()
	})
	return f
}

func (s *session) read() {
	defer close(s.closed)
	for {
		_, b, err := s.conn.Read(context.Background())
		if err != nil {
			return
		}
		fr, err := ocppj.Parse(b)
		if err != nil {
			s.f.t.Errorf("station sent a bad frame %s: %v", b, err)
			continue
		}
		if fr.Type == ocppj.Call {
			s.calls <- fr
		} else {
			s.answers <- fr
		}
	}
}

func (f *fakeCSMS) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ocpp" }

func (f *fakeCSMS) accept(ctx context.Context) *session {
	f.t.Helper()
	select {
	case s := <-f.conns:
		return s
	case <-ctx.Done():
		f.t.Fatal("the station did not connect")
		return nil
	}
}

// expect waits for the station's next CALL of action, checks it and
// answers it. Heartbeats run on their own clock, so unless a Heartbeat is
// expected they are answered and skipped.
func (s *session) expect(ctx context.Context, action, answer string) json.RawMessage {
	t := s.f.t
	t.Helper()
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
		if fr.Action == "Heartbeat" && action != "Heartbeat" {
			s.reply(ctx, fr.ID, `{"currentTime":`+now+`}`)
			continue
		}
		if fr.Action != action {
			t.Fatalf("got a %s CALL %s, want %s", fr.Action, fr.Payload, action)
		}
		s.reply(ctx, fr.ID, answer)
		return fr.Payload
	}
}

func (s *session) reply(ctx context.Context, id, answer string) {
	out, _ := ocppj.EncodeCallResult(id, json.RawMessage(answer))
	if err := s.conn.Write(ctx, websocket.MessageText, out); err != nil {
		s.f.t.Fatalf("answering %s: %v", id, err)
	}
}

// call sends a CSMS CALL and returns the station's answer, checked.
func (s *session) call(ctx context.Context, action, payload string) ocppj.Frame {
	t := s.f.t
	t.Helper()
	s.seq++
	id := "csms-" + strconv.Itoa(s.seq)
	out, _ := ocppj.EncodeCall(id, action, json.RawMessage(payload))
	if err := s.conn.Write(ctx, websocket.MessageText, out); err != nil {
		t.Fatalf("sending %s: %v", action, err)
	}
	var fr ocppj.Frame
	select {
	case fr = <-s.answers:
	case <-ctx.Done():
		t.Fatalf("waiting for the answer to %s: %v", action, ctx.Err())
	}
	if fr.ID != id {
		t.Fatalf("got %+v, want the answer to %s", fr, id)
	}
	if fr.Type == ocppj.CallResult {
		if err := s.f.reg.ValidateResponse(s.f.v, action, fr.Payload); err != nil {
			t.Errorf("station answered %s invalidly: %s: %v", action, fr.Payload, err)
		}
	}
	return fr
}

// waitClosed waits until the station has closed the connection.
func (s *session) waitClosed(ctx context.Context) {
	select {
	case <-s.closed:
	case <-ctx.Done():
		s.f.t.Fatal("the station did not close the connection")
	}
}

func startStation(t *testing.T, cfg Config) (cancel func()) {
	t.Helper()
	return startStationLogging(t, cfg, nil)
}

// startStationLogging starts a station whose logs go to logs too.
func startStationLogging(t *testing.T, cfg Config, logs io.Writer) (cancel func()) {
	t.Helper()
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Strict, cfg.Schemas = true, reg
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	st, err := newStation(cfg, logger)
	if err != nil {
		t.Fatalf("newStation: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- st.Run(ctx) }()
	stopped := false
	cancel = func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	}
	t.Cleanup(cancel)
	return cancel
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const now = `"2026-01-02T03:04:05Z"`

func TestStation16(t *testing.T) {
	csms := newFakeCSMS(t, ocppj.V16)
	stop := startStation(t, Config{URLs: []string{csms.url()}, ID: "CP 1", Version: ocppj.V16, Password: "0123456789abcdef", Connectors: 2})
	ctx := testCtx(t)

	s := csms.accept(ctx)
	if s.r.URL.EscapedPath() != "/ocpp/CP%201" {
		t.Errorf("path = %q, want the escaped station id appended", s.r.URL.EscapedPath())
	}
	if u, p, _ := s.r.BasicAuth(); u != "CP 1" || p != "0123456789abcdef" {
		t.Errorf("Basic auth = %q:%q", u, p)
	}
	s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":1}`)
	for n := 1; n <= 2; n++ {
		p := s.expect(ctx, "StatusNotification", `{}`)
		var st struct {
			ConnectorID int    `json:"connectorId"`
			Status      string `json:"status"`
		}
		_ = json.Unmarshal(p, &st)
		if st.ConnectorID != n || st.Status != "Available" {
			t.Errorf("StatusNotification %s, want connector %d Available", p, n)
		}
	}
	// The interval the CSMS returned (1s) drives the heartbeat.
	s.expect(ctx, "Heartbeat", `{"currentTime":`+now+`}`)

	if a := s.call(ctx, "GetConfiguration", `{"key":["HeartbeatInterval","Nope"]}`); !strings.Contains(string(a.Payload), `"value":"1"`) || !strings.Contains(string(a.Payload), `"unknownKey":["Nope"]`) {
		t.Errorf("GetConfiguration answered %s", a.Payload)
	}
	if a := s.call(ctx, "TriggerMessage", `{"requestedMessage":"StatusNotification"}`); !strings.Contains(string(a.Payload), "Accepted") {
		t.Errorf("TriggerMessage answered %s", a.Payload)
	}
	s.expect(ctx, "StatusNotification", `{}`)
	s.expect(ctx, "StatusNotification", `{}`)
	// AuthorizationKey is hex (security whitepaper): anything else is
	// refused and changes nothing.
	if a := s.call(ctx, "ChangeConfiguration", `{"key":"AuthorizationKey","value":"not-hex-at-all-0123"}`); !strings.Contains(string(a.Payload), "Rejected") {
		t.Errorf("ChangeConfiguration of a non-hex AuthorizationKey answered %s", a.Payload)
	}
	if a := s.call(ctx, "ChangeConfiguration", `{"key":"AuthorizationKey","value":"`+credentials.AuthorizationKey("fedcba9876543210")+`"}`); !strings.Contains(string(a.Payload), "Accepted") {
		t.Errorf("ChangeConfiguration answered %s", a.Payload)
	}
	if a := s.call(ctx, "GetDiagnostics", `{"location":"ftp://example.com/"}`); a.Type != ocppj.CallError || a.ErrorCode != ocppj.CodeNotSupported {
		t.Errorf("GetDiagnostics answered %+v, want NotSupported", a)
	}
	_ = s.conn.Close(websocket.StatusGoingAway, "")
	s.waitClosed(ctx)

	// A reconnect is not a reboot: no BootNotification, connectors again,
	// and the password the CSMS set.
	s = csms.accept(ctx)
	if _, p, _ := s.r.BasicAuth(); p != "fedcba9876543210" {
		t.Errorf("password after AuthorizationKey = %q", p)
	}
	s.expect(ctx, "StatusNotification", `{}`)
	s.expect(ctx, "StatusNotification", `{}`)
	if a := s.call(ctx, "Reset", `{"type":"Soft"}`); !strings.Contains(string(a.Payload), "Accepted") {
		t.Errorf("Reset answered %s", a.Payload)
	}
	s.waitClosed(ctx)
	s2 := csms.accept(ctx) // the reboot
	s2.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)
	s2.expect(ctx, "StatusNotification", `{}`)
	s2.expect(ctx, "StatusNotification", `{}`)
	stop()
	s2.waitClosed(ctx)
}

func TestStation201(t *testing.T) {
	csms := newFakeCSMS(t, ocppj.V201)
	stop := startStation(t, Config{URLs: []string{csms.url() + "/"}, ID: "CP-2", Version: ocppj.V201, Connectors: 1, Heartbeat: 20 * time.Millisecond})
	ctx := testCtx(t)

	s := csms.accept(ctx)
	if _, _, ok := s.r.BasicAuth(); ok {
		t.Error("credentials sent without a password")
	}
	// Pending: the station must boot again before doing anything else.
	s.expect(ctx, "BootNotification", `{"status":"Pending","currentTime":`+now+`,"interval":0}`)
	p := s.expect(ctx, "BootNotification", `{"status":"Accepted","currentTime":`+now+`,"interval":300}`)
	if !strings.Contains(string(p), `"reason":"PowerUp"`) {
		t.Errorf("BootNotification %s", p)
	}
	p = s.expect(ctx, "StatusNotification", `{}`)
	if !strings.Contains(string(p), `"evseId":1`) || !strings.Contains(string(p), `"connectorStatus":"Available"`) {
		t.Errorf("StatusNotification %s", p)
	}
	// -heartbeat overrides the CSMS's 300 s.
	s.expect(ctx, "Heartbeat", `{"currentTime":`+now+`}`)
	a := s.call(ctx, "SetVariables", `{"setVariableData":[{"attributeValue":"60","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}},{"attributeValue":"x","component":{"name":"Nope"},"variable":{"name":"X"}}]}`)
	if !strings.Contains(string(a.Payload), `"attributeStatus":"Accepted"`) || !strings.Contains(string(a.Payload), `"attributeStatus":"UnknownComponent"`) {
		t.Errorf("SetVariables answered %s", a.Payload)
	}
	stop()
	s.waitClosed(ctx)
}

func TestStationBacksOffWhenRefused(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		http.Error(w, "unknown station", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	stop := startStation(t, Config{URLs: []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp"}, ID: "CP-3", Version: ocppj.V16})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := attempts
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d connection attempts", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
}

func TestParseFlags(t *testing.T) {
	cfg, opts, err := parseFlags([]string{"-url", "ws://h/ocpp, wss://g/ocpp", "-id", "X", "-version", "2.0.1", "-connectors", "3", "-heartbeat", "5s",
		"-n", "4", "-tag", "T1", "-power", "22", "-energy", "5", "-meter-interval", "2s", "-fault", "2,3:Oops"}, io.Discard)
	if err != nil || cfg.Version != ocppj.V201 || cfg.Connectors != 3 || cfg.Heartbeat != 5*time.Second || !cfg.Strict ||
		!reflect.DeepEqual(cfg.URLs, []string{"ws://h/ocpp", "wss://g/ocpp"}) || opts.n != 4 || cfg.Tag != "T1" || cfg.PowerKW != 22 ||
		cfg.EnergyKWh != 5 || cfg.BatteryKWh != 60 || cfg.MeterInterval != 2*time.Second ||
		!reflect.DeepEqual(cfg.Faults, map[int]string{2: "Faulted", 3: "Oops"}) {
		t.Errorf("parseFlags = %+v, %+v, %v", cfg, opts, err)
	}
	if cfg, _, err := parseFlags([]string{"-fault", "1:GroundFailure"}, io.Discard); err != nil || cfg.Faults[1] != "GroundFailure" {
		t.Errorf("-fault 1:GroundFailure = %v, %v", cfg.Faults, err)
	}
	for _, bad := range [][]string{{"-version", "1.5"}, {"-id", ""}, {"-connectors", "-1"}, {"extra"}, {"-url", ""}, {"-url", "http://h/ocpp"},
		{"-n", "0"}, {"-power", "0"}, {"-energy", "-1"}, {"-meter-interval", "0s"}, {"-fault", "3"}, {"-fault", "1:NotACode"}, {"-fault", "x"}} {
		if _, _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	if _, _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if code := run([]string{"-version", "9"}, io.Discard); code != 2 {
		t.Errorf("run with a bad flag exited %d, want 2", code)
	}
}
