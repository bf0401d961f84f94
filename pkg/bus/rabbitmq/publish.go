package rabbitmq

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// pubChannel is one confirm-mode channel of a session's publishing pool,
// reopened on demand after a channel-level error.
type pubChannel struct {
	mu sync.Mutex
	ch *amqp.Channel
}

func (pc *pubChannel) get(conn *amqp.Connection) (*amqp.Channel, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.ch != nil && !pc.ch.IsClosed() {
		return pc.ch, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("%w: open channel: %w", bus.ErrNotConnected, err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("%w: enable publisher confirms: %w", bus.ErrNotConnected, err)
	}
	pc.ch = ch
	return ch, nil
}

// Encode is the wire form of an envelope on the bus.
func Encode(env *busv1.Envelope) ([]byte, error) { return proto.Marshal(env) }

// decodeDelivery returns the envelopes a delivery carries (one, or a
// Batch's) and how to decode a fresh copy of one of them (for a retry: the
// handler owns the first).
func decodeDelivery(d amqp.Delivery) ([]*busv1.Envelope, func(int) *busv1.Envelope, error) {
	if d.Type != batchType {
		env, err := Decode(d.Body)
		if err != nil {
			return nil, nil, err
		}
		fresh := func(int) *busv1.Envelope {
			e, _ := Decode(d.Body) // decoded once already
			return e
		}
		return []*busv1.Envelope{env}, fresh, nil
	}
	batch := &busv1.Batch{}
	if err := proto.Unmarshal(d.Body, batch); err != nil {
		return nil, nil, fmt.Errorf("bus: decode batch: %w", err)
	}
	fresh := func(i int) *busv1.Envelope {
		again := &busv1.Batch{}
		_ = proto.Unmarshal(d.Body, again) // decoded once already
		return again.GetEnvelopes()[i]
	}
	return batch.GetEnvelopes(), fresh, nil
}

// Decode parses the wire form of an envelope.
func Decode(body []byte) (*busv1.Envelope, error) {
	env := &busv1.Envelope{}
	if err := proto.Unmarshal(body, env); err != nil {
		return nil, fmt.Errorf("bus: decode envelope: %w", err)
	}
	return env, nil
}

// publishRaw publishes pb on publishing channel pool of the live session
// and returns the confirmation to wait for.
func (b *Bus) publishRaw(pool int, exchange, key string, pb *pubBatch) (*amqp.DeferredConfirmation, *amqp.Channel, error) {
	s, err := b.session()
	if err != nil {
		return nil, nil, err
	}
	ch, err := s.pool[pool%len(s.pool)].get(s.conn)
	if err != nil {
		return nil, nil, err
	}
	msg := amqp.Publishing{ContentType: ContentType, Type: envelopeType, DeliveryMode: amqp.Transient, Body: pb.single}
	if pb.n > 1 {
		msg.Type, msg.Body = batchType, pb.body
	}
	if pb.persistent {
		msg.DeliveryMode = amqp.Persistent
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.PublishTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	b.stats.published.Add(1)
	if err != nil {
		if ch.IsClosed() {
			return nil, nil, fmt.Errorf("%w: publish: %w", bus.ErrNotConnected, err)
		}
		return nil, nil, fmt.Errorf("bus: publish: %w", err)
	}
	return dc, ch, nil
}

func encodeChecked(ctx context.Context, env *busv1.Envelope) ([]byte, error) {
	if env == nil {
		return nil, fmt.Errorf("%w: nil envelope", bus.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := Encode(env)
	if err != nil {
		return nil, fmt.Errorf("bus: encode envelope: %w", err)
	}
	return body, nil
}

// publish sends env on its own (no batch) and waits for the broker's confirm.
func (b *Bus) publish(ctx context.Context, exchange, key string, persistent bool, env *busv1.Envelope) error {
	body, err := encodeChecked(ctx, env)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.PublishTimeout)
		defer cancel()
	}
	s, err := b.session()
	if err != nil {
		return err
	}
	pb := &pubBatch{single: body, n: 1, persistent: persistent}
	dc, ch, err := b.publishRaw(int(s.next.Add(1)%uint64(len(s.pool))), exchange, key, pb)
	if err != nil {
		return err
	}
	b.stats.envelopes.Add(1)
	acked, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("bus: waiting for the broker's confirm: %w", err)
	}
	if !acked {
		if ch.IsClosed() {
			// amqp091 nacks every pending confirm when the channel closes.
			return fmt.Errorf("%w: channel closed before the broker confirmed the message", bus.ErrNotConnected)
		}
		return fmt.Errorf("bus: the broker refused the message (nack)")
	}
	return nil
}

// PublishUpstream sends env to its station's partition, in a micro-batch
// with other stations' envelopes of that partition, persistent if it is
// durable (bus.Durable), and returns once the broker has confirmed it.
func (b *Bus) PublishUpstream(ctx context.Context, env *busv1.Envelope) error {
	body, err := encodeChecked(ctx, env)
	if err != nil {
		return err
	}
	key := strconv.Itoa(bus.Partition(env.GetStationId(), b.cfg.Partitions))
	return b.publishBatched(ctx, upstreamExchange(b.cfg.Prefix), key, bus.Durable(env), body)
}

// PublishDownstream sends env to every gateway's queue.
func (b *Bus) PublishDownstream(ctx context.Context, env *busv1.Envelope) error {
	return b.publish(ctx, downstreamExchange(b.cfg.Prefix), "", false, env)
}

// PublishEvents sends env to every core instance's events queue.
func (b *Bus) PublishEvents(ctx context.Context, env *busv1.Envelope) error {
	return b.publish(ctx, eventsExchange(b.cfg.Prefix), "", false, env)
}

// PublishToGateway sends env to gatewayID's queue through the default
// exchange, in a micro-batch with the other envelopes for that gateway
// (replies to its chargers); without that queue the broker drops it.
// Transient: the queue dies with its gateway anyway.
func (b *Bus) PublishToGateway(ctx context.Context, gatewayID string, env *busv1.Envelope) error {
	if gatewayID == "" {
		return fmt.Errorf("%w: empty gateway id", bus.ErrInvalid)
	}
	body, err := encodeChecked(ctx, env)
	if err != nil {
		return err
	}
	return b.publishBatched(ctx, "", gatewayQueue(b.cfg.Prefix, gatewayID), false, body)
}

// PublishToCore sends env to coreID's reply queue; without that queue the
// broker drops it.
func (b *Bus) PublishToCore(ctx context.Context, coreID string, env *busv1.Envelope) error {
	if coreID == "" {
		return fmt.Errorf("%w: empty core id", bus.ErrInvalid)
	}
	return b.publish(ctx, "", coreQueue(b.cfg.Prefix, coreID), false, env)
}
