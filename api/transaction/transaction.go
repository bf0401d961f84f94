// Package transaction decides what a charging session's record says from
// the messages a station sent about it: 1.6 StartTransaction and
// StopTransaction, and 2.0.1 TransactionEvents, which may arrive in any
// order (offline queues, retries) and must give the same record whatever
// the order. The store keeps the record and the readings; this package
// decides what they become.
package transaction

import "time"

// Statuses of a transaction.
const (
	Active = "Active"
	Ended  = "Ended"
)

// 2.0.1 TransactionEvent event types.
const (
	EventStarted = "Started"
	EventUpdated = "Updated"
	EventEnded   = "Ended"
)

// DefaultStopReason is what both versions mean when a stop carries no
// reason (1.6 §7.35, 2.0.1 TransactionType.stoppedReason).
const DefaultStopReason = "Local"

// The register energy is computed from: active energy imported at the
// outlet, all phases together (what OCPP samples when nothing else is
// said).
const (
	RegisterMeasurand = "Energy.Active.Import.Register"
	RegisterLocation  = "Outlet"
)

// Reading contexts that mark a register reading as the session's start or
// stop (2.0.1 ReadingContextEnumType).
const (
	ContextBegin = "Transaction.Begin"
	ContextEnd   = "Transaction.End"
)

// IsRegister says whether a reading (measurand, phase and location as
// stored, defaults spelled out) is one a session's energy is computed
// from.
func IsRegister(measurand, phase, location string) bool {
	return measurand == RegisterMeasurand && phase == "" && location == RegisterLocation
}

// Record is what the rules decide of a transaction.
type Record struct {
	// StartedAt is provisional (the earliest event) until StartedSeen.
	StartedAt time.Time
	// StartedSeen: the start (1.6 StartTransaction, 2.0.1 Started event)
	// has arrived.
	StartedSeen bool
	StoppedAt   *time.Time
	Status      string // Active or Ended
	StopReason  string
	// SeqNo is the highest 2.0.1 seqNo seen.
	SeqNo       int
	EVSEID      int
	ConnectorID int
	// IDToken started the transaction; AuthStatus is what the core
	// answered for it.
	IDToken, IDTokenType, AuthStatus string
	StopIDToken                      string
	// Offline: some of its messages were queued while the station was
	// offline.
	Offline       bool
	RemoteStartID *int
	// MeterStartWh and MeterStopWh as the station reported them for the
	// purpose (see Meter); the Reported flags say they were.
	MeterStartWh, MeterStopWh             *float64
	MeterStartReported, MeterStopReported bool
}

// Start16 is the record a 1.6 StartTransaction opens: its meterStart is
// the reported start.
func Start16(connectorID int, idTag, idTagType, authStatus string, at time.Time, meterStartWh float64) Record {
	return Record{
		StartedAt:          at,
		StartedSeen:        true,
		Status:             Active,
		ConnectorID:        connectorID,
		IDToken:            idTag,
		IDTokenType:        idTagType,
		AuthStatus:         authStatus,
		MeterStartWh:       &meterStartWh,
		MeterStartReported: true,
	}
}

// Stop16 ends r as a 1.6 StopTransaction says. It reports false, changing
// nothing, when r has ended already: a StopTransaction is retried until
// answered, and the first one counts.
func (r *Record) Stop16(at time.Time, meterStopWh float64, reason, idTag string) bool {
	if r.Status == Ended {
		return false
	}
	r.end(at, reason)
	r.MeterStopWh, r.MeterStopReported = &meterStopWh, true
	r.StopIDToken = idTag
	return true
}

// Unknown16 is the record of a 1.6 transactionId the core never handed
// out, first heard of in its StopTransaction at stop: it starts at its
// earliest reading (sampled), or at the stop.
func Unknown16(idTag string, stop time.Time, sampled []time.Time) Record {
	start := stop
	for _, ts := range sampled {
		if !ts.IsZero() && ts.Before(start) {
			start = ts
		}
	}
	return Record{StartedAt: start, Status: Active, IDToken: idTag}
}

func (r *Record) end(at time.Time, reason string) {
	r.Status = Ended
	r.StoppedAt = &at
	if reason == "" {
		reason = DefaultStopReason
	}
	r.StopReason = reason
}

// Event is what a 2.0.1 TransactionEvent tells about its transaction.
type Event struct {
	Type        string // EventStarted, EventUpdated, EventEnded
	SeqNo       int
	At          time.Time
	Offline     bool
	EVSEID      int // 0: not reported
	ConnectorID int // 0: not reported
	IDToken     string
	IDTokenType string
	// AuthStatus is the status the core answered for IDToken; "" when the
	// event carried none.
	AuthStatus    string
	StoppedReason string
	RemoteStartID *int
	// Register is the event's register readings (see IsRegister) in the
	// order the event lists them.
	Register []Reading
}

// Reading is a register reading in Wh with its context.
type Reading struct {
	Wh      float64
	Context string
}

// New is the record of a transaction first heard of in ev, before ev is
// merged into it.
func New(ev Event) Record {
	return Record{StartedAt: ev.At, Status: Active, SeqNo: ev.SeqNo}
}

// Merge folds ev into r so that the outcome does not depend on the order
// events arrive in.
func (r *Record) Merge(ev Event) {
	switch {
	case ev.Type == EventStarted:
		r.StartedAt, r.StartedSeen = ev.At, true
	case !r.StartedSeen && ev.At.Before(r.StartedAt):
		r.StartedAt = ev.At
	}
	// A transaction stays on its EVSE and connector, so the events that
	// name them agree and any one fills a field still unknown, whatever
	// the order (the EVSE and the connector may come in different events).
	// Should they disagree, an event newer than any merged so far wins: the
	// newest knows best.
	newest := ev.SeqNo >= r.SeqNo
	if ev.EVSEID != 0 && (newest || r.EVSEID == 0) {
		r.EVSEID = ev.EVSEID
	}
	if ev.ConnectorID != 0 && (newest || r.ConnectorID == 0) {
		r.ConnectorID = ev.ConnectorID
	}
	if ev.IDToken != "" {
		if ev.Type == EventEnded {
			r.StopIDToken = ev.IDToken
		}
		if ev.Type == EventStarted || r.IDToken == "" {
			r.IDToken, r.IDTokenType = ev.IDToken, ev.IDTokenType
			if ev.AuthStatus != "" {
				r.AuthStatus = ev.AuthStatus
			}
		}
	}
	if ev.Type == EventEnded {
		r.end(ev.At, ev.StoppedReason)
	}
	r.SeqNo = max(r.SeqNo, ev.SeqNo)
	r.Offline = r.Offline || ev.Offline
	if ev.RemoteStartID != nil && r.RemoteStartID == nil {
		id := *ev.RemoteStartID
		r.RemoteStartID = &id
	}

	// A reading the station marked as the start or stop is that; without
	// one, the Started event's first reading is the start and the Ended
	// event's last the stop.
	var begin, end *float64
	for i := range ev.Register {
		switch ev.Register[i].Context {
		case ContextBegin:
			begin = &ev.Register[i].Wh
		case ContextEnd:
			end = &ev.Register[i].Wh
		}
	}
	if n := len(ev.Register); n > 0 {
		if begin == nil && ev.Type == EventStarted {
			begin = &ev.Register[0].Wh
		}
		if end == nil && ev.Type == EventEnded {
			end = &ev.Register[n-1].Wh
		}
	}
	if begin != nil {
		v := *begin
		r.MeterStartWh, r.MeterStartReported = &v, true
	}
	if end != nil {
		v := *end
		r.MeterStopWh, r.MeterStopReported = &v, true
	}
}
