package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// At most the limit of checks run at once; the others wait for a slot, and
// one whose context ends while waiting gives up with the context's error.
func TestPasswordCheckerLimit(t *testing.T) {
	const limit = 3
	c := NewPasswordChecker(limit)
	var inside, peak atomic.Int64
	release := make(chan struct{})
	c.verify = func(string, string) error {
		n := inside.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		inside.Add(-1)
		return ErrMismatch
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Verify(context.Background(), "h", "s"); !errors.Is(err, ErrMismatch) {
				t.Errorf("Verify = %v", err)
			}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); inside.Load() < limit; {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks running, want %d", inside.Load(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Verify(ctx, "h", "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting with an ended context: %v", err)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != limit {
		t.Errorf("%d checks ran at once, want at most (and, here, exactly) %d", p, limit)
	}
	if got, want := c.MemoryBound(), int64(limit*19<<20); got != want {
		t.Errorf("MemoryBound = %d, want %d", got, want)
	}
}

// The real check behind the limit: right and wrong secrets.
func TestPasswordCheckerVerifies(t *testing.T) {
	hash, err := HashSecret("right-secret")
	if err != nil {
		t.Fatal(err)
	}
	c := NewPasswordChecker(1)
	if err := c.Verify(context.Background(), hash, "right-secret"); err != nil {
		t.Errorf("right secret: %v", err)
	}
	if err := c.Verify(context.Background(), hash, "wrong-secret"); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong secret: %v", err)
	}
}
