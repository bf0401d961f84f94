package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/control"
	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/ocpp"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// env is a whole embedded core: SQLite, the in-process bus, the OCPP
// router, the control plane, a real gateway on a real socket, and the
// dispatcher under test.
type env struct {
	t      *testing.T
	store  *store.Store
	d      *command.Dispatcher
	url    string
	reg    *schema.Registry
	logs   *recordingLog
	events *recordingEvents
}

type recordingEvents struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recordingEvents) Publish(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recordingEvents) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

type recordingLog struct {
	mu   sync.Mutex
	msgs []store.StationMessage
}

func (l *recordingLog) Log(m store.StationMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
}

func (l *recordingLog) all() []store.StationMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]store.StationMessage(nil), l.msgs...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"CP16", "CP201", "IDLE"} {
		if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	b := inproc.New(inproc.Config{Partitions: 4, Logger: log})
	t.Cleanup(func() { _ = b.Close() })
	runCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)

	e := &env{t: t, store: st, reg: reg, logs: &recordingLog{}, events: &recordingEvents{}}
	router := ocpp.NewRouter(ocpp.Deps{Store: st, Bus: b, Schemas: reg, HeartbeatInterval: time.Minute, Logger: log, MessageLog: e.logs})
	if err := b.ConsumeUpstream(runCtx, router.HandleUpstream); err != nil {
		t.Fatal(err)
	}
	e.d = command.NewDispatcher(command.Deps{Store: st, Bus: b, Schemas: reg, CoreID: "core-test", Timeout: 10 * time.Second, Logger: log, Messages: e.logs, Events: e.events})
	if err := b.ConsumeCore(runCtx, "core-test", e.d.HandleReply); err != nil {
		t.Fatal(err)
	}
	gw := server.New(server.Config{GatewayID: "gw-test", DrainWindow: -1, Logger: log}, b, control.New(control.Deps{Store: st, Bus: b, Logger: log}))
	if err := gw.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
		srv.Close()
	})
	e.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp/"
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// connect dials a strict charger and waits until the registry shows it
// connected.
func (e *env) connect(id, subprotocol string, onCall func(ctx context.Context, action string, p json.RawMessage) (any, error)) *chargepoint.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := chargepoint.Dial(ctx, e.url+id, chargepoint.Options{Subprotocols: []string{subprotocol}, Schemas: e.reg, OnCall: onCall})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = c.Close()
		for _, err := range c.Violations() {
			e.t.Errorf("strict charger %s: %v", id, err)
		}
	})
	e.waitConnected(id, true)
	return c
}

