package rabbitmq

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// depthEvery is how often the queue depths are read from the broker at
// most, however often /metrics is scraped.
const depthEvery = 10 * time.Second

// Stats counts this process's broker operations, to tell how many a charger
// message costs (tools/bench divides them by the messages carried).
type Stats struct {
	// Published is the number of basic.publish (messages sent), Envelopes
	// the envelopes they carried (more than Published with micro-batches).
	Published, Envelopes uint64
	// Delivered is the number of basic.deliver received by consumers.
	Delivered uint64
	// AckFrames is the number of basic.ack sent for deliveries (one can
	// acknowledge many).
	AckFrames uint64
	// Handovers is the number of times this instance handed an upstream
	// partition over to its owner.
	Handovers uint64
}

type stats struct {
	published, envelopes, delivered, acks, handovers atomic.Uint64
}

func (s *stats) ackFrame(bool) { s.acks.Add(1) }

// Stats returns the counters since Dial.
func (b *Bus) Stats() Stats {
	return Stats{
		Published: b.stats.published.Load(), Envelopes: b.stats.envelopes.Load(),
		Delivered: b.stats.delivered.Load(), AckFrames: b.stats.acks.Load(),
		Handovers: b.stats.handovers.Load(),
	}
}

// Collectors are the bus's metrics for a core's registry: partition
// ownership and hand-overs, the upstream queues' depth, and the broker
// operations behind them.
func (b *Bus) Collectors() []prometheus.Collector {
	assigned := func(f func(Assignment) int) func() float64 {
		return func() float64 {
			a, ok := b.Assignment()
			if !ok {
				return 0
			}
			return float64(f(a))
		}
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chargeplane_bus_partitions_owned",
			Help: "Upstream partitions this core instance owns (0: it handles no charger messages).",
		}, assigned(func(a Assignment) int { return len(a.Owned) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chargeplane_bus_partition_members",
			Help: "Core instances sharing the upstream partitions, as this instance sees them.",
		}, assigned(func(a Assignment) int { return len(a.Members) })),
		counter("chargeplane_bus_partition_handovers_total", "Upstream partitions this instance handed over to their owner.", &b.stats.handovers),
		counter("chargeplane_bus_broker_publishes_total", "basic.publish sent (one may carry many envelopes).", &b.stats.published),
		counter("chargeplane_bus_broker_deliveries_total", "basic.deliver received.", &b.stats.delivered),
		&queueDepth{b: b, desc: prometheus.NewDesc("chargeplane_bus_upstream_queue_messages",
			"Broker messages waiting (ready, not yet delivered) in each upstream partition queue, read every "+depthEvery.String()+
				" at most; every core reports every partition, so aggregate with max by (partition).",
			[]string{"partition"}, nil)},
	}
}

// queueDepth reads the upstream queues' message counts with a passive
// queue.declare each (no management plugin needed), when scraped, at most
// every depthEvery. The partition label is bounded by Config.Partitions.
type queueDepth struct {
	b    *Bus
	desc *prometheus.Desc

	mu     sync.Mutex
	read   time.Time
	depths []int // by partition; nil while the broker cannot be asked
}

func (q *queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *queueDepth) Collect(ch chan<- prometheus.Metric) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.read) >= depthEvery {
		q.depths, q.read = q.b.upstreamDepths(), time.Now()
	}
	for n, d := range q.depths {
		ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(d), strconv.Itoa(n))
	}
}

// upstreamDepths returns the ready messages of every upstream partition
// queue, or nil if the broker cannot tell now (not connected, or a queue is
// missing: the broker then closes the channel, so a channel of its own).
func (b *Bus) upstreamDepths() []int {
	s, err := b.session()
	if err != nil {
		return nil
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil
	}
	defer ch.Close()
	depths := make([]int, b.cfg.Partitions)
	for n := range depths {
		q, err := ch.QueueDeclarePassive(upstreamQueue(b.cfg.Prefix, n), true, false, false, false, nil)
		if err != nil {
			b.log.Warn("reading upstream queue depth", "queue", upstreamQueue(b.cfg.Prefix, n), "err", err)
			return nil
		}
		depths[n] = q.Messages
	}
	return depths
}
