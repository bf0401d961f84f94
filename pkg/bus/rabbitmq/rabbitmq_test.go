package rabbitmq_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/bustest"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// testConfig returns a configuration with a prefix of its own; the test's
// exchanges and queues are deleted at cleanup.
func testConfig(t testing.TB) rabbitmq.Config {
	cfg := rabbitmq.Config{
		URL:        testenv.AMQPURL(t),
		Prefix:     testenv.UniquePrefix(t),
		Partitions: 8,
		Logger:     quiet,
		RetryMin:   5 * time.Millisecond,
		RetryMax:   50 * time.Millisecond,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, cfg); err != nil {
			t.Errorf("delete test topology %s: %v", cfg.Prefix, err)
		}
	})
	return cfg
}

func dial(t testing.TB, cfg rabbitmq.Config) *rabbitmq.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbitmq.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	bustest.Run(t, 8, func(t *testing.T) bus.Bus { return dial(t, testConfig(t)) })
}

func env(station string, seq int) *busv1.Envelope {
	return &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: station, MessageId: strconv.Itoa(seq),
		Frame: []byte(`[2,"` + strconv.Itoa(seq) + `","Heartbeat",{}]`)}
}

// Upstream messages live in durable queues: they outlast the consumer (and
// the publisher's connection), including one that was being handled when
// its consumer went away.
func TestUpstreamSurvivesConsumerGoingAway(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()

	first := dial(t, cfg)
	handling := make(chan int, 10)
	if err := first.ConsumeUpstream(ctx, func(hctx context.Context, e *busv1.Envelope) error {
		n, _ := strconv.Atoi(e.GetMessageId())
		handling <- n
		if n == 0 {
			return nil
		}
		<-hctx.Done() // the instance dies while handling message 1
		return hctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := first.PublishUpstream(ctx, env("CP-durable", i)); err != nil {
			t.Fatal(err)
		}
	}
	for want := range 2 {
		select {
		case n := <-handling:
			if n != want {
				t.Fatalf("first consumer got %d, want %d", n, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("first consumer got nothing")
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := dial(t, cfg)
	got := make(chan *busv1.Envelope, 10)
	if err := second.ConsumeUpstream(ctx, func(_ context.Context, e *busv1.Envelope) error {
		got <- e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for want := 1; want < 5; want++ {
		select {
		case e := <-got:
			if !proto.Equal(e, env("CP-durable", want)) {
				t.Fatalf("second consumer got %v, want message %d", e, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("message %d was lost with the first consumer", want)
		}
	}
}

// Two processes with the same gateway id would steal each other's replies.
func TestSameGatewayIDInTwoProcesses(t *testing.T) {
	cfg := testConfig(t)
	a, b := dial(t, cfg), dial(t, cfg)
	h := func(context.Context, *busv1.Envelope) error { return nil }
	if err := a.ConsumeGateway(t.Context(), "gw-1", h); err != nil {
		t.Fatal(err)
	}
	err := b.ConsumeGateway(t.Context(), "gw-1", h)
	if !errorsIs(err, bus.ErrConsumerExists) {
		t.Fatalf("err = %v, want ErrConsumerExists", err)
	}
	// The failure did not break b.
	if err := b.ConsumeGateway(t.Context(), "gw-2", h); err != nil {
		t.Fatal(err)
	}
}

// Messages arrive from a bus built in another process intact and with the
// advertised content type (other languages may consume the queues).
func TestWireFormat(t *testing.T) {
	want := env("CP-1", 1)
	want.ReceivedAt = timestamppb.Now()
	body, err := rabbitmq.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rabbitmq.Decode(body)
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if _, err := rabbitmq.Decode([]byte{0xff, 0xff, 0xff}); err == nil {
		t.Fatal("garbage decoded without error")
	}
}

func TestDialFailsOnBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := rabbitmq.Dial(ctx, rabbitmq.Config{URL: "amqp://guest:guest@127.0.0.1:1/", Logger: quiet})
	if !errorsIs(err, bus.ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	if _, err := rabbitmq.Dial(ctx, rabbitmq.Config{}); !errorsIs(err, bus.ErrInvalid) {
		t.Fatalf("empty URL: err = %v, want ErrInvalid", err)
	}
}

func BenchmarkEnvelopeRoundTrip(b *testing.B) {
	e := &busv1.Envelope{
		Kind: busv1.Kind_KIND_FRAME, StationId: "CP-000123", GatewayId: "gw-eu-1",
		ConnectionId: "0b0d2c1e-8a51-4bd4-9f59-6d2a1f0b6c11", OcppVersion: busv1.OcppVersion_OCPP_VERSION_201,
		ReceivedAt: timestamppb.Now(),
		Trace:      map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		Frame: []byte(`[2,"19223201","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"2025-03-01T12:00:00Z",` +
			`"sampledValue":[{"value":1234.5,"measurand":"Energy.Active.Import.Register"}]}]}]`),
		MessageId: "19223201",
	}
	b.ReportAllocs()
	for b.Loop() {
		body, err := rabbitmq.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rabbitmq.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRabbitPublishConsume(b *testing.B) {
	cfg := testConfig(b)
	bb := dial(b, cfg)
	got := make(chan struct{}, 1024)
	if err := bb.ConsumeUpstream(b.Context(), func(context.Context, *busv1.Envelope) error {
		got <- struct{}{}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	stations := make([]string, 64)
	for i := range stations {
		stations[i] = "CP-" + strconv.Itoa(i)
	}
	// Many concurrent publishers, as a gateway with thousands of chargers:
	// confirms are awaited in parallel, not one after another.
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := bb.PublishUpstream(b.Context(), env(stations[i%len(stations)], i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	for range b.N {
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("messages lost")
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// Two core instances in two processes share the upstream: each message is
// handled once, each station in order, and when one instance stops the
// other takes over its partitions without reordering.
func TestTwoCoreInstancesFailover(t *testing.T) {
	cfg := testConfig(t)
	ctx := t.Context()
	publisher, a, b := dial(t, cfg), dial(t, cfg), dial(t, cfg)

	var mu sync.Mutex
	next := map[string]int{}
	handledBy := map[*rabbitmq.Bus]int{}
	total := 0
	done := make(chan struct{})
	const stations, perStation = 20, 30
	handler := func(inst *rabbitmq.Bus) bus.Handler {
		return func(_ context.Context, e *busv1.Envelope) error {
			n, _ := strconv.Atoi(e.GetMessageId())
			mu.Lock()
			defer mu.Unlock()
			if n != next[e.GetStationId()] {
				t.Errorf("station %s: got %d, want %d", e.GetStationId(), n, next[e.GetStationId()])
			}
			next[e.GetStationId()] = n + 1
			handledBy[inst]++
			if total++; total == stations*perStation {
				close(done)
			}
			return nil
		}
	}
	if err := a.ConsumeUpstream(ctx, handler(a)); err != nil {
		t.Fatal(err)
	}
	if err := b.ConsumeUpstream(ctx, handler(b)); err != nil {
		t.Fatal(err)
	}
	for seq := range perStation {
		if seq == perStation/2 {
			mu.Lock()
			fromA := handledBy[a]
			mu.Unlock()
			if fromA == 0 {
				// a subscribed first, so it is every partition's active consumer.
				waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return handledBy[a] > 0 })
			}
			if err := a.Close(); err != nil { // instance a goes away mid-stream
				t.Fatal(err)
			}
		}
		for s := range stations {
			if err := publisher.PublishUpstream(ctx, env("CP-"+strconv.Itoa(s), seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("timed out: %d of %d handled", total, stations*perStation)
	}
	mu.Lock()
	defer mu.Unlock()
	if handledBy[b] == 0 {
		t.Fatal("the second instance never took over")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
