// Package event is the one model of what operators and integrations care
// about (a station connected, booted, changed a connector's status; a
// transaction started, progressed, ended; a command sent and answered; a
// security event; a station waiting to be accepted; a vendor's data
// transfer; a monitoring alert), and the machinery
// that records those events, carries them between core instances and hands
// them to subscribers (the SSE stream, the gRPC stream, webhooks).
//
// An event's id is the sequence of the events table: commits of events are
// serialized (store.AppendEvents), so ids increase in commit order on every
// instance and a subscriber resumes after the last id it saw, on any
// instance, within the retention window.
package event

import (
	"encoding/json"
	"slices"
	"time"
)

// Type names an event kind; the values are part of the public API.
type Type string

// The event types (docs/integrations.md shows an example of each).
const (
	StationConnected    Type = "station.connected"
	StationDisconnected Type = "station.disconnected"
	StationBooted       Type = "station.booted"
	StationStatus       Type = "station.status"
	StationPending      Type = "station.pending"
	TransactionStarted  Type = "transaction.started"
	TransactionUpdated  Type = "transaction.updated"
	TransactionEnded    Type = "transaction.ended"
	CommandSent         Type = "command.sent"
	CommandAnswered     Type = "command.answered"
	SecurityEvent       Type = "security.event"
	DataTransfer        Type = "station.data_transfer"
	StationAlert        Type = "station.alert"
)

// Types lists every type, in documentation order.
var Types = []Type{
	StationConnected, StationDisconnected, StationBooted, StationStatus, StationPending,
	TransactionStarted, TransactionUpdated, TransactionEnded,
	CommandSent, CommandAnswered, SecurityEvent, DataTransfer, StationAlert,
}

// Known reports whether t is one of Types.
func Known(t Type) bool { return slices.Contains(Types, t) }

// Event is one thing that happened. ID is 0 until the event is stored.
type Event struct {
	ID        int64           `json:"id"`
	Type      Type            `json:"type"`
	Time      time.Time       `json:"time"`
	StationID string          `json:"station,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// New builds an event whose payload is v as JSON. A payload that cannot be
// encoded (a programming error) becomes {}.
func New(t Type, at time.Time, stationID string, v any) Event {
	b, err := json.Marshal(v)
	if err != nil || v == nil {
		b = []byte("{}")
	}
	return Event{Type: t, Time: at.UTC(), StationID: stationID, Payload: b}
}

// Publisher takes events where they happen. Publish never blocks and never
// fails the caller: recording is off the caller's path (a charger's reply
// must not wait for a subscriber).
type Publisher interface {
	Publish(e Event)
}

// Discard is the Publisher of a core without events (tests of other parts).
type Discard struct{}

// Publish drops e.
func (Discard) Publish(Event) {}

// Filter selects events; empty fields match everything.
type Filter struct {
	StationIDs []string
	Types      []Type
}

// Match reports whether e passes f.
func (f Filter) Match(e Event) bool {
	if len(f.StationIDs) > 0 && !slices.Contains(f.StationIDs, e.StationID) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) {
		return false
	}
	return true
}

// Range selects stored events: ids in (After, UpTo] (UpTo 0: no upper
// bound) that pass Filter.
type Range struct {
	After, UpTo int64
	Filter      Filter
}
