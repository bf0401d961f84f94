package server_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	"github.com/chargeplane/chargeplane/pkg/logtest"
)

// A client flooding bad frames with huge ids writes a bounded number of
// short log lines: each quoted value is cut, and the connection's lines
// follow a token bucket (20 at once, then one a second) whose dropped lines
// are counted on the next line that passes and when the socket closes.
func TestBadFrameFloodLogsBounded(t *testing.T) {
	var logs logtest.Buffer
	var now atomic.Int64
	now.Store(fixedNow.UnixNano())
	h := newHarness(t, server.Config{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.Unix(0, now.Load()).UTC() },
	})
	c, _ := h.connect("CP1", "ocpp1.6")

	huge := strings.Repeat("x", 5000)
	bad := `[3,"` + huge + `"]` // an unreadable CALLRESULT: logged, never answered
	flush := func(n int) {
		// Frames are handled in order: once this CALL is forwarded, every
		// frame before it has been logged (or not).
		id := "sync" + itoa(n)
		write(t, c, `[2,"`+id+`","Heartbeat",{}]`)
		if env := h.nextUp(); env.GetMessageId() != id {
			t.Fatalf("got %v, want %s forwarded", env, id)
		}
	}
	for range 200 {
		write(t, c, bad)
	}
	flush(1)
	lines := logs.Lines("malformed frame")
	if len(lines) != logbound.DefaultLimit.Burst {
		t.Fatalf("200 bad frames at one instant logged %d lines, want the burst of %d", len(lines), logbound.DefaultLimit.Burst)
	}
	for _, l := range lines {
		if len(l) > 1000 || strings.Contains(l, huge[:logbound.MaxValue+1]) || !strings.Contains(l, "bytes)") {
			t.Fatalf("log line of %d bytes does not bound the frame's id: %.300s", len(l), l)
		}
	}

	// Three seconds later three lines may pass; the first says how many
	// were dropped.
	now.Add(int64(3 * time.Second))
	write(t, c, bad)
	flush(2)
	lines = logs.Lines("malformed frame")
	if len(lines) != logbound.DefaultLimit.Burst+1 || !strings.Contains(lines[len(lines)-1], logbound.SuppressedKey+"=180") {
		t.Fatalf("after 3s: %d lines, last %.400s", len(lines), lines[len(lines)-1])
	}
	for range 5 {
		write(t, c, bad)
	}
	flush(3)
	if n := len(logs.Lines("malformed frame")); n != logbound.DefaultLimit.Burst+3 {
		t.Fatalf("%d lines, want %d", n, logbound.DefaultLimit.Burst+3)
	}

	// What was dropped since the last line is reported when the socket ends.
	_ = c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(wait)
	for len(logs.Lines("station disconnected")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.Lines("station disconnected"); len(l) != 1 || !strings.Contains(l[0], logbound.SuppressedKey+"=3") {
		t.Fatalf("disconnection line: %q", l)
	}
}
