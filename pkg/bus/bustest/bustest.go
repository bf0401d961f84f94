// Package bustest is the contract every bus.Bus implementation must meet.
// Run it from the implementation's tests:
//
//	func TestContract(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { return newBusForTest(t) })
//	}
//
// Besides the semantics documented on bus.Bus, the suite relies on one
// property: once a Publish call has returned nil, the message is in every
// queue it was routed to, so a message published afterwards to the same
// queue is delivered after it. The suite uses that to prove a message was
// not delivered somewhere (a later marker arrives first) without sleeping.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// waitFor bounds how long the suite waits for something that must happen.
// It is a liveness bound, not a performance assertion.
const waitFor = 30 * time.Second

// Run runs the contract suite. newBus must return a fresh bus with the
// given number of upstream partitions, isolated from every other call's
// (e.g. its own RabbitMQ prefix), and register its own cleanup; Close may
// also be called by the suite, so it must be idempotent.
func Run(t *testing.T, partitions int, newBus func(t *testing.T) bus.Bus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"InProgressExceedsPartitions", func(t *testing.T, b bus.Bus) { testInProgressExceedsPartitions(t, b, partitions) }},
		{"OrderUnderConcurrency", testOrderUnderConcurrency},
		{"UpstreamRoundTrip", testUpstreamRoundTrip},
		{"UpstreamKeptUntilConsumer", testUpstreamKeptUntilConsumer},
		{"PerStationOrder", testPerStationOrder},
		{"PerStationOrderTwoConsumers", testPerStationOrderTwoConsumers},
		{"RedeliveryOnError", testRedeliveryOnError},
		{"OrderWithHandlerErrors", testOrderWithHandlerErrors},
		{"FanoutReachesEveryGateway", testFanout},
		{"EventsReachEveryCore", testEventsFanout},
		{"DirectDeliveryReachesOnlyTarget", testDirect},
		{"VanishedQueuesDropped", testVanished},
		{"ConsumeReturnsOnceSubscribed", testSubscribed},
		{"DuplicateConsumerRejected", testDuplicateConsumer},
		{"CancelStopsUpstreamDelivery", testCancelUpstream},
		{"InvalidArguments", testInvalid},
		{"CloseReleasesEverything", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBus(t))
		})
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitFor)
	t.Cleanup(cancel)
	return ctx
}

// envelope returns a fully populated envelope so that round trips prove
// every field survives.
func envelope(station string, seq int) *busv1.Envelope {
	return &busv1.Envelope{
		Kind:         busv1.Kind_KIND_FRAME,
		StationId:    station,
		GatewayId:    "gw-test",
		ConnectionId: "conn-" + station,
		OcppVersion:  busv1.OcppVersion_OCPP_VERSION_201,
		ReceivedAt:   timestamppb.New(time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)),
		Trace:        map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		Frame:        fmt.Appendf(nil, `[2,"%d","Heartbeat",{}]`, seq),
		MessageId:    strconv.Itoa(seq),
	}
}

func seqOf(t *testing.T, env *busv1.Envelope) int {
	t.Helper()
	n, err := strconv.Atoi(env.GetMessageId())
	if err != nil {
		t.Errorf("envelope with unexpected message id %q", env.GetMessageId())
	}
	return n
}

// sink is a handler that forwards every delivery to a channel.
type sink chan *busv1.Envelope

func newSink() sink { return make(sink, 10000) }

