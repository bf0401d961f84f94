// Package smartcharging decides the charging schedules the CSMS gives
// EVs (OCPP 2.0.1 K15–K17, the ISO 15118 flow): from what the EV says it
// needs, the limits the station reported and the operator's own
// ChargingStationMaxProfile and TxDefaultProfile (OperatorLimits), a
// schedule within all of them. Plan and OperatorLimits are pure; Service
// sends the result to the station.
package smartcharging

import (
	"errors"
	"math"
	"slices"
	"time"
)

// Unit is a schedule's charging rate unit.
type Unit string

const (
	Amps  Unit = "A"
	Watts Unit = "W"
)

// NominalVoltage converts between A and W on AC, where the EV reports no
// voltage (230 V phase to neutral, IEC 60038).
const NominalVoltage = 230.0

// MaxPeriods bounds a schedule (the schema's maximum of
// chargingSchedulePeriod entries).
const MaxPeriods = 1024

// Period is one step of a schedule: from Start (after the schedule's
// start) the rate is at most Limit.
type Period struct {
	Start  time.Duration
	Limit  float64
	Phases int // 0: not said
}

// Schedule is a limit over time: Periods from Start, for Duration (0: until
// further notice).
type Schedule struct {
	Start    time.Time
	Duration time.Duration
	Unit     Unit
	Periods  []Period
}

// Needs is what an EV asks for (NotifyEVChargingNeeds).
type Needs struct {
	DC bool
	// Phases an AC EV charges on (1–3).
	Phases int
	// MinCurrent and MaxCurrent (A) per phase on AC, MaxCurrent in total on DC.
	MinCurrent, MaxCurrent float64
	// MaxPower (W, DC) and MaxVoltage (V, DC); 0: not said.
	MaxPower, MaxVoltage float64
	// Departure is when the EV leaves; zero: not said.
	Departure time.Time
	// MaxPeriods is the most periods the EV takes (maxScheduleTuples); 0:
	// not said.
	MaxPeriods int
}

// ErrNoRate: the EV said no maximum the schedule could keep to.
var ErrNoRate = errors.New("smartcharging: the EV gave no maximum current or power")

// Plan is the schedule for an EV from now: as fast as the EV may charge,
// within every limit in limits (the station's reported limits for the
// whole station and for the EVSE, the operator's profiles as
// OperatorLimits gives them), until its departure. AC schedules are
// in A per phase, DC ones in W. A limit in the other unit is converted
// (at NominalVoltage and the period's phases on AC, at the EV's maximum
// voltage on DC; a DC limit in A is ignored when the EV gave no voltage).
// Below the EV's minimum current it cannot charge, so the limit is 0 there.
// When the EV takes fewer periods than the limits make, neighbouring
// periods are merged keeping the lower limit, so the schedule stays
// within every limit.
func Plan(now time.Time, n Needs, limits []Schedule) (Schedule, error) {
	out := Schedule{Start: now, Unit: Amps}
	phases := min(max(n.Phases, 1), 3)
	evMax := n.MaxCurrent
	if n.DC {
		out.Unit, phases = Watts, 0
		evMax = n.MaxPower
		if evMax <= 0 {
			evMax = n.MaxCurrent * n.MaxVoltage
		}
	}
	if evMax <= 0 || math.IsNaN(evMax) || math.IsInf(evMax, 0) {
		return Schedule{}, ErrNoRate
	}
	var end time.Time
	if n.Departure.After(now) {
		end = n.Departure
		out.Duration = end.Sub(now)
	}

	// The rate can change only where some limit changes.
	cuts := []time.Time{now}
	inside := func(t time.Time) bool { return t.After(now) && (end.IsZero() || t.Before(end)) }
	for _, l := range limits {
		for _, p := range l.Periods {
			if t := l.Start.Add(p.Start); inside(t) {
				cuts = append(cuts, t)
			}
		}
		if t := l.Start.Add(l.Duration); l.Duration > 0 && inside(t) {
			cuts = append(cuts, t)
		}
	}
	slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
	cuts = slices.Compact(cuts)

	for _, t := range cuts {
		rate := evMax
		for _, l := range limits {
			if v, ok := l.at(t, out.Unit, phases, n); ok {
				rate = min(rate, v)
			}
		}
		if !n.DC && rate < n.MinCurrent {
			rate = 0
		}
		rate = math.Max(0, math.Floor(rate*10)/10) // one decimal, never above
		// Schedules count in whole seconds: changes within one second
		// share its period, at the lowest of their limits.
		start := t.Sub(now).Truncate(time.Second)
		if k := len(out.Periods); k > 0 && out.Periods[k-1].Start == start {
			out.Periods[k-1].Limit = min(out.Periods[k-1].Limit, rate)
			continue
		}
		out.Periods = append(out.Periods, Period{Start: start, Limit: rate, Phases: phases})
	}
	out.Periods = slices.CompactFunc(out.Periods, func(a, b Period) bool { return a.Limit == b.Limit })
	maxPeriods := MaxPeriods
	if n.MaxPeriods > 0 {
		maxPeriods = min(n.MaxPeriods, MaxPeriods)
	}
	out.Periods = merge(out.Periods, maxPeriods)
	return out, nil
}

// at is the limit l sets at t in unit, if it sets one.
func (l Schedule) at(t time.Time, unit Unit, phases int, n Needs) (float64, bool) {
	if t.Before(l.Start) || (l.Duration > 0 && !t.Before(l.Start.Add(l.Duration))) {
		return 0, false
	}
	i := -1
	for j, p := range l.Periods {
		if !t.Before(l.Start.Add(p.Start)) && (i < 0 || p.Start >= l.Periods[i].Start) {
			i = j
		}
	}
	if i < 0 {
		return 0, false
	}
	p := l.Periods[i]
	switch {
	case l.Unit == unit:
		return p.Limit, true
	case unit == Amps: // a W limit on an AC EV
		ph := phases
		if p.Phases > 0 {
			ph = p.Phases
		}
		return p.Limit / (NominalVoltage * float64(ph)), true
	case n.MaxVoltage > 0: // an A limit on a DC EV
		return p.Limit * n.MaxVoltage, true
	}
	return 0, false
}

// merge joins neighbouring periods, the closest limits first, keeping the
// lower one, until at most k are left.
func merge(ps []Period, k int) []Period {
	// Far too many: halve by pairs first, so the search below stays
	// quadratic in k, not in what the station reported.
	for len(ps) > 2*k {
		half := ps[:0]
		for i := 0; i < len(ps); i += 2 {
			p := ps[i]
			if i+1 < len(ps) {
				p.Limit = min(p.Limit, ps[i+1].Limit)
			}
			half = append(half, p)
		}
		ps = half
	}
	for len(ps) > k {
		best := 1
		for i := 2; i < len(ps); i++ {
			if math.Abs(ps[i].Limit-ps[i-1].Limit) < math.Abs(ps[best].Limit-ps[best-1].Limit) {
				best = i
			}
		}
		ps[best-1].Limit = min(ps[best-1].Limit, ps[best].Limit)
		ps = slices.Delete(ps, best, best+1)
	}
	return ps
}
