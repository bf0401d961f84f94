// Package inproc is the in-memory bus.Bus of the embedded single-process
// mode. It keeps the RabbitMQ bus's semantics (see package bustest): upstream
// partitioned by station, each station's messages handled in order on its
// lane while different stations' run concurrently (package lanes, as the
// RabbitMQ bus does), redelivery of the same message after a handler error,
// fanout to every consuming gateway, direct delivery to one gateway or core
// instance, and messages for a gateway or core instance without a consumer
// dropped. Nothing survives the process.
package inproc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/lanes"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Config configures New. The zero value is usable.
type Config struct {
	// Partitions is the number of upstream partitions (default
	// bus.DefaultPartitions).
	Partitions int
	// Prefetch is the number of upstream messages of one partition that
	// may be in progress at once (default 256), as with RabbitMQ.
	Prefetch int
	// Lanes bounds the upstream handlers running at once in one
	// ConsumeUpstream (default 256).
	Lanes  int
	Logger *slog.Logger
	// RetryMin and RetryMax bound the back-off before redelivering a message
	// whose handler failed (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
}

// Bus is an in-process bus.Bus. Create it with New; it is safe for
// concurrent use.
type Bus struct {
	partitions int
	prefetch   int
	lanes      int
	log        *slog.Logger
	retry      backoff.Policy

	// ctx is cancelled by Close; every consumer's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below; taken before any queue.mu
	closed   bool
	parts    []*partition
	gateways map[string]*direct
	cores    map[string]*direct
	events   map[string]*direct // core instances consuming the events fanout
}

var _ bus.Bus = (*Bus)(nil)

// New returns a running in-process bus.
func New(cfg Config) *Bus {
	if cfg.Partitions < 1 {
		cfg.Partitions = bus.DefaultPartitions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prefetch < 1 {
		cfg.Prefetch = 256
	}
	if cfg.Lanes < 1 {
		cfg.Lanes = 256
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Second, cfg.RetryMin)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		partitions: cfg.Partitions,
		prefetch:   cfg.Prefetch,
		lanes:      cfg.Lanes,
		log:        cfg.Logger.With("component", "bus", "bus", "inproc"),
		retry:      backoff.Policy{Min: cfg.RetryMin, Max: cfg.RetryMax},
		ctx:        ctx,
		cancel:     cancel,
		parts:      make([]*partition, cfg.Partitions),
		gateways:   make(map[string]*direct),
		cores:      make(map[string]*direct),
		events:     make(map[string]*direct),
	}
	for i := range b.parts {
		b.parts[i] = newPartition()
	}
	return b
}

// queue is a gateway's or core instance's unbounded FIFO, consumed by one
// goroutine. The head stays in place until its handler succeeds, which is
// what gives redelivery before any later message.
type queue struct {
	mu     sync.Mutex
	items  []*busv1.Envelope
	notify chan struct{} // capacity 1: "items may be non-empty"
}

func newQueue() *queue { return &queue{notify: make(chan struct{}, 1)} }

func (q *queue) push(env *busv1.Envelope) {
	q.mu.Lock()
	q.items = append(q.items, env)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// head waits for the first message and returns a private copy of it, so a
// handler that mutates its envelope cannot corrupt a redelivery.
func (q *queue) head(ctx context.Context) (*busv1.Envelope, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			env := q.items[0]
			q.mu.Unlock()
			return proto.CloneOf(env), nil
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *queue) pop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
}

// partition is an upstream queue. Messages stay in place until they are
// acknowledged; the active consumer takes up to prefetch of them at a time,
// and whatever it leaves unacknowledged when it stops is offered again, in
// place, to the next one, as RabbitMQ does.
type partition struct {
	mu     sync.Mutex
	items  []*entry // unacknowledged messages (and acknowledged ones behind an older one), in order
	next   int      // first entry the active consumer has not taken
	taken  int      // taken and not yet acknowledged
	notify chan struct{}
	// token is held by the partition's single active consumer, like
	// RabbitMQ's single-active-consumer queues.
	token chan struct{}
}

type entry struct {
	env   *busv1.Envelope
	acked bool
}

func newPartition() *partition {
	p := &partition{notify: make(chan struct{}, 1), token: make(chan struct{}, 1)}
	p.token <- struct{}{}
	return p
}

func (p *partition) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *partition) push(env *busv1.Envelope) {
	p.mu.Lock()
	p.items = append(p.items, &entry{env: env})
	p.mu.Unlock()
	p.wake()
}

