package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/lanes"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// consumerSpec says how to (re)subscribe one queue.
type consumerSpec struct {
	queue string
	attrs []any // for logs
	// declare, if set, declares and binds the queue before consuming; run on
	// every (re)subscription since exclusive queues die with the connection.
	declare func(ch *amqp.Channel) error
	// owned queues are deleted when their consumer stops.
	owned bool
	// part, for an upstream partition, decides when to hand it over to
	// the instance that owns it.
	part *partitionState
	// slots bounds the handlers running at once over all partitions of
	// one ConsumeUpstream (upstream only).
	slots lanes.Slots
}

// subscription is a consuming channel.
type subscription struct {
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
	gone       chan struct{} // closed once ch is gone
}

func (b *Bus) subscribe(s *session, spec consumerSpec) (*subscription, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: open channel: %w", bus.ErrNotConnected, err)
	}
	sub := &subscription{ch: ch, gone: make(chan struct{})}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		<-closed // amqp091 closes it when the channel goes, whatever the reason
		close(sub.gone)
	}()
	fail := func(what string, err error) (*subscription, error) {
		_ = ch.Close()
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.ResourceLocked {
			// Another connection holds this exclusive queue: a second process
			// runs with the same gateway/core id.
			return nil, fmt.Errorf("%w: %s: %w", bus.ErrConsumerExists, spec.queue, err)
		}
		return nil, fmt.Errorf("bus: %s %s: %w", what, spec.queue, err)
	}
	prefetch := b.cfg.Prefetch
	if spec.part != nil {
		prefetch = b.cfg.UpstreamPrefetch
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return fail("set prefetch for", err)
	}
	if spec.declare != nil {
		if err := spec.declare(ch); err != nil {
			return fail("declare", err)
		}
	}
	sub.deliveries, err = ch.Consume(spec.queue, "", false, false, false, false, nil)
	if err != nil {
		return fail("consume", err)
	}
	return sub, nil
}

// run delivers sub's messages to h until ctx is done, resubscribing
// whenever the channel or the connection is lost.
func (b *Bus) run(ctx context.Context, spec consumerSpec, h bus.Handler, sub *subscription) {
	log := b.log.With(spec.attrs...)
	for {
		yielded := b.deliver(ctx, log, sub, h, spec)
		// Unacknowledged deliveries go back to the queue, in their places,
		// before the broker makes another consumer active.
		_ = sub.ch.Close()
		if ctx.Err() != nil {
			if spec.owned {
				b.deleteQueue(spec.queue, log)
			}
			return
		}
		if yielded {
			b.stats.handovers.Add(1)
			log.Debug("handing the partition over to its owner")
		} else {
			log.Warn("consumer lost its channel; resubscribing")
		}
		sub = nil
		for attempt := 0; sub == nil; attempt++ {
			// A hand-over resubscribes at once: the channel is fine, only
			// the place in the consumers' line changes.
			if !yielded || attempt > 0 {
				if backoff.Sleep(ctx, b.reconnect.Delay(attempt)) != nil {
					return
				}
			}
			s := b.waitSession(ctx)
			if s == nil {
				return
			}
			var err error
			if sub, err = b.subscribe(s, spec); err != nil {
				log.Warn("resubscribing failed", "error", err, "attempt", attempt+1)
			}
		}
		log.Info("consumer resubscribed")
	}
}

// deliver hands sub's deliveries to h until ctx is done or the channel is
// lost; for an upstream partition also until it should be handed over
// (yielded true). Upstream deliveries run on per-station lanes (package
// lanes), many at a time; other queues' deliveries one at a time, in order.
// Either way acknowledgements are written in batches by an acker.
func (b *Bus) deliver(ctx context.Context, log *slog.Logger, sub *subscription, h bus.Handler, spec consumerSpec) (yielded bool) {
	ak := newAcker(sub.ch, b.stats.ackFrame)
	defer ak.stop()
	if spec.part == nil {
		return b.deliverInOrder(ctx, log, sub, h, ak)
	}
	sched := lanes.New(ctx, lanes.Config{Handler: h, Slots: spec.slots, Retry: b.retry, Log: log})
	for {
		select {
		case <-ctx.Done():
			sched.Stop()
			return false
		case <-spec.part.changed():
			if spec.part.onChange() {
				// Finish what was taken while the partition is still ours,
				// so the owner starts exactly where this instance stopped.
				sched.Drain(sub.gone)
				return true
			}
		case d, ok := <-sub.deliveries:
			if !ok {
				sched.Stop()
				return false
			}
			if spec.part.onDelivery() {
				sched.Drain(sub.gone)
				return true // d stays unacknowledged: closing the channel requeues it
			}
			b.stats.delivered.Add(1)
			envs, fresh, err := decodeDelivery(d)
			ak.delivered(d.DeliveryTag)
			if err != nil {
				// It will never decode; keeping it would block its stations forever.
				log.Error("dropping an undecodable message", "error", err, "bytes", len(d.Body), "content_type", d.ContentType, "type", d.Type)
				ak.ack(d.DeliveryTag)
				continue
			}
			tag := d.DeliveryTag
			sched.Add(lanes.Delivery{Envelopes: envs, Fresh: fresh, Ack: func() { ak.ack(tag) }})
		}
	}
}

