package event

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// memLog is an in-memory Log.
type memLog struct {
	mu        sync.Mutex
	evs       []Event
	failReads int // the next reads that fail
}

func (l *memLog) AppendEvents(_ context.Context, evs []Event, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range evs {
		evs[i].ID = int64(len(l.evs) + 1)
		l.evs = append(l.evs, evs[i])
	}
	return nil
}

func (l *memLog) ReadEvents(_ context.Context, r Range, limit int) ([]Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failReads > 0 {
		l.failReads--
		return nil, errors.New("database unavailable")
	}
	var out []Event
	for _, e := range l.evs {
		if e.ID > r.After && (r.UpTo == 0 || e.ID <= r.UpTo) && r.Filter.Match(e) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *memLog) LastEventID(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.evs)), nil
}

func (l *memLog) TrimEvents(context.Context, time.Time) (int64, error) { return 0, nil }

func (l *memLog) add(n int, station string) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = New(StationStatus, time.Now(), station, nil)
	}
	_ = l.AppendEvents(context.Background(), evs, time.Now())
	return evs
}

func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

func TestHubOrderGapsAndLag(t *testing.T) {
	defer goleak.VerifyNone(t)
	log := &memLog{}
	log.add(3, "CP-1") // before the hub: only a resumption sees them
	h := NewHub(HubConfig{Log: log, SubscriberBuffer: 4})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	live, err := h.Subscribe(Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	resumed, _ := h.Subscribe(Filter{StationIDs: []string{"CP-1"}}, 1)
	defer live.Close()
	defer resumed.Close()

	// Another instance's events arrive past a gap: the gap comes from the
	// log first; a relay copy already delivered is dropped.
	a := log.add(2, "CP-1")
	b := log.add(1, "CP-2")
	h.Deliver(context.Background(), b)
	h.Deliver(context.Background(), a)
	for _, want := range []int64{4, 5, 6} {
		if e := next(t, live); e.ID != want {
			t.Fatalf("live got %d, want %d", e.ID, want)
		}
	}
	for _, want := range []int64{2, 3, 4, 5} { // CP-1 only, after 1
		if e := next(t, resumed); e.ID != want {
			t.Fatalf("resumed got %d, want %d", e.ID, want)
		}
	}

	// A subscriber that falls behind its buffer reads the log instead,
	// loses nothing and never blocks the hub.
	h.Deliver(context.Background(), log.add(20, "CP-1"))
	for want := int64(7); want <= 26; want++ {
		if e := next(t, live); e.ID != want {
			t.Fatalf("lagging subscriber got %d, want %d", e.ID, want)
		}
	}
	if h.Subscribers() != 2 {
		t.Fatalf("subscribers = %d", h.Subscribers())
	}
}

// An event relayed past a gap the log cannot be read for just now is not
// handed out ahead of the gap: the next poll hands out both, in order.
func TestHubGapReadFails(t *testing.T) {
	defer goleak.VerifyNone(t)
	log := &memLog{}
	h := NewHub(HubConfig{Log: log})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	live, err := h.Subscribe(Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	gap := log.add(2, "CP-1")
	relayed := log.add(1, "CP-1")
	log.mu.Lock()
	log.failReads = 1
	log.mu.Unlock()
	h.Deliver(context.Background(), relayed)
	h.Deliver(context.Background(), nil) // the poll
	for _, want := range []int64{gap[0].ID, gap[1].ID, relayed[0].ID} {
		if e := next(t, live); e.ID != want {
			t.Fatalf("got %d, want %d", e.ID, want)
		}
	}
}

func TestHubBoundsAndClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := NewHub(HubConfig{Log: &memLog{}, MaxSubscribers: 2, Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	s1, _ := h.Subscribe(Filter{}, 0)
	s2, _ := h.Subscribe(Filter{}, 0)
	if _, err := h.Subscribe(Filter{}, 0); err != ErrTooManySubscribers {
		t.Fatalf("third subscription: %v, want ErrTooManySubscribers", err)
	}
	s2.Close()
	s3, err := h.Subscribe(Filter{}, 0)
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	waiting := make(chan error)
	go func() { _, err := s1.Next(context.Background()); waiting <- err }()
	cancel()
	<-done
	if err := <-waiting; err != ErrHubClosed {
		t.Fatalf("Next after the hub stopped: %v", err)
	}
	s1.Close()
	s3.Close()
	if _, err := h.Subscribe(Filter{}, 0); err != ErrHubClosed {
		t.Fatalf("Subscribe after close: %v", err)
	}
}
