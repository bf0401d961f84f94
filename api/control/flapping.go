package control

import (
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/admission"
)

// Flapping: two clients using one station id replace each other without
// end (newest wins, the loser reconnects at once). Each replacement costs
// an admission, a close and a pair of connection events, so a pair of
// misconfigured chargers could churn the core forever. A station replaced
// more than FlapLimit times within FlapWindow is flapping: reported once
// (log and security event), and every admission of its id is refused
// (HTTP 503, Retry-After) for FlapBackoff, during which the connection in
// place stays. Counted per core instance: with several cores each sees its
// share of the admissions, so flapping is noticed a little later.
const (
	FlapWindow  = time.Minute
	FlapLimit   = 10
	FlapBackoff = time.Minute
	// flapStations bounds the stations tracked; beyond it the oldest
	// window is forgotten first (a flapping station renews its own).
	flapStations = 10_000
)

// CheckFlapping names the security event of a flapping station id.
const CheckFlapping admission.Check = "flapping"

type flapGuard struct {
	mu      sync.Mutex
	entries map[string]*flapEntry
}

type flapEntry struct {
	times []time.Time // replacements within the window, oldest first
	until time.Time   // refused until then
}

func newFlapGuard() *flapGuard { return &flapGuard{entries: map[string]*flapEntry{}} }

// refusedUntil reports whether id is in its back-off, and until when.
func (g *flapGuard) refusedUntil(id string, now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.entries[id]
	if !ok || !now.Before(e.until) {
		return time.Time{}, false
	}
	return e.until, true
}

// replaced records that id's connection was replaced at now and reports
// whether that makes it flapping (once per back-off).
func (g *flapGuard) replaced(id string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.entries[id]
	if !ok {
		if len(g.entries) >= flapStations {
			g.evict(now)
		}
		e = &flapEntry{}
		g.entries[id] = e
	}
	keep := e.times[:0]
	for _, t := range e.times {
		if now.Sub(t) < FlapWindow {
			keep = append(keep, t)
		}
	}
	e.times = append(keep, now)
	if len(e.times) <= FlapLimit {
		return false
	}
	e.times = e.times[:0]
	e.until = now.Add(FlapBackoff)
	return true
}

// evict drops the entries with nothing left in their window; if none, an
// arbitrary one (map order is random).
func (g *flapGuard) evict(now time.Time) {
	for id, e := range g.entries {
		if now.After(e.until) && (len(e.times) == 0 || now.Sub(e.times[len(e.times)-1]) >= FlapWindow) {
			delete(g.entries, id)
		}
	}
	for id := range g.entries {
		if len(g.entries) < flapStations {
			return
		}
		delete(g.entries, id)
	}
}