func (e *env) waitConnected(id string, want bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.store.GetStation(context.Background(), id)
		if err == nil && st.Connected == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s connected never became %v", id, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) command(id string) *store.Command {
	e.t.Helper()
	c, err := e.store.GetCommand(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestCallOutcomes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	e.connect("CP201", "ocpp2.0.1", func(ctx context.Context, action string, p json.RawMessage) (any, error) {
		mu.Lock()
		got = append(got, action+" "+string(p))
		mu.Unlock()
		switch action {
		case "Reset":
			return map[string]string{"status": "Accepted"}, nil
		case "ClearCache":
			return nil, &chargepoint.CallError{Code: ocppj.CodeNotSupported, Description: "no cache here", Details: json.RawMessage(`{"why":"none"}`)}
		}
		return nil, errors.New("unexpected")
	})

	v, err := e.d.Version(ctx, "CP201")
	if err != nil || v != ocppj.V201 {
		t.Fatalf("Version = %v, %v", v, err)
	}
	res, err := e.d.Call(ctx, command.Request{StationID: "CP201", Action: "Reset", Payload: map[string]string{"type": "Immediate"}, RequestedBy: "op"})
	if err != nil || string(res.Payload) != `{"status":"Accepted"}` || len(res.CommandID) != 36 {
		t.Fatalf("Reset: %+v, %v", res, err)
	}
	if c := e.command(res.CommandID); c.Status != outcome.Answered || c.RequestedBy != "op" || c.Payload != `{"type":"Immediate"}` ||
		c.Response == nil || *c.Response != `{"status":"Accepted"}` || c.CoreID != "core-test" || c.FinishedAt == nil {
		t.Fatalf("recorded %+v", c)
	}

	_, err = e.d.Call(ctx, command.Request{StationID: "CP201", Action: "ClearCache"})
	var ce *command.ChargerError
	if !errors.As(err, &ce) || ce.Code != ocppj.CodeNotSupported || ce.Description != "no cache here" || string(ce.Details) != `{"why":"none"}` {
		t.Fatalf("ClearCache: %v", err)
	}
	if s, _ := status.FromError(command.Status(err)); s.Code() != codes.Aborted {
		t.Fatalf("status %v", s)
	}

	// Refused before sending: nothing reaches the charger, nothing recorded.
	for _, r := range []command.Request{
		{StationID: "CP201", Action: "Reset", Payload: map[string]string{"type": "Hard"}},                // a 1.6 value
		{StationID: "CP201", Action: "Heartbeat"},                                                        // the charger's action
		{StationID: "CP201", Action: "RemoteStartTransaction", Payload: map[string]string{"idTag": "x"}}, // 1.6 only
		{StationID: "CP201", Action: "Reset", Payload: json.RawMessage(`{`)},
	} {
		var inv *command.InvalidError
		if _, err := e.d.Call(ctx, r); !errors.As(err, &inv) || status.Code(command.Status(err)) != codes.InvalidArgument {
			t.Errorf("%s %v: %v", r.Action, r.Payload, err)
		}
	}
	if _, err := e.d.Call(ctx, command.Request{StationID: "IDLE", Action: "Reset"}); !errors.Is(err, command.ErrNotConnected) {
		t.Fatalf("not connected: %v", err)
	}
	if _, err := e.d.Version(ctx, "IDLE"); !errors.Is(err, command.ErrUnknownVersion) {
		t.Fatalf("never connected: %v", err)
	}
	if _, err := e.d.Call(ctx, command.Request{StationID: "NOPE", Action: "Reset"}); !errors.Is(err, command.ErrStationNotFound) {
		t.Fatalf("unknown station: %v", err)
	}
	mu.Lock()
	if len(got) != 2 {
		t.Errorf("charger received %v", got)
	}
	mu.Unlock()
	if cmds, total, _ := e.store.ListCommands(ctx, "CP201", store.SeqPage{}); total != 2 || cmds[0].Status != outcome.ChargerError {
		t.Fatalf("history %v", cmds)
	}

	// The message log got the command and its answer.
	var out, in bool
	for _, m := range e.logs.all() {
		if m.StationID == "CP201" && m.Direction == store.DirectionOut && m.MessageType == store.MessageCall && m.MessageID == res.CommandID {
			out = true
		}
		if m.Direction == store.DirectionIn && m.MessageType == store.MessageCallResult && m.MessageID == res.CommandID && m.Action == "Reset" {
			in = true
		}
	}
	if !out || !in {
		t.Fatalf("message log: out=%v in=%v %v", out, in, e.logs.all())
	}
}

// The gateway's explicit outcomes end the wait long before the caller's
// own timeout.
func TestCallFailedByGateway(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	c := e.connect("CP16", "ocpp1.6", func(ctx context.Context, action string, p json.RawMessage) (any, error) {
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return nil, errors.New("never")
	})

	// Outstanding when the socket goes: not connected, at once.
	done := make(chan error, 1)
	var id string
	go func() {
		_, err := e.d.Call(ctx, command.Request{StationID: "CP16", Action: "ClearCache", Timeout: time.Minute})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		cmds, _, _ := e.store.ListCommands(ctx, "CP16", store.SeqPage{})
		if len(cmds) == 1 {
			id = cmds[0].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("command never recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let it reach the charger
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, command.ErrNotConnected) {
			t.Fatalf("want ErrNotConnected, got %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("caller not told that the connection closed")
	}
	if got := e.command(id); got.Status != outcome.NotConnected {
		t.Fatalf("recorded %+v", got)
	}
}

func TestCallTimeoutAndSweep(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	e.connect("CP16", "ocpp1.6", func(ctx context.Context, action string, p json.RawMessage) (any, error) {
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return nil, errors.New("never")
	})
	_, err := e.d.Call(ctx, command.Request{StationID: "CP16", Action: "ClearCache", Timeout: 200 * time.Millisecond})
	if !errors.Is(err, command.ErrTimeout) || status.Code(command.Status(err)) != codes.DeadlineExceeded {
		t.Fatalf("want timeout, got %v", err)
	}
	cmds, _, _ := e.store.ListCommands(ctx, "CP16", store.SeqPage{})
	if len(cmds) != 1 || cmds[0].Status != outcome.Timeout {
		t.Fatalf("recorded %+v", cmds)
	}

	// A command a dead instance left pending is failed by the sweeper once
	// its caller's time is well past.
	stale := &store.Command{ID: "stale-1", StationID: "CP16", OCPPVersion: ocppj.V16, Action: "Reset", Payload: "{}",
		CoreID: "dead-core", ExpiresAt: time.Now().Add(-time.Hour)}
	if err := e.store.CreateCommand(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if n, err := e.d.SweepStale(ctx, time.Minute); err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	if got := e.command("stale-1"); got.Status != outcome.Failed {
		t.Fatalf("stale command %+v", got)
	}
}

// Whom a CustomerInformation asks about reaches the charger, but not the
// viewer-readable records: the command history, the message log, the
// command.sent event; nor does what the charger reports in
// NotifyCustomerInformation reach the message log.
func TestCustomerInformationRecordedWithoutPersonalData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	c := e.connect("CP201", "ocpp2.0.1", func(ctx context.Context, action string, p json.RawMessage) (any, error) {
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
		return map[string]string{"status": "Accepted"}, nil
	})
	personal := []string{"AB12CD", "cust-9", "issuer-9f", "serial-77", "Jane Roe"}
	var ids []string
	for _, p := range []string{
		`{"idToken":{"idToken":"AB12CD","type":"ISO14443"},"requestId":21,"report":true,"clear":false}`,
		`{"customerIdentifier":"cust-9","requestId":22,"report":true,"clear":true}`,
		`{"customerCertificate":{"hashAlgorithm":"SHA256","issuerNameHash":"issuer-9f","issuerKeyHash":"k","serialNumber":"serial-77"},"requestId":23,"report":true,"clear":false}`,
	} {
		res, err := e.d.Call(ctx, command.Request{StationID: "CP201", Action: "CustomerInformation", Payload: json.RawMessage(p)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.CommandID)
		if c := e.command(res.CommandID); !strings.Contains(c.Payload, redact.Marker) || !strings.Contains(c.Payload, `"requestId":2`) {
			t.Errorf("history keeps %s", c.Payload)
		}
	}
	mu.Lock()
	if sent := strings.Join(got, " "); len(got) != 3 || !strings.Contains(sent, "AB12CD") || !strings.Contains(sent, "cust-9") || !strings.Contains(sent, "serial-77") {
		t.Errorf("the charger got %s", sent)
	}
	mu.Unlock()
	// The charger's report: whatever the core answers, the CALL is logged.
	_, _ = c.CallRaw(ctx, "NotifyCustomerInformation", json.RawMessage(`{"requestId":21,"seqNo":0,"generatedAt":"2025-03-04T05:00:00Z","data":"Jane Roe, token AB12CD"}`))

	var records []string
	cmds, _, err := e.store.ListCommands(ctx, "CP201", store.SeqPage{})
	if err != nil || len(cmds) != 3 {
		t.Fatalf("history %v %v", cmds, err)
	}
	for _, c := range cmds {
		records = append(records, "history "+c.Payload)
	}
	notified := false
	for _, m := range e.logs.all() {
		records = append(records, "message log "+m.Frame)
		notified = notified || strings.Contains(m.Frame, `"NotifyCustomerInformation"`) && m.Direction == store.DirectionIn
	}
	if !notified {
		t.Error("NotifyCustomerInformation not in the message log")
	}
	sentEvents := 0
	for _, ev := range e.events.all() {
		if ev.Type == event.CommandSent {
			sentEvents++
		}
		records = append(records, "event "+string(ev.Payload))
	}
	if sentEvents != 3 {
		t.Errorf("%d command.sent events, want 3", sentEvents)
	}
	for _, r := range records {
		for _, p := range personal {
			if strings.Contains(r, p) {
				t.Errorf("%q kept in %s", p, r)
			}
		}
	}
}
