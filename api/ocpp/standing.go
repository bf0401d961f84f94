package ocpp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

// standingCache keeps each station's registration standing for a short
// TTL so that the router does not read it from the database for every
// message. It is correct because a station's messages are handled by one
// core instance at a time (partition ownership) and this instance drops a
// station's entry when it records a BootNotification or a new connection;
// a change made elsewhere (an operator deleting or re-registering the
// station) becomes visible within the TTL. Bounded: when full, expired
// entries go first, and if none has expired the cache starts over.
type standingCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]standingEntry
}

type standingEntry struct {
	st      store.Standing
	expires time.Time
}

func newStandingCache(ttl time.Duration, max int, now func() time.Time) *standingCache {
	return &standingCache{ttl: ttl, max: max, now: now, entries: map[string]standingEntry{}}
}

func (c *standingCache) get(id string) (store.Standing, bool) {
	if c.ttl <= 0 {
		return store.Standing{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return store.Standing{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, id)
		return store.Standing{}, false
	}
	return e.st, true
}

func (c *standingCache) put(id string, st store.Standing) {
	if c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[id] = standingEntry{st: st, expires: now.Add(c.ttl)}
}

// touched records a last-seen time written through the store, so that the
// cached standing does not make every message within the TTL write again.
func (c *standingCache) touched(id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok {
		e.st.LastSeen = &at
		c.entries[id] = e
	}
}

func (c *standingCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

func (c *standingCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// standingReads answers the standing lookups of concurrent messages with
// shared queries: a lookup joins the next query; one goroutine, alive only
// while lookups wait, runs a query for all of them, and those that arrive
// meanwhile form the next one (group reads, as the meter batcher groups
// commits). With many stations' lanes running at once, a fleet whose
// messages mostly miss the cache (Heartbeats every 60 s against a 5 s TTL)
// costs a fraction of a query per message instead of one.
type standingReads struct {
	read func(ctx context.Context, ids []string) (map[string]store.Standing, error)

	mu      sync.Mutex
	waiting map[string][]chan standingResult
	running bool
}

type standingResult struct {
	st  store.Standing
	err error
}

// maxStandingBatch bounds the ids of one query (bound parameters).
const maxStandingBatch = 1000

// standingReadTimeout bounds one shared query; no single caller's context
// governs it.
const standingReadTimeout = 10 * time.Second

func (g *standingReads) get(ctx context.Context, id string) (store.Standing, error) {
	ch := make(chan standingResult, 1)
	g.mu.Lock()
	if g.waiting == nil {
		g.waiting = map[string][]chan standingResult{}
	}
	g.waiting[id] = append(g.waiting[id], ch)
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	select {
	case r := <-ch:
		return r.st, r.err
	case <-ctx.Done():
		return store.Standing{}, ctx.Err()
	}
}

func (g *standingReads) run() {
	for {
		g.mu.Lock()
		if len(g.waiting) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := make(map[string][]chan standingResult, min(len(g.waiting), maxStandingBatch))
		for id, chs := range g.waiting {
			batch[id] = chs
			delete(g.waiting, id)
			if len(batch) == maxStandingBatch {
				break
			}
		}
		g.mu.Unlock()

		ids := make([]string, 0, len(batch))
		for id := range batch {
			ids = append(ids, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), standingReadTimeout)
		found, err := g.read(ctx, ids)
		cancel()
		for id, chs := range batch {
			r := standingResult{err: err}
			if err == nil {
				st, ok := found[id]
				r.st = st
				if !ok {
					r.err = fmt.Errorf("store: get standing of %q: %w", id, store.ErrNotFound)
				}
			}
			for _, ch := range chs {
				ch <- r
			}
		}
	}
}
