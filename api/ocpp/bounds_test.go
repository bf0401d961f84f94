package ocpp

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chargeplane/chargeplane/api/store"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/logtest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

type messageSink struct {
	mu   sync.Mutex
	msgs []store.StationMessage
}

func (s *messageSink) Log(m store.StationMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

// lastIn is the frame of the last message logged from the station.
func (s *messageSink) lastIn() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in string
	for _, m := range s.msgs {
		if m.Direction == store.DirectionIn {
			in = m.Frame
		}
	}
	return in
}

// A charger's CALLs the core answers with errors write a bounded number of
// short lines per connection (the clock stands still: only the burst
// passes), the rest counted when the connection ends.
func TestFrameLogLinesBounded(t *testing.T) {
	var logs logtest.Buffer
	h := newHarness(t, "sqlite", func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	action := strings.Repeat("A", 5000)
	for range 50 {
		requireError(t, h.call(ocppj.V201, action, `{}`), ocppj.CodeNotImplemented)
	}
	var lines []string
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "answering CALL with an error") {
			lines = append(lines, l)
		}
		if len(l) > 2000 {
			t.Fatalf("a log line of %d bytes: %.300s", len(l), l)
		}
	}
	if len(lines) != logbound.DefaultLimit.Burst || !strings.Contains(lines[0], "…(5000 bytes)") {
		t.Fatalf("%d lines for 50 bad CALLs at one instant, want %d with the action cut; first %s", len(lines), logbound.DefaultLimit.Burst, lines[0])
	}

	env := h.frameEnvelope(ocppj.V201, nil)
	env.Kind, env.Frame = busv1.Kind_KIND_DISCONNECTED, nil
	if err := h.router.HandleUpstream(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), logbound.SuppressedKey+"=30") {
		t.Errorf("the 30 dropped lines are not reported at the disconnection:\n%s", logs.String())
	}
}

// What a charger reports of a password (a NotifyReport showing
// BasicAuthPassword) is kept in the message log without it.
func TestInboundSecretsRedactedInMessageLog(t *testing.T) {
	sink := &messageSink{}
	h := newHarness(t, "sqlite", func(d *Deps) { d.MessageLog = sink })
	const secret = "leaked-password-0123"
	f := h.call(ocppj.V201, "NotifyReport", `{"requestId":1,"generatedAt":"2025-03-04T05:06:07Z","seqNo":0,"reportData":[`+
		`{"component":{"name":"SecurityCtrlr"},"variable":{"name":"BasicAuthPassword"},"variableAttribute":[{"type":"Actual","value":"`+secret+`"}]}]}`)
	if f.Type != ocppj.CallResult {
		t.Fatalf("NotifyReport answered %+v", f)
	}
	in := sink.lastIn()
	if in == "" || strings.Contains(in, secret) || !strings.Contains(in, `"value":"[redacted]"`) || !strings.HasPrefix(in, `[2,"`) {
		t.Errorf("message log kept %s", in)
	}
}

// Actions named in MessageLogSkip leave neither their CALL nor its answer
// in the message log; every other message is logged as before.
func TestMessageLogSkip(t *testing.T) {
	sink := &messageSink{}
	h := newHarness(t, "sqlite", func(d *Deps) { d.MessageLog = sink; d.MessageLogSkip = []string{"Heartbeat"} })
	for _, c := range []struct{ action, payload string }{{"Heartbeat", `{}`}, {"StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Available"}`}, {"Heartbeat", `{}`}} {
		if f := h.call(ocppj.V16, c.action, c.payload); f.Type != ocppj.CallResult {
			t.Fatalf("%s answered %+v", c.action, f)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var got []string
	for _, m := range sink.msgs {
		got = append(got, m.Direction+" "+m.MessageType+" "+m.Action)
	}
	want := []string{store.DirectionIn + " " + store.MessageCall + " StatusNotification", store.DirectionOut + " " + store.MessageCallResult + " "}
	if !slices.Equal(got, want) {
		t.Errorf("message log %q, want %q", got, want)
	}
}
