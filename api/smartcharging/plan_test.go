package smartcharging

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)

func periods(s Schedule) string {
	out := ""
	for _, p := range s.Periods {
		out += fmt.Sprintf("[%v %g/%d]", p.Start, p.Limit, p.Phases)
	}
	return out
}

func TestPlan(t *testing.T) {
	ac3 := Needs{Phases: 3, MinCurrent: 6, MaxCurrent: 32, Departure: t0.Add(4 * time.Hour)}
	cases := []struct {
		name   string
		needs  Needs
		limits []Schedule
		unit   Unit
		dur    time.Duration
		want   string
	}{
		{name: "EV alone: its maximum until departure", needs: ac3, unit: Amps, dur: 4 * time.Hour,
			want: "[0s 32/3]"},
		{name: "station limit below the EV's, changing in an hour", needs: ac3, unit: Amps, dur: 4 * time.Hour,
			limits: []Schedule{{Start: t0.Add(-time.Hour), Unit: Amps, Periods: []Period{{0, 20, 0}, {2 * time.Hour, 40, 0}}}},
			want:   "[0s 20/3][1h0m0s 32/3]"},
		{name: "a W limit converts at 230 V on the EV's phases; below the EV's minimum it is 0", needs: ac3, unit: Amps, dur: 4 * time.Hour,
			limits: []Schedule{{Start: t0, Unit: Watts, Periods: []Period{{0, 11040, 0}, {30 * time.Minute, 2760, 0}, {time.Hour, 22080, 0}}}},
			want:   "[0s 16/3][30m0s 0/3][1h0m0s 32/3]"},
		{name: "a limit that ends, and one that starts later, the lowest wins", needs: ac3, unit: Amps, dur: 4 * time.Hour,
			limits: []Schedule{
				{Start: t0, Duration: time.Hour, Unit: Amps, Periods: []Period{{0, 10, 0}}},
				{Start: t0.Add(2 * time.Hour), Unit: Amps, Periods: []Period{{0, 25, 0}}},
				{Start: t0.Add(5 * time.Hour), Unit: Amps, Periods: []Period{{0, 8, 0}}}, // after departure
			},
			want: "[0s 10/3][1h0m0s 32/3][2h0m0s 25/3]"},
		{name: "DC in W; an A limit converts at the EV's voltage", needs: Needs{DC: true, MaxCurrent: 200, MaxVoltage: 400, MaxPower: 50000},
			limits: []Schedule{{Start: t0.Add(10 * time.Minute), Unit: Amps, Periods: []Period{{0, 100, 0}}}}, unit: Watts,
			want: "[0s 50000/0][10m0s 40000/0]"},
		{name: "DC without a power: current times voltage", needs: Needs{DC: true, MaxCurrent: 100, MaxVoltage: 500}, unit: Watts,
			want: "[0s 50000/0]"},
		{name: "the EV takes two periods: neighbours merged, the lower kept", needs: Needs{Phases: 1, MaxCurrent: 32, MaxPeriods: 2}, unit: Amps,
			limits: []Schedule{{Start: t0, Unit: Amps, Periods: []Period{{0, 10, 0}, {time.Hour, 12, 0}, {2 * time.Hour, 30, 0}}}},
			want:   "[0s 10/1][2h0m0s 30/1]"},
		{name: "departure in the past: open-ended", needs: Needs{Phases: 2, MaxCurrent: 16, Departure: t0.Add(-time.Minute)}, unit: Amps,
			want: "[0s 16/2]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Plan(t0, c.needs, c.limits)
			if err != nil {
				t.Fatal(err)
			}
			if got := periods(s); got != c.want || s.Unit != c.unit || s.Duration != c.dur || !s.Start.Equal(t0) {
				t.Errorf("Plan = %s %s for %v from %v, want %s %s for %v", got, s.Unit, s.Duration, s.Start, c.want, c.unit, c.dur)
			}
		})
	}
}

func TestPlanWithoutRate(t *testing.T) {
	for _, n := range []Needs{{Phases: 3}, {DC: true, MaxCurrent: 100}} {
		if _, err := Plan(t0, n, nil); !errors.Is(err, ErrNoRate) {
			t.Errorf("Plan(%+v) = %v, want ErrNoRate", n, err)
		}
	}
}

// A station reporting its limits in thousands of periods still gets a
// schedule within them, of the most periods the schema allows.
func TestPlanBoundsPeriods(t *testing.T) {
	var ps []Period
	for i := range 3000 {
		ps = append(ps, Period{Start: time.Duration(i) * time.Minute, Limit: float64(6 + i%20)})
	}
	lim := Schedule{Start: t0, Unit: Amps, Periods: ps}
	s, err := Plan(t0, Needs{Phases: 3, MaxCurrent: 32}, []Schedule{lim})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Periods) > MaxPeriods || len(s.Periods) < 2 {
		t.Fatalf("%d periods", len(s.Periods))
	}
	for i, p := range s.Periods {
		end := time.Duration(1 << 62)
		if i+1 < len(s.Periods) {
			end = s.Periods[i+1].Start
		}
		for at := p.Start; at < end && at < 3000*time.Minute; at += time.Minute {
			if v, _ := lim.at(t0.Add(at), Amps, 3, Needs{}); p.Limit > v {
				t.Fatalf("period %d allows %g at %v, the limit is %g", i, p.Limit, at, v)
			}
		}
	}
}