// deliverInOrder hands a gateway's or core instance's deliveries to h one
// envelope at a time, in order.
func (b *Bus) deliverInOrder(ctx context.Context, log *slog.Logger, sub *subscription, h bus.Handler, ak *acker) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case d, ok := <-sub.deliveries:
			if !ok {
				return false
			}
			b.stats.delivered.Add(1)
			ak.delivered(d.DeliveryTag)
			envs, fresh, err := decodeDelivery(d)
			if err != nil {
				log.Error("dropping an undecodable message", "error", err, "bytes", len(d.Body), "content_type", d.ContentType, "type", d.Type)
				ak.ack(d.DeliveryTag)
				continue
			}
			for i, env := range envs {
				if !b.handle(ctx, log, sub, env, func() *busv1.Envelope { return fresh(i) }, h) {
					return false // unacknowledged: the broker redelivers it
				}
			}
			ak.ack(d.DeliveryTag)
		}
	}
}

// handle runs h on env until it succeeds (true). It gives up (false) when
// ctx is done or the channel is lost.
func (b *Bus) handle(ctx context.Context, log *slog.Logger, sub *subscription, env *busv1.Envelope, fresh func() *busv1.Envelope, h bus.Handler) bool {
	for attempt := 0; ; attempt++ {
		// Checked before every attempt: nothing reaches a cancelled consumer.
		if ctx.Err() != nil {
			return false
		}
		if attempt > 0 {
			env = fresh() // the handler may have changed the last copy
		}
		station := env.GetStationId()
		herr := h(ctx, env)
		if herr == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		delay := b.retry.Delay(attempt)
		log.Warn("handler failed; redelivering after back-off",
			"station", station, "error", herr, "attempt", attempt+1, "backoff", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-sub.gone:
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// deleteQueue removes an owned queue when its consumer stops. Exclusive
// queues would also go with the connection, but a gateway that stops
// consuming while its process lives on must not keep collecting messages.
func (b *Bus) deleteQueue(queue string, log *slog.Logger) {
	b.mu.Lock()
	s := b.sess
	b.mu.Unlock()
	if s == nil || s.isDead() {
		return // the connection is gone, and the exclusive queue with it
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		log.Warn("deleting the queue failed", "error", err)
	}
}

// ConsumeUpstream subscribes every upstream partition and returns once all
// are subscribed. With single-active-consumer queues, several core
// instances can call it; each partition is delivered to one of them at a
// time, and the instances share the partitions evenly, handing them over
// as instances come and go (members.go). Within a partition each station's
// messages are handled in order and different stations' concurrently, at
// most Config.Lanes handlers at once over all partitions.
func (b *Bus) ConsumeUpstream(ctx context.Context, h bus.Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", bus.ErrInvalid)
	}
	s, err := b.session()
	if err != nil {
		return err
	}
	m := b.newMember()
	slots := lanes.NewSlots(b.cfg.Lanes)
	specs := make([]consumerSpec, b.cfg.Partitions)
	subs := make([]*subscription, b.cfg.Partitions)
	closeAll := func() {
		for _, sub := range subs {
			if sub != nil {
				_ = sub.ch.Close()
			}
		}
	}
	for n := range specs {
		q := upstreamQueue(b.cfg.Prefix, n)
		specs[n] = consumerSpec{queue: q, attrs: []any{"queue", q}, part: &partitionState{m: m, p: n}, slots: slots}
		if subs[n], err = b.subscribe(s, specs[n]); err != nil {
			closeAll()
			return err
		}
	}
	cctx, release, err := b.consumerContext(ctx, len(specs)+2)
	if err != nil {
		closeAll()
		return err
	}
	var parts sync.WaitGroup
	parts.Add(len(specs) + 1)
	for n := range specs {
		go func() {
			defer b.wg.Done()
			defer parts.Done()
			b.run(cctx, specs[n], h, subs[n])
		}()
	}
	// Announced only once every partition is subscribed: when the others
	// hand partitions over, this instance is already in every line.
	go func() {
		defer b.wg.Done()
		defer parts.Done()
		b.runMembership(cctx, m)
	}()
	go func() {
		defer b.wg.Done()
		parts.Wait()
		release()
	}()
	return nil
}

// newMember creates this process's membership for one ConsumeUpstream
// call. A second call on the same bus is a separate member, so that the
// two never wait on each other to hand over.
func (b *Bus) newMember() *membership {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.members++
	id := b.cfg.InstanceID
	if b.members > 1 {
		id += "." + strconv.Itoa(b.members)
	}
	m := newMembership(id, b.cfg.Partitions, b.cfg.MemberTTL, b.cfg.YieldCooldown)
	if b.member == nil {
		b.member = m
	}
	return m
}

// direct tracks this process's consumer of one gateway or core queue.
type direct struct {
	ctx  context.Context // done: the consumer is stopping
	done chan struct{}   // closed once it has stopped and its queue is gone
}

// ConsumeGateway declares gatewayID's exclusive queue, binds it to
// downstream and delivers it to h until ctx is done; then the queue is
// deleted. If another process holds the queue, the error wraps
// bus.ErrConsumerExists.
func (b *Bus) ConsumeGateway(ctx context.Context, gatewayID string, h bus.Handler) error {
	if gatewayID == "" {
		return fmt.Errorf("%w: empty gateway id", bus.ErrInvalid)
	}
	q := gatewayQueue(b.cfg.Prefix, gatewayID)
	return b.consumeDirect(ctx, h, consumerSpec{
		queue: q,
		attrs: []any{"queue", q, "gateway", gatewayID},
		owned: true,
		declare: func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare(q, false, false, true, false, directQueueArgs); err != nil {
				return err
			}
			return ch.QueueBind(q, "", downstreamExchange(b.cfg.Prefix), false, nil)
		},
	})
}

// ConsumeCore declares coreID's exclusive reply queue and delivers it to h
// until ctx is done; then the queue is deleted.
func (b *Bus) ConsumeCore(ctx context.Context, coreID string, h bus.Handler) error {
	if coreID == "" {
		return fmt.Errorf("%w: empty core id", bus.ErrInvalid)
	}
	q := coreQueue(b.cfg.Prefix, coreID)
	return b.consumeDirect(ctx, h, consumerSpec{
		queue: q,
		attrs: []any{"queue", q, "core", coreID},
		owned: true,
		declare: func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(q, false, false, true, false, directQueueArgs)
			return err
		},
	})
}

