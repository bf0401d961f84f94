package rabbitmq

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
)

// Partition ownership among core instances.
//
// Every core instance subscribes every upstream partition; the queues are
// single-active-consumer, so the broker delivers each partition to exactly
// one of them at a time, and fails a partition over at once when its active
// consumer's connection dies. That alone makes a second instance a mere
// stand-by. To share the work, the instances that consume upstream announce
// themselves on the <p>.members fanout (join at once, then a beat every
// MemberHeartbeat, leave when they stop); each keeps the set of instances it
// heard from within MemberTTL and computes the same assignment from it
// (rendezvous hashing, capped at ⌈partitions/members⌉ each, so the split is
// even and an instance joining or leaving moves few partitions).
//
// An instance that is the active consumer of a partition it does not own
// hands it over: after the message it is handling has been acknowledged it
// closes that partition's channel (the broker puts the prefetched,
// unacknowledged messages back in their places) and subscribes again, at the
// back of the queue's line of consumers, so that the next one in line, in the
// end the owner, becomes active. The broker never has two active consumers
// on one queue, so per-station order holds at every moment whatever the
// instances believe; the assignment only decides who waits in front.
//
// Nothing tells a consumer whether it is active except receiving a
// delivery, so a hand-over is attempted when the membership changes (for
// every partition not owned: harmless for a consumer that was not active,
// it just moves to the back of the line) and when a delivery arrives for a
// partition not owned, at most once per YieldCooldown per partition: if the
// owner is not actually in the line (dead but not yet expired), the
// partition comes straight back and is kept until the cooldown passes,
// instead of bouncing.

const (
	memberJoin  = "join"
	memberBeat  = "beat"
	memberLeave = "leave"
)

func membersExchange(prefix string) string { return prefix + ".members" }
func membersQueue(prefix, id string) string {
	return prefix + ".members." + id
}

// Assignment is one core instance's view of partition ownership.
type Assignment struct {
	// Self is this instance's member id.
	Self string
	// Members are the live instances, sorted, Self included.
	Members []string
	// Owned are the partitions this instance owns, ascending.
	Owned []int
}

// membership is one ConsumeUpstream's presence among the core instances.
type membership struct {
	self       string
	partitions int
	ttl        time.Duration
	cooldown   time.Duration
	now        func() time.Time

	mu      sync.Mutex
	seen    map[string]time.Time // other members, by id
	owners  []string             // owner of each partition
	epoch   uint64               // bumped whenever owners may have changed
	changed chan struct{}        // closed and replaced on every epoch
}

func newMembership(self string, partitions int, ttl, cooldown time.Duration) *membership {
	m := &membership{
		self: self, partitions: partitions, ttl: ttl, cooldown: cooldown, now: time.Now,
		seen: map[string]time.Time{}, changed: make(chan struct{}),
	}
	m.owners = assign(m.membersLocked(), partitions)
	return m
}

func (m *membership) membersLocked() []string {
	ids := make([]string, 0, len(m.seen)+1)
	ids = append(ids, m.self)
	for id := range m.seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// observe records a message from another instance and reports whether the
// set of members changed.
func (m *membership) observe(id, kind string) bool {
	if id == "" || id == m.self {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, known := m.seen[id]
	if kind == memberLeave {
		if !known {
			return false
		}
		delete(m.seen, id)
	} else {
		m.seen[id] = m.now()
		if known {
			return false
		}
	}
	m.reassignLocked()
	return true
}

// expire forgets members not heard from within the TTL.
func (m *membership) expire() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := m.now().Add(-m.ttl)
	gone := false
	for id, at := range m.seen {
		if at.Before(cut) {
			delete(m.seen, id)
			gone = true
		}
	}
	if gone {
		m.reassignLocked()
	}
	return gone
}

// reset forgets every other member (this instance lost the broker, and with
// it every partition).
func (m *membership) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) == 0 {
		return
	}
	clear(m.seen)
	m.reassignLocked()
}

func (m *membership) reassignLocked() {
	m.owners = assign(m.membersLocked(), m.partitions)
	m.epoch++
	close(m.changed)
	m.changed = make(chan struct{})
}

// state returns the owner of partition p, the epoch and the channel closed
// at the next epoch.
func (m *membership) state(p int) (owner string, epoch uint64, changed <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owners[p], m.epoch, m.changed
}

func (m *membership) assignment() Assignment {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := Assignment{Self: m.self, Members: m.membersLocked()}
	for p, o := range m.owners {
		if o == m.self {
			a.Owned = append(a.Owned, p)
		}
	}
	return a
}

