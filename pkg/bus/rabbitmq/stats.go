package rabbitmq

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

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
// ownership and hand-overs, and the broker operations behind them.
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
	}
}
