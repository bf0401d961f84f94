package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	amqp "github.com/rabbitmq/amqp091-go"
)

// heartbeatFrame is what the raw round trips carry: the size of a real
// OCPP Heartbeat CALL, so that the comparison is like for like.
var heartbeatFrame = []byte(`[2,"4f1c9a1e-7c1b-4cb4-9f53-1d3a2b9e0c11","Heartbeat",{}]`)

// RawResult is one physical-limit measurement.
type RawResult struct {
	Name        string      `json:"name"`
	Concurrency int         `json:"concurrency"`
	Seconds     float64     `json:"seconds"`
	RoundTrips  uint64      `json:"roundTrips"`
	PerSecond   float64     `json:"roundTripsPerSecond"`
	Latency     Percentiles `json:"latencyMs"`
	Error       string      `json:"error,omitempty"`
}

// samples collects latencies from many goroutines: each keeps its own
// slice, merged once at the end, so recording takes no lock.
type samples struct {
	mu   sync.Mutex
	all  []time.Duration
	trip atomic.Uint64
}

func (s *samples) merge(own []time.Duration) {
	s.mu.Lock()
	s.all = append(s.all, own...)
	s.mu.Unlock()
}

func (s *samples) result(name string, conc int, elapsed time.Duration) RawResult {
	return RawResult{
		Name: name, Concurrency: conc, Seconds: elapsed.Seconds(),
		RoundTrips: uint64(len(s.all)), PerSecond: float64(len(s.all)) / elapsed.Seconds(),
		Latency: ComputePercentiles(s.all),
	}
}

// RawWebSocket measures the round trips per second of a bare coder/websocket
// echo over loopback at the given concurrency (one message in flight per
// connection, like a charger waiting for its answer): the ceiling for
// anything that relays OCPP over WebSocket on this machine.
func RawWebSocket(ctx context.Context, conc int, d time.Duration) (RawResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return RawResult{}, fmt.Errorf("listen: %w", err)
	}
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"ocpp1.6"}})
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(srvCtx)
				if err != nil {
					return
				}
				if err := c.Write(srvCtx, typ, msg); err != nil {
					return
				}
			}
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	url := "ws://" + ln.Addr().String() + "/echo"
	conns := make([]*websocket.Conn, 0, conc)
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	for range conc {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{"ocpp1.6"}})
		cancel()
		if err != nil {
			return RawResult{}, fmt.Errorf("dial: %w", err)
		}
		conns = append(conns, c)
	}

	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var s samples
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			own := make([]time.Duration, 0, 4096)
			defer func() { s.merge(own) }()
			for runCtx.Err() == nil {
				t0 := time.Now()
				if err := c.Write(runCtx, websocket.MessageText, heartbeatFrame); err != nil {
					return
				}
				if _, _, err := c.Read(runCtx); err != nil {
					return
				}
				own = append(own, time.Since(t0))
			}
		})
	}
	wg.Wait()
	return s.result("raw WebSocket echo", conc, time.Since(start)), nil
}

// AMQPMode is how the raw broker round trip publishes.
type AMQPMode struct {
	Name string
	// Persistent marks the first hop (charger→core, our upstream) persistent
	// on a durable queue; the reply hop is transient, as ours is.
	Persistent bool
	// Confirms waits for the broker's publisher confirm on both hops.
	Confirms bool
}

var (
	amqpLikeOurs  = AMQPMode{Name: "raw RabbitMQ, as ours (persistent upstream, confirms)", Persistent: true, Confirms: true}
	amqpTransient = AMQPMode{Name: "raw RabbitMQ, transient, no confirms"}
)

