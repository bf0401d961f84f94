package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Label values are bounded: an action or an error code a charger made up
// is counted as Other, never as itself, so no caller can grow the number
// of series. A station id is never a label.
const Other = "other"

// Directions of an OCPP message.
const (
	ChargerToCSMS = "charger_to_csms"
	CSMSToCharger = "csms_to_charger"
)

// OutcomeResult is the outcome of a CALL answered with a CALLRESULT; a
// CALLERROR's outcome is its error code.
const OutcomeResult = "CALLRESULT"

// latencyBuckets span a Heartbeat answered from memory (1 ms) to a CALL
// that waited on a slow database (10 s).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Gateway counts what one gateway sees: its chargers' connections, the
// core's admission decisions and how long chargers wait for answers. A nil
// *Gateway counts nothing.
type Gateway struct {
	connections *prometheus.GaugeVec
	admissions  *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	violations  *prometheus.CounterVec
	leasesLost  prometheus.Counter
}

// Protocol violations the gateway closes a socket for
// (chargeplane_gateway_protocol_violations_total{violation}).
const (
	// ViolationInvalidUTF8: a text frame that is not valid UTF-8, closed
	// with 1007 (RFC 6455 section 8.1).
	ViolationInvalidUTF8 = "invalid_utf8"
)

// Admission outcomes (chargeplane_gateway_admissions_total{outcome}).
const (
	AdmissionAccepted       = "accepted"
	AdmissionUnknownStation = "unknown_station"
	AdmissionUnauthorized   = "unauthorized"
	AdmissionTryLater       = "try_later"
	AdmissionCoreError      = "core_unavailable"
	AdmissionDraining       = "draining"
	AdmissionNoSubprotocol  = "no_subprotocol"
	AdmissionHandshake      = "handshake_failed"
)

// NewGateway registers gateway gatewayID's metrics on reg.
func NewGateway(reg prometheus.Registerer, gatewayID string) *Gateway {
	gw := prometheus.Labels{"gateway": gatewayID}
	g := &Gateway{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chargeplane_gateway_connections", ConstLabels: gw,
			Help: "Chargers connected to this gateway, by OCPP version.",
		}, []string{"ocpp_version"}),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_gateway_admissions_total", ConstLabels: gw,
			Help: "WebSocket connection attempts by outcome (accepted, unknown_station, unauthorized, try_later, core_unavailable, draining, no_subprotocol, handshake_failed).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chargeplane_ocpp_call_duration_seconds", ConstLabels: gw,
			Help:    "Charger CALLs from the gateway reading the frame to the gateway handing the core's answer to the socket, by action.",
			Buckets: latencyBuckets,
		}, []string{"ocpp_version", "action"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_gateway_protocol_violations_total", ConstLabels: gw,
			Help: "Sockets closed because the charger broke the WebSocket protocol, by violation (invalid_utf8).",
		}, []string{"violation"}),
		leasesLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chargeplane_gateway_leases_lost_total", ConstLabels: gw,
			Help: "Renewals that found this gateway's lease expired (the core had marked its stations disconnected); each closes the gateway's sockets with 1012 so that the chargers reconnect.",
		}),
	}
	reg.MustRegister(g.connections, g.admissions, g.latency, g.violations, g.leasesLost)
	g.violations.WithLabelValues(ViolationInvalidUTF8)
	for _, v := range []ocppj.Version{ocppj.V16, ocppj.V201} {
		g.connections.WithLabelValues(v.String())
	}
	return g
}

// Connected counts a charger in (delta 1) or out (delta -1).
func (g *Gateway) Connected(v ocppj.Version, delta float64) {
	if g == nil {
		return
	}
	g.connections.WithLabelValues(v.String()).Add(delta)
}

// Admission counts a connection attempt's outcome.
func (g *Gateway) Admission(outcome string) {
	if g == nil {
		return
	}
	g.admissions.WithLabelValues(outcome).Inc()
}

// Violation counts a socket closed for a protocol violation.
func (g *Gateway) Violation(violation string) {
	if g == nil {
		return
	}
	g.violations.WithLabelValues(violation).Inc()
}

// LeaseLost counts a renewal that found the gateway's lease expired.
func (g *Gateway) LeaseLost() {
	if g == nil {
		return
	}
	g.leasesLost.Inc()
}

// Answered observes a charger CALL's round trip through the core. action
// comes from the core's reply, which names only actions it knows.
func (g *Gateway) Answered(v ocppj.Version, action string, d time.Duration) {
	if g == nil {
		return
	}
	g.latency.WithLabelValues(v.String(), ActionLabel(v, action)).Observe(d.Seconds())
}

