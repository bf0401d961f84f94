// Package energy computes a transaction's energy from its meter register
// readings (the store keeps the readings; this decides what they add up
// to).
package energy

import (
	"math"
	"strconv"
	"strings"
)

// Wh is an active-energy reading in Wh, from a value as reported with its
// measurand, unit and 2.0.1 multiplier (value × 10^multiplier); ok is
// false for other measurands and units and for unreadable values.
func Wh(measurand, unit string, multiplier int, value string) (wh float64, ok bool) {
	if !strings.HasPrefix(measurand, "Energy.Active.") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	switch unit {
	case "", "Wh":
	case "kWh":
		f *= 1000
	default:
		return 0, false
	}
	if multiplier != 0 {
		f *= math.Pow10(multiplier)
	}
	return f, true
}

// Meter is what is known of a session's register: the readings the
// station reported as its start and stop (nil: none), and its earliest and
// latest register readings in time order (nil: none yet).
type Meter struct {
	ReportedStart, ReportedStop *float64
	First, Last                 *float64
}

// Figures are a session's meter start and stop and its energy, in Wh; nil
// where not known.
type Figures struct {
	Start, Stop, Energy *float64
}

// Figures decides m's figures. A reported start or stop counts; otherwise
// the earliest or latest reading stands in, so that an active session
// shows its energy so far. The energy is stop − start; a stop below the
// start means the meter was reset or replaced during the session, and the
// energy is then the sum of the rises along the whole series, which series
// loads (called only then) in time order.
func (m Meter) Figures(series func() ([]float64, error)) (Figures, error) {
	f := Figures{Start: cmpOr(m.ReportedStart, m.First), Stop: cmpOr(m.ReportedStop, m.Last)}
	if f.Start == nil || f.Stop == nil {
		return f, nil
	}
	e := *f.Stop - *f.Start
	if e < 0 {
		s, err := series()
		if err != nil {
			return Figures{}, err
		}
		e = SumOfRises(*f.Start, s, *f.Stop)
	}
	f.Energy = &e
	return f, nil
}

func cmpOr(v, def *float64) *float64 {
	if v != nil {
		return v
	}
	return def
}

// SumOfRises is the energy of a register series that may have been reset
// during the session: from start through samples to stop, every rise
// counts, a drop counts nothing and the series goes on from the lower
// value.
func SumOfRises(start float64, samples []float64, stop float64) float64 {
	var sum float64
	prev := start
	for _, v := range append(samples, stop) {
		if v > prev {
			sum += v - prev
		}
		prev = v
	}
	return sum
}
