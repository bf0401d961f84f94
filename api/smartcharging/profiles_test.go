package smartcharging

import (
	"testing"
	"time"

	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// profile is an operator profile of one schedule; periods are start
// (seconds) and limit pairs.
func profile(purpose ocpp201.ChargingProfilePurposeEnum, kind ocpp201.ChargingProfileKindEnum, level int, unit Unit,
	start time.Time, periods ...float64) ocpp201.ChargingProfile {
	cs := ocpp201.ChargingSchedule{Id: 1, StartSchedule: start, ChargingRateUnit: ocpp201.ChargingRateUnitEnum(unit)}
	for i := 0; i+1 < len(periods); i += 2 {
		cs.ChargingSchedulePeriod = append(cs.ChargingSchedulePeriod, ocpp201.ChargingSchedulePeriod{StartPeriod: int(periods[i]), Limit: periods[i+1]})
	}
	return ocpp201.ChargingProfile{Id: level + 1, StackLevel: level, ChargingProfilePurpose: purpose, ChargingProfileKind: kind,
		ChargingSchedule: []ocpp201.ChargingSchedule{cs}}
}

const (
	maxP      = ocpp201.ChargingProfilePurposeChargingStationMaxProfile
	defaultP  = ocpp201.ChargingProfilePurposeTxDefaultProfile
	absolute  = ocpp201.ChargingProfileKindAbsolute
	relative  = ocpp201.ChargingProfileKindRelative
	recurring = ocpp201.ChargingProfileKindRecurring
)

func TestOperatorLimits(t *testing.T) {
	ac3 := Needs{Phases: 3, MinCurrent: 6, MaxCurrent: 32, Departure: t0.Add(12 * time.Hour)}
	open := Needs{Phases: 3, MinCurrent: 6, MaxCurrent: 32}
	txStart := t0.Add(-30 * time.Minute)
	with := func(p ocpp201.ChargingProfile, f func(*ocpp201.ChargingProfile)) ocpp201.ChargingProfile {
		f(&p)
		return p
	}
	installed := func(evse int, ps ...ocpp201.ChargingProfile) []InstalledProfile {
		var out []InstalledProfile
		for _, p := range ps {
			out = append(out, InstalledProfile{EVSEID: evse, InstalledAt: t0.Add(-24 * time.Hour), Profile: p})
		}
		return out
	}
	cases := []struct {
		name     string
		needs    Needs
		profiles []InstalledProfile
		want     string
	}{
		{name: "a station max of 16 A caps the EVSE", needs: ac3,
			profiles: installed(0, profile(maxP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 16)),
			want:     "[0s 16/3]"},
		{name: "a station max in W converts at 230 V on the EV's phases", needs: ac3,
			profiles: installed(0, profile(maxP, absolute, 0, Watts, time.Time{}, 0, 11040)),
			want:     "[0s 16/3]"},
		{name: "an absolute max starting later, then ending with its duration", needs: ac3,
			profiles: installed(0, with(profile(maxP, absolute, 0, Amps, t0.Add(time.Hour), 0, 10), func(p *ocpp201.ChargingProfile) {
				d := 1800
				p.ChargingSchedule[0].Duration = &d
			})),
			want: "[0s 32/3][1h0m0s 10/3][1h30m0s 32/3]"},
		{name: "validFrom and validTo bound a profile", needs: ac3,
			profiles: installed(0, with(profile(maxP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 12), func(p *ocpp201.ChargingProfile) {
				p.ValidFrom, p.ValidTo = t0.Add(2*time.Hour), t0.Add(3*time.Hour)
			})),
			want: "[0s 32/3][2h0m0s 12/3][3h0m0s 32/3]"},
		{name: "an expired profile sets nothing", needs: ac3,
			profiles: installed(0, with(profile(maxP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 12), func(p *ocpp201.ChargingProfile) {
				p.ValidTo = t0.Add(-time.Minute)
			})),
			want: "[0s 32/3]"},
		{name: "TxDefault on the EVSE leads the station's at the same level; a higher level leads both while it has a period",
			needs: ac3,
			profiles: append(append(installed(0,
				profile(defaultP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 20),
				with(profile(defaultP, absolute, 2, Amps, t0.Add(time.Hour), 0, 25), func(p *ocpp201.ChargingProfile) {
					d := 3600
					p.ChargingSchedule[0].Duration = &d
				})),
				installed(1, profile(defaultP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 10))...),
				installed(0, profile(maxP, absolute, 0, Amps, t0.Add(-time.Hour), 0, 24))...),
			want: "[0s 10/3][1h0m0s 24/3][2h0m0s 10/3]"},
		{name: "another EVSE's profiles and TxProfiles are no limit", needs: ac3,
			profiles: append(installed(2, profile(defaultP, absolute, 0, Amps, t0, 0, 8)),
				installed(1, profile(ocpp201.ChargingProfilePurposeTxProfile, absolute, 0, Amps, t0, 0, 8))...),
			want: "[0s 32/3]"},
		{name: "relative starts with the transaction", needs: ac3,
			profiles: installed(1, profile(defaultP, relative, 0, Amps, time.Time{}, 0, 32, 3600, 8)),
			want:     "[0s 32/3][30m0s 8/3]"},
		{name: "recurring daily from 18:00: 10 A for 4 h, then 32 A", needs: ac3,
			profiles: installed(0, with(profile(maxP, recurring, 0, Amps, time.Date(2025, 12, 1, 18, 0, 0, 0, time.UTC), 0, 10, 4*3600, 32),
				func(p *ocpp201.ChargingProfile) { p.RecurrencyKind = ocpp201.RecurrencyKindDaily })),
			want: "[0s 32/3][10h0m0s 10/3]"},
		{name: "recurring without a departure: two days followed, then its lowest limit", needs: open,
			profiles: installed(0, with(profile(maxP, recurring, 0, Amps, time.Date(2025, 12, 1, 18, 0, 0, 0, time.UTC), 0, 10, 2*3600, 32),
				func(p *ocpp201.ChargingProfile) { p.RecurrencyKind = ocpp201.RecurrencyKindDaily })),
			want: "[0s 32/3][10h0m0s 10/3][12h0m0s 32/3][34h0m0s 10/3][36h0m0s 32/3][58h0m0s 10/3]"},
		{name: "recurring weekly with a duration: a gap between repetitions", needs: Needs{Phases: 1, MaxCurrent: 16, Departure: t0.Add(8 * 24 * time.Hour)},
			profiles: installed(0, with(profile(defaultP, recurring, 0, Amps, t0.Add(-7*24*time.Hour+time.Hour), 0, 6), func(p *ocpp201.ChargingProfile) {
				p.RecurrencyKind = ocpp201.RecurrencyKindWeekly
				d := 3600
				p.ChargingSchedule[0].Duration = &d
			})),
			want: "[0s 16/1][1h0m0s 6/1][2h0m0s 16/1][169h0m0s 6/1][170h0m0s 16/1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			end := time.Time{}
			if c.needs.Departure.After(t0) {
				end = c.needs.Departure
			}
			s, err := Plan(t0, c.needs, OperatorLimits(t0, end, 1, txStart, c.profiles))
			if err != nil {
				t.Fatal(err)
			}
			if got := periods(s); got != c.want {
				t.Errorf("Plan = %s, want %s", got, c.want)
			}
		})
	}
}