func (s sink) handle(ctx context.Context, env *busv1.Envelope) error {
	select {
	case s <- env:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s sink) next(t *testing.T, what string) *busv1.Envelope {
	t.Helper()
	select {
	case env := <-s:
		return env
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testUpstreamRoundTrip(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	s := newSink()
	must(t, b.ConsumeUpstream(ctx, s.handle), "ConsumeUpstream")
	want := envelope("CP-1", 1)
	want.Reason = "round trip"
	want.ReplyTo = "core-1"
	want.ExpiresAt = timestamppb.New(time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC))
	must(t, b.PublishUpstream(ctx, want), "PublishUpstream")
	got := s.next(t, "the upstream message")
	if !proto.Equal(got, want) {
		t.Fatalf("delivered envelope differs:\n got %v\nwant %v", got, want)
	}
}

func testUpstreamKeptUntilConsumer(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	const n = 5
	for i := range n {
		must(t, b.PublishUpstream(ctx, envelope("CP-early", i)), "PublishUpstream")
	}
	s := newSink()
	must(t, b.ConsumeUpstream(ctx, s.handle), "ConsumeUpstream")
	for i := range n {
		if got := seqOf(t, s.next(t, "a message published before the consumer started")); got != i {
			t.Fatalf("message %d delivered as #%d", got, i)
		}
	}
}

// publishStations publishes perStation messages for each of stations from
// publishers concurrent goroutines; each goroutine owns some stations and
// interleaves them, so the order per station is the publish order.
func publishStations(t *testing.T, ctx context.Context, b bus.Bus, stations []string, perStation, publishers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []string
			for i := p; i < len(stations); i += publishers {
				mine = append(mine, stations[i])
			}
			for seq := range perStation {
				for _, st := range mine {
					if err := b.PublishUpstream(ctx, envelope(st, seq)); err != nil {
						errs <- fmt.Errorf("publish %s #%d: %w", st, seq, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func stationNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("CP-%03d", i)
	}
	return s
}

// orderChecker records handled messages and checks that each station's
// sequence numbers arrive as 0, 1, 2, ... exactly once. With replays
// allowed (a consumer stopped mid-run), a station may also start again
// from an earlier message, as a redelivered suffix does: every step is
// then +1 or back to a message already handled, never a skip, so each
// message is handled for the first time in order.
type orderChecker struct {
	mu      sync.Mutex
	next    map[string]int // one past the highest handled
	last    map[string]int // the last handled
	replays int
	allow   bool
	total   int // distinct messages handled
	done    chan struct{}
	want    int
	errOnce sync.Once
	err     error
}

func newOrderChecker(want int) *orderChecker {
	return &orderChecker{next: map[string]int{}, last: map[string]int{}, done: make(chan struct{}), want: want}
}

func (c *orderChecker) record(env *busv1.Envelope) {
	seq, _ := strconv.Atoi(env.GetMessageId())
	c.mu.Lock()
	defer c.mu.Unlock()
	st := env.GetStationId()
	last, seen := c.last[st]
	fail := func(format string, args ...any) {
		c.errOnce.Do(func() { c.err = fmt.Errorf("station %s: "+format, append([]any{st}, args...)...) })
	}
	switch {
	case seq == c.next[st] && (!seen || seq == last+1):
		c.next[st] = seq + 1
		c.total++
		if c.total == c.want {
			close(c.done)
		}
	case seen && seq == last+1 && seq < c.next[st] && c.allow:
		c.replays++ // continuing a replay
	case seq < c.next[st] && c.allow:
		c.replays++ // a redelivered suffix starts
	default:
		fail("got message %d after %d, want %d", seq, last, c.next[st])
	}
	c.last[st] = seq
}

func (c *orderChecker) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(2 * waitFor):
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("timed out: %d of %d messages handled", c.total, c.want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Fatal(c.err)
	}
}

func testPerStationOrder(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	stations := stationNames(40)
	const perStation = 25
	c := newOrderChecker(len(stations) * perStation)
	must(t, b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		c.record(env)
		return nil
	}), "ConsumeUpstream")
	publishStations(t, ctx, b, stations, perStation, 8)
	c.wait(t)
}

// testPerStationOrderTwoConsumers runs two upstream consumers, as two core
// instances would: every message is handled once, in station order.
func testPerStationOrderTwoConsumers(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	stations := stationNames(30)
	const perStation = 20
	c := newOrderChecker(len(stations) * perStation)
	for range 2 {
		must(t, b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
			c.record(env)
			return nil
		}), "ConsumeUpstream")
	}
	publishStations(t, ctx, b, stations, perStation, 6)
	c.wait(t)
}

// testInProgressExceedsPartitions: many stations' messages are in
// progress at once, more than there are partitions (a partition is no
// longer handled one message at a time). Every handler waits until the
// target is reached, so with less concurrency the test times out.
func testInProgressExceedsPartitions(t *testing.T, b bus.Bus, partitions int) {
	ctx := testContext(t)
	target := 3*partitions + 1
	var inProgress atomic.Int32
	reached := make(chan struct{})
	var once sync.Once
	var peak atomic.Int32
	s := newSink()
	must(t, b.ConsumeUpstream(ctx, func(ctx context.Context, env *busv1.Envelope) error {
		n := inProgress.Add(1)
		defer inProgress.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if int(n) >= target {
			once.Do(func() { close(reached) })
		}
		select {
		case <-reached:
		case <-time.After(waitFor):
		case <-ctx.Done():
			return ctx.Err()
		}
		return s.handle(ctx, env)
	}), "ConsumeUpstream")
	publishStations(t, ctx, b, stationNames(target), 1, 8)
	for range target {
		s.next(t, "a message")
	}
	select {
	case <-reached:
	default:
		t.Fatalf("at most %d messages were in progress at once; want at least %d (3 × %d partitions + 1)", peak.Load(), target, partitions)
	}
}

