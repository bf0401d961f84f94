// Package report bounds what the CSMS keeps of the reports a 2.0.1 station
// sends in tbc/seqNo parts (NotifyReport, NotifyMonitoringReport,
// NotifyDisplayMessages, NotifyCustomerInformation,
// ReportChargingProfiles). A station chooses its request ids, sequence
// numbers and part sizes, and a Pending one may send NotifyReport without
// credentials: without bounds, parts of reports that never complete would
// fill the database, and a complete report of any size would be loaded
// whole into memory. The limits here are far beyond what an honest
// station sends; past them a part is dropped (logged, bounded per
// station), never answered with an error: the 2.0.1 answers to these
// messages carry no status, and a CALLERROR would only make the station
// send the part again.
package report

import (
	"context"
	"log/slog"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/logbound"
)

// Limits bound a station's split reports.
type Limits struct {
	// MaxParts is the most parts one report keeps: a part numbered
	// MaxParts or more (seqNo, or arrival order where there is none) is
	// dropped, so such a report never completes.
	MaxParts int
	// MaxBytes is the most data (bytes of the parts' entries) one report
	// keeps: a part that would take it further is dropped.
	MaxBytes int64
	// MaxUnfinished is the most reports, all kinds together, a station
	// may have started and not completed: a part starting one more
	// deletes the unfinished one that went longest without a part (the
	// station's newest report is the one the operator waits for).
	MaxUnfinished int
	// UnfinishedAge: a report that got no part for this long while still
	// missing some is deleted (Sweeper).
	UnfinishedAge time.Duration
	// KeepComplete is how many complete reports of each kind a station
	// keeps: the CSMS reads the latest one (device model, monitoring) or
	// one just completed (display messages, charging profiles); older
	// ones are deleted as a new one completes. A customer information
	// report answering a request on record is kept as long as the
	// request, as its result.
	KeepComplete int
}

// DefaultLimits. A full device model of a large station is a few
// thousand variables, sent some tens per part (ItemsPerMessageGetReport),
// a few MB in all; a station has at most one report of each kind in
// progress and finishes it within minutes.
var DefaultLimits = Limits{
	MaxParts:      5_000,
	MaxBytes:      16 << 20,
	MaxUnfinished: 4,
	UnfinishedAge: time.Hour,
	KeepComplete:  3,
}

// orDefault fills the zero fields of l from DefaultLimits.
func (l Limits) orDefault() Limits {
	d := DefaultLimits
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxUnfinished <= 0 {
		l.MaxUnfinished = d.MaxUnfinished
	}
	if l.UnfinishedAge <= 0 {
		l.UnfinishedAge = d.UnfinishedAge
	}
	if l.KeepComplete <= 0 {
		l.KeepComplete = d.KeepComplete
	}
	return l
}

// Bounds are the store's bounds for a part of kind.
func (l Limits) Bounds(kind string) store.ReportBounds {
	l = l.orDefault()
	return store.ReportBounds{MaxParts: l.MaxParts, MaxBytes: l.MaxBytes, MaxUnfinished: l.MaxUnfinished,
		KeepComplete: l.KeepComplete, KeepRequested: kind == store.ReportKindCustomerInformation}
}

// PartStore stores report parts (api/store).
type PartStore interface {
	RecordReportPart(ctx context.Context, p store.ReportPart) (store.ReportPartResult, error)
}

// dropLogLimit: a station past a bound logs one line a minute, with the
// count of those it suppressed, however many parts it sends.
var dropLogLimit = logbound.Limit{Burst: 1, Every: time.Minute}

// maxLoggedStations bounds the per-station log budgets kept.
const maxLoggedStations = 10_000

// Parts records report parts within Limits; it has the store's
// RecordReportPart, for the 2.0.1 handlers.
type Parts struct {
	store  PartStore
	limits Limits
	logs   *logbound.Limiters
	log    *slog.Logger
}

// NewParts returns Parts on s; zero fields of l are DefaultLimits'; now
// is the clock of the log budget (time.Now when nil).
func NewParts(s PartStore, l Limits, log *slog.Logger, now func() time.Time) *Parts {
	if log == nil {
		log = slog.Default()
	}
	return &Parts{store: s, limits: l.orDefault(), logs: logbound.NewLimiters(dropLogLimit, maxLoggedStations, now),
		log: logbound.Clipped(log).With("component", "report")}
}

// RecordReportPart stores p within the limits. A part past them is not
// stored and not an error: the result says Dropped.
func (r *Parts) RecordReportPart(ctx context.Context, p store.ReportPart) (store.ReportPartResult, error) {
	if p.Kind == "" {
		p.Kind = store.ReportKindDeviceModel
	}
	p.Bounds = r.limits.Bounds(p.Kind)
	res, err := r.store.RecordReportPart(ctx, p)
	if err != nil {
		return res, err
	}
	if res.Dropped == "" && res.Evicted == nil {
		return res, nil
	}
	log := r.logs.Get(p.StationID).Logger(r.log).With("station", p.StationID, "kind", p.Kind, "request_id", p.RequestID)
	if res.Evicted != nil {
		log.WarnContext(ctx, "unfinished report deleted: the station started too many",
			"evicted_kind", res.Evicted.Kind, "evicted_request_id", res.Evicted.RequestID, "max_unfinished", r.limits.MaxUnfinished)
	}
	switch res.Dropped {
	case store.DroppedParts:
		log.WarnContext(ctx, "report part dropped: too many parts", "seq_no", p.SeqNo, "append", p.Append, "max_parts", r.limits.MaxParts)
	case store.DroppedBytes:
		log.WarnContext(ctx, "report part dropped: report too large", "seq_no", p.SeqNo, "part_bytes", len(p.Data), "max_bytes", r.limits.MaxBytes)
	}
	return res, nil
}

// Trimmer deletes abandoned reports (api/store).
type Trimmer interface {
	TrimUnfinishedReports(ctx context.Context, cutoff time.Time) (int64, error)
}

// Sweeper deletes, every Interval, the reports that got no part for
// Limits.UnfinishedAge while still missing some.
type Sweeper struct {
	Store    Trimmer
	Limits   Limits
	Interval time.Duration // DefaultSweepInterval when zero
	Now      func() time.Time
	Logger   *slog.Logger
}

// DefaultSweepInterval is how often Sweeper looks for abandoned reports.
const DefaultSweepInterval = 5 * time.Minute

// Sweep deletes the abandoned reports once and returns how many parts.
func (s Sweeper) Sweep(ctx context.Context) (int64, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return s.Store.TrimUnfinishedReports(ctx, now().Add(-s.Limits.orDefault().UnfinishedAge))
}

// Run sweeps until ctx ends.
func (s Sweeper) Run(ctx context.Context) {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	every := s.Interval
	if every <= 0 {
		every = DefaultSweepInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("delete abandoned reports", "err", err)
		case n > 0:
			log.Info("abandoned reports deleted", "parts", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