// RawRabbitMQ measures publish→consume→publish→consume round trips through
// the broker at the given concurrency: conc requesters each keep one
// message in flight to a "request" queue; a responder consumes it and
// publishes the answer to a "reply" queue the requesters consume. This is
// the ceiling for the scale-out path's two broker hops on this machine.
func RawRabbitMQ(ctx context.Context, url string, mode AMQPMode, conc int, d time.Duration) (RawResult, error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Properties: amqp.Table{"connection_name": "chargeplane bench"}})
	if err != nil {
		return RawResult{}, fmt.Errorf("RabbitMQ unreachable at %s (start it with: rabbitmq-server -detached): %w", url, err)
	}
	defer conn.Close()
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	prefix := "cpbench-raw-" + hex.EncodeToString(tag[:])
	reqQ, repQ := prefix+".req", prefix+".rep"

	setup, err := conn.Channel()
	if err != nil {
		return RawResult{}, fmt.Errorf("channel: %w", err)
	}
	defer setup.Close()
	// Deleted on a channel of their own at the end: the setup channel may
	// have been closed by then, and the queues must not outlive the run.
	defer func() {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(reqQ, false, false, false)
			_, _ = ch.QueueDelete(repQ, false, false, false)
			_ = ch.Close()
		}
	}()
	if _, err := setup.QueueDeclare(reqQ, mode.Persistent, false, false, false, nil); err != nil {
		return RawResult{}, fmt.Errorf("declare %s: %w", reqQ, err)
	}
	if _, err := setup.QueueDeclare(repQ, false, false, false, false, nil); err != nil {
		return RawResult{}, fmt.Errorf("declare %s: %w", repQ, err)
	}

	// Publishing goes through a small pool of channels, as our bus does.
	newPool := func() ([]*amqp.Channel, error) {
		pool := make([]*amqp.Channel, 4)
		for i := range pool {
			ch, err := conn.Channel()
			if err != nil {
				return nil, err
			}
			if mode.Confirms {
				if err := ch.Confirm(false); err != nil {
					return nil, err
				}
			}
			pool[i] = ch
		}
		return pool, nil
	}
	reqPool, err := newPool()
	if err != nil {
		return RawResult{}, fmt.Errorf("publisher channels: %w", err)
	}
	repPool, err := newPool()
	if err != nil {
		return RawResult{}, fmt.Errorf("publisher channels: %w", err)
	}
	var next atomic.Uint64
	publish := func(ctx context.Context, pool []*amqp.Channel, queue string, persistent bool, corr string) error {
		msg := amqp.Publishing{ContentType: "application/octet-stream", CorrelationId: corr, Body: heartbeatFrame}
		if persistent {
			msg.DeliveryMode = amqp.Persistent
		}
		ch := pool[next.Add(1)%uint64(len(pool))]
		if !mode.Confirms {
			return ch.PublishWithContext(ctx, "", queue, false, false, msg)
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, msg)
		if err != nil {
			return err
		}
		ok, err := dc.WaitContext(ctx)
		if err == nil && !ok {
			err = errors.New("nack")
		}
		return err
	}

	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()

	// Responder: consumes requests with a generous prefetch and answers
	// from a pool of goroutines, so the broker, not this loop, is the limit.
	respCh, err := conn.Channel()
	if err != nil {
		return RawResult{}, fmt.Errorf("consumer channel: %w", err)
	}
	defer respCh.Close()
	if err := respCh.Qos(1024, 0, false); err != nil {
		return RawResult{}, fmt.Errorf("qos: %w", err)
	}
	reqs, err := respCh.ConsumeWithContext(runCtx, reqQ, "", false, false, false, false, nil)
	if err != nil {
		return RawResult{}, fmt.Errorf("consume %s: %w", reqQ, err)
	}
	var workers sync.WaitGroup
	for range 64 {
		workers.Go(func() {
			for dv := range reqs {
				_ = publish(runCtx, repPool, repQ, false, dv.CorrelationId)
				_ = dv.Ack(false)
			}
		})
	}

	// Requesters: a reply is routed back to its requester by correlation id.
	waiting := make([]chan struct{}, conc)
	for i := range waiting {
		waiting[i] = make(chan struct{}, 1)
	}
	replyCh, err := conn.Channel()
	if err != nil {
		return RawResult{}, fmt.Errorf("consumer channel: %w", err)
	}
	defer replyCh.Close()
	replies, err := replyCh.ConsumeWithContext(runCtx, repQ, "", true, false, false, false, nil)
	if err != nil {
		return RawResult{}, fmt.Errorf("consume %s: %w", repQ, err)
	}
	workers.Go(func() {
		for dv := range replies {
			if i, err := strconv.Atoi(dv.CorrelationId); err == nil && i >= 0 && i < conc {
				select {
				case waiting[i] <- struct{}{}:
				default:
				}
			}
		}
	})

	var s samples
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conc {
		corr := strconv.Itoa(i)
		wg.Go(func() {
			own := make([]time.Duration, 0, 4096)
			defer func() { s.merge(own) }()
			for runCtx.Err() == nil {
				t0 := time.Now()
				if err := publish(runCtx, reqPool, reqQ, mode.Persistent, corr); err != nil {
					return
				}
				select {
				case <-waiting[i]:
					own = append(own, time.Since(t0))
				case <-runCtx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	// Cancelling the consumers closes their delivery channels, which ends
	// the responder and reply goroutines. Only then may the channels close:
	// an Ack sent on a channel already closed is a connection error for the
	// broker, and the queues could then not be deleted.
	stopped := make(chan struct{})
	go func() { workers.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
	}
	_ = respCh.Close()
	_ = replyCh.Close()
	<-stopped
	for _, ch := range append(reqPool, repPool...) {
		_ = ch.Close()
	}
	return s.result(mode.Name, conc, elapsed), nil
}
