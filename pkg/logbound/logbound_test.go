package logbound

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("ab", MaxValue)
	if got := Clip(long); got != long[:MaxValue-len("…(512 bytes)")]+"…(512 bytes)" || Clip(got) != got {
		t.Errorf("Clip(512 bytes) = %q", got)
	}
	// Cut on a character boundary: 'é' is two bytes.
	got := Clip("x" + strings.Repeat("é", MaxValue))
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…(513 bytes)") || len(got) > MaxValue || Clip(got) != got {
		t.Errorf("Clip(multi-byte) = %q", got)
	}
	if got := Clip("bad\xffutf8"); !utf8.ValidString(got) {
		t.Errorf("Clip kept invalid UTF-8: %q", got)
	}
	// Each invalid byte between valid ones becomes a three-byte
	// replacement (ToValidUTF8 replaces a run by one): still within
	// the bound, short or long.
	for _, n := range []int{MaxValue / 2, MaxValue, 4 * MaxValue} {
		if got := Clip(strings.Repeat("\xffa", n/2)); !utf8.ValidString(got) || len(got) > MaxValue || Clip(got) != got {
			t.Errorf("Clip(%d bytes, half invalid) = %d bytes %q", n, len(got), got)
		}
	}
}

func TestClippedLogger(t *testing.T) {
	var buf bytes.Buffer
	log := Clipped(slog.New(slog.NewTextHandler(&buf, nil)))
	huge := strings.Repeat("z", 10_000)
	log.With("station", huge).WithGroup("g").Info("line", "s", huge, "err", errors.New(huge), "list", []string{huge}, "n", 42,
		slog.Group("inner", "s", huge))
	out := buf.String()
	if strings.Contains(out, huge[:MaxValue+1]) || strings.Count(out, "…(10000 bytes)") != 5 || !strings.Contains(out, "g.n=42") {
		t.Errorf("line of %d bytes: %.600s", len(out), out)
	}
	if again := Clipped(log); again != log {
		t.Error("clipping a clipped logger wraps it again")
	}
	// A budget over a clipped logger clips in one layer, and still clips.
	buf.Reset()
	limited := NewLimiter(DefaultLimit, nil).Logger(log.With("station", huge))
	if h := limited.Handler().(*handler); h.b == nil {
		t.Fatal("the budget's handler has no budget")
	} else if _, twice := h.next.(*handler); twice {
		t.Error("a budget over a clipped logger clips every record twice")
	}
	limited.Info("line", "s", huge)
	if out := buf.String(); strings.Contains(out, huge[:MaxValue+1]) || strings.Count(out, "…(10000 bytes)") != 2 {
		t.Errorf("limited line of %d bytes: %.600s", len(out), out)
	}
}

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	lim := NewLimiter(Limit{Burst: 3, Every: time.Second}, func() time.Time { return now })
	log := lim.Logger(slog.New(slog.NewTextHandler(&buf, nil)))
	derived := log.With("k", "v") // shares the budget
	for range 5 {
		log.Info("a")
		derived.Info("b")
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("10 lines at once wrote %d, want the burst of 3", n)
	}
	now = now.Add(1500 * time.Millisecond) // 1.5 tokens
	log.Info("c")
	log.Info("d")
	if !strings.Contains(buf.String(), `msg=c suppressed_lines=7`) || strings.Contains(buf.String(), "msg=d") {
		t.Errorf("after 1.5s: %s", buf.String())
	}
	if n := lim.Suppressed(); n != 1 {
		t.Errorf("Suppressed() = %d, want 1 (d)", n)
	}
	if n := lim.Suppressed(); n != 0 {
		t.Errorf("Suppressed() again = %d", n)
	}
	// Debug lines the handler does not want cost nothing.
	now = now.Add(time.Hour)
	for range 10 {
		log.Debug("not enabled")
	}
	log.Info("e")
	log.Info("f")
	if !strings.Contains(buf.String(), "msg=f") {
		t.Error("disabled lines spent the budget")
	}
}

func TestLimitersBounded(t *testing.T) {
	ls := NewLimiters(Limit{Burst: 1, Every: time.Hour}, 2, nil)
	a := ls.Get("a")
	if ls.Get("a") != a {
		t.Error("Get made a second limiter for one key")
	}
	ls.Get("b")
	ls.Get("c") // beyond the bound: starts afresh
	if len(ls.m) != 1 {
		t.Errorf("%d limiters kept, want at most 2", len(ls.m))
	}
	var buf bytes.Buffer
	log := ls.Get("c").Logger(slog.New(slog.NewTextHandler(&buf, nil)))
	log.Info("1")
	log.Info("2")
	if n := ls.Forget("c"); n != 1 {
		t.Errorf("Forget = %d, want the 1 dropped line", n)
	}
	if n := ls.Forget("c"); n != 0 {
		t.Errorf("Forget of a forgotten key = %d", n)
	}
}
