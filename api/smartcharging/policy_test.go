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