// take waits for the next message not yet taken, while fewer than
// prefetch are in progress.
func (p *partition) take(ctx context.Context, prefetch int) (*entry, error) {
	for {
		p.mu.Lock()
		for p.next < len(p.items) && p.items[p.next].acked {
			p.next++
		}
		if p.next < len(p.items) && p.taken < prefetch {
			e := p.items[p.next]
			p.next++
			p.taken++
			p.mu.Unlock()
			return e, nil
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ack removes e (once nothing older is left) and makes room for another.
func (p *partition) ack(e *entry) {
	p.mu.Lock()
	e.acked = true
	p.taken--
	n := 0
	for n < len(p.items) && p.items[n].acked {
		p.items[n] = nil
		n++
	}
	p.items = p.items[n:]
	p.next -= n
	if len(p.items) == 0 {
		p.items = nil
	}
	p.mu.Unlock()
	p.wake()
}

// release offers everything unacknowledged again, from the front.
func (p *partition) release() {
	p.mu.Lock()
	p.next, p.taken = 0, 0
	p.mu.Unlock()
	p.wake()
}

// serve is one consumer's turn at p: it hands messages to lanes until ctx
// is done, then leaves what it did not finish to the next consumer.
func (b *Bus) servePartition(ctx context.Context, p *partition, slots lanes.Slots, h bus.Handler, n int) {
	sched := lanes.New(ctx, lanes.Config{Handler: h, Slots: slots, Retry: b.retry,
		Log: b.log.With("queue", "upstream", "partition", n)})
	defer p.release()
	defer sched.Stop()
	for {
		e, err := p.take(ctx, b.prefetch)
		if err != nil {
			return
		}
		sched.Add(lanes.Delivery{
			Envelopes: []*busv1.Envelope{proto.CloneOf(e.env)},
			Fresh:     func(int) *busv1.Envelope { return proto.CloneOf(e.env) },
			Ack:       func() { p.ack(e) },
		})
	}
}

// direct is a gateway's or core instance's queue and its only consumer.
type direct struct {
	q    *queue
	ctx  context.Context // the consumer's; done means the queue is going away
	done chan struct{}   // closed once the consumer has stopped and the queue is gone
}

// consumerContext derives a consumer's context from ctx, cancelled also by
// Close. release must be called when the consumer stops.
func (b *Bus) consumerContext(ctx context.Context) (cctx context.Context, release func()) {
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	return cctx, func() { stop(); cancel() }
}

// serve delivers q's messages to h until ctx is done.
func (b *Bus) serve(ctx context.Context, q *queue, h bus.Handler, attrs ...any) {
	attempt := 0
	for {
		// Checked before every delivery so that nothing published after a
		// cancellation reaches the cancelled consumer.
		if ctx.Err() != nil {
			return
		}
		env, err := q.head(ctx)
		if err != nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		station := env.GetStationId() // before the handler can change it
		if err := h(ctx, env); err != nil {
			if ctx.Err() != nil {
				return // stopping: the message stays queued for the next consumer
			}
			delay := b.retry.Delay(attempt)
			attempt++
			b.log.LogAttrs(ctx, slog.LevelWarn, "handler failed; redelivering after back-off",
				slog.String("station", station), slog.Any("error", err),
				slog.Int("attempt", attempt), slog.Duration("backoff", delay), slog.Group("queue", attrs...))
			if backoff.Sleep(ctx, delay) != nil {
				return
			}
			continue
		}
		attempt = 0
		q.pop()
	}
}

func checkEnvelope(env *busv1.Envelope) error {
	if env == nil {
		return fmt.Errorf("%w: nil envelope", bus.ErrInvalid)
	}
	return nil
}

// PublishUpstream queues env on its station's partition. Messages are kept
// until a consumer takes them.
func (b *Bus) PublishUpstream(ctx context.Context, env *busv1.Envelope) error {
	if err := checkEnvelope(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	snap := proto.CloneOf(env)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.parts[bus.Partition(env.GetStationId(), b.partitions)].push(snap)
	return nil
}

// PublishDownstream queues env for every gateway that is consuming.
func (b *Bus) PublishDownstream(ctx context.Context, env *busv1.Envelope) error {
	return b.fanout(ctx, b.gateways, env)
}

// PublishEvents queues env for every core instance consuming events.
func (b *Bus) PublishEvents(ctx context.Context, env *busv1.Envelope) error {
	return b.fanout(ctx, b.events, env)
}

func (b *Bus) fanout(ctx context.Context, m map[string]*direct, env *busv1.Envelope) error {
	if err := checkEnvelope(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	snap := proto.CloneOf(env)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, d := range m {
		if d.ctx.Err() == nil {
			d.q.push(snap)
		}
	}
	return nil
}

// PublishToGateway queues env for one gateway; dropped if it is not consuming.
func (b *Bus) PublishToGateway(ctx context.Context, gatewayID string, env *busv1.Envelope) error {
	return b.publishDirect(ctx, b.gateways, "gateway", gatewayID, env)
}

// PublishToCore queues env for one core instance; dropped if it is not consuming.
func (b *Bus) PublishToCore(ctx context.Context, coreID string, env *busv1.Envelope) error {
	return b.publishDirect(ctx, b.cores, "core", coreID, env)
}

func (b *Bus) publishDirect(ctx context.Context, m map[string]*direct, kind, id string, env *busv1.Envelope) error {
	if err := checkEnvelope(env); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: empty %s id", bus.ErrInvalid, kind)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	snap := proto.CloneOf(env)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	if d, ok := m[id]; ok && d.ctx.Err() == nil {
		d.q.push(snap)
	}
	return nil
}

// ConsumeUpstream delivers every partition to h, each station's messages
// in order, different stations' concurrently (at most Lanes handlers at
// once). Several consumers may run at once (as several core instances do);
// each partition is served by one of them at a time.
func (b *Bus) ConsumeUpstream(ctx context.Context, h bus.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", bus.ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	cctx, release := b.consumerContext(ctx)
	slots := lanes.NewSlots(b.lanes)
	var parts sync.WaitGroup
	b.wg.Add(len(b.parts) + 1)
	for i, q := range b.parts {
		parts.Add(1)
		go func() {
			defer b.wg.Done()
			defer parts.Done()
			select {
			case <-q.token:
			case <-cctx.Done():
				return
			}
			defer func() { q.token <- struct{}{} }()
			b.servePartition(cctx, q, slots, h, i)
		}()
	}
	go func() {
		defer b.wg.Done()
		parts.Wait()
		release()
	}()
	return nil
}

// ConsumeGateway creates gatewayID's queue, subscribed to downstream, and
// delivers it to h until ctx is done; then the queue and anything left in
// it are dropped.
func (b *Bus) ConsumeGateway(ctx context.Context, gatewayID string, h bus.Handler) error {
	return b.consumeDirect(ctx, func() map[string]*direct { return b.gateways }, "gateway", gatewayID, h)
}

// ConsumeCore creates coreID's reply queue and delivers it to h until ctx
// is done; then the queue is dropped.
func (b *Bus) ConsumeCore(ctx context.Context, coreID string, h bus.Handler) error {
	return b.consumeDirect(ctx, func() map[string]*direct { return b.cores }, "core", coreID, h)
}

// ConsumeEvents creates coreID's events queue, fed by PublishEvents, and
// delivers it to h until ctx is done; then the queue is dropped.
func (b *Bus) ConsumeEvents(ctx context.Context, coreID string, h bus.Handler) error {
	return b.consumeDirect(ctx, func() map[string]*direct { return b.events }, "events", coreID, h)
}

func (b *Bus) consumeDirect(ctx context.Context, table func() map[string]*direct, kind, id string, h bus.Handler) error {
	if id == "" {
		return fmt.Errorf("%w: empty %s id", bus.ErrInvalid, kind)
	}
	if h == nil {
		return fmt.Errorf("%w: nil handler", bus.ErrInvalid)
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return bus.ErrClosed
		}
		m := table()
		if old, ok := m[id]; ok {
			b.mu.Unlock()
			if old.ctx.Err() == nil {
				return fmt.Errorf("%w: %s %q", bus.ErrConsumerExists, kind, id)
			}
			// The previous consumer is stopping; wait until its queue is
			// gone so that it cannot delete ours.
			select {
			case <-old.done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cctx, release := b.consumerContext(ctx)
		d := &direct{q: newQueue(), ctx: cctx, done: make(chan struct{})}
		m[id] = d
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			defer close(d.done)
			defer release()
			b.serve(cctx, d.q, h, slog.String("name", kind), slog.String("id", id))
			b.mu.Lock()
			if m[id] == d {
				delete(m, id)
			}
			b.mu.Unlock()
		}()
		return nil
	}
}

// Close stops every consumer, waits for running handlers (their contexts
// are cancelled) and drops all queued messages. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	return nil
}