// testOrderUnderConcurrency: two consumers (core instances), random
// handler delays and failures, and one consumer stopped mid-run: every
// station's messages are handled in order, never two of one station at
// once, and every message at least once (a redelivered suffix may be
// handled again, from where the stopped consumer left it).
func testOrderUnderConcurrency(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	stations := stationNames(40)
	const perStation = 25
	c := newOrderChecker(len(stations) * perStation)
	c.allow = true
	var busy sync.Map // station → struct{} while a handler runs
	var handled atomic.Int32
	handler := func(ctx context.Context, env *busv1.Envelope) error {
		st := env.GetStationId()
		if _, running := busy.LoadOrStore(st, struct{}{}); running {
			t.Errorf("station %s: two of its messages handled at once", st)
			return nil
		}
		defer busy.Delete(st)
		select {
		case <-time.After(time.Duration(rand.N(1000)) * time.Microsecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if rand.N(25) == 0 {
			return errors.New("random failure")
		}
		c.record(env)
		handled.Add(1)
		return nil
	}
	first, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	must(t, b.ConsumeUpstream(first, handler), "ConsumeUpstream (first)")
	must(t, b.ConsumeUpstream(ctx, handler), "ConsumeUpstream (second)")
	go func() {
		for handled.Load() < int32(len(stations)*perStation/3) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
		stopFirst() // an instance goes away mid-run
	}()
	publishStations(t, ctx, b, stations, perStation, 6)
	c.wait(t)
	c.mu.Lock()
	t.Logf("%d messages handled again after the first consumer stopped", c.replays)
	c.mu.Unlock()
}

func testRedeliveryOnError(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	type attempt struct {
		seq int
		env *busv1.Envelope
	}
	attempts := make(chan attempt, 100)
	var failures atomic.Int32
	must(t, b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		a := attempt{seqOf(t, env), proto.CloneOf(env)}
		attempts <- a
		if a.seq == 2 && failures.Add(1) <= 2 {
			// A handler may scribble on its envelope; the redelivery must
			// still be the original message.
			env.Frame = nil
			env.StationId = "scribbled"
			return errors.New("transient failure")
		}
		return nil
	}), "ConsumeUpstream")
	want := make(map[int]*busv1.Envelope)
	for i := range 5 {
		want[i] = envelope("CP-retry", i)
		must(t, b.PublishUpstream(ctx, want[i]), "PublishUpstream")
	}
	var got []int
	for len(got) < 7 {
		select {
		case a := <-attempts:
			got = append(got, a.seq)
			if !proto.Equal(a.env, want[a.seq]) {
				t.Fatalf("attempt %d: envelope differs from the published one:\n got %v\nwant %v", len(got), a.env, want[a.seq])
			}
		case <-time.After(waitFor):
			t.Fatalf("timed out; handled so far: %v", got)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint([]int{0, 1, 2, 2, 2, 3, 4}) {
		t.Fatalf("handling order = %v, want [0 1 2 2 2 3 4] (failed message retried before later ones)", got)
	}
}

// testOrderWithHandlerErrors mixes random handler failures into many
// stations' traffic: successful handling must still follow station order.
func testOrderWithHandlerErrors(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	stations := stationNames(20)
	const perStation = 15
	c := newOrderChecker(len(stations) * perStation)
	var failed atomic.Int32
	must(t, b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		if rand.N(20) == 0 {
			failed.Add(1)
			return errors.New("random failure")
		}
		c.record(env)
		return nil
	}), "ConsumeUpstream")
	publishStations(t, ctx, b, stations, perStation, 4)
	c.wait(t)
	t.Logf("%d handler failures were redelivered", failed.Load())
}

