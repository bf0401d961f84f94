// Package lanes runs one upstream partition's deliveries with many messages
// in flight while keeping each station's messages in order: the messages of
// a station form a lane, handled one at a time in queue order; different
// stations' lanes run concurrently, bounded by a Slots shared by every
// partition of one consumer. Both bus implementations use it, so they keep
// the same ordering and acknowledgement rules.
//
// # Acknowledgement rule
//
// A delivery (one broker message, possibly carrying the envelopes of several
// stations) is acknowledged once all its envelopes are handled and, for each
// station it carries, no earlier delivery carrying that station is still
// unacknowledged. So the acknowledged messages of every station are always a
// prefix of its messages in queue order, and whatever a crash or a hand-over
// leaves unacknowledged is, per station, a suffix: the broker puts it back in
// its place and the next consumer handles it again in order. Handlers are
// idempotent (a message handled again changes nothing), so a redelivered
// suffix leaves the same effects as one pass in order.
package lanes

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Slots bounds how many handlers run at once across the partitions that
// share it (one core instance's consumer).
type Slots chan struct{}

// NewSlots returns room for n concurrent handlers (at least 1).
func NewSlots(n int) Slots { return make(Slots, max(n, 1)) }

// Delivery is one broker message.
type Delivery struct {
	// Envelopes are the messages it carries, in queue order.
	Envelopes []*busv1.Envelope
	// Fresh returns a private copy of envelope i for a retry (the handler
	// owns, and may have changed, the copy it was given before).
	Fresh func(i int) *busv1.Envelope
	// Ack is called once the delivery may be acknowledged (see the package
	// comment). It is called with the partition's lock held, in an order
	// that respects the rule, so it must only record the acknowledgement
	// (e.g. queue it for the broker), never block.
	Ack func()
}

// Config configures a Partition.
type Config struct {
	Handler bus.Handler
	Slots   Slots
	Retry   backoff.Policy
	Log     *slog.Logger
}

// Partition schedules the deliveries of one partition. Add is called by a
// single goroutine (the partition's consumer); the lanes run on their own.
type Partition struct {
	cfg Config
	ctx context.Context // handlers' context: the consumer's

	mu       sync.Mutex
	lanes    map[string]*lane
	stopping bool           // no new handler starts
	pending  int            // deliveries added and not yet acknowledged
	workers  sync.WaitGroup // lane goroutines
	idle     chan struct{}  // closed and replaced whenever pending drops to 0
	halt     chan struct{}  // closed by Stop: back-offs end at once
}

// lane is one station's unacknowledged messages, oldest first; items
// before next are handled, their deliveries waiting for acknowledgement.
type lane struct {
	station string
	items   []*item
	next    int
	running bool
}

type item struct {
	env     *busv1.Envelope
	index   int // in its delivery
	d       *delivery
	retried bool
}

type delivery struct {
	Delivery
	left  int     // items not yet handled
	lanes []*lane // distinct lanes it has items in
	acked bool
}

// New returns a scheduler whose handlers run with ctx.
func New(ctx context.Context, cfg Config) *Partition {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Partition{cfg: cfg, ctx: ctx, lanes: map[string]*lane{}, idle: make(chan struct{}), halt: make(chan struct{})}
}

// Add queues a delivery's envelopes on their stations' lanes and starts the
// lanes that were idle. After Stop it does nothing (the delivery stays
// unacknowledged).
func (p *Partition) Add(d Delivery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return
	}
	dl := &delivery{Delivery: d, left: len(d.Envelopes)}
	p.pending++
	if dl.left == 0 {
		p.ackLocked(dl)
		return
	}
	for i, env := range d.Envelopes {
		st := env.GetStationId()
		ln := p.lanes[st]
		if ln == nil {
			ln = &lane{station: st}
			p.lanes[st] = ln
		}
		if !containsLane(dl.lanes, ln) {
			dl.lanes = append(dl.lanes, ln)
		}
		ln.items = append(ln.items, &item{env: env, index: i, d: dl})
	}
	for _, ln := range dl.lanes {
		if !ln.running {
			ln.running = true
			p.workers.Add(1)
			go p.run(ln)
		}
	}
}

func containsLane(ls []*lane, ln *lane) bool {
	for _, l := range ls {
		if l == ln {
			return true
		}
	}
	return false
}

