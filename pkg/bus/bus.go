// Package bus carries envelopes between gateways and core instances.
//
// Two implementations share one contract (see bustest): RabbitMQ for the
// scale-out deployment and an in-process bus for the embedded single-process
// mode. The roles, as in DESIGN.md:
//
//   - upstream: gateways → core; partitioned by station id so that one
//     station's messages are handled in the order its gateway received them;
//     durable, publisher-confirmed.
//   - downstream: core → every gateway (fanout): core-initiated CALLs and
//     control messages.
//   - gateway queue: one per gateway, bound to downstream, also the direct
//     target of replies to that gateway's charger CALLs; gone with the gateway.
//   - core queue: one per core instance, the charger answers to that
//     instance's CALLs; gone with the instance.
//   - events: core → every core instance (fanout): the live events each
//     instance stored, so that a subscriber on any instance sees them all;
//     each instance's events queue is gone with the instance.
package bus

import (
	"context"
	"errors"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Handler processes one envelope. Returning nil marks it handled; returning
// an error asks for redelivery (the envelope stays at the head of its
// station's lane, so per-station order holds). Upstream, a station's
// envelopes are handled one at a time in order while different stations'
// run concurrently, so handlers must be safe for concurrent use; a gateway
// or core queue is handled one envelope at a time, so its handler must not
// block on slow work (e.g. a charger's socket): a gateway hands messages off
// to per-connection writers. A handler may see an envelope again after a
// consumer stopped (crash, hand-over, shutdown): upstream handlers must be
// idempotent. ctx is cancelled when the consumer stops or the bus closes.
// The handler owns env.
type Handler func(ctx context.Context, env *busv1.Envelope) error

// ErrClosed is returned by operations on a closed bus.
var ErrClosed = errors.New("bus: closed")

// Bus is what gateways and the core need from a message broker.
//
// Once a Publish call has returned nil, the message is in every queue it was
// routed to. While the broker is unreachable, calls fail promptly with an
// error wrapping ErrNotConnected (the bus keeps reconnecting); after Close,
// with ErrClosed. Implementations: pkg/bus/rabbitmq, pkg/bus/inproc; the
// contract suite is pkg/bus/bustest.
type Bus interface {
	// PublishUpstream sends a gateway's message to the core. It returns only
	// once the broker has taken responsibility for the message.
	PublishUpstream(ctx context.Context, env *busv1.Envelope) error
	// PublishDownstream sends a message to every gateway.
	PublishDownstream(ctx context.Context, env *busv1.Envelope) error
	// PublishToGateway sends a message to one gateway's queue (replies to its
	// chargers' CALLs). A message for a gateway that is gone is dropped.
	PublishToGateway(ctx context.Context, gatewayID string, env *busv1.Envelope) error
	// PublishToCore sends a message to one core instance's queue (a
	// charger's answer to that instance's CALL). Dropped if the instance is gone.
	PublishToCore(ctx context.Context, coreID string, env *busv1.Envelope) error

	// ConsumeUpstream starts delivering upstream messages to h and returns
	// once consuming has begun. Each partition is consumed by one consumer
	// at a time; within it, each station's messages are delivered one at a
	// time in order (its lane), different stations' concurrently, with more
	// messages in progress than there are partitions. A message is
	// acknowledged once handled and once nothing older of its stations is
	// unacknowledged, so what a stopped consumer leaves is, per station, a
	// suffix, redelivered in order. Delivery stops when ctx is done.
	ConsumeUpstream(ctx context.Context, h Handler) error
	// ConsumeGateway declares gatewayID's queue, binds it to downstream and
	// starts delivering to h; returns once consuming has begun. The queue is
	// deleted when ctx is done or the process dies. A second live consumer of
	// the same id fails with ErrConsumerExists.
	ConsumeGateway(ctx context.Context, gatewayID string, h Handler) error
	// ConsumeCore declares coreID's reply queue and starts delivering to h;
	// returns once consuming has begun. The queue goes with the instance.
	ConsumeCore(ctx context.Context, coreID string, h Handler) error

	// PublishEvents sends a message to every core instance consuming
	// events (transient: the events are already in the database).
	PublishEvents(ctx context.Context, env *busv1.Envelope) error
	// ConsumeEvents declares coreID's events queue, binds it to the events
	// fanout and starts delivering to h; returns once consuming has begun.
	// The queue goes with the instance.
	ConsumeEvents(ctx context.Context, coreID string, h Handler) error

	// Close stops all consumers and releases the connection.
	Close() error
}
