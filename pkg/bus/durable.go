package bus

import busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"

// transientActions are the charger CALLs whose only effect is liveness (the
// station's last-seen time, itself written asynchronously): losing one with
// a crashing broker loses no charger data, and the charger, getting no
// answer, simply sends its next one. Everything else a charger sends
// carries data (transactions, meter values, statuses, boots, reports...).
var transientActions = map[string]bool{
	"Heartbeat": true,
}

// Durable reports whether an upstream envelope must survive a broker
// restart (RabbitMQ: a persistent message, confirmed once on disk) or may
// travel in memory only (a transient message, confirmed once routed): every
// envelope is durable except a CALL whose action is in transientActions.
// Either way a charger is answered only after the core committed the
// message's effects, so what it saw acknowledged is never lost; durability
// decides only whether a message the broker held when it crashed is still
// handled after the restart, or left to the charger's retry.
func Durable(env *busv1.Envelope) bool {
	return env.GetKind() != busv1.Kind_KIND_FRAME || !transientActions[env.GetAction()]
}
