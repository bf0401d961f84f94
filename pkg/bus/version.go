package bus

import (
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The envelope carries the OCPP version as an enum; these two functions are
// the only conversions between it and ocppj.Version.

// EnvelopeVersion is v as the envelope's ocpp_version.
func EnvelopeVersion(v ocppj.Version) busv1.OcppVersion {
	switch v {
	case ocppj.V16:
		return busv1.OcppVersion_OCPP_VERSION_16
	case ocppj.V201:
		return busv1.OcppVersion_OCPP_VERSION_201
	}
	return busv1.OcppVersion_OCPP_VERSION_UNSPECIFIED
}

// VersionOf is the OCPP version an envelope names; false when it names none.
func VersionOf(env *busv1.Envelope) (ocppj.Version, bool) {
	switch env.GetOcppVersion() {
	case busv1.OcppVersion_OCPP_VERSION_16:
		return ocppj.V16, true
	case busv1.OcppVersion_OCPP_VERSION_201:
		return ocppj.V201, true
	}
	return 0, false
}
