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
	t.Cleanup(func() {
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
