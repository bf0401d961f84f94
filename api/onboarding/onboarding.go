// Package onboarding holds the rules of a station's admission by the
// operator: an unknown station may be admitted as Pending (UNKNOWN_STATIONS
// = pending), an operator accepts or rejects it, and any station may be
// blocked without losing its history. The store keeps the state; this
// package says what each state allows.
package onboarding

import "fmt"

// State is the operator's decision about a station. Its names are OCPP's
// registration statuses, which is what the station's BootNotification is
// answered with.
type State string

const (
	// Accepted: a station registered by an operator, or accepted after
	// having been pending. The default of every station.
	Accepted State = "Accepted"
	// Pending: an unknown station that connected while UNKNOWN_STATIONS
	// was pending. It may connect (without a password) and boot; its
	// BootNotification is answered Pending and nothing else it sends is
	// processed but the answers to what the CSMS asked (Processes) and
	// the messages the CSMS triggered (Trigger).
	Pending State = "Pending"
	// Rejected: an operator refused it. The BootNotification of a
	// connection still open is answered Rejected; any new connection is
	// refused at the handshake.
	Rejected State = "Rejected"
)

// Parse reads a stored state; the empty string is Accepted (rows written
// before onboarding existed).
func Parse(s string) (State, error) {
	switch State(s) {
	case "", Accepted:
		return Accepted, nil
	case Pending, Rejected:
		return State(s), nil
	}
	return "", fmt.Errorf("onboarding: unknown state %q", s)
}

// BootStatus is the registration status a BootNotification is answered
// with in state s (the same word in OCPP 1.6 and 2.0.1).
func (s State) BootStatus() string {
	if s == "" {
		return string(Accepted)
	}
	return string(s)
}

// Mode is what happens to a station id the core does not know.
type Mode string

const (
	// RejectUnknown refuses it at the handshake (HTTP 404): the default.
	RejectUnknown Mode = "reject"
	// PendingUnknown creates it as Pending so an operator can accept it.
	PendingUnknown Mode = "pending"
)

// Refusal says why a known station may not connect, or "" if it may (its
// credentials are checked separately).
func Refusal(s State, blocked bool) string {
	switch {
	case blocked:
		return "station is blocked"
	case s == Rejected:
		return "station was rejected"
	}
	return ""
}

// AcceptableFrom lists the states an operator may accept a station from:
// accepting an accepted station changes nothing and is not an error.
func AcceptableFrom() []State { return []State{Pending, Rejected, Accepted} }

// RejectableFrom lists the states an operator may reject a station from.
// A station once accepted is not rejected (it has a history the operator
// wants to keep): block it instead.
func RejectableFrom() []State { return []State{Pending, Rejected} }

// Processes reports whether the CSMS processes a charger's CALL of action
// from a station whose last BootNotification was answered registration.
// A Pending or Rejected station may only boot (2.0.1 B02.FR.09,
// B03.FR.07; anything else is answered SecurityError). A message it
// refuses may still be one the CSMS asked a Pending station for: a
// triggered message, or the NotifyReport of a report request
// (NeedsTrigger, Trigger).
func Processes(registration, action string) bool {
	switch State(registration) {
	case Pending:
		return action == "BootNotification"
	case Rejected:
		return action == "BootNotification"
	}
	return true
}