// ConsumeEvents declares coreID's exclusive events queue, binds it to the
// events fanout and delivers it to h until ctx is done; then the queue is
// deleted.
func (b *Bus) ConsumeEvents(ctx context.Context, coreID string, h bus.Handler) error {
	if coreID == "" {
		return fmt.Errorf("%w: empty core id", bus.ErrInvalid)
	}
	q := eventsQueue(b.cfg.Prefix, coreID)
	return b.consumeDirect(ctx, h, consumerSpec{
		queue: q,
		attrs: []any{"queue", q, "core", coreID},
		owned: true,
		declare: func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare(q, false, false, true, false, directQueueArgs); err != nil {
				return err
			}
			return ch.QueueBind(q, "", eventsExchange(b.cfg.Prefix), false, nil)
		},
	})
}

// directQueueArgs: exclusive queues already die with their connection;
// x-expires also removes one left unused by a consumer stuck elsewhere.
var directQueueArgs = amqp.Table{"x-expires": int32(5 * 60 * 1000)}

func (b *Bus) consumeDirect(ctx context.Context, h bus.Handler, spec consumerSpec) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", bus.ErrInvalid)
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return bus.ErrClosed
		}
		old, ok := b.directs[spec.queue]
		if !ok {
			break // b.mu still held
		}
		oldCtx := old.ctx
		b.mu.Unlock()
		if oldCtx.Err() == nil {
			return fmt.Errorf("%w: %s", bus.ErrConsumerExists, spec.queue)
		}
		// The previous consumer of this id is stopping; wait until it has
		// deleted its queue so that it cannot delete ours.
		select {
		case <-old.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Reserve the id before subscribing so that a concurrent call for the
	// same id sees it.
	d := &direct{ctx: ctx, done: make(chan struct{})}
	b.directs[spec.queue] = d
	b.mu.Unlock()
	unreserve := func() {
		b.mu.Lock()
		if b.directs[spec.queue] == d {
			delete(b.directs, spec.queue)
		}
		b.mu.Unlock()
		close(d.done)
	}

	s, err := b.session()
	if err != nil {
		unreserve()
		return err
	}
	sub, err := b.subscribe(s, spec)
	if err != nil {
		unreserve()
		return err
	}
	cctx, release, err := b.consumerContext(ctx, 1)
	if err != nil {
		_ = sub.ch.Close()
		b.deleteQueue(spec.queue, b.log)
		unreserve()
		return err
	}
	b.mu.Lock()
	d.ctx = cctx
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		defer unreserve()
		defer release()
		b.run(cctx, spec, h, sub)
	}()
	return nil
}
