// Package rabbitmq is the bus.Bus of the scale-out deployment, on RabbitMQ
// (AMQP 0-9-1).
//
// Topology (declared on every (re)connection; <p> is Config.Prefix):
//
//   - <p>.upstream: durable direct exchange. Partitions durable queues
//     <p>.upstream.<n>, bound with routing key "<n>", with
//     x-single-active-consumer so that, with several core instances, each
//     partition is consumed by one of them at a time. A station's partition
//     is bus.Partition(stationID, Partitions); every process sharing a prefix
//     must use the same Partitions.
//   - <p>.members: durable fanout exchange on which the core instances
//     consuming upstream announce themselves, each with an exclusive queue
//     <p>.members.<instance>; from it they share the partitions out (see
//     members.go and Assignment).
//   - <p>.downstream: durable fanout exchange.
//   - <p>.gateway.<id>: a gateway's exclusive queue, bound to downstream and
//     the default-exchange target of PublishToGateway. Exclusive queues go
//     away with the connection that declared them, so a killed gateway's
//     queue disappears once the broker notices the dead connection.
//   - <p>.core.<id>: a core instance's exclusive reply queue (PublishToCore).
//
// Upstream messages and replies to gateways travel in micro-batches
// (batch.go); upstream messages are persistent unless bus.Durable says an
// envelope may be transient; every publish waits for the broker's confirm.
// Upstream deliveries run on per-station lanes (package lanes): many at a
// time, each station's in order; a delivery is acknowledged (in batches,
// ack.go) once its envelopes are handled and nothing older of their
// stations is unacknowledged. On a handler error the envelope is kept
// (unacknowledged, so the broker still owns it) and handed to the handler
// again after a back-off, before any later message of its station: that is
// the redelivery bus.Handler promises, without the reordering a broker
// requeue could cause with prefetch. If the process dies meanwhile, the
// broker redelivers it.
//
// When the connection drops, the bus reconnects with capped, jittered
// exponential back-off, redeclares the topology and resubscribes every
// consumer. Publishes during the outage fail at once with
// bus.ErrNotConnected.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
)

// ContentType marks a message body as a protobuf-encoded busv1.Envelope.
const ContentType = "application/x-protobuf"

// AMQP types of a message's body: one envelope, or a micro-batch of them.
const (
	envelopeType = "chargeplane.bus.v1.Envelope"
	batchType    = "chargeplane.bus.v1.Batch"
)

