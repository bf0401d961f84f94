package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/rabbitmq"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// orderLedger checks what several core instances' handlers see of one
// upstream: each station's messages in order, no partition handled by two
// instances at once (one instance handles many of a partition's messages
// at once, on their stations' lanes).
type orderLedger struct {
	t          *testing.T
	partitions int

	mu        sync.Mutex
	next      map[string]int    // station → next expected sequence number
	last      map[string]int    // station → last handled
	handledBy map[string]string // "station/seq" → instance
	total     int
	inFlight  []map[string]int // per partition: instance → messages in progress
}

func newOrderLedger(t *testing.T, partitions int) *orderLedger {
	l := &orderLedger{t: t, partitions: partitions, next: map[string]int{}, last: map[string]int{},
		handledBy: map[string]string{}, inFlight: make([]map[string]int, partitions)}
	for i := range l.inFlight {
		l.inFlight[i] = map[string]int{}
	}
	return l
}

func (l *orderLedger) handler(instance string) bus.Handler {
	return func(_ context.Context, e *busv1.Envelope) error {
		p := bus.Partition(e.GetStationId(), l.partitions)
		l.mu.Lock()
		l.inFlight[p][instance]++
		if len(l.inFlight[p]) > 1 {
			l.t.Errorf("partition %d handled by several instances at once: %v", p, l.inFlight[p])
		}
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			if l.inFlight[p][instance]--; l.inFlight[p][instance] == 0 {
				delete(l.inFlight[p], instance)
			}
			l.mu.Unlock()
		}()
		// Long enough for a concurrent hand-over to overlap, were one possible.
		time.Sleep(200 * time.Microsecond)

		seq, _ := strconv.Atoi(e.GetMessageId())
		st := e.GetStationId()
		l.mu.Lock()
		defer l.mu.Unlock()
		want := l.next[st]
		last, seen := l.last[st]
		switch {
		case seq == want && (!seen || seq == last+1):
			l.next[st] = seq + 1
			l.total++
		case seq < want && (seq <= last || seq == last+1):
			// A redelivered suffix (a stopping instance's unacknowledged
			// messages), handled again in order; handlers are idempotent.
		default:
			l.t.Errorf("station %s: got message %d after %d, want %d (out of order)", st, seq, last, want)
		}
		l.last[st] = seq
		l.handledBy[st+"/"+strconv.Itoa(seq)] = instance
		return nil
	}
}

func (l *orderLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func (l *orderLedger) by(station string, seq int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handledBy[station+"/"+strconv.Itoa(seq)]
}

// stationsPerPartition returns one station id per partition, so a test can
// address each partition.
func stationsPerPartition(partitions int) []string {
	out := make([]string, partitions)
	found := 0
	for i := 0; found < partitions; i++ {
		id := "CP-" + strconv.Itoa(i)
		if p := bus.Partition(id, partitions); out[p] == "" {
			out[p] = id
			found++
		}
	}
	return out
}

func scaleOutBusConfig(t *testing.T, partitions int) rabbitmq.Config {
	cfg := rabbitmq.Config{
		URL:        testenv.AMQPURL(t),
		Prefix:     testenv.UniquePrefix(t),
		Partitions: partitions,
		Logger:     testLogger(t).With("part", "bus"),
		RetryMin:   5 * time.Millisecond,
		RetryMax:   50 * time.Millisecond,
		// Quick membership so the test sees hand-overs in well under a second.
		MemberHeartbeat: 100 * time.Millisecond,
		MemberTTL:       time.Second,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rabbitmq.DeleteTopology(ctx, cfg); err != nil {
			t.Errorf("delete topology %s: %v", cfg.Prefix, err)
		}
	})
	return cfg
}

