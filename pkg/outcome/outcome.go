// Package outcome is the one vocabulary for how a CSMS-initiated CALL (an
// operator command) ends, shared by the gateway that sends it and the core
// that waits for it and records it.
//
// Every command the core sends ends with exactly one Status. A gateway
// that cannot get an answer says why with a Reason (the reason of a
// KIND_CALL_FAILED envelope); Reason.Status is what that means for the
// command. A command refused before it is sent (its payload violates the
// schema, the station is unknown or not connected) never gets a Status:
// nothing was sent, nothing is recorded.
package outcome

// Status is how a command ended, as the command history records it.
type Status string

const (
	// Pending: sent, no outcome yet.
	Pending Status = "pending"
	// Answered: the charger's CALLRESULT.
	Answered Status = "answered"
	// ChargerError: the charger's CALLERROR.
	ChargerError Status = "charger_error"
	// Timeout: no answer in time (or the CALL waited in the gateway's
	// queue until its caller gave up).
	Timeout Status = "timeout"
	// NotConnected: the station's connection went away before it answered.
	NotConnected Status = "not_connected"
	// Failed: the core could not send it, or stopped waiting for it (its
	// caller gave up, or the core instance died).
	Failed Status = "failed"
)

// Final reports whether s settles a command.
func (s Status) Final() bool {
	switch s {
	case Answered, ChargerError, Timeout, NotConnected, Failed:
		return true
	}
	return false
}

// Reason is why a gateway could not get an answer to a CALL: the reason
// of a KIND_CALL_FAILED envelope. The values are part of the bus contract
// (envelope.proto): never rename one.
type Reason string

const (
	// Expired: the caller had given up before the CALL could be sent.
	Expired Reason = "expired"
	// NoAnswer: sent, but not answered in time.
	NoAnswer Reason = "timeout"
	// ConnectionClosed: the socket went away, or the gateway no longer
	// holds the connection the CALL was for.
	ConnectionClosed Reason = "connection closed"
	// QueueFull: the connection had too many CALLs waiting already.
	QueueFull Reason = "queue full"
)

// Status is what r means for the command: Timeout, NotConnected, or
// Failed for a reason this core does not know (a newer gateway's).
func (r Reason) Status() Status {
	switch r {
	case Expired, NoAnswer:
		return Timeout
	case ConnectionClosed:
		return NotConnected
	}
	return Failed
}