// Whatever the operator's profiles, the plan never asks for more than
// any of them allows at any second (checked against their layers).
func TestOperatorLimitsNeverExceeded(t *testing.T) {
	ps := []InstalledProfile{
		{Profile: func() ocpp201.ChargingProfile {
			p := profile(maxP, recurring, 0, Amps, t0.Add(-3*time.Hour), 0, 16, 1800, 9, 5400, 20)
			p.RecurrencyKind = ocpp201.RecurrencyKindDaily
			return p
		}()},
		{Profile: profile(maxP, absolute, 3, Watts, t0.Add(20*time.Minute), 0, 4140, 7200, 13800)},
		{EVSEID: 1, Profile: profile(defaultP, relative, 1, Amps, time.Time{}, 0, 12, 600, 30)},
	}
	n := Needs{Phases: 3, MinCurrent: 6, MaxCurrent: 32, Departure: t0.Add(30 * time.Hour)}
	s, err := Plan(t0, n, OperatorLimits(t0, n.Departure, 1, t0, ps))
	if err != nil {
		t.Fatal(err)
	}
	var maxL, defL []layer
	for _, ip := range ps {
		ls := layersOf(ip, t0, n.Departure, t0)
		if ip.Profile.ChargingProfilePurpose == maxP {
			maxL = append(maxL, ls...)
		} else {
			defL = append(defL, ls...)
		}
	}
	lead := func(ls []layer, at time.Time) (float64, bool) {
		best := -1
		var v Period
		for i, l := range ls {
			if p, ok := l.at(at); ok && (best < 0 || l.level > ls[best].level) {
				best, v = i, p
			}
		}
		if best < 0 {
			return 0, false
		}
		if ls[best].s.Unit == Watts {
			return v.Limit / (NominalVoltage * 3), true
		}
		return v.Limit, true
	}
	for at := time.Duration(0); at < 30*time.Hour; at += time.Minute {
		var allowed float64 = 32
		for _, ls := range [][]layer{maxL, defL} {
			if v, ok := lead(ls, t0.Add(at)); ok {
				allowed = min(allowed, v)
			}
		}
		got := 0.0
		for _, p := range s.Periods {
			if p.Start <= at {
				got = p.Limit
			}
		}
		if got > allowed+1e-9 {
			t.Fatalf("at %v the plan asks %g, the profiles allow %g (%s)", at, got, allowed, periods(s))
		}
	}
}
