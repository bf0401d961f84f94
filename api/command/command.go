// Package command sends the core's CALLs to chargers (operator commands)
// and hands the charger's answer back to the caller in the same request.
//
// A command is validated against the station's protocol version and the
// official request schema, recorded, published on the downstream fanout
// (the gateway holding the station's connection sends it, one outstanding
// CALL per connection) and answered on this core instance's reply queue.
// Every call ends with exactly one outcome, the same for the caller and for
// the recorded command: the charger's CALLRESULT, its CALLERROR, "not
// connected" or "timeout" (or "failed" when the core itself could not go
// on). Typed services build on Dispatcher.Call and map its errors with
// Status.
package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Request is one core→charger CALL.
type Request struct {
	StationID   string
	Action      string        // the OCPP action of the station's version
	Payload     any           // marshalled to JSON (json.RawMessage passes through); nil sends {}
	RequestedBy string        // who asked: the user's email or the API key's name (auth.PrincipalFrom)
	Timeout     time.Duration // 0 = the dispatcher's default (COMMAND_TIMEOUT, 30s)
}

// Result is the charger's CALLRESULT.
type Result struct {
	CommandID string          // the recorded command (also the OCPP message id)
	Payload   json.RawMessage // schema-checked against the response schema
}

var (
	// ErrStationNotFound: no such station.
	ErrStationNotFound = errors.New("command: station not found")
	// ErrUnknownVersion: the station never connected, so its protocol
	// version (and so what it understands) is unknown.
	ErrUnknownVersion = errors.New("command: station's OCPP version unknown (it never connected)")
	// ErrNotConnected: the station is not connected (known at once from the
	// connection registry), or its connection went away before it answered.
	ErrNotConnected = errors.New("command: station not connected")
	// ErrTimeout: the charger did not answer in time (or the CALL waited in
	// the gateway's queue until its caller gave up).
	ErrTimeout = errors.New("command: no answer from the charger in time")
)

// InvalidError says why a command was refused before anything was sent:
// the action is not one the CSMS sends in the station's version, or the
// payload violates the action's request schema.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return "command: invalid: " + e.Reason }

// ChargerError is the charger's CALLERROR.
type ChargerError struct {
	Code        ocppj.ErrorCode
	Description string
	Details     json.RawMessage
}

func (e *ChargerError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("command: charger answered %s", e.Code)
	}
	return fmt.Sprintf("command: charger answered %s: %s", e.Code, e.Description)
}
