// Package audit is the audit trail's domain: what one record says about a
// call that changes something (or that was refused for its role), how the
// request is kept without its secrets, and the pending record a call
// carries in its context so that the store writes it in the same
// transaction as the change it records.
package audit

import (
	"context"
	"sync"
	"time"
)

// Outcome is how an audited call ended.
type Outcome string

const (
	// OutcomeOK: the call succeeded.
	OutcomeOK Outcome = "ok"
	// OutcomeError: the call was allowed but failed (invalid request,
	// station not connected, charger error, timeout…). A change it made
	// before failing (a command sent, then not answered) is still in the
	// record's transaction.
	OutcomeError Outcome = "error"
	// OutcomeDenied: refused for the caller's role; nothing changed.
	OutcomeDenied Outcome = "denied"
)

// Actor kinds.
const (
	ActorUser   = "user"
	ActorAPIKey = "api_key"
)

// Record is one entry of the audit trail.
type Record struct {
	// Seq orders the trail; assigned by the store.
	Seq int64 `gorm:"primaryKey;autoIncrement"`
	At  time.Time
	// Actor is the user's email or the API key's name; ActorKind and
	// ActorID tell which.
	Actor     string
	ActorKind string
	ActorID   string
	// Addr is the client's address (access.ClientAddr).
	Addr string
	// Method is "Service/Method", e.g. "StationService/DeleteStation".
	Method string
	// TargetType ("station", "id_token", "user", "api_key") and TargetID
	// name what the call is about, as the request named it.
	TargetType string
	TargetID   string
	// StationID is the station the call is about, if any (the filter).
	StationID string
	// Request is the request as JSON with its secrets replaced by
	// redact.Marker (audit.Request).
	Request string
	Outcome Outcome
	// Code is the gRPC status code of a failed or refused call, and Error
	// its message (bounded).
	Code  string
	Error string
}

// MaxErrorLen bounds a record's error message.
const MaxErrorLen = 500

// Pending is the record of the call in progress, carried in its context.
// The first store transaction of the call inserts it (Claim, then Settle),
// so that the change and its record commit or roll back together; the
// guard writes it itself after the call when no transaction did (a call
// that failed before changing anything, a refused call). Safe for
// concurrent use.
type Pending struct {
	mu      sync.Mutex
	rec     Record
	claimed bool
	seq     int64 // set once written
}

// NewPending returns the pending record rec (Outcome is set when written).
func NewPending(rec Record) *Pending { return &Pending{rec: rec} }

type pendingKey struct{}

// WithPending returns ctx carrying p.
func WithPending(ctx context.Context, p *Pending) context.Context {
	return context.WithValue(ctx, pendingKey{}, p)
}

// PendingFrom returns the pending record in ctx, or nil.
func PendingFrom(ctx context.Context) *Pending {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	return p
}

// Claim returns the record for a transaction to insert with its change
// (outcome OK: it commits only if the change does), or nil when there is
// none, it is written already, or another transaction holds it. A
// transaction that claims must Settle. Nil-safe.
func (p *Pending) Claim() *Record {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed || p.seq != 0 {
		return nil
	}
	p.claimed = true
	r := p.rec
	r.Outcome = OutcomeOK
	return &r
}

// Settle ends a Claim: committed tells whether the transaction that
// inserted r committed (r.Seq then names the row); if not, the record is
// pending again.
func (p *Pending) Settle(r *Record, committed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claimed = false
	if committed {
		p.seq = r.Seq
	}
}

// Written returns the record's sequence number once a transaction wrote it.
func (p *Pending) Written() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq, p.seq != 0
}

// Record returns a copy of the pending record.
func (p *Pending) Record() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec
}
