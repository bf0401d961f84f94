package rabbitmq

import (
	"slices"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// acker acknowledges one channel's deliveries in batches. Handlers finish
// out of order, so a delivery is acknowledged on its own when it is ready,
// except that the ready deliveries at the front of the channel's
// outstanding ones (the common case) go as one basic.ack with multiple set.
// Acknowledgements are queued without blocking (lanes.Delivery.Ack runs
// under the partition's lock) and written by a goroutine of its own, which
// takes everything queued meanwhile: under load one frame covers many
// deliveries.
type acker struct {
	ch *amqp.Channel

	mu          sync.Mutex
	outstanding []uint64            // delivered, not yet acknowledged to the broker, ascending
	state       map[uint64]ackState // of the outstanding ones
	kick        chan struct{}       // capacity 1: "something is ready"
	done        chan struct{}       // closed by stop
	stopped     chan struct{}       // closed once run returned
	sendMu      sync.Mutex          // one flush writes at a time, in order
	onFrame     func(multiple bool) // counts frames (stats); may be nil
}

type ackState uint8

const (
	ackWaiting ackState = iota // being handled
	ackReady                   // may be acknowledged
	ackSent                    // acknowledged on its own, still behind a waiting one
)

func newAcker(ch *amqp.Channel, onFrame func(bool)) *acker {
	a := &acker{ch: ch, state: map[uint64]ackState{}, kick: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{}), onFrame: onFrame}
	go a.run()
	return a
}

// delivered registers a delivery before it is handed to a handler.
func (a *acker) delivered(tag uint64) {
	a.mu.Lock()
	a.outstanding = append(a.outstanding, tag)
	a.state[tag] = ackWaiting
	a.mu.Unlock()
}

// ack marks tag ready; it never blocks.
func (a *acker) ack(tag uint64) {
	a.mu.Lock()
	if a.state[tag] == ackWaiting {
		a.state[tag] = ackReady
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *acker) run() {
	defer close(a.stopped)
	for {
		select {
		case <-a.done:
			return
		case <-a.kick:
			_ = a.flush()
		}
	}
}

// flush writes the acknowledgements of everything ready, in ascending tag
// order: one multiple ack for the ready prefix of the outstanding
// deliveries, single acks for the rest.
func (a *acker) flush() error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	var prefix uint64
	n := 0
	for n < len(a.outstanding) {
		tag := a.outstanding[n]
		st := a.state[tag]
		if st == ackWaiting {
			break
		}
		if st == ackReady {
			prefix = tag
		}
		delete(a.state, tag)
		n++
	}
	a.outstanding = a.outstanding[n:]
	if len(a.outstanding) == 0 {
		a.outstanding = nil
	}
	var singles []uint64
	for _, tag := range a.outstanding {
		if a.state[tag] == ackReady {
			a.state[tag] = ackSent
			singles = append(singles, tag)
		}
	}
	a.mu.Unlock()
	slices.Sort(singles) // already ascending; kept explicit: order matters
	var err error
	if prefix != 0 {
		err = a.send(prefix, true)
	}
	for _, tag := range singles {
		if e := a.send(tag, false); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (a *acker) send(tag uint64, multiple bool) error {
	if a.onFrame != nil {
		a.onFrame(multiple)
	}
	// A failed ack means the channel is gone: the broker redelivers what it
	// did not get, and handlers are idempotent.
	return a.ch.Ack(tag, multiple)
}

// stop writes what is ready and ends the acker.
func (a *acker) stop() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	<-a.stopped
	_ = a.flush()
}
