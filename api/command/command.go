// Package command sends the core's CALLs to chargers (operator commands)
// and hands the charger's answer back to the caller in the same request.
//
// # Dispatcher
//
// A command is validated against the station's protocol version and the
// official request schema, recorded, published on the downstream fanout
// (the gateway holding the station's connection sends it, one outstanding
// CALL per connection) and answered on this core instance's reply queue.
// Every call ends with exactly one outcome, the same for the caller and for
// the recorded command (pkg/outcome): the charger's CALLRESULT, its
// CALLERROR, "not connected" or "timeout" (or "failed" when the core itself
// could not go on). Status maps the errors to gRPC statuses.
//
// # Command tables
//
// What a command means is declared once per OCPP version, in a table
// beside the charger-side route table: api/ocpp/v16/commands.go and
// api/ocpp/v201/commands.go list every CSMS-initiated action of their
// version, one line each:
//
//	command.WithEffect(ocpp201.ActionSetChargingProfile, c.profileAnswered,
//		command.Op(setChargingProfile, profileSet)),
//
// binds the action to its generated request and response types (inferred
// from the functions), to its Effect (what its answer changes: here, an
// accepted profile is stored) and to the typed operator operation it
// carries out (Op: setChargingProfile maps the operator's
// SetChargingProfileRequest to the action's request, profileSet maps the
// answer to a ProfileReply). An action without an operation is only sent
// through the generic call (New with no options); one without an effect
// changes nothing when answered (New). OnNoAnswer says what a command that
// got no answer changes (a reservation made for it fails).
//
// A Sender sends through the tables. The typed operator services call Do
// with their request, whose type names the operation: the station's
// version picks the action, so no service branches on the version. The
// generic call (Sender.Call) looks the action up in the same table and
// sends the operator's payload as written. Effects see only what was sent
// and what was answered, so an answer has the same effects whichever way
// the command was sent.
//
// Adding a command: one line in each version's table that has the action,
// its mapping (and effect) functions beside it, a reply type in replies.go
// if none fits, and the proto method whose operator service calls Do.
package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Request is one core→charger CALL.
type Request struct {
	StationID string
	// Version, when set, is the version the payload was built for: the
	// command is refused if the station speaks another one by now.
	Version     ocppj.Version
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

// NotInVersionError: the station's version has no action for the operation.
type NotInVersionError struct {
	Operation string
	Version   ocppj.Version
}

func (e *NotInVersionError) Error() string {
	return fmt.Sprintf("command: %s does not exist in OCPP %s", e.Operation, e.Version)
}

// UnreadableAnswerError: the charger's CALLRESULT does not fit the action's
// response type, so what it would change cannot be known.
type UnreadableAnswerError struct {
	Action, CommandID string
	Err               error
}

func (e *UnreadableAnswerError) Error() string {
	return fmt.Sprintf("command: the answer to %s %s is unreadable: %v", e.Action, e.CommandID, e.Err)
}

func (e *UnreadableAnswerError) Unwrap() error { return e.Err }

// RefusedError is a refusal for a reason of state, before anything was
// sent (what the request names does not exist, or must come first) or
// after (the answer conflicts with what the CSMS recorded meanwhile).
type RefusedError struct {
	Code    codes.Code // NotFound, FailedPrecondition or Aborted
	Message string
}

func (e *RefusedError) Error() string { return "command: " + e.Message }

// Invalid refuses a request before anything is sent.
func Invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// NotFound refuses a request naming something that does not exist.
func NotFound(format string, args ...any) error {
	return &RefusedError{Code: codes.NotFound, Message: fmt.Sprintf(format, args...)}
}

// Precondition refuses a request the state does not allow yet.
func Precondition(format string, args ...any) error {
	return &RefusedError{Code: codes.FailedPrecondition, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports an answer that conflicts with what was recorded
// meanwhile.
func Conflict(format string, args ...any) error {
	return &RefusedError{Code: codes.Aborted, Message: fmt.Sprintf(format, args...)}
}
