package inproc_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/pkg/bus"
	"github.com/chargeplane/chargeplane/pkg/bus/bustest"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func newBus(t *testing.T) bus.Bus {
	b := inproc.New(inproc.Config{Partitions: 8, Logger: quiet, RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) { bustest.Run(t, 8, newBus) }

// A failing partition blocks only itself: other stations keep flowing.
func TestFailingPartitionDoesNotBlockOthers(t *testing.T) {
	const parts = 4
	b := inproc.New(inproc.Config{Partitions: parts, Logger: quiet, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
	defer b.Close()
	stuck := "CP-stuck"
	other := ""
	for i := 0; other == ""; i++ {
		if s := string(rune('a' + i)); bus.Partition(s, parts) != bus.Partition(stuck, parts) {
			other = s
		}
	}
	var stuckAttempts atomic.Int32
	retrying := make(chan struct{})
	got := make(chan string, 10)
	ctx := t.Context()
	if err := b.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
		if env.GetStationId() == stuck {
			if stuckAttempts.Add(1) == 2 {
				close(retrying)
			}
			return errors.New("database down")
		}
		got <- env.GetStationId()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishUpstream(ctx, &busv1.Envelope{StationId: stuck}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-retrying:
	case <-time.After(10 * time.Second):
		t.Fatal("the failing message was not redelivered")
	}
	if err := b.PublishUpstream(ctx, &busv1.Envelope{StationId: other}); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != other {
			t.Fatalf("got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failing partition blocked another partition")
	}
}

func TestPartitionStable(t *testing.T) {
	// The partition function is a wire contract between gateways and cores:
	// pin a few values so that an accidental change fails loudly.
	for _, c := range []struct {
		id   string
		want int
	}{{"", 5}, {"CP-1", 0}, {"station-42", 8}} {
		if got := bus.Partition(c.id, 16); got != c.want {
			t.Errorf("Partition(%q, 16) = %d, want %d", c.id, got, c.want)
		}
	}
	if got := bus.Partition("x", 0); got != 0 {
		t.Errorf("Partition with 0 partitions = %d", got)
	}
}