// assign gives each partition to one of members: every partition ranks the
// members by a hash of (member, partition) (rendezvous hashing) and goes to
// the best-ranked one that has fewer than ⌈partitions/members⌉. Every
// instance with the same member set computes the same result.
func assign(members []string, partitions int) []string {
	owners := make([]string, partitions)
	if len(members) == 0 {
		return owners
	}
	capacity := (partitions + len(members) - 1) / len(members)
	load := make(map[string]int, len(members))
	ranked := slices.Clone(members)
	for p := range partitions {
		slices.SortFunc(ranked, func(a, b string) int {
			ha, hb := rendezvous(a, p), rendezvous(b, p)
			switch {
			case ha > hb:
				return -1
			case ha < hb:
				return 1
			}
			return cmpString(a, b)
		})
		for _, id := range ranked {
			if load[id] < capacity {
				owners[p] = id
				load[id]++
				break
			}
		}
	}
	return owners
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rendezvous is the weight of member for partition p: FNV-1a over both,
// finished with a 64-bit mixer so that similar ids spread well.
func rendezvous(member string, p int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	var buf [9]byte
	binary.BigEndian.PutUint64(buf[1:], uint64(p))
	_, _ = h.Write(buf[:])
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// partitionState decides, for one partition's consumer, when to hand the
// partition over.
type partitionState struct {
	m *membership
	p int

	lastYield      time.Time
	lastYieldEpoch uint64
	yieldedOnce    bool
}

// onChange reports whether a new epoch should make the consumer hand over:
// once per epoch, for a partition this instance does not own.
func (ps *partitionState) onChange() bool {
	owner, epoch, _ := ps.m.state(ps.p)
	if owner == ps.m.self || (ps.yieldedOnce && ps.lastYieldEpoch == epoch) {
		return false
	}
	ps.mark(epoch)
	return true
}

// onDelivery reports whether a delivery for a partition this instance does
// not own should be handed over rather than handled.
func (ps *partitionState) onDelivery() bool {
	owner, epoch, _ := ps.m.state(ps.p)
	if owner == ps.m.self {
		return false
	}
	if ps.yieldedOnce && ps.m.now().Sub(ps.lastYield) < ps.m.cooldown {
		return false // it came back: the owner is not in line; keep it a while
	}
	ps.mark(epoch)
	return true
}

func (ps *partitionState) mark(epoch uint64) {
	ps.yieldedOnce = true
	ps.lastYield = ps.m.now()
	ps.lastYieldEpoch = epoch
}

func (ps *partitionState) changed() <-chan struct{} {
	_, _, ch := ps.m.state(ps.p)
	return ch
}

// runMembership announces m on the members fanout and follows the other
// instances' announcements until ctx is done, across reconnections; then it
// says goodbye so that the others take over at once.
func (b *Bus) runMembership(ctx context.Context, m *membership) {
	log := b.log.With("member", m.self)
	logView := func(why string) {
		a := m.assignment()
		log.Info("upstream partition assignment changed", "why", why, "members", a.Members, "owned", a.Owned)
	}
	for attempt := 0; ; attempt++ {
		s := b.waitSession(ctx)
		if s == nil {
			return
		}
		ch, deliveries, err := b.subscribeMembers(s, m.self)
		if err != nil {
			log.Warn("subscribing to the members exchange failed", "error", err, "attempt", attempt+1)
			if backoff.Sleep(ctx, b.reconnect.Delay(attempt)) != nil {
				return
			}
			continue
		}
		attempt = -1
		if !b.followMembers(ctx, m, ch, deliveries, logView) {
			// Lost the channel or the connection: the partitions went with
			// it, so no one else should keep yielding to this instance.
			if ctx.Err() == nil {
				m.reset()
				logView("lost the broker")
			}
		}
		_ = ch.Close()
		if ctx.Err() != nil {
			return
		}
	}
}

func (b *Bus) subscribeMembers(s *session, self string) (*amqp.Channel, <-chan amqp.Delivery, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, nil, err
	}
	q := membersQueue(b.cfg.Prefix, self)
	// Exclusive: gone with this connection, so a dead instance leaves
	// nothing behind.
	if _, err := ch.QueueDeclare(q, false, true, true, false, nil); err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	if err := ch.QueueBind(q, "", membersExchange(b.cfg.Prefix), false, nil); err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	d, err := ch.Consume(q, "", true, true, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return nil, nil, err
	}
	return ch, d, nil
}

// followMembers runs one subscription; it reports true when ctx ended it.
func (b *Bus) followMembers(ctx context.Context, m *membership, ch *amqp.Channel, deliveries <-chan amqp.Delivery, logView func(string)) bool {
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	announce := func(kind string) error {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return ch.PublishWithContext(pctx, membersExchange(b.cfg.Prefix), "", false, false, amqp.Publishing{
			Type:       kind,
			AppId:      m.self,
			Expiration: strconv.FormatInt(m.ttl.Milliseconds(), 10),
		})
	}
	if err := announce(memberJoin); err != nil {
		b.log.Warn("announcing this core instance failed", "member", m.self, "error", err)
		return false
	}
	tick := time.NewTicker(b.cfg.MemberHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := announce(memberLeave); err != nil {
				b.log.Debug("announcing departure failed", "member", m.self, "error", err)
			}
			return true
		case <-closed:
			return false
		case d, ok := <-deliveries:
			if !ok {
				return false
			}
			if m.observe(d.AppId, d.Type) {
				logView(d.Type + " " + d.AppId)
			}
			if d.Type == memberJoin && d.AppId != m.self {
				// Tell the newcomer about us now rather than at the next beat.
				if err := announce(memberBeat); err != nil {
					return false
				}
			}
		case <-tick.C:
			if err := announce(memberBeat); err != nil {
				return false
			}
			if m.expire() {
				logView("member expired")
			}
		}
	}
}

// Assignment returns this instance's current view of partition ownership
// (ok false before ConsumeUpstream).
func (b *Bus) Assignment() (a Assignment, ok bool) {
	b.mu.Lock()
	m := b.member
	b.mu.Unlock()
	if m == nil {
		return Assignment{}, false
	}
	return m.assignment(), true
}