// Core counts what the core does with OCPP messages: every message by
// action, direction and outcome, how long the handlers take, operator
// commands, stations of expired gateway leases, refused control-plane
// calls and throttled admissions. A nil *Core counts nothing.
type Core struct {
	messages *prometheus.CounterVec
	handler  *prometheus.HistogramVec
	commands *prometheus.CounterVec
	expired  prometheus.Counter
	// calls to the control plane refused for want of the gateway secret
	unauthenticated prometheus.Counter
	// password admissions refused unchecked by a brute-force limit
	throttled *prometheus.CounterVec
}

// NewCore registers the core's metrics on reg.
func NewCore(reg prometheus.Registerer) *Core {
	c := &Core{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_ocpp_messages_total",
			Help: "OCPP CALLs by action, direction (charger_to_csms, csms_to_charger) and outcome (CALLRESULT, a CALLERROR code, or for commands timeout, not_connected, failed).",
		}, []string{"ocpp_version", "action", "direction", "outcome"}),
		handler: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chargeplane_core_handler_duration_seconds",
			Help:    "Charger CALLs from the core taking them off the bus to their answer being published, by action (schema check, handler, database commit).",
			Buckets: latencyBuckets,
		}, []string{"ocpp_version", "action"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_commands_total",
			Help: "Operator commands to chargers by outcome (answered, charger_error, timeout, not_connected, failed).",
		}, []string{"outcome"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chargeplane_lease_expired_stations_total",
			Help: "Stations marked disconnected because their gateway's lease expired (the gateway died or lost the core).",
		}),
		unauthenticated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chargeplane_control_unauthenticated_total",
			Help: "Calls to the gateways' control plane (CONTROL_ADDR) refused because they lacked the right GATEWAY_SECRET.",
		}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_admission_throttled_total",
			Help: "Password admissions refused without checking the password because too many wrong ones came for the station id or from the address, by limit (station, address).",
		}, []string{"limit"}),
	}
	reg.MustRegister(c.messages, c.handler, c.commands, c.expired, c.unauthenticated, c.throttled)
	return c
}

// Message counts one CALL and its outcome (OutcomeResult, an error code or
// a command's failure).
func (c *Core) Message(v ocppj.Version, action, direction, outcome string) {
	if c == nil {
		return
	}
	c.messages.WithLabelValues(v.String(), ActionLabel(v, action), direction, OutcomeLabel(outcome)).Inc()
}

// Handled observes how long the core took to answer a charger CALL.
func (c *Core) Handled(v ocppj.Version, action string, d time.Duration) {
	if c == nil {
		return
	}
	c.handler.WithLabelValues(v.String(), ActionLabel(v, action)).Observe(d.Seconds())
}

// Command counts an operator command's final status (pkg/outcome.Status).
func (c *Core) Command(status string) {
	if c == nil {
		return
	}
	c.commands.WithLabelValues(status).Inc()
}

// LeaseExpired counts stations disconnected by an expired gateway lease.
func (c *Core) LeaseExpired(stations int) {
	if c == nil {
		return
	}
	c.expired.Add(float64(stations))
}

// ControlUnauthenticated counts a control-plane call refused for want of
// the gateway secret.
func (c *Core) ControlUnauthenticated() {
	if c == nil {
		return
	}
	c.unauthenticated.Inc()
}

// AdmissionThrottled counts a password admission refused unchecked by the
// brute-force limit named limit ("station" or "address").
func (c *Core) AdmissionThrottled(limit string) {
	if c == nil {
		return
	}
	c.throttled.WithLabelValues(limit).Inc()
}

// ActionLabel is action when version v defines it, Other otherwise.
func ActionLabel(v ocppj.Version, action string) string {
	if ocppj.KnownAction(v, action) {
		return action
	}
	return Other
}

// outcomes are the values OutcomeLabel lets through: the CALLERROR codes of
// every version, a CALLRESULT and the command failures of pkg/outcome.
var outcomes = map[string]bool{
	OutcomeResult: true, "timeout": true, "not_connected": true, "failed": true,
}

func init() {
	for _, c := range ocppj.ErrorCodes() {
		outcomes[string(c)] = true
	}
}

// OutcomeLabel is outcome when it is one of the known ones, Other otherwise.
func OutcomeLabel(outcome string) string {
	if outcomes[outcome] {
		return outcome
	}
	return Other
}
