package rabbitmq

import "sync/atomic"

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
}

type stats struct {
	published, envelopes, delivered, acks atomic.Uint64
}

func (s *stats) ackFrame(bool) { s.acks.Add(1) }

// Stats returns the counters since Dial.
func (b *Bus) Stats() Stats {
	return Stats{
		Published: b.stats.published.Load(), Envelopes: b.stats.envelopes.Load(),
		Delivered: b.stats.delivered.Load(), AckFrames: b.stats.acks.Load(),
	}
}
