// Package logbound keeps what a peer sends from flooding the logs. A
// charger chooses its frames, ids, actions and error texts, and one
// misbehaving client once wrote 30 MB of warnings: every value a log line
// quotes is cut to MaxValue bytes (marked with how long it was), and the
// lines one connection's frames cause are limited by a token bucket, the
// dropped ones counted and reported on the next line that passes.
package logbound

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// MaxValue is the most bytes of one attribute value a line keeps.
const MaxValue = 256

// SuppressedKey is the attribute that counts the lines a Limiter dropped
// before the one that carries it.
const SuppressedKey = "suppressed_lines"

// Clip returns s if it is valid UTF-8 of at most MaxValue bytes, otherwise
// its start followed by "…(N bytes)", N its length, in MaxValue bytes at
// most (cut on a character boundary, so clipping again changes nothing);
// invalid UTF-8 is replaced, and a short value that the replacement makes
// longer than MaxValue is clipped like a long one.
func Clip(s string) string {
	if len(s) <= MaxValue {
		// A replaced byte (or run) takes three: the repaired value may outgrow the
		// bound, and is then clipped below like a long one.
		if v := strings.ToValidUTF8(s, "\uFFFD"); len(v) <= MaxValue {
			return v
		}
	}
	mark := fmt.Sprintf("…(%d bytes)", len(s))
	// Repaired before the cut, so the cut bounds what is kept.
	head := strings.ToValidUTF8(s[:min(len(s), MaxValue)], "\uFFFD")
	return truncate.Bytes(head, MaxValue-len(mark)) + mark
}

// clipAttr clips a string or error value, and those in a group.
func clipAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > MaxValue || !utf8.ValidString(s) {
			return slog.String(a.Key, Clip(s))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, e := range g {
			out[i] = clipAttr(e)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Clip(x.Error()))
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = Clip(s)
			}
			return slog.Any(a.Key, out)
		case []byte:
			return slog.String(a.Key, Clip(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// handler clips every value it is given and, with a bucket, drops the
// lines the bucket refuses.
type handler struct {
	next slog.Handler
	b    *bucket // nil: every line passes
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var suppressed int64
	if h.b != nil {
		ok, n := h.b.take()
		if !ok {
			return nil
		}
		suppressed = n
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(clipAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int64(SuppressedKey, suppressed))
	}
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = clipAttr(a)
	}
	return &handler{next: h.next.WithAttrs(out), b: h.b}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), b: h.b}
}

// Clipped returns l with every attribute value cut by Clip.
func Clipped(l *slog.Logger) *slog.Logger {
	if h, ok := l.Handler().(*handler); ok && h.b == nil {
		return l
	}
	return slog.New(&handler{next: l.Handler()})
}

// Limit is a token bucket for log lines: Burst lines at once, then one
// line per Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// DefaultLimit lets a connection log 20 lines at once and then one a
// second: a flood of bad frames costs a few hundred bytes a second.
var DefaultLimit = Limit{Burst: 20, Every: time.Second}

// Limiter is the log-line budget of one connection.
type Limiter struct{ b *bucket }

// NewLimiter returns a full bucket; now is the clock (time.Now when nil).
func NewLimiter(l Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if l.Burst < 1 {
		l.Burst = 1
	}
	if l.Every <= 0 {
		l.Every = time.Second
	}
	return &Limiter{b: &bucket{now: now, burst: float64(l.Burst), every: l.Every, tokens: float64(l.Burst)}}
}

// Logger returns l limited by this budget (and clipped); loggers derived
// from it share the budget.
func (lim *Limiter) Logger(l *slog.Logger) *slog.Logger {
	next := l.Handler()
	if h, ok := next.(*handler); ok && h.b == nil {
		// Already clipped (what it holds is too): one layer clips for
		// both, instead of copying every record twice per frame.
		next = h.next
	}
	return slog.New(&handler{next: next, b: lim.b})
}

// Suppressed returns how many lines were dropped since the last one that
// passed, and forgets them: the caller reports them (e.g. when the
// connection ends).
func (lim *Limiter) Suppressed() int64 {
	lim.b.mu.Lock()
	defer lim.b.mu.Unlock()
	n := lim.b.suppressed
	lim.b.suppressed = 0
	return n
}

type bucket struct {
	mu         sync.Mutex
	now        func() time.Time
	burst      float64
	every      time.Duration
	tokens     float64
	last       time.Time
	suppressed int64
}

// take spends a token; ok false means the line is dropped, otherwise n
// lines were dropped before it.
func (b *bucket) take() (ok bool, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(b.burst, b.tokens+float64(d)/float64(b.every))
		}
	}
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	n, b.suppressed = b.suppressed, 0
	return true, n
}

// Limiters holds a Limiter per key (a connection) for at most Max keys:
// beyond that it starts afresh, so it is bounded whatever the keys.
type Limiters struct {
	limit Limit
	now   func() time.Time
	max   int

	mu sync.Mutex
	m  map[string]*Limiter
}

// NewLimiters returns an empty set for up to max keys.
func NewLimiters(l Limit, max int, now func() time.Time) *Limiters {
	return &Limiters{limit: l, now: now, max: max, m: map[string]*Limiter{}}
}

// Get returns key's Limiter, made on first use.
func (ls *Limiters) Get(key string) *Limiter {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if lim, ok := ls.m[key]; ok {
		return lim
	}
	if len(ls.m) >= ls.max {
		clear(ls.m)
	}
	lim := NewLimiter(ls.limit, ls.now)
	ls.m[key] = lim
	return lim
}

// Forget drops key's Limiter and returns the lines it dropped since its
// last line, for the caller to report.
func (ls *Limiters) Forget(key string) int64 {
	ls.mu.Lock()
	lim, ok := ls.m[key]
	delete(ls.m, key)
	ls.mu.Unlock()
	if !ok {
		return 0
	}
	return lim.Suppressed()
}
