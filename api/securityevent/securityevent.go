// Package securityevent keeps a station's security events: the ones it
// reports (SecurityEventNotification, both OCPP versions) and the ones the
// CSMS raises about it (refused admissions, rejected CSRs, certificates
// about to expire). Whatever raises an event hands it to a Recorder; the
// core's Recorder bounds its text and stores it apart from the raw message
// log, so that it outlives the log's trimming.
package securityevent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// Types of the events the CSMS raises itself (the certificate ones are
// api/certificates').
const (
	// TypeAdmissionRefused: a connection was refused before the WebSocket
	// upgrade (401/404 for the charger; the reason is in the event).
	TypeAdmissionRefused = "AdmissionRefused"
)

// Bounds on what an event keeps: its text may come from an attacker (a
// certificate subject, a claimed station id).
const (
	MaxTechInfo = 512
	MaxField    = 256
)

// Recorder records security events. Implementations are safe for
// concurrent use.
type Recorder interface {
	RecordSecurityEvent(ctx context.Context, e store.SecurityEvent) error
}

// Store is where StoreRecorder keeps events (a *store.Store).
type Store interface {
	RecordSecurityEvent(ctx context.Context, e *store.SecurityEvent) (bool, error)
}

// StoreRecorder is the core's Recorder: it bounds the event's text and
// stores it.
type StoreRecorder struct {
	Store Store
	Now   func() time.Time
}

func (r StoreRecorder) RecordSecurityEvent(ctx context.Context, e store.SecurityEvent) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	e.ReceivedAt = now()
	if e.OccurredAt.IsZero() {
		e.OccurredAt = e.ReceivedAt
	}
	e.StationID = Bound(e.StationID, MaxField)
	e.Type = Bound(e.Type, MaxField)
	e.TechInfo = Bound(e.TechInfo, MaxTechInfo)
	e.RemoteAddr = Bound(e.RemoteAddr, MaxField)
	e.CertSubject = Bound(e.CertSubject, MaxField)
	e.CertIssuer = Bound(e.CertIssuer, MaxField)
	if _, err := r.Store.RecordSecurityEvent(ctx, &e); err != nil {
		return fmt.Errorf("securityevent: %w", err)
	}
	return nil
}

// Discard records nothing (tests and tools without a store).
type Discard struct{}

func (Discard) RecordSecurityEvent(context.Context, store.SecurityEvent) error { return nil }

// Bound returns s cut to at most max bytes of valid UTF-8, with control
// characters replaced, marking a cut with "…".
func Bound(s string, max int) string {
	clean := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	if len(clean) <= max {
		return clean
	}
	const mark = "…"
	return truncate.Bytes(clean, max-len(mark)) + mark
}

// Admissions records the control plane's refused admissions
// (admission.SecurityEvents): it logs each with everything the charger is
// not told, and stores it as an AdmissionRefused event. A failure to store
// is logged; the refusal stands either way.
type Admissions struct {
	Recorder Recorder
	Logger   *slog.Logger
}

func (a Admissions) AdmissionRefused(ctx context.Context, r admission.Refusal) {
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	r.StationID = Bound(r.StationID, MaxField)
	r.CertSubject, r.CertIssuer = Bound(r.CertSubject, MaxField), Bound(r.CertIssuer, MaxField)
	log.WarnContext(ctx, "security event: admission refused", r.Attrs()...)
	if a.Recorder == nil {
		return
	}
	info := string(r.Check) + ": " + r.Reason
	if r.TLS {
		info += " (TLS listener)"
	}
	if r.CertForwarded {
		info += " (certificate forwarded by a trusted proxy)"
	}
	e := store.SecurityEvent{StationID: r.StationID, Source: store.SecuritySourceCSMS, Type: TypeAdmissionRefused,
		OccurredAt: r.At, TechInfo: info, RemoteAddr: r.RemoteAddr, CertSubject: r.CertSubject, CertIssuer: r.CertIssuer}
	if r.Unregistered {
		// Made-up ids must not open new buckets of history.
		e.StationID = ""
		e.TechInfo = fmt.Sprintf("station id %q: %s", Bound(r.StationID, 64), info)
	}
	if err := a.Recorder.RecordSecurityEvent(ctx, e); err != nil {
		log.ErrorContext(ctx, "could not record a security event", "station", r.StationID, "type", e.Type, "err", err)
	}
}

// Reported is a station's SecurityEventNotification as an event; a retried
// notification (same type and timestamp) is stored once.
func Reported(stationID, typ string, at time.Time, techInfo string) store.SecurityEvent {
	return store.SecurityEvent{StationID: stationID, Source: store.SecuritySourceStation, Type: typ, OccurredAt: at,
		TechInfo: techInfo, DedupKey: typ + "@" + at.UTC().Format(time.RFC3339Nano)}
}