func testFanout(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	gws := []string{"gw-a", "gw-b", "gw-c"}
	sinks := make([]sink, len(gws))
	for i, id := range gws {
		sinks[i] = newSink()
		must(t, b.ConsumeGateway(ctx, id, sinks[i].handle), "ConsumeGateway")
	}
	core := newSink()
	must(t, b.ConsumeCore(ctx, "core-a", core.handle), "ConsumeCore")

	want := envelope("CP-1", 7)
	want.Kind = busv1.Kind_KIND_CLOSE_CONNECTION
	must(t, b.PublishDownstream(ctx, want), "PublishDownstream")
	marker := envelope("CP-1", 8)
	for i, s := range sinks {
		if got := s.next(t, "the downstream message at "+gws[i]); !proto.Equal(got, want) {
			t.Fatalf("%s got %v, want %v", gws[i], got, want)
		}
		// Exactly once: a later direct message is the next thing delivered.
		must(t, b.PublishToGateway(ctx, gws[i], marker), "PublishToGateway")
		if got := s.next(t, "the marker"); seqOf(t, got) != 8 {
			t.Fatalf("%s got a second copy of the downstream message", gws[i])
		}
	}
	must(t, b.PublishToCore(ctx, "core-a", marker), "PublishToCore")
	if got := core.next(t, "the core marker"); seqOf(t, got) != 8 {
		t.Fatalf("core queue received a downstream message: %v", got)
	}
}

// Events reach every core consuming them exactly once, and neither
// gateways nor reply queues.
func testEventsFanout(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	cores := []string{"core-a", "core-b"}
	sinks := make([]sink, len(cores))
	for i, id := range cores {
		sinks[i] = newSink()
		must(t, b.ConsumeEvents(ctx, id, sinks[i].handle), "ConsumeEvents")
	}
	gw, replies := newSink(), newSink()
	must(t, b.ConsumeGateway(ctx, "gw-a", gw.handle), "ConsumeGateway")
	must(t, b.ConsumeCore(ctx, "core-a", replies.handle), "ConsumeCore")

	want := envelope("", 7)
	want.Kind = busv1.Kind_KIND_EVENTS
	must(t, b.PublishEvents(ctx, want), "PublishEvents")
	for _, seq := range []int{8, 9} {
		next := envelope("", seq)
		next.Kind = busv1.Kind_KIND_EVENTS
		must(t, b.PublishEvents(ctx, next), "PublishEvents")
	}
	for i, s := range sinks {
		if got := s.next(t, "the events at "+cores[i]); !proto.Equal(got, want) {
			t.Fatalf("%s got %v, want %v", cores[i], got, want)
		}
		for _, seq := range []int{8, 9} {
			if got := s.next(t, "the next events"); seqOf(t, got) != seq {
				t.Fatalf("%s got events %d, want %d (in order, once)", cores[i], seqOf(t, got), seq)
			}
		}
	}
	marker := envelope("CP-1", 10)
	must(t, b.PublishToGateway(ctx, "gw-a", marker), "PublishToGateway")
	if got := gw.next(t, "the gateway marker"); seqOf(t, got) != 10 {
		t.Fatalf("a gateway received events: %v", got)
	}
	must(t, b.PublishToCore(ctx, "core-a", marker), "PublishToCore")
	if got := replies.next(t, "the reply marker"); seqOf(t, got) != 10 {
		t.Fatalf("a reply queue received events: %v", got)
	}
}

func testDirect(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	g1, g2, c1, c2, up := newSink(), newSink(), newSink(), newSink(), newSink()
	must(t, b.ConsumeGateway(ctx, "gw-1", g1.handle), "ConsumeGateway gw-1")
	must(t, b.ConsumeGateway(ctx, "gw-2", g2.handle), "ConsumeGateway gw-2")
	must(t, b.ConsumeCore(ctx, "core-1", c1.handle), "ConsumeCore core-1")
	must(t, b.ConsumeCore(ctx, "core-2", c2.handle), "ConsumeCore core-2")
	must(t, b.ConsumeUpstream(ctx, up.handle), "ConsumeUpstream")

	must(t, b.PublishToGateway(ctx, "gw-1", envelope("CP-1", 1)), "PublishToGateway")
	must(t, b.PublishToCore(ctx, "core-1", envelope("CP-1", 2)), "PublishToCore")
	// Markers, published after, reach every queue; each queue's first
	// delivery shows whether it wrongly got a direct message.
	must(t, b.PublishDownstream(ctx, envelope("CP-1", 100)), "PublishDownstream")
	for _, id := range []string{"core-1", "core-2"} {
		must(t, b.PublishToCore(ctx, id, envelope("CP-1", 100)), "PublishToCore marker")
	}
	must(t, b.PublishUpstream(ctx, envelope("CP-1", 100)), "PublishUpstream marker")

	for _, c := range []struct {
		name string
		s    sink
		want []int
	}{
		{"gw-1", g1, []int{1, 100}},
		{"gw-2", g2, []int{100}},
		{"core-1", c1, []int{2, 100}},
		{"core-2", c2, []int{100}},
		{"upstream", up, []int{100}},
	} {
		for _, w := range c.want {
			if got := seqOf(t, c.s.next(t, c.name+" delivery")); got != w {
				t.Fatalf("%s: got message %d, want %d", c.name, got, w)
			}
		}
	}
}

