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