// Config configures Dial. Only URL is required.
type Config struct {
	// URL is the broker, e.g. amqp://user:pass@host:5672/vhost (amqps for TLS).
	URL string
	// Prefix namespaces every exchange and queue (default "chargeplane").
	Prefix string
	// Partitions is the number of upstream queues (default
	// bus.DefaultPartitions). Must be the same for every process sharing
	// Prefix; changing it needs an empty upstream.
	Partitions int
	Logger     *slog.Logger

	// PublishChannels is the size of the pool of confirm-mode channels that
	// publishers share (default 4). Confirms are tracked per delivery tag,
	// so publishers on one channel do not wait for each other's confirms.
	PublishChannels int
	// BatchMax and BatchBytes close a micro-batch of envelopes for one
	// queue (defaults 128 and 256 KiB); BatchLinger is the longest an
	// envelope waits for its batch to be sent while an earlier batch of
	// that queue awaits its confirm (default 500µs; see batch.go).
	BatchMax, BatchBytes int
	BatchLinger          time.Duration
	// PublishTimeout bounds a publish whose context has no deadline
	// (default 15s), so no caller can hang on a broker that stopped
	// answering.
	PublishTimeout time.Duration
	// Prefetch is the number of unacknowledged deliveries per gateway or
	// core queue (default 64); they are handled one at a time, in order.
	Prefetch int
	// UpstreamPrefetch is the number of unacknowledged deliveries per
	// upstream partition (default 256): the messages of one partition that
	// can be in progress at once on their stations' lanes.
	UpstreamPrefetch int
	// Lanes bounds the upstream handlers running at once in one
	// ConsumeUpstream, over all its partitions (default 256). Each
	// station's messages still run one at a time, in order.
	Lanes int
	// RetryMin and RetryMax bound the back-off before a failed delivery is
	// handed to its handler again (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// ReconnectMin and ReconnectMax bound the jittered back-off between
	// reconnection attempts (defaults 250ms and 30s).
	ReconnectMin, ReconnectMax time.Duration
	// Heartbeat is the AMQP heartbeat interval (default 10s): how soon a
	// silently dead connection is noticed.
	Heartbeat time.Duration
	// UpstreamQueueType sets x-queue-type on the upstream queues: "" (the
	// broker's default, classic) or "quorum" for replicated queues in a
	// cluster. Cannot be changed for existing queues.
	UpstreamQueueType string

	// InstanceID names this process among the core instances that consume
	// upstream with the same Prefix (default: a random id). Partitions are
	// shared among the live instances; see Assignment.
	InstanceID string
	// MemberHeartbeat is how often a consuming instance announces itself
	// (default 1s); MemberTTL is how long an instance not heard from stays
	// a member (default 5s). A dead instance's partitions fail over at once
	// (the broker sees its connection close); MemberTTL only bounds how long
	// the survivors keep offering those partitions to it.
	MemberHeartbeat, MemberTTL time.Duration
	// YieldCooldown is how long a partition handed over that came straight
	// back (its owner was not waiting for it) is kept before being offered
	// again (default MemberTTL).
	YieldCooldown time.Duration

	// dial replaces the TCP dialer (tests use it to cut connections).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return fmt.Errorf("%w: rabbitmq: empty URL", bus.ErrInvalid)
	}
	if c.Prefix == "" {
		c.Prefix = "chargeplane"
	}
	if c.Partitions < 1 {
		c.Partitions = bus.DefaultPartitions
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PublishChannels < 1 {
		c.PublishChannels = 4
	}
	if c.BatchMax < 1 {
		c.BatchMax = 128
	}
	if c.BatchBytes < 1 {
		c.BatchBytes = 256 << 10
	}
	if c.BatchLinger <= 0 {
		c.BatchLinger = 500 * time.Microsecond
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 15 * time.Second
	}
	if c.Prefetch < 1 {
		c.Prefetch = 64
	}
	if c.UpstreamPrefetch < 1 {
		c.UpstreamPrefetch = 256
	}
	if c.Lanes < 1 {
		c.Lanes = 256
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(5*time.Second, c.RetryMin)
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 250 * time.Millisecond
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(30*time.Second, c.ReconnectMin)
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.InstanceID == "" {
		c.InstanceID = uuid.NewString()
	}
	if c.MemberHeartbeat <= 0 {
		c.MemberHeartbeat = time.Second
	}
	if c.MemberTTL <= c.MemberHeartbeat {
		c.MemberTTL = max(5*c.MemberHeartbeat, 5*time.Second)
	}
	if c.YieldCooldown <= 0 {
		c.YieldCooldown = c.MemberTTL
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return nil
}

// Names of the topology for a prefix.
func upstreamExchange(prefix string) string   { return prefix + ".upstream" }
func downstreamExchange(prefix string) string { return prefix + ".downstream" }
func upstreamQueue(prefix string, n int) string {
	return prefix + ".upstream." + strconv.Itoa(n)
}
func gatewayQueue(prefix, id string) string { return prefix + ".gateway." + id }
func coreQueue(prefix, id string) string    { return prefix + ".core." + id }
func eventsExchange(prefix string) string   { return prefix + ".events" }
func eventsQueue(prefix, id string) string  { return prefix + ".events." + id }

// Bus is a bus.Bus on RabbitMQ. Create it with Dial; it is safe for
// concurrent use.
type Bus struct {
	cfg       Config
	log       *slog.Logger
	retry     backoff.Policy
	reconnect backoff.Policy

	// ctx is cancelled by Close; consumers' contexts and the reconnection
	// loop derive from it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sess    *session      // nil while disconnected
	changed chan struct{} // closed and replaced whenever sess changes
	directs map[string]*direct
	member  *membership // of the first ConsumeUpstream, for Assignment
	members int         // ConsumeUpstream calls so far

	stats stats

	destMu sync.Mutex
	dests  map[string]*destination // micro-batchers by exchange and key
}

var _ bus.Bus = (*Bus)(nil)

// session is one AMQP connection and the publishing channels on it.
type session struct {
	conn   *amqp.Connection
	notify chan *amqp.Error
	dead   chan struct{} // closed once conn is gone
	pool   []*pubChannel
	next   atomic.Uint64
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return s.conn.IsClosed()
	}
}

// Dial connects to the broker, declares the topology and starts the
// reconnection loop. It fails if the first connection cannot be made
// before ctx is done.
func Dial(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "bus", "bus", "rabbitmq", "prefix", cfg.Prefix),
		retry:     backoff.Policy{Min: cfg.RetryMin, Max: cfg.RetryMax},
		reconnect: backoff.Policy{Min: cfg.ReconnectMin, Max: cfg.ReconnectMax, Jitter: true},
		ctx:       bctx,
		cancel:    cancel,
		changed:   make(chan struct{}),
		directs:   make(map[string]*direct),
		dests:     make(map[string]*destination),
	}
	s, err := b.connect(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	b.sess = s
	b.wg.Add(1)
	go b.maintain(s)
	return b, nil
}

