package schema

import "github.com/chargeplane/chargeplane/pkg/ocppj"

// directions says who may send which CALL (pkg/ocppj lists them).
var directions = map[ocppj.Version]struct{ charger, csms []string }{
	ocppj.V16:  {charger: ocppj.ChargerActions(ocppj.V16), csms: ocppj.CSMSActions(ocppj.V16)},
	ocppj.V201: {charger: ocppj.ChargerActions(ocppj.V201), csms: ocppj.CSMSActions(ocppj.V201)},
}
