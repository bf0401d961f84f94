package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the run's counters, shared by every worker. Successful paths
// only touch atomics; the error map takes a lock, errors being the rare case.
type Stats struct {
	opened    atomic.Uint64
	failed    atomic.Uint64
	connected atomic.Int64
	trips     atomic.Uint64
	latency   Histogram

	// Steady state: once every charger has booted and reached its scenario,
	// round trips are also recorded apart, so that the connect and boot
	// storm at the start does not colour a steady load's percentiles.
	inScenario  atomic.Int64
	steady      atomic.Bool
	steadyTrips atomic.Uint64
	steadyLat   Histogram

	mu      sync.Mutex
	errors  map[string]uint64
	actions map[string]uint64 // answered CALLs by action (under mu)
}

func newStats() *Stats {
	return &Stats{errors: make(map[string]uint64), actions: make(map[string]uint64)}
}

// Answered counts one answered CALL of action.
func (s *Stats) Answered(action string) {
	s.mu.Lock()
	s.actions[action]++
	s.mu.Unlock()
}

func (s *Stats) actionsSnapshot() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.actions)
}

// Error counts one error of the given kind.
func (s *Stats) Error(kind string) {
	s.mu.Lock()
	s.errors[kind]++
	s.mu.Unlock()
}

// Trip records one answered round trip.
func (s *Stats) Trip(d time.Duration) {
	s.trips.Add(1)
	s.latency.Record(d)
	if s.steady.Load() {
		s.steadyTrips.Add(1)
		s.steadyLat.Record(d)
	}
}

// ReachedScenario counts a charger that booted and entered its scenario for
// the first time; when all n have, the steady state begins.
func (s *Stats) ReachedScenario(n int) {
	if s.inScenario.Add(1) == int64(n) {
		s.steady.Store(true)
	}
}

func (s *Stats) errorsSnapshot() (map[string]uint64, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total uint64
	for _, n := range s.errors {
		total += n
	}
	return maps.Clone(s.errors), total
}

// Summary is what a run measured, printed at the end and written by -json.
type Summary struct {
	URL            string  `json:"url"`
	Scenario       string  `json:"scenario"`
	Version        string  `json:"version"`
	Chargers       int     `json:"chargers"`
	Rate           float64 `json:"ratePerCharger"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Opened         uint64  `json:"connectionsOpened"`
	Failed         uint64  `json:"connectionsFailed"`
	RoundTrips     uint64  `json:"roundTrips"`
	RoundTripsPerS float64 `json:"roundTripsPerSecond"`
	Latency        Latency `json:"latencyMs"`
	// SteadyRoundTrips and SteadyLatency count only the round trips after
	// every charger had booted and entered its scenario; absent when that
	// never happened.
	SteadyRoundTrips uint64            `json:"steadyRoundTrips,omitempty"`
	SteadyLatency    *Latency          `json:"steadyLatencyMs,omitempty"`
	ErrorsTotal      uint64            `json:"errorsTotal"`
	Errors           map[string]uint64 `json:"errors"`
	// StartedAt, Windows (one per second) and Sessions (the scale and
	// transactions scenarios' charging sessions, as the chargers saw them
	// acknowledged) let an orchestrator merge runs and check the database.
	StartedAt time.Time `json:"startedAt"`
	Windows   []Window  `json:"windows,omitempty"`
	Sessions  []Session `json:"sessions,omitempty"`
}

// Latency holds round-trip percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(h *Histogram) Latency {
	return Latency{
		P50: ms(h.Percentile(50)), P90: ms(h.Percentile(90)),
		P99: ms(h.Percentile(99)), Max: ms(h.Max()), Mean: ms(h.Mean()),
	}
}

// Summary freezes the counters after a run of the given length.
func (s *Stats) Summary(cfg Config, elapsed time.Duration) Summary {
	errs, total := s.errorsSnapshot()
	trips := s.trips.Load()
	sum := Summary{
		URL: cfg.URL, Scenario: cfg.Scenario, Version: cfg.Version, Chargers: cfg.N, Rate: cfg.Rate,
		ElapsedSeconds: elapsed.Seconds(),
		Opened:         s.opened.Load(),
		Failed:         s.failed.Load(),
		RoundTrips:     trips,
		Latency:        latencyOf(&s.latency),
		ErrorsTotal:    total,
		Errors:         errs,
	}
	if elapsed > 0 {
		sum.RoundTripsPerS = float64(trips) / elapsed.Seconds()
	}
	if n := s.steadyTrips.Load(); n > 0 {
		sum.SteadyRoundTrips = n
		l := latencyOf(&s.steadyLat)
		sum.SteadyLatency = &l
	}
	return sum
}

// Print writes the summary for a human.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s, OCPP %s, %d chargers, %.1fs against %s\n", s.Scenario, s.Version, s.Chargers, s.ElapsedSeconds, s.URL)
	fmt.Fprintf(w, "connections opened %d, failed %d\n", s.Opened, s.Failed)
	fmt.Fprintf(w, "round trips %d (%.0f/s)\n", s.RoundTrips, s.RoundTripsPerS)
	fmt.Fprintf(w, "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
		s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, s.Latency.Mean)
	if l := s.SteadyLatency; l != nil {
		fmt.Fprintf(w, "steady state (all chargers booted), %d round trips, latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f\n",
			s.SteadyRoundTrips, l.P50, l.P90, l.P99, l.Max, l.Mean)
	}
	fmt.Fprintf(w, "errors %d\n", s.ErrorsTotal)
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		fmt.Fprintf(w, "  %-40s %d\n", k, s.Errors[k])
	}
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	return nil
}
