package smartcharging

import (
	"testing"

	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

func TestNeedsPolicy(t *testing.T) {
	for in, want := range map[string]struct {
		status ocpp201.NotifyEVChargingNeedsStatusEnum
		plan   bool
	}{
		"":           {ocpp201.NotifyEVChargingNeedsStatusAccepted, true},
		"accept":     {ocpp201.NotifyEVChargingNeedsStatusAccepted, true},
		"Processing": {ocpp201.NotifyEVChargingNeedsStatusProcessing, true},
		" reject ":   {ocpp201.NotifyEVChargingNeedsStatusRejected, false},
	} {
		p, ok := ParseNeedsPolicy(in)
		if !ok {
			t.Errorf("%q refused", in)
			continue
		}
		if status, plan := p.Answer(); status != want.status || plan != want.plan {
			t.Errorf("%q answers %s, plan %v; want %s, %v", in, status, plan, want.status, want.plan)
		}
	}
	if _, ok := ParseNeedsPolicy("later"); ok {
		t.Error("an unknown policy was accepted")
	}
}

// Replan marks coalesce per EVSE and are bounded: beyond MaxReplans a new
// mark is dropped. Under the reject policy nothing is marked.
func TestReplanMarksBounded(t *testing.T) {
	s := New(Config{MaxReplans: 2})
	for _, k := range []evse{{"A", 1}, {"A", 1}, {"B", 0}, {"C", 2}} {
		s.Replan(k.station, k.id)
	}
	if len(s.dirty) != 2 {
		t.Errorf("marks %v, want A/1 and B/0", s.dirty)
	}
	if _, ok := s.dirty[evse{"C", 2}]; ok {
		t.Error("a mark beyond the bound was kept")
	}
	r := New(Config{Policy: NeedsReject})
	r.Replan("A", 1)
	if len(r.dirty) != 0 {
		t.Errorf("marked under the reject policy: %v", r.dirty)
	}
}
