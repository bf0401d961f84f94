package monitoring

import "testing"

func TestIsAlert(t *testing.T) {
	sev := func(v int) *int { return &v }
	cases := []struct {
		severity *int
		level    int
		want     bool
	}{
		{nil, 9, false},
		{sev(0), 0, true},
		{sev(1), 0, false},
		{sev(4), DefaultAlertSeverity, true},
		{sev(5), DefaultAlertSeverity, false},
		{sev(9), 9, true},
	}
	for _, c := range cases {
		if got := IsAlert(c.severity, c.level); got != c.want {
			t.Errorf("IsAlert(%v, %d) = %v, want %v", c.severity, c.level, got, c.want)
		}
	}
}
