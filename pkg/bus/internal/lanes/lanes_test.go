package lanes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/pkg/bus/internal/backoff"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

func env(station string, seq int) *busv1.Envelope {
	return &busv1.Envelope{StationId: station, MessageId: strconv.Itoa(seq)}
}

// world builds deliveries of several stations each and checks, at every
// acknowledgement, that no earlier delivery sharing a station is still
// unacknowledged.
type world struct {
	t     *testing.T
	mu    sync.Mutex
	acked []bool
	sets  []map[string]bool
	order []int
}

func (w *world) delivery(envs ...*busv1.Envelope) Delivery {
	w.mu.Lock()
	n := len(w.acked)
	w.acked = append(w.acked, false)
	set := map[string]bool{}
	for _, e := range envs {
		set[e.GetStationId()] = true
	}
	w.sets = append(w.sets, set)
	w.mu.Unlock()
	snap := make([]*busv1.Envelope, len(envs))
	for i, e := range envs {
		snap[i] = proto.CloneOf(e)
	}
	return Delivery{
		Envelopes: envs,
		Fresh:     func(i int) *busv1.Envelope { return proto.CloneOf(snap[i]) },
		Ack: func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			for earlier := range n {
				if w.acked[earlier] {
					continue
				}
				for st := range w.sets[earlier] {
					if w.sets[n][st] {
						w.t.Errorf("delivery %d acknowledged before earlier delivery %d, which also carries %s", n, earlier, st)
					}
				}
			}
			if w.acked[n] {
				w.t.Errorf("delivery %d acknowledged twice", n)
			}
			w.acked[n] = true
			w.order = append(w.order, n)
		},
	}
}

func (w *world) allAcked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acked {
		if !a {
			return false
		}
	}
	return true
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var quiet = slog.New(slog.DiscardHandler)

// Many stations, batches mixing them, random handler delays and failures:
// every station's messages are handled in order, exactly once each
// (failures retried before the station's next message), concurrently
// across stations, and acknowledgements follow the rule.
func TestOrderConcurrencyAndAcks(t *testing.T) {
	w := &world{t: t}
	var (
		mu        sync.Mutex
		next      = map[string]int{}
		running   atomic.Int32
		maxSeen   atomic.Int32
		failures  atomic.Int32
		perSt     = 30
		stations  = 40
		slots     = 16
		scribbled atomic.Int32
	)
	h := func(_ context.Context, e *busv1.Envelope) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxSeen.Load()
			if n <= m || maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		if e.GetStationId() == "scribbled" {
			t.Error("a retry got the envelope the handler had changed")
		}
		time.Sleep(time.Duration(rand.N(300)) * time.Microsecond)
		if rand.N(15) == 0 {
			failures.Add(1)
			e.StationId = "scribbled"
			scribbled.Add(1)
			return errors.New("transient")
		}
		seq, _ := strconv.Atoi(e.GetMessageId())
		mu.Lock()
		defer mu.Unlock()
		if want := next[e.GetStationId()]; seq != want {
			t.Errorf("station %s: handled %d, want %d", e.GetStationId(), seq, want)
		}
		next[e.GetStationId()] = seq + 1
		return nil
	}
	p := New(t.Context(), Config{Handler: h, Slots: NewSlots(slots), Retry: backoff.Policy{Min: time.Millisecond, Max: 5 * time.Millisecond}, Log: quiet})
	// Deliveries carry 1 to 6 messages of random stations, as a gateway's
	// micro-batches do; each station's messages in publish order.
	seq := map[string]int{}
	remaining := stations * perSt
	for remaining > 0 {
		var envs []*busv1.Envelope
		for range 1 + rand.N(6) {
			st := "CP-" + strconv.Itoa(rand.N(stations))
			if seq[st] == perSt {
				continue
			}
			envs = append(envs, env(st, seq[st]))
			seq[st]++
			remaining--
		}
		p.Add(w.delivery(envs...))
	}
	waitUntil(t, "every delivery acknowledged", w.allAcked)
	if got := p.InFlight(); got != 0 {
		t.Fatalf("InFlight = %d after everything was acknowledged", got)
	}
	p.Stop()
	for st, n := range next {
		if n != perSt {
			t.Errorf("station %s: %d messages handled, want %d", st, n, perSt)
		}
	}
	if m := maxSeen.Load(); m < 2 || m > int32(slots) {
		t.Errorf("at most %d handlers ran at once; want between 2 and the %d slots", m, slots)
	}
	t.Logf("max concurrent handlers %d, %d failures retried", maxSeen.Load(), failures.Load())
}

// A slow station holds back the acknowledgement of a later delivery of the
// same station only, never the handling of other stations.
func TestSlowStationDoesNotBlockOthers(t *testing.T) {
	w := &world{t: t}
	release := make(chan struct{})
	var fastDone atomic.Int32
	h := func(ctx context.Context, e *busv1.Envelope) error {
		if e.GetStationId() == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}
		fastDone.Add(1)
		return nil
	}
	p := New(t.Context(), Config{Handler: h, Slots: NewSlots(4), Log: quiet})
	p.Add(w.delivery(env("slow", 0), env("A", 0))) // 0
	p.Add(w.delivery(env("A", 1)))                 // 1: waits for 0
	p.Add(w.delivery(env("B", 0)))                 // 2: independent
	waitUntil(t, "fast stations handled", func() bool { return fastDone.Load() == 3 })
	waitUntil(t, "the independent delivery acknowledged", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.acked[2] })
	w.mu.Lock()
	if w.acked[0] || w.acked[1] {
		t.Fatalf("acknowledged %v while the slow station's message was still running", w.acked)
	}
	w.mu.Unlock()
	close(release)
	waitUntil(t, "all acknowledged", w.allAcked)
	if fmt.Sprint(w.order) != "[2 0 1]" {
		t.Fatalf("acknowledgement order %v, want [2 0 1]", w.order)
	}
	p.Stop()
}

// Stop leaves what was not handled unacknowledged and starts nothing new;
// Drain finishes everything first.
func TestStopAndDrain(t *testing.T) {
	w := &world{t: t}
	gate, started := make(chan struct{}), make(chan struct{}, 10)
	var handled atomic.Int32
	h := func(ctx context.Context, e *busv1.Envelope) error {
		started <- struct{}{}
		<-gate
		handled.Add(1)
		return nil
	}
	p := New(t.Context(), Config{Handler: h, Slots: NewSlots(1), Log: quiet})
	for i := range 5 {
		p.Add(w.delivery(env("CP", i)))
	}
	<-started
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	time.Sleep(10 * time.Millisecond)
	close(gate) // the running handler finishes; nothing after it starts
	<-stopped
	if n := handled.Load(); n != 1 {
		t.Fatalf("%d handled after Stop, want only the one running", n)
	}
	if got := p.InFlight(); got != 4 {
		t.Fatalf("InFlight = %d after Stop, want 4 unacknowledged", got)
	}
	p.Add(w.delivery(env("CP", 5)))
	if got := p.InFlight(); got != 4 {
		t.Fatal("Add after Stop queued a delivery")
	}

	w2 := &world{t: t}
	q := New(t.Context(), Config{Handler: func(context.Context, *busv1.Envelope) error { return nil }, Slots: NewSlots(2), Log: quiet})
	for i := range 50 {
		q.Add(w2.delivery(env("CP-"+strconv.Itoa(i%7), i)))
	}
	if !q.Drain(nil) {
		t.Fatal("Drain gave up")
	}
	if !w2.allAcked() {
		t.Fatal("Drain returned before every delivery was acknowledged")
	}
}
