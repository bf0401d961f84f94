package rabbitmq

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// cutter dials real TCP connections to the shared broker and can cut them
// and refuse new ones: a broker outage as this client sees it, without
// disturbing other tests using the same broker.
type cutter struct {
	mu     sync.Mutex
	conns  []net.Conn
	refuse bool
	dials  int
}

func (c *cutter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dials++
	if c.refuse {
		return nil, errors.New("cutter: broker unreachable")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) outage() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = true
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

func (c *cutter) restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refuse = false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReconnectResumesEverything(t *testing.T) {
	c := &cutter{}
	cfg := Config{
		URL:          testenv.AMQPURL(t),
		Prefix:       testenv.UniquePrefix(t),
		Partitions:   4,
		Logger:       slog.New(slog.DiscardHandler),
		RetryMin:     5 * time.Millisecond,
		RetryMax:     50 * time.Millisecond,
		ReconnectMin: 10 * time.Millisecond,
		ReconnectMax: 100 * time.Millisecond,
		dial:         c.dial,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DeleteTopology(ctx, Config{URL: cfg.URL, Prefix: cfg.Prefix, Partitions: cfg.Partitions}); err != nil {
			t.Errorf("delete topology: %v", err)
		}
	})
	ctx := t.Context()
	b, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	upstream := make(chan string, 100)
	heldStarted, releaseHeld := make(chan struct{}), make(chan struct{})
	var heldOnce sync.Once
	if err := b.ConsumeUpstream(ctx, func(_ context.Context, e *busv1.Envelope) error {
		upstream <- e.GetMessageId()
		if e.GetMessageId() == "held" {
			heldOnce.Do(func() {
				close(heldStarted)
				<-releaseHeld // still handling when the connection drops
			})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gateway, core := make(chan string, 100), make(chan string, 100)
	forward := func(ch chan string) bus.Handler {
		return func(_ context.Context, e *busv1.Envelope) error { ch <- e.GetMessageId(); return nil }
	}
	if err := b.ConsumeGateway(ctx, "gw-1", forward(gateway)); err != nil {
		t.Fatal(err)
	}
	if err := b.ConsumeCore(ctx, "core-1", forward(core)); err != nil {
		t.Fatal(err)
	}

	msg := func(id string) *busv1.Envelope { return &busv1.Envelope{StationId: "CP-1", MessageId: id} }
	if err := b.PublishUpstream(ctx, msg("held")); err != nil {
		t.Fatal(err)
	}
	<-heldStarted
	if got := <-upstream; got != "held" {
		t.Fatalf("got %q", got)
	}

	c.outage()
	waitUntil(t, "the bus notices the outage", func() bool {
		_, err := b.session()
		return errors.Is(err, bus.ErrNotConnected)
	})
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for name, err := range map[string]error{
		"PublishUpstream":   b.PublishUpstream(pctx, msg("lost")),
		"PublishDownstream": b.PublishDownstream(pctx, msg("lost")),
		"PublishToGateway":  b.PublishToGateway(pctx, "gw-1", msg("lost")),
	} {
		if !errors.Is(err, bus.ErrNotConnected) {
			t.Errorf("%s during the outage: err = %v, want ErrNotConnected", name, err)
		}
	}
	if pctx.Err() != nil {
		t.Fatal("a publish during the outage waited for its context instead of failing")
	}
	close(releaseHeld) // its ack cannot reach the broker: it must come again

	c.mu.Lock()
	dialsDuringOutage := c.dials
	c.mu.Unlock()
	waitUntil(t, "the bus retries the connection", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.dials > dialsDuringOutage
	})
	c.restore()
	waitUntil(t, "the bus reconnects", func() bool {
		_, err := b.session()
		return err == nil
	})

	if err := b.PublishUpstream(ctx, msg("after")); err != nil {
		t.Fatalf("publish after reconnecting: %v", err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case id := <-upstream:
			got = append(got, id)
		case <-time.After(30 * time.Second):
			t.Fatalf("upstream consumer did not resume; got %v", got)
		}
	}
	if got[0] != "held" || got[1] != "after" {
		t.Fatalf("after reconnecting got %v, want [held after]: the unacknowledged message first", got)
	}

	// Gateway and core consumers resubscribe by themselves; until they have,
	// messages for them are dropped, so keep sending.
	for name, c := range map[string]struct {
		ch      chan string
		publish func(*busv1.Envelope) error
	}{
		"gateway (fanout)": {gateway, func(e *busv1.Envelope) error { return b.PublishDownstream(ctx, e) }},
		"gateway (direct)": {gateway, func(e *busv1.Envelope) error { return b.PublishToGateway(ctx, "gw-1", e) }},
		"core":             {core, func(e *busv1.Envelope) error { return b.PublishToCore(ctx, "core-1", e) }},
	} {
		delivered := false
		for i := 0; !delivered && i < 150; i++ {
			if err := c.publish(msg(strconv.Itoa(i))); err != nil {
				t.Fatalf("%s: publish: %v", name, err)
			}
			select {
			case <-c.ch:
				delivered = true
			case <-time.After(200 * time.Millisecond):
			}
		}
		if !delivered {
			t.Fatalf("%s consumer did not resume after reconnecting", name)
		}
		for len(c.ch) > 0 {
			<-c.ch
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