// run handles ln's items one after another while it has any.
func (p *Partition) run(ln *lane) {
	defer p.workers.Done()
	for {
		p.mu.Lock()
		if p.stopping || ln.next >= len(ln.items) {
			ln.running = false
			p.dropIfEmptyLocked(ln)
			p.mu.Unlock()
			return
		}
		it := ln.items[ln.next]
		p.mu.Unlock()

		if !p.handle(it) {
			p.mu.Lock()
			ln.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		ln.next++
		it.d.left--
		if it.d.left == 0 {
			p.ackLocked(it.d)
		}
		p.mu.Unlock()
	}
}

// handle runs the handler on it until it succeeds (true) or the partition
// stops or its context ends (false: it stays unacknowledged).
func (p *Partition) handle(it *item) bool {
	select {
	case p.cfg.Slots <- struct{}{}:
	case <-p.ctx.Done():
		return false
	case <-p.halt:
		return false
	}
	defer func() { <-p.cfg.Slots }()
	for attempt := 0; ; attempt++ {
		if p.ctx.Err() != nil {
			return false
		}
		env := it.env
		if it.retried {
			env = it.d.Fresh(it.index)
		}
		station := env.GetStationId() // before the handler can change it
		it.retried = true
		err := p.cfg.Handler(p.ctx, env)
		if err == nil {
			return true
		}
		if p.ctx.Err() != nil {
			return false
		}
		delay := p.cfg.Retry.Delay(attempt)
		p.cfg.Log.Warn("handler failed; redelivering after back-off",
			"station", station, "error", err, "attempt", attempt+1, "backoff", delay)
		// The slot is kept: the next message of this station must wait for
		// this one anyway, and a failing dependency (the database) should
		// not be hammered by every other lane meanwhile either.
		t := time.NewTimer(delay)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return false
		case <-p.halt:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// ackLocked acknowledges d if the rule allows, then every delivery that was
// waiting for it.
func (p *Partition) ackLocked(d *delivery) {
	work := []*delivery{d}
	for len(work) > 0 {
		d := work[0]
		work = work[1:]
		if d.acked || d.left > 0 || !p.atHeadsLocked(d) {
			continue
		}
		d.acked = true
		d.Ack()
		for _, ln := range d.lanes {
			n := 0
			for n < len(ln.items) && ln.items[n].d == d {
				ln.items[n] = nil
				n++
			}
			ln.items = ln.items[n:]
			ln.next -= n
			if len(ln.items) > 0 {
				work = append(work, ln.items[0].d)
			} else {
				ln.items = nil
				p.dropIfEmptyLocked(ln)
			}
		}
		p.pending--
		if p.pending == 0 {
			close(p.idle)
			p.idle = make(chan struct{})
		}
	}
}

// atHeadsLocked reports whether d's items are at the head of each of its
// lanes: no earlier unacknowledged delivery carries any of its stations.
func (p *Partition) atHeadsLocked(d *delivery) bool {
	for _, ln := range d.lanes {
		if len(ln.items) == 0 || ln.items[0].d != d {
			return false
		}
	}
	return true
}

func (p *Partition) dropIfEmptyLocked(ln *lane) {
	if len(ln.items) == 0 && !ln.running && p.lanes[ln.station] == ln {
		delete(p.lanes, ln.station)
	}
}

// Drain waits until every delivery added so far is handled and
// acknowledged (a hand-over: the partition is still held, so finishing its
// work keeps the order). It gives up, and stops, when abort fires or the
// context ends; it reports whether everything was acknowledged.
func (p *Partition) Drain(abort <-chan struct{}) bool {
	for {
		p.mu.Lock()
		if p.pending == 0 {
			p.mu.Unlock()
			p.Stop()
			return true
		}
		idle := p.idle
		p.mu.Unlock()
		select {
		case <-idle:
		case <-abort:
			p.Stop()
			return false
		case <-p.ctx.Done():
			p.Stop()
			return false
		}
	}
}

// Stop starts no new handler and waits for the running ones to return.
// What is not acknowledged stays so, for the broker to redeliver.
func (p *Partition) Stop() {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		close(p.halt)
	}
	p.mu.Unlock()
	p.workers.Wait()
}

// InFlight is the number of deliveries added and not yet acknowledged.
func (p *Partition) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}
