package event

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Defaults of HubConfig.
const (
	DefaultMaxSubscribers   = 1_000
	DefaultSubscriberBuffer = 256
	// DefaultPoll is how often a Hub reads the log for events no relay
	// brought (an instance that stored them and died before relaying).
	DefaultPoll = 2 * time.Second
	// readPage bounds one read of the log.
	readPage = 500
)

// ErrTooManySubscribers refuses a subscription beyond MaxSubscribers.
var ErrTooManySubscribers = errors.New("event: too many subscribers")

// ErrHubClosed ends subscriptions when the hub stops.
var ErrHubClosed = errors.New("event: hub closed")

// HubConfig configures a Hub.
type HubConfig struct {
	Log Log
	// MaxSubscribers bounds this instance's live subscriptions.
	MaxSubscribers int
	// SubscriberBuffer bounds the events queued for one subscriber; a
	// subscriber further behind reads the log instead (never blocking the
	// hub or other subscribers).
	SubscriberBuffer int
	Poll             time.Duration
	Logger           *slog.Logger
}

// Hub hands this instance's subscribers every event of every instance,
// in id order, once each. Events arrive from this instance's Recorder and
// from the relay (other instances); ids are commit-ordered, so when an
// event arrives past a gap, the gap's events are already in the log and
// are read from there first.
type Hub struct {
	cfg HubConfig
	log *slog.Logger

	deliverMu sync.Mutex // one Deliver at a time: ids go out in order

	mu     sync.Mutex
	last   int64 // highest id handed out
	subs   map[*Subscription]struct{}
	closed bool
	done   chan struct{}
}

// NewHub returns a Hub; Start reads where the log ends.
func NewHub(c HubConfig) *Hub {
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = DefaultMaxSubscribers
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return &Hub{cfg: c, log: c.Logger.With("component", "events"), subs: map[*Subscription]struct{}{}, done: make(chan struct{})}
}

// Start sets the hub at the end of the log.
func (h *Hub) Start(ctx context.Context) error {
	id, err := h.cfg.Log.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.last = id
	h.mu.Unlock()
	return nil
}

// Run polls the log until ctx is done, then ends every subscription.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.Close()
			return
		case <-t.C:
			h.Deliver(ctx, nil)
		}
	}
}

// Close ends every subscription (Next returns ErrHubClosed) and refuses
// new ones: a server stopping must not wait for streams that never end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// HandleRelay is the bus.Handler of the events queue.
func (h *Hub) HandleRelay(ctx context.Context, env *busv1.Envelope) error {
	evs, err := FromEnvelope(env)
	if err != nil {
		h.log.Warn("dropping bad events message", "err", err)
		return nil
	}
	h.Deliver(ctx, evs)
	return nil
}

// Deliver hands evs (stored, any order) to the subscribers after whatever
// the log holds before them; nil evs reads the log's new events.
func (h *Hub) Deliver(ctx context.Context, evs []Event) {
	h.deliverMu.Lock()
	defer h.deliverMu.Unlock()
	slices.SortFunc(evs, func(a, b Event) int { return compareInt(a.ID, b.ID) })
	if len(evs) == 0 {
		h.catchUp(ctx, 0)
		return
	}
	for _, e := range evs {
		last := h.lastID()
		if e.ID <= last {
			continue
		}
		if e.ID > last+1 && !h.catchUp(ctx, e.ID-1) {
			// Handing e out now would skip the gap for good: the next
			// poll reads the gap and e from the log, in order.
			return
		}
		h.fan(e)
	}
}

// catchUp hands out the log's events after the last one handed out, up to
// upTo (0: all); false when the log could not be read that far.
func (h *Hub) catchUp(ctx context.Context, upTo int64) bool {
	for {
		after := h.lastID()
		if upTo > 0 && after >= upTo {
			return true
		}
		evs, err := h.cfg.Log.ReadEvents(ctx, Range{After: after, UpTo: upTo}, readPage)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read events", "after", after, "err", err)
			}
			return false
		}
		for _, e := range evs {
			h.fan(e)
		}
		if len(evs) < readPage {
			return true
		}
	}
}

func (h *Hub) lastID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func (h *Hub) fan(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.ID <= h.last {
		return
	}
	h.last = e.ID
	for s := range h.subs {
		if s.lagging || !s.filter.Match(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			// Behind: it reads the log from its cursor once it has
			// drained what is queued.
			s.lagging = true
		}
	}
}

// Subscribe starts a subscription to events passing f after id after (0:
// from now on). The caller must Close it.
func (h *Hub) Subscribe(f Filter, after int64) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if len(h.subs) >= h.cfg.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	if after <= 0 {
		after = h.last // from now on
	}
	// A cursor ahead of this instance (set on another one) reads nothing
	// from the log: its later events come live.
	s := &Subscription{hub: h, filter: f, ch: make(chan Event, h.cfg.SubscriberBuffer), cursor: after, readPos: after, replayTo: h.last}
	h.subs[s] = struct{}{}
	return s, nil
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Subscription is one subscriber's stream; Next is not safe for
// concurrent use.
type Subscription struct {
	hub    *Hub
	filter Filter
	ch     chan Event
	// lagging (under hub.mu): the hub stopped queueing for it.
	lagging bool
	// cursor is the last id handed to the subscriber; ids up to replayTo
	// come from the log (read up to readPos so far), later ones from ch.
	cursor, readPos, replayTo int64
	backlog                   []Event
}

// Next returns the next event, waiting for one until ctx is done or the
// hub stops.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for {
		if len(s.backlog) > 0 {
			e := s.backlog[0]
			s.backlog = s.backlog[1:]
			if e.ID > s.cursor {
				s.cursor = e.ID
				return e, nil
			}
			continue
		}
		if s.readPos < s.replayTo {
			evs, err := s.hub.cfg.Log.ReadEvents(ctx, Range{After: s.readPos, UpTo: s.replayTo, Filter: s.filter}, readPage)
			if err != nil {
				return Event{}, err
			}
			s.readPos = s.replayTo
			if len(evs) == readPage {
				s.readPos = evs[len(evs)-1].ID
			}
			s.backlog = evs
			continue
		}
		select {
		case e := <-s.ch:
			if e.ID > s.cursor {
				s.cursor = e.ID
				return e, nil
			}
			continue
		default:
		}
		if s.resume() {
			continue
		}
		select {
		case e := <-s.ch:
			if e.ID > s.cursor {
				s.cursor = e.ID
				return e, nil
			}
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-s.hub.done:
			return Event{}, ErrHubClosed
		}
	}
}

// resume puts a lagging subscription back on the live queue, reading what
// it missed from the log first; false if it was not lagging.
func (s *Subscription) resume() bool {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.lagging {
		return false
	}
	s.lagging = false
	s.readPos = s.cursor
	s.replayTo = h.last
	return true
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
