package testenv

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// RunParallel runs op b.N times spread over workers goroutines, as that
// many concurrent senders would (w is the worker, n the operation's number
// from 1), with the timer running only meanwhile; it stops at the first
// error and reports the rate in unit (e.g. "msgs/s").
func RunParallel(b *testing.B, workers int, unit string, op func(w int, n int64) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				if err := op(w, n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}