// connect opens a connection and declares the shared topology on it.
func (b *Bus) connect(ctx context.Context) (*session, error) {
	conn, err := b.connectRaw(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{
		conn:   conn,
		notify: conn.NotifyClose(make(chan *amqp.Error, 1)),
		dead:   make(chan struct{}),
		pool:   make([]*pubChannel, b.cfg.PublishChannels),
	}
	for i := range s.pool {
		s.pool[i] = &pubChannel{}
	}
	if err := b.declareTopology(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

func (b *Bus) connectRaw(ctx context.Context) (*amqp.Connection, error) {
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Heartbeat:  b.cfg.Heartbeat,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": "chargeplane " + b.cfg.Prefix, "product": "chargeplane"},
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := b.cfg.dial(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake must not stall on a broker that accepts TCP but
			// never answers; amqp091 clears the deadline once connected.
			deadline, _ := dctx.Deadline()
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", bus.ErrNotConnected, redact(b.cfg.URL), err)
	}
	return conn, nil
}

func (b *Bus) declareTopology(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("bus: open channel: %w", err)
	}
	defer ch.Close()
	p := b.cfg.Prefix
	if err := ch.ExchangeDeclare(upstreamExchange(p), amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("bus: declare %s: %w", upstreamExchange(p), err)
	}
	if err := ch.ExchangeDeclare(downstreamExchange(p), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("bus: declare %s: %w", downstreamExchange(p), err)
	}
	if err := ch.ExchangeDeclare(eventsExchange(p), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("bus: declare %s: %w", eventsExchange(p), err)
	}
	if err := ch.ExchangeDeclare(membersExchange(p), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("bus: declare %s: %w", membersExchange(p), err)
	}
	args := amqp.Table{"x-single-active-consumer": true}
	if b.cfg.UpstreamQueueType != "" {
		args["x-queue-type"] = b.cfg.UpstreamQueueType
	}
	for n := range b.cfg.Partitions {
		q := upstreamQueue(p, n)
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			return fmt.Errorf("bus: declare %s: %w", q, err)
		}
		if err := ch.QueueBind(q, strconv.Itoa(n), upstreamExchange(p), false, nil); err != nil {
			return fmt.Errorf("bus: bind %s: %w", q, err)
		}
	}
	return nil
}

// maintain watches the current connection and replaces it when it drops,
// until Close.
func (b *Bus) maintain(s *session) {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case amqpErr := <-s.notify:
			close(s.dead)
			b.setSession(nil)
			if b.ctx.Err() != nil {
				return
			}
			b.log.Warn("connection to the broker lost; reconnecting", "error", amqpErr)
		}
		for attempt := 0; ; attempt++ {
			if backoff.Sleep(b.ctx, b.reconnect.Delay(attempt)) != nil {
				return
			}
			next, err := b.connect(b.ctx)
			if err != nil {
				b.log.Warn("reconnecting to the broker failed", "error", err, "attempt", attempt+1)
				continue
			}
			if !b.setSession(next) {
				_ = next.conn.Close()
				return
			}
			b.log.Info("reconnected to the broker", "attempts", attempt+1)
			s = next
			break
		}
	}
}

