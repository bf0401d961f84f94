package auth

import (
	"sync"
	"time"
)

// Throttle counts failures per key (an account, an address) in fixed
// windows and refuses a key that reached its limit until its window ends.
// It lives in memory: with several core instances each one counts on its
// own, so an attacker spreading attempts over n instances gets n times the
// limit. Bounded: when full, expired entries go, and then the oldest
// window.
type Throttle struct {
	limit  int
	window time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	start    time.Time
	failures int
}

// NewThrottle allows limit failures per key per window and keeps at most
// max keys; now nil means time.Now.
func NewThrottle(limit int, window time.Duration, max int, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limit: limit, window: window, max: max, now: now, entries: map[string]*throttleEntry{}}
}

// Wait returns how long key must wait before its next attempt; 0 means it
// may try now.
func (t *Throttle) Wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[key]
	if !ok {
		return 0
	}
	end := e.start.Add(t.window)
	now := t.now()
	if !now.Before(end) {
		delete(t.entries, key)
		return 0
	}
	if e.failures < t.limit {
		return 0
	}
	return end.Sub(now)
}

// Fail records a failed attempt of key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e, ok := t.entries[key]
	if ok && !now.Before(e.start.Add(t.window)) {
		ok = false
	}
	if !ok {
		if _, exists := t.entries[key]; !exists && len(t.entries) >= t.max {
			t.evict(now)
		}
		e = &throttleEntry{start: now}
		t.entries[key] = e
	}
	e.failures++
}

// Reset forgets key's failures (after a successful login).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	delete(t.entries, key)
	t.mu.Unlock()
}

func (t *Throttle) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, e := range t.entries {
		if !now.Before(e.start.Add(t.window)) {
			delete(t.entries, k)
			continue
		}
		if oldestKey == "" || e.start.Before(oldest) {
			oldestKey, oldest = k, e.start
		}
	}
	if len(t.entries) >= t.max && oldestKey != "" {
		delete(t.entries, oldestKey)
	}
}