func testVanished(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	gctx, stopGateway := context.WithCancel(ctx)
	cctx, stopCore := context.WithCancel(ctx)
	var stopped atomic.Bool
	late := func(context.Context, *busv1.Envelope) error {
		if stopped.Load() {
			t.Error("a message was delivered to a consumer after its context was cancelled")
		}
		return nil
	}
	must(t, b.ConsumeGateway(gctx, "gw-gone", late), "ConsumeGateway")
	must(t, b.ConsumeCore(cctx, "core-gone", late), "ConsumeCore")
	stopped.Store(true)
	stopGateway()
	stopCore()

	// None of these may fail or block: nobody is there to receive them.
	pctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	must(t, b.PublishToGateway(pctx, "gw-gone", envelope("CP-1", 1)), "PublishToGateway to a stopped gateway")
	must(t, b.PublishDownstream(pctx, envelope("CP-1", 2)), "PublishDownstream with no gateway")
	must(t, b.PublishToGateway(pctx, "gw-never", envelope("CP-1", 3)), "PublishToGateway to an unknown gateway")
	must(t, b.PublishToCore(pctx, "core-gone", envelope("CP-1", 4)), "PublishToCore to a stopped core")
	must(t, b.PublishToCore(pctx, "core-never", envelope("CP-1", 5)), "PublishToCore to an unknown core")

	// A gateway that comes back with the same id starts empty: what was sent
	// while it was away was dropped, not kept.
	g, c := newSink(), newSink()
	must(t, b.ConsumeGateway(ctx, "gw-gone", g.handle), "ConsumeGateway again")
	must(t, b.ConsumeCore(ctx, "core-gone", c.handle), "ConsumeCore again")
	must(t, b.PublishToGateway(ctx, "gw-gone", envelope("CP-1", 10)), "PublishToGateway")
	must(t, b.PublishToCore(ctx, "core-gone", envelope("CP-1", 11)), "PublishToCore")
	if got := seqOf(t, g.next(t, "the gateway message")); got != 10 {
		t.Fatalf("restarted gateway got message %d sent while it was gone", got)
	}
	if got := seqOf(t, c.next(t, "the core message")); got != 11 {
		t.Fatalf("restarted core got message %d sent while it was gone", got)
	}
}

func testSubscribed(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	// No sleep between Consume and Publish: a fanout or direct message sent
	// right after Consume returns must not be lost to a missing binding.
	for i := range 10 {
		g, c := newSink(), newSink()
		gw, core := fmt.Sprintf("gw-sub-%d", i), fmt.Sprintf("core-sub-%d", i)
		must(t, b.ConsumeGateway(ctx, gw, g.handle), "ConsumeGateway")
		must(t, b.PublishDownstream(ctx, envelope("CP-1", i)), "PublishDownstream")
		if got := seqOf(t, g.next(t, "the downstream message right after ConsumeGateway")); got != i {
			t.Fatalf("got message %d, want %d", got, i)
		}
		must(t, b.ConsumeCore(ctx, core, c.handle), "ConsumeCore")
		must(t, b.PublishToCore(ctx, core, envelope("CP-1", i)), "PublishToCore")
		if got := seqOf(t, c.next(t, "the core message right after ConsumeCore")); got != i {
			t.Fatalf("got message %d, want %d", got, i)
		}
	}
}

func testDuplicateConsumer(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	s := newSink()
	must(t, b.ConsumeGateway(ctx, "gw-dup", s.handle), "ConsumeGateway")
	if err := b.ConsumeGateway(ctx, "gw-dup", s.handle); !errors.Is(err, bus.ErrConsumerExists) {
		t.Fatalf("second ConsumeGateway for the same id: err = %v, want ErrConsumerExists", err)
	}
	must(t, b.ConsumeCore(ctx, "core-dup", s.handle), "ConsumeCore")
	if err := b.ConsumeCore(ctx, "core-dup", s.handle); !errors.Is(err, bus.ErrConsumerExists) {
		t.Fatalf("second ConsumeCore for the same id: err = %v, want ErrConsumerExists", err)
	}
	// The first consumer is unharmed.
	must(t, b.PublishToGateway(ctx, "gw-dup", envelope("CP-1", 1)), "PublishToGateway")
	if got := seqOf(t, s.next(t, "the gateway message")); got != 1 {
		t.Fatalf("got message %d", got)
	}
}