func dialInstance(t *testing.T, cfg rabbitmq.Config, id string) *rabbitmq.Bus {
	t.Helper()
	cfg.InstanceID = id
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := rabbitmq.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("rabbitmq.Dial: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// agree waits until every instance sees exactly members and, between them,
// every partition is owned exactly once.
func agree(t *testing.T, partitions int, members []string, instances ...*rabbitmq.Bus) map[int]string {
	t.Helper()
	owners := map[int]string{}
	eventually(t, fmt.Sprintf("instances agree on members %v", members), func() (bool, string) {
		clear(owners)
		for _, b := range instances {
			a, ok := b.Assignment()
			if !ok || !slices.Equal(a.Members, members) {
				return false, fmt.Sprintf("%s sees %v", a.Self, a.Members)
			}
			for _, p := range a.Owned {
				if o, dup := owners[p]; dup {
					return false, fmt.Sprintf("partition %d owned by %s and %s", p, o, a.Self)
				}
				owners[p] = a.Self
			}
		}
		return len(owners) == partitions, fmt.Sprintf("%d of %d partitions owned", len(owners), partitions)
	})
	return owners
}

// Two core instances share the upstream: while a steady stream of many
// stations' interleaved messages flows, a second instance joins (and takes
// its share) and the first one leaves (and the second takes everything);
// every station's messages reach the handlers in order throughout, and no
// partition is ever handled by both at once.
func TestScaleOutOrderingWhilePartitionsMove(t *testing.T) {
	const partitions, stations = 8, 40
	cfg := scaleOutBusConfig(t, partitions)
	ledger := newOrderLedger(t, partitions)
	publisher := dialInstance(t, cfg, "publisher")
	a := dialInstance(t, cfg, "core-a")
	b := dialInstance(t, cfg, "core-b")

	aCtx, stopA := context.WithCancel(t.Context())
	defer stopA()
	if err := a.ConsumeUpstream(aCtx, ledger.handler("core-a")); err != nil {
		t.Fatal(err)
	}

	// The stream: station s's message n is published after station s's n-1,
	// interleaved with every other station's.
	var published atomic.Int64
	stopPub := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		for seq := 0; ; seq++ {
			for s := range stations {
				select {
				case <-stopPub:
					pubDone <- nil
					return
				default:
				}
				env := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: "ST-" + strconv.Itoa(s), MessageId: strconv.Itoa(seq)}
				if err := publisher.PublishUpstream(t.Context(), env); err != nil {
					pubDone <- err
					return
				}
				published.Add(1)
			}
		}
	}()
	progress := func(what string) {
		t.Helper()
		target := ledger.count() + 2*stations
		eventually(t, what, func() (bool, string) {
			return ledger.count() >= target, fmt.Sprintf("%d handled, %d published", ledger.count(), published.Load())
		})
	}

	progress("core-a alone handles the stream")
	if err := b.ConsumeUpstream(t.Context(), ledger.handler("core-b")); err != nil {
		t.Fatal(err)
	}
	owners := agree(t, partitions, []string{"core-a", "core-b"}, a, b)
	shares := map[string]int{}
	for _, o := range owners {
		shares[o]++
	}
	if shares["core-a"] != partitions/2 || shares["core-b"] != partitions/2 {
		t.Errorf("shares %v, want %d partitions each", shares, partitions/2)
	}
	progress("both instances handle the stream")

	stopA() // core-a leaves; core-b takes over its partitions
	agree(t, partitions, []string{"core-b"}, b)
	progress("core-b alone handles the stream")

	close(stopPub)
	if err := <-pubDone; err != nil {
		t.Fatalf("publish: %v", err)
	}
	want := int(published.Load())
	eventually(t, "every published message handled", func() (bool, string) {
		return ledger.count() == want, fmt.Sprintf("%d of %d handled", ledger.count(), want)
	})
	seen := map[string]bool{}
	ledger.mu.Lock()
	for _, inst := range ledger.handledBy {
		seen[inst] = true
	}
	ledger.mu.Unlock()
	if !seen["core-a"] || !seen["core-b"] {
		t.Errorf("handled by %v, want both instances", seen)
	}
}

// The hand-over itself: once the instances agree, each partition's
// messages are handled by its owner, the one waiting in line included, and
// when an instance joins or leaves the partitions follow the assignment.
func TestScaleOutHandOverFollowsAssignment(t *testing.T) {
	const partitions = 6
	cfg := scaleOutBusConfig(t, partitions)
	ledger := newOrderLedger(t, partitions)
	publisher := dialInstance(t, cfg, "publisher")
	ids := []string{"core-1", "core-2", "core-3"}
	inst := map[string]*rabbitmq.Bus{}
	for _, id := range ids {
		inst[id] = dialInstance(t, cfg, id)
	}
	perPartition := stationsPerPartition(partitions)
	seq := map[string]int{}
	// checkOwners sends one message per partition until each is handled by
	// that partition's owner: a partition stuck with another instance fails.
	checkOwners := func(owners map[int]string) {
		t.Helper()
		for p, st := range perPartition {
			eventually(t, fmt.Sprintf("partition %d handled by its owner %s", p, owners[p]), func() (bool, string) {
				n := seq[st]
				seq[st]++
				env := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: st, MessageId: strconv.Itoa(n)}
				if err := publisher.PublishUpstream(t.Context(), env); err != nil {
					return false, err.Error()
				}
				var by string
				for range 100 {
					if by = ledger.by(st, n); by != "" {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				return by == owners[p], fmt.Sprintf("message %d handled by %q", n, by)
			})
		}
	}

	// core-1 first: it is in front of every line.
	if err := inst["core-1"].ConsumeUpstream(t.Context(), ledger.handler("core-1")); err != nil {
		t.Fatal(err)
	}
	checkOwners(agree(t, partitions, ids[:1], inst["core-1"]))
	for _, id := range ids[1:] {
		if err := inst[id].ConsumeUpstream(t.Context(), ledger.handler(id)); err != nil {
			t.Fatal(err)
		}
	}
	owners := agree(t, partitions, ids, inst["core-1"], inst["core-2"], inst["core-3"])
	for _, id := range ids {
		n := 0
		for _, o := range owners {
			if o == id {
				n++
			}
		}
		if n != partitions/len(ids) {
			t.Errorf("%s owns %d partitions, want %d", id, n, partitions/len(ids))
		}
	}
	checkOwners(owners)

	// core-1 stops (saying goodbye): its partitions go to the two others,
	// as they compute.
	if err := inst["core-1"].Close(); err != nil {
		t.Fatal(err)
	}
	checkOwners(agree(t, partitions, ids[1:], inst["core-2"], inst["core-3"]))
}
