package energy

import "testing"

func TestSumOfRises(t *testing.T) {
	for _, tc := range []struct {
		name              string
		start, stop, want float64
		samples           []float64
	}{
		{"no reset", 100, 400, 300, []float64{150, 250}},
		{"a reset", 900, 100, 130, []float64{950, 20, 80}}, // 50 before it, 60 + 20 after
		{"nothing between", 10, 15, 5, nil},
		{"a drop alone counts nothing", 500, 20, 0, nil},
	} {
		if got := SumOfRises(tc.start, tc.samples, tc.stop); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestMeterFigures(t *testing.T) {
	noSeries := func() ([]float64, error) { t.Fatal("series loaded without a reset"); return nil, nil }
	for _, tc := range []struct {
		name                string
		m                   Meter
		series              []float64
		start, stop, energy *float64
	}{
		{"reported start and stop", Meter{ReportedStart: ptr(100), ReportedStop: ptr(400), First: ptr(150), Last: ptr(350)}, nil, ptr(100), ptr(400), ptr(300)},
		{"readings stand in", Meter{First: ptr(150), Last: ptr(350)}, nil, ptr(150), ptr(350), ptr(200)},
		{"active: energy so far", Meter{ReportedStart: ptr(100), Last: ptr(350)}, nil, ptr(100), ptr(350), ptr(250)},
		{"no readings yet", Meter{ReportedStart: ptr(100)}, nil, ptr(100), nil, nil},
		{"nothing", Meter{}, nil, nil, nil, nil},
		{"a reset", Meter{ReportedStart: ptr(900), ReportedStop: ptr(100), First: ptr(950), Last: ptr(80)}, []float64{950, 20, 80}, ptr(900), ptr(100), ptr(130)},
	} {
		series := noSeries
		if tc.series != nil {
			series = func() ([]float64, error) { return tc.series, nil }
		}
		f, err := tc.m.Figures(series)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what      string
			got, want *float64
		}{{"start", f.Start, tc.start}, {"stop", f.Stop, tc.stop}, {"energy", f.Energy, tc.energy}} {
			if (c.got == nil) != (c.want == nil) || c.got != nil && *c.got != *c.want {
				t.Errorf("%s: %s = %v, want %v", tc.name, c.what, deref(c.got), deref(c.want))
			}
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestWh(t *testing.T) {
	for _, tc := range []struct {
		measurand, unit string
		mult            int
		value           string
		want            float64
		ok              bool
	}{
		{"Energy.Active.Import.Register", "", 0, "1500", 1500, true},
		{"Energy.Active.Import.Register", "kWh", 0, " 1.5 ", 1500, true},
		{"Energy.Active.Import.Register", "Wh", 3, "2", 2000, true},
		{"Energy.Active.Export.Interval", "Wh", 0, "7", 7, true},
		{"Power.Active.Import", "W", 0, "7", 0, false},
		{"Energy.Active.Import.Register", "varh", 0, "7", 0, false},
		{"Energy.Active.Import.Register", "Wh", 0, "NaN", 0, false},
		{"Energy.Active.Import.Register", "Wh", 0, "signed:abc", 0, false},
	} {
		got, ok := Wh(tc.measurand, tc.unit, tc.mult, tc.value)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Wh(%q, %q, %d, %q) = %v, %v; want %v, %v", tc.measurand, tc.unit, tc.mult, tc.value, got, ok, tc.want, tc.ok)
		}
	}
}
