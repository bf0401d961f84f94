package smartcharging

import (
	"cmp"
	"slices"
	"time"

	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// InstalledProfile is a charging profile a station accepted from the CSMS
// (SetChargingProfile), as the planner reads it.
type InstalledProfile struct {
	// EVSEID is the EVSE it was set on; 0 is the whole station.
	EVSEID int
	// InstalledAt is when the station accepted it: an Absolute or
	// Recurring schedule without a startSchedule (or validFrom) is taken
	// to start then, as it did on the station.
	InstalledAt time.Time
	Profile     ocpp201.ChargingProfile
}

// Recurrences of a Recurring profile.
const (
	day  = 24 * time.Hour
	week = 7 * day
)

// OperatorLimits are the limits the operator's own charging profiles set
// on evseID from now until end (zero: no end), as schedules Plan keeps
// within. OCPP 2.0.1 K (composite schedule, "stacking" and "combining
// purposes") has the station apply, at each moment, the lowest of the
// leading profile of each purpose; the leading profile of a purpose is the
// one of the highest stackLevel that is valid then and has a period for
// that moment. The TxProfile the planner sends replaces the TxDefaultProfile
// on the station for the transaction, so both purposes that stay the
// operator's are made limits here:
//
//   - ChargingStationMaxProfile caps the whole station. A plan is for one
//     EVSE, and one EVSE can never draw more than the whole station, so it
//     is taken as a cap on that EVSE: exact while one EV charges. With
//     several EVs charging their TxProfiles may add up to more than it;
//     the station then holds them within it itself (it combines its
//     ChargingStationMaxProfile with every EVSE's schedule), so the CSMS
//     does not split it between them (that would need every EVSE's plan
//     redone whenever a transaction starts or ends).
//   - TxDefaultProfile, set on this EVSE or on the whole station (evseId 0,
//     which applies to each EVSE): the operator's default for a
//     transaction, which the TxProfile would otherwise bypass. Profiles on
//     the EVSE and on the station form one stack; at the same stackLevel
//     the EVSE's leads.
//
// Kinds: Absolute starts at its startSchedule (without one at validFrom,
// else when installed); Relative at txStart (the transaction's start;
// zero: now); Recurring repeats its schedule daily or weekly from its
// startSchedule, each repetition ending at the next (or at its duration).
// A recurring profile is followed until end; without an end, for two
// repetitions, and after that it holds the lowest limit of its schedule,
// which never lets the plan ask for more than the profile would. A
// Recurring profile without a recurrencyKind is taken as Absolute.
// validFrom and validTo bound every kind. Only the first chargingSchedule
// of a profile counts (2.0.1 allows more only for ISO 15118 TxProfiles).
// Limits in A or W are converted by Plan as the station's reported ones.
// TxProfiles are not limits: the planner's own would bound its next plan,
// and an operator's TxProfile for the transaction is not looked at.
func OperatorLimits(now, end time.Time, evseID int, txStart time.Time, ps []InstalledProfile) []Schedule {
	if !end.IsZero() && !end.After(now) {
		end = time.Time{}
	}
	var maxLayers, defaultLayers []layer
	for _, ip := range ps {
		if ip.EVSEID != 0 && ip.EVSEID != evseID {
			continue
		}
		switch ip.Profile.ChargingProfilePurpose {
		case ocpp201.ChargingProfilePurposeChargingStationMaxProfile:
			maxLayers = append(maxLayers, layersOf(ip, now, end, txStart)...)
		case ocpp201.ChargingProfilePurposeTxDefaultProfile:
			defaultLayers = append(defaultLayers, layersOf(ip, now, end, txStart)...)
		}
	}
	return append(stack(now, end, maxLayers), stack(now, end, defaultLayers)...)
}

// layer is one occurrence of a profile's schedule: it sets the limit from
// from until to (zero: no end) where its schedule has a period.
type layer struct {
	level int
	evse  bool // set on an EVSE, not the whole station
	id    int
	from  time.Time
	to    time.Time
	s     Schedule
}

// at is the limit the layer sets at t, with its unit and phases.
func (l layer) at(t time.Time) (Period, bool) {
	if t.Before(l.from) || (!l.to.IsZero() && !t.Before(l.to)) {
		return Period{}, false
	}
	i := -1
	for j, p := range l.s.Periods {
		if !t.Before(l.s.Start.Add(p.Start)) && (i < 0 || p.Start >= l.s.Periods[i].Start) {
			i = j
		}
	}
	if i < 0 {
		return Period{}, false
	}
	return l.s.Periods[i], true
}

// layersOf are the occurrences of a profile's schedule that matter from
// now until end.
func layersOf(ip InstalledProfile, now, end, txStart time.Time) []layer {
	p := ip.Profile
	if len(p.ChargingSchedule) == 0 || len(p.ChargingSchedule[0].ChargingSchedulePeriod) == 0 {
		return nil
	}
	cs := p.ChargingSchedule[0]
	base := layer{level: p.StackLevel, evse: ip.EVSEID != 0, id: p.Id, s: Schedule{Unit: Unit(cs.ChargingRateUnit)}}
	lowest := Period{Limit: cs.ChargingSchedulePeriod[0].Limit}
	for _, sp := range cs.ChargingSchedulePeriod {
		base.s.Periods = append(base.s.Periods, Period{Start: time.Duration(sp.StartPeriod) * time.Second, Limit: sp.Limit,
			Phases: deref(sp.NumberPhases)})
		if sp.Limit < lowest.Limit {
			lowest.Limit = sp.Limit
		}
	}
	var dur time.Duration
	if cs.Duration != nil && *cs.Duration > 0 {
		dur = time.Duration(*cs.Duration) * time.Second
	}
	start := cs.StartSchedule
	if start.IsZero() {
		start = p.ValidFrom
	}
	if start.IsZero() {
		start = ip.InstalledAt
	}
	if start.IsZero() {
		start = now
	}
	var rec time.Duration
	switch p.ChargingProfileKind {
	case ocpp201.ChargingProfileKindRelative:
		start = txStart
		if start.IsZero() {
			start = now
		}
	case ocpp201.ChargingProfileKindRecurring:
		switch p.RecurrencyKind {
		case ocpp201.RecurrencyKindDaily:
			rec = day
		case ocpp201.RecurrencyKindWeekly:
			rec = week
		}
	}

	// clip bounds an occurrence by the profile's validity; false when
	// nothing of it is left from now on.
	clip := func(l layer) (layer, bool) {
		if !p.ValidFrom.IsZero() && l.from.Before(p.ValidFrom) {
			l.from = p.ValidFrom
		}
		if !p.ValidTo.IsZero() && (l.to.IsZero() || p.ValidTo.Before(l.to)) {
			l.to = p.ValidTo
		}
		if !l.to.IsZero() && (!l.to.After(l.from) || !l.to.After(now)) {
			return l, false
		}
		return l, end.IsZero() || l.from.Before(end)
	}
	occurrence := func(at time.Time, length time.Duration) layer {
		l := base
		l.s.Start, l.from = at, at
		if length > 0 {
			l.to = at.Add(length)
		}
		return l
	}

	if rec == 0 {
		if l, ok := clip(occurrence(start, dur)); ok {
			return []layer{l}
		}
		return nil
	}
	// The occurrence under way at now (the first one, if none is yet),
	// then every one until end or the horizon.
	at := start
	if now.After(start) {
		at = start.Add(now.Sub(start) / rec * rec)
	}
	horizon := end
	if horizon.IsZero() {
		horizon = now.Add(2 * rec)
	}
	length := rec
	if dur > 0 && dur < rec {
		length = dur
	}
	var out []layer
	for ; at.Before(horizon); at = at.Add(rec) {
		if l, ok := clip(occurrence(at, length)); ok {
			out = append(out, l)
		}
	}
	if end.IsZero() {
		// Past the horizon: the schedule's lowest limit, for good.
		tail := base
		tail.s.Start, tail.from = at, at
		tail.s.Periods = []Period{lowest}
		if l, ok := clip(tail); ok {
			out = append(out, l)
		}
	}
	return out
}

// stack is the limit of one purpose's layers over time: at each moment
// the leading layer's (highest stackLevel, then the EVSE's before the
// station's, then the highest id, for a stable answer), as schedules of one
// unit each; where no layer sets a limit there is none.
func stack(now, end time.Time, layers []layer) []Schedule {
	if len(layers) == 0 {
		return nil
	}
	slices.SortStableFunc(layers, func(a, b layer) int {
		if c := cmp.Compare(b.level, a.level); c != 0 {
			return c
		}
		if a.evse != b.evse {
			if a.evse {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.id, a.id)
	})
	cuts := []time.Time{now}
	add := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (end.IsZero() || t.Before(end)) {
			cuts = append(cuts, t)
		}
	}
	for _, l := range layers {
		add(l.from)
		add(l.to)
		for _, p := range l.s.Periods {
			add(l.s.Start.Add(p.Start))
		}
	}
	slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
	cuts = slices.Compact(cuts)

	var out []Schedule
	var cur *Schedule
	closeAt := func(t time.Time) {
		if cur != nil {
			if !t.IsZero() {
				cur.Duration = t.Sub(cur.Start)
			}
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, t := range cuts {
		var lead *layer
		var p Period
		for i := range layers {
			if v, ok := layers[i].at(t); ok {
				lead, p = &layers[i], v
				break
			}
		}
		switch {
		case lead == nil:
			closeAt(t)
		case cur != nil && cur.Unit == lead.s.Unit:
			last := cur.Periods[len(cur.Periods)-1]
			if last.Limit != p.Limit || last.Phases != p.Phases {
				cur.Periods = append(cur.Periods, Period{Start: t.Sub(cur.Start), Limit: p.Limit, Phases: p.Phases})
			}
		default:
			closeAt(t)
			cur = &Schedule{Start: t, Unit: lead.s.Unit, Periods: []Period{{Limit: p.Limit, Phases: p.Phases}}}
		}
	}
	closeAt(end)
	return out
}
