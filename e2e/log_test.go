package e2e

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// testLogger returns a logger that keeps the system's logs and shows them only
// when the test fails (or always with E2E_LOG=1). Writes that arrive after the
// test has finished are dropped instead of panicking in t.Log, so a late
// goroutine is reported by goleak rather than by a confusing crash.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("E2E_LOG") == "stderr" {
		// For debugging hangs: the buffered log is never shown when the
		// test binary times out.
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w := &logSink{}
	sinks.add(t, w)
	t.Cleanup(func() {
		sinks.remove(t)
		w.mu.Lock()
		defer w.mu.Unlock()
		if t.Failed() || os.Getenv("E2E_LOG") == "1" {
			t.Logf("system log:\n%s", w.buf.String())
		}
		w.closed = true
		w.buf.Reset()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (w *logSink) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && w.buf.Len() < 8<<20 {
		w.buf.Write(p)
	}
	return len(p), nil
}

// sinks are the logs testLogger keeps for each test, for tests that check
// what the system logged (secrets must never be).
var sinks = &sinkIndex{m: map[testing.TB][]*logSink{}}

type sinkIndex struct {
	mu sync.Mutex
	m  map[testing.TB][]*logSink
}

func (x *sinkIndex) add(t testing.TB, w *logSink) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.m[t] = append(x.m[t], w)
}

func (x *sinkIndex) remove(t testing.TB) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.m, t)
}

// systemLog is everything the system logged so far through the loggers
// testLogger made for t.
func systemLog(t testing.TB) string {
	sinks.mu.Lock()
	defer sinks.mu.Unlock()
	var b bytes.Buffer
	for _, w := range sinks.m[t] {
		w.mu.Lock()
		b.Write(w.buf.Bytes())
		w.mu.Unlock()
	}
	return b.String()
}