// setSession publishes s (nil: disconnected) to publishers and consumers.
// It reports false, and changes nothing, once the bus is closed.
func (b *Bus) setSession(s *session) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed && s != nil {
		return false
	}
	b.sess = s
	close(b.changed)
	b.changed = make(chan struct{})
	return true
}

// session returns the live session or why there is none.
func (b *Bus) session() (*session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	if b.sess == nil || b.sess.isDead() {
		return nil, bus.ErrNotConnected
	}
	return b.sess, nil
}

// waitSession waits for a live session; nil once ctx is done.
func (b *Bus) waitSession(ctx context.Context) *session {
	for {
		b.mu.Lock()
		s, changed := b.sess, b.changed
		b.mu.Unlock()
		if s != nil && !s.isDead() {
			return s
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// Ping reports whether the bus is connected to the broker (readiness).
func (b *Bus) Ping(context.Context) error {
	_, err := b.session()
	return err
}

// Close stops every consumer (cancelling running handlers' contexts and
// waiting for them), deletes this process's gateway and core queues and
// closes the connection. Unacknowledged upstream messages go back to their
// queues. It is idempotent.
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
	b.mu.Lock()
	s := b.sess
	b.sess = nil
	b.mu.Unlock()
	if s != nil && !s.conn.IsClosed() {
		// Bounded: a broker that stopped answering must not hang shutdown.
		if err := s.conn.CloseDeadline(time.Now().Add(5 * time.Second)); err != nil && !errors.Is(err, amqp.ErrClosed) {
			return fmt.Errorf("bus: close connection: %w", err)
		}
	}
	return nil
}

// consumerContext derives a consumer's context from ctx, also cancelled by
// Close, and registers n goroutines with the bus. release must be called
// once they have stopped.
func (b *Bus) consumerContext(ctx context.Context, n int) (cctx context.Context, release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, bus.ErrClosed
	}
	b.wg.Add(n)
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.ctx, cancel)
	return cctx, func() { stop(); cancel() }, nil
}

func redact(raw string) string {
	u, err := amqp.ParseURI(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.Password = ""
	return u.String()
}

// DeleteTopology deletes the exchanges and upstream queues of cfg.Prefix,
// with whatever messages they hold. For tests and for decommissioning a
// prefix; never while processes still use it.
func DeleteTopology(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	b := &Bus{cfg: cfg}
	s, err := b.connectRaw(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	ch, err := s.Channel()
	if err != nil {
		return fmt.Errorf("bus: open channel: %w", err)
	}
	defer ch.Close()
	var errs []error
	for n := range cfg.Partitions {
		if _, err := ch.QueueDelete(upstreamQueue(cfg.Prefix, n), false, false, false); err != nil {
			return fmt.Errorf("bus: delete %s: %w", upstreamQueue(cfg.Prefix, n), err)
		}
	}
	for _, x := range []string{upstreamExchange(cfg.Prefix), downstreamExchange(cfg.Prefix), eventsExchange(cfg.Prefix), membersExchange(cfg.Prefix)} {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			errs = append(errs, fmt.Errorf("bus: delete %s: %w", x, err))
		}
	}
	return errors.Join(errs...)
}
