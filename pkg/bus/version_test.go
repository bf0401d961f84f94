package bus

import (
	"testing"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestEnvelopeVersion(t *testing.T) {
	for _, v := range ocppj.Versions {
		e := EnvelopeVersion(v)
		if e == busv1.OcppVersion_OCPP_VERSION_UNSPECIFIED {
			t.Fatalf("%s has no envelope value", v)
		}
		if back, ok := VersionOf(&busv1.Envelope{OcppVersion: e}); !ok || back != v {
			t.Errorf("%s → %s → %v %v", v, e, back, ok)
		}
	}
	if e := EnvelopeVersion(0); e != busv1.OcppVersion_OCPP_VERSION_UNSPECIFIED {
		t.Errorf("unknown version → %s", e)
	}
	if v, ok := VersionOf(&busv1.Envelope{}); ok || v != 0 {
		t.Errorf("envelope without a version → %v %v", v, ok)
	}
}
