// Package v16 is OCPP 1.6 in the core. Charger-initiated actions:
// routes.go is their table, one file per action with behaviour.
// CSMS-initiated actions (operator commands): commands.go is their table,
// with how an operator's request maps to each and what its answer changes
// (see api/command).
package v16

import (
	"context"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

// Store is what the 1.6 handlers need from the database; *store.Store has it.
type Store interface {
	BootRecorder
	LastSeenToucher
	ConnectorStore
}

// LastSeenToucher records that a station was heard from.
type LastSeenToucher interface {
	TouchLastSeen(ctx context.Context, stationID string, at time.Time) error
}

// ConnectorStore keeps the last status of each connector.
type ConnectorStore interface {
	UpsertConnector(ctx context.Context, c store.Connector) error
}

// now returns the clock's time in UTC, to the millisecond: some chargers
// cannot parse more fractional digits, and OCPP times are sent in UTC.
func now(clock func() time.Time) time.Time {
	return clock().UTC().Truncate(time.Millisecond)
}
