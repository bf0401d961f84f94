package smartcharging

import (
	"strings"

	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// NeedsPolicy is how the CSMS answers an EV's charging needs (K15,
// EV_CHARGING_NEEDS).
type NeedsPolicy string

const (
	// NeedsAccept answers Accepted and sends a schedule (the default).
	NeedsAccept NeedsPolicy = "accept"
	// NeedsProcessing answers Processing: the station waits while the
	// CSMS works it out; the schedule follows all the same.
	NeedsProcessing NeedsPolicy = "processing"
	// NeedsReject answers Rejected and sends nothing: the station charges
	// within its own limits. The needs are kept.
	NeedsReject NeedsPolicy = "reject"
)

// ParseNeedsPolicy reads a setting (any case); empty is NeedsAccept, an
// unknown one false.
func ParseNeedsPolicy(s string) (NeedsPolicy, bool) {
	switch p := NeedsPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return NeedsAccept, true
	case NeedsAccept, NeedsProcessing, NeedsReject:
		return p, true
	}
	return "", false
}

// Answer is the status the policy answers needs with, and whether a
// schedule is to be sent for them.
func (p NeedsPolicy) Answer() (ocpp201.NotifyEVChargingNeedsStatusEnum, bool) {
	switch p {
	case NeedsProcessing:
		return ocpp201.NotifyEVChargingNeedsStatusProcessing, true
	case NeedsReject:
		return ocpp201.NotifyEVChargingNeedsStatusRejected, false
	}
	return ocpp201.NotifyEVChargingNeedsStatusAccepted, true
}
