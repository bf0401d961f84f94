// Package backoff computes capped, jittered exponential delays for the bus
// implementations' retries (handler redelivery, reconnection).
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential back-off: Min, doubled per attempt, capped at Max.
// With Jitter, each delay is drawn uniformly from [d/2, d] so that many
// clients retrying after one broker restart do not arrive in lock-step.
type Policy struct {
	Min, Max time.Duration
	Jitter   bool
}

// Delay returns the delay before retry number attempt (0 for the first).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Min
	if d <= 0 {
		d = time.Millisecond
	}
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if p.Jitter && d > 1 {
		half := d / 2
		d = half + rand.N(d-half+1)
	}
	return d
}

// Sleep waits for d or until ctx is done, whichever comes first, and
// reports ctx's error in the latter case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
