package main

import (
	"math/bits"
	"strconv"
	"sync/atomic"
	"time"
)

// Histogram records latencies in fixed log-linear buckets, HDR style: every
// power of two is split into subBuckets linear buckets, so a percentile is
// off by at most 1/subBuckets of its value whatever the number of samples,
// and memory is fixed (a few KiB) instead of growing with the run.
// Record is safe for concurrent use and takes no lock.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // microseconds
	max    atomic.Uint64 // microseconds
}

const (
	subBits    = 6
	subBuckets = 1 << subBits // 64: under 1.6% relative error
	// maxExp covers values up to 2^40 µs (12 days); anything above is clamped.
	maxExp      = 40 - subBits
	histBuckets = (maxExp + 2) * subBuckets
)

// bucketOf maps a value in microseconds to its bucket: values below
// subBuckets are exact, above that each power of two gets subBuckets buckets.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxExp {
		return histBuckets - 1
	}
	return (shift+1)*subBuckets + int(v>>uint(shift)) - subBuckets
}

// bucketHigh is the largest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	mant := uint64(i%subBuckets + subBuckets)
	return (mant+1)<<uint(shift) - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average of the recorded values (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Percentile returns the value below or at which q percent of the recorded
// values lie (the highest value of the bucket holding that rank, never more
// than Max); 0 when empty.
func (h *Histogram) Percentile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q / 100 * float64(n))
	if float64(rank) < q/100*float64(n) {
		rank++ // ceil: the value at rank, not below it
	}
	rank = max(rank, 1)
	var seen uint64
	maxV := h.max.Load()
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			if i == histBuckets-1 {
				break // the overflow bucket has no upper bound but the max
			}
			return time.Duration(min(bucketHigh(i), maxV)) * time.Microsecond
		}
	}
	return time.Duration(maxV) * time.Microsecond
}

// snapshot copies the bucket counts.
func (h *Histogram) snapshot() []uint64 {
	out := make([]uint64, histBuckets)
	for i := range h.counts {
		out[i] = h.counts[i].Load()
	}
	return out
}

// Window is one second of a run: chargers connected at its end, round
// trips answered in it and their latencies, as counts by bucket (the key
// is the bucket's upper bound in µs), so that an orchestrator running
// several load generators can merge them exactly and take percentiles of
// any span (tools/scale).
type Window struct {
	At        float64           `json:"at"` // seconds since the run started
	Connected int64             `json:"connected"`
	Trips     uint64            `json:"trips"`
	Latency   map[string]uint64 `json:"latencyUs,omitempty"`
	Actions   map[string]uint64 `json:"actions,omitempty"` // answered CALLs by action
}

func window(at time.Duration, connected int64, prev, cur []uint64) Window {
	w := Window{At: at.Seconds(), Connected: connected}
	for i := range cur {
		if d := cur[i] - prev[i]; d > 0 {
			if w.Latency == nil {
				w.Latency = map[string]uint64{}
			}
			w.Latency[strconv.FormatUint(bucketHigh(i), 10)] = d
			w.Trips += d
		}
	}
	return w
}
