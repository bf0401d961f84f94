package rabbitmq

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/chargeplane/chargeplane/pkg/bus"
)

// Micro-batches. Envelopes bound for one queue (an upstream partition, a
// gateway's queue) are collected and published together as one Batch: one
// basic.publish, one confirm, one delivery and one acknowledgement for all
// of them. A batch is sent
//
//   - at once when nothing of its destination is waiting for the broker's
//     confirm: an idle destination adds no latency (one charger alone);
//   - when it is full (BatchMax envelopes or BatchBytes);
//   - when the batch ahead of it is confirmed, or at the latest BatchLinger
//     after its first envelope (a sub-millisecond bound on the wait).
//
// So batches grow with the load, as a group commit does. Every batch of a
// destination goes out on the same channel, so the broker keeps their order
// (AMQP orders the messages of one channel). Each caller returns once the
// batch carrying its envelope is confirmed, or with its error: Publish's
// promise is unchanged. A batch is persistent if any envelope in it is
// durable (bus.Durable).

// destination is one queue's batcher.
type destination struct {
	b        *Bus
	exchange string
	key      string
	pool     int // index of the publishing channel it always uses

	mu       sync.Mutex
	open     *pubBatch // collecting
	inflight int       // sent, not yet confirmed
	timer    *time.Timer
}

type pubBatch struct {
	body       []byte // the envelopes, each as a Batch's field 1
	single     []byte // the first envelope's own encoding, sent as is when alone
	n          int
	persistent bool
	started    time.Time
	done       chan struct{}
	err        error
}

// destinationFor returns the batcher of (exchange, key), creating it.
func (b *Bus) destinationFor(exchange, key string) *destination {
	id := exchange + "\x00" + key
	b.destMu.Lock()
	defer b.destMu.Unlock()
	d := b.dests[id]
	if d == nil {
		if len(b.dests) >= maxIdleDestinations {
			b.dropIdleDestinationsLocked()
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		d = &destination{b: b, exchange: exchange, key: key, pool: int(h.Sum32() % uint32(b.cfg.PublishChannels))}
		b.dests[id] = d
	}
	return d
}

// maxIdleDestinations bounds the batchers kept: gateways come and go (each
// process has an id of its own), so those idle are dropped past this.
const maxIdleDestinations = 1024

// dropIdleDestinationsLocked forgets the batchers with nothing collecting
// and nothing in flight; b.destMu must be held. One dropped while a caller
// still holds it only means that caller's batch starts a new one.
func (b *Bus) dropIdleDestinationsLocked() {
	for id, d := range b.dests {
		d.mu.Lock()
		idle := d.open == nil && d.inflight == 0
		d.mu.Unlock()
		if idle {
			delete(b.dests, id)
		}
	}
}

// add queues an encoded envelope and returns the batch that will carry it.
func (d *destination) add(encoded []byte, persistent bool) *pubBatch {
	d.mu.Lock()
	defer d.mu.Unlock()
	pb := d.open
	if pb == nil {
		pb = &pubBatch{started: time.Now(), done: make(chan struct{}), single: encoded}
		d.open = pb
	}
	pb.body = protowire.AppendTag(pb.body, 1, protowire.BytesType)
	pb.body = protowire.AppendBytes(pb.body, encoded)
	pb.n++
	pb.persistent = pb.persistent || persistent
	switch {
	case pb.n >= d.b.cfg.BatchMax || len(pb.body) >= d.b.cfg.BatchBytes || d.inflight == 0:
		d.sendLocked()
	case d.timer == nil:
		d.timer = time.AfterFunc(d.b.cfg.BatchLinger, d.lingered)
	}
	return pb
}

func (d *destination) lingered() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer = nil
	if d.open != nil {
		d.sendLocked()
	}
}

// sendLocked publishes the open batch and waits for its confirm on a
// goroutine of its own.
func (d *destination) sendLocked() {
	pb := d.open
	d.open = nil
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.inflight++
	dc, ch, err := d.b.publishRaw(d.pool, d.exchange, d.key, pb)
	if err != nil {
		d.inflight--
		pb.err = err
		close(pb.done)
		return
	}
	go d.confirmed(pb, dc, ch)
}

func (d *destination) confirmed(pb *pubBatch, dc *amqp.DeferredConfirmation, ch *amqp.Channel) {
	ctx, cancel := context.WithTimeout(d.b.ctx, d.b.cfg.PublishTimeout)
	acked, err := dc.WaitContext(ctx)
	cancel()
	switch {
	case err != nil:
		pb.err = fmt.Errorf("bus: waiting for the broker's confirm: %w", err)
	case !acked && ch.IsClosed():
		// amqp091 nacks every pending confirm when the channel closes.
		pb.err = fmt.Errorf("%w: channel closed before the broker confirmed the message", bus.ErrNotConnected)
	case !acked:
		pb.err = fmt.Errorf("bus: the broker refused the message (nack)")
	}
	close(pb.done)
	d.mu.Lock()
	d.inflight--
	if d.open != nil && d.inflight == 0 {
		d.sendLocked() // it waited for this confirm
	}
	d.mu.Unlock()
}

// publishBatched sends one encoded envelope through its destination's
// batcher and waits for the batch's confirm.
func (b *Bus) publishBatched(ctx context.Context, exchange, key string, persistent bool, encoded []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.PublishTimeout)
		defer cancel()
	}
	if _, err := b.session(); err != nil {
		return err
	}
	pb := b.destinationFor(exchange, key).add(encoded, persistent)
	b.stats.envelopes.Add(1)
	select {
	case <-pb.done:
		return pb.err
	case <-ctx.Done():
		// The envelope may still be published with its batch; the caller
		// treats the message as not sent (a charger is answered with an
		// error and retries, which handlers tolerate).
		return fmt.Errorf("bus: waiting for the broker's confirm: %w", ctx.Err())
	}
}
