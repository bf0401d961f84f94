package ocpp

import (
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
