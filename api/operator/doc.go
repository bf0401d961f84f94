// Package operator implements the operator-facing gRPC services and the
// interceptors that guard every gRPC method: bearer-token authentication
// and panic recovery. The command services (remote control, configuration,
// firmware, reservations, local list, smart charging, the generic call)
// validate what does not depend on a station's OCPP version and send
// through the command table of the station's version (api/command), which
// maps each request to its version's action and applies what the answer
// changes.
package operator