func testCancelUpstream(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	first := newSink()
	cctx, cancel := context.WithCancel(ctx)
	var cancelled atomic.Bool
	must(t, b.ConsumeUpstream(cctx, func(ctx context.Context, env *busv1.Envelope) error {
		if cancelled.Load() {
			t.Errorf("message %s delivered to a cancelled consumer", env.GetMessageId())
			return errors.New("cancelled")
		}
		return first.handle(ctx, env)
	}), "ConsumeUpstream")
	must(t, b.PublishUpstream(ctx, envelope("CP-1", 0)), "PublishUpstream")
	if got := seqOf(t, first.next(t, "the first message")); got != 0 {
		t.Fatalf("got %d", got)
	}
	cancelled.Store(true)
	cancel()
	for i := 1; i <= 3; i++ {
		must(t, b.PublishUpstream(ctx, envelope("CP-1", i)), "PublishUpstream")
	}
	// The messages wait for the next consumer, in order.
	second := newSink()
	must(t, b.ConsumeUpstream(ctx, second.handle), "ConsumeUpstream again")
	for i := 1; i <= 3; i++ {
		if got := seqOf(t, second.next(t, "a message published while no consumer ran")); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
}

func testInvalid(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	h := newSink().handle
	env := envelope("CP-1", 1)
	for name, err := range map[string]error{
		"PublishUpstream(nil)":        b.PublishUpstream(ctx, nil),
		"PublishDownstream(nil)":      b.PublishDownstream(ctx, nil),
		"PublishToGateway(nil)":       b.PublishToGateway(ctx, "gw", nil),
		"PublishToCore(nil)":          b.PublishToCore(ctx, "core", nil),
		"PublishToGateway(\"\")":      b.PublishToGateway(ctx, "", env),
		"PublishToCore(\"\")":         b.PublishToCore(ctx, "", env),
		"ConsumeGateway(\"\")":        b.ConsumeGateway(ctx, "", h),
		"ConsumeCore(\"\")":           b.ConsumeCore(ctx, "", h),
		"ConsumeUpstream(nil)":        b.ConsumeUpstream(ctx, nil),
		"ConsumeGateway(nil handler)": b.ConsumeGateway(ctx, "gw", nil),
		"ConsumeCore(nil handler)":    b.ConsumeCore(ctx, "core", nil),
	} {
		if !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.PublishUpstream(done, env); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishUpstream with a cancelled context: err = %v, want context.Canceled", err)
	}
}

func testClose(t *testing.T, b bus.Bus) {
	ctx := testContext(t)
	started := make(chan struct{})
	returned := make(chan error, 1)
	must(t, b.ConsumeUpstream(ctx, func(hctx context.Context, _ *busv1.Envelope) error {
		close(started)
		<-hctx.Done() // a handler stuck on I/O until Close cancels it
		returned <- hctx.Err()
		return hctx.Err()
	}), "ConsumeUpstream")
	must(t, b.ConsumeGateway(ctx, "gw-close", newSink().handle), "ConsumeGateway")
	must(t, b.ConsumeCore(ctx, "core-close", newSink().handle), "ConsumeCore")
	must(t, b.PublishUpstream(ctx, envelope("CP-1", 1)), "PublishUpstream")
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("handler never started")
	}

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		must(t, err, "Close")
	case <-time.After(waitFor):
		t.Fatal("Close did not return: it must cancel running handlers' contexts")
	}
	select {
	case err := <-returned:
		if err == nil {
			t.Fatal("handler context not cancelled by Close")
		}
	default:
		t.Fatal("Close returned before the running handler did")
	}

	env := envelope("CP-1", 2)
	h := newSink().handle
	for name, err := range map[string]error{
		"PublishUpstream":   b.PublishUpstream(ctx, env),
		"PublishDownstream": b.PublishDownstream(ctx, env),
		"PublishToGateway":  b.PublishToGateway(ctx, "gw-close", env),
		"PublishToCore":     b.PublishToCore(ctx, "core-close", env),
		"ConsumeUpstream":   b.ConsumeUpstream(ctx, h),
		"ConsumeGateway":    b.ConsumeGateway(ctx, "gw-close-2", h),
		"ConsumeCore":       b.ConsumeCore(ctx, "core-close-2", h),
	} {
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	must(t, b.Close(), "second Close")
}
