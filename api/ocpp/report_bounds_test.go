package ocpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/report"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/logtest"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Small limits, so that the tests reach them with a few parts.
var testReportLimits = report.Limits{MaxParts: 4, MaxBytes: 2_000, MaxUnfinished: 2, UnfinishedAge: time.Hour, KeepComplete: 2}

func reportHarness(t *testing.T, db string, logs *logtest.Buffer) *harness {
	return newHarness(t, db, func(d *Deps) {
		d.ReportLimits = testReportLimits
		if logs != nil {
			d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	})
}

// notifyReport sends one NotifyReport part with one entry whose value is
// value and expects the (empty) CALLRESULT: the answer carries no status,
// so a dropped part is answered like a stored one.
func (h *harness) notifyReport(requestID, seqNo int, tbc bool, value string) {
	h.t.Helper()
	payload := fmt.Sprintf(`{"requestId":%d,"generatedAt":"2025-03-04T05:06:07Z","seqNo":%d,"tbc":%t,"reportData":[`+
		`{"component":{"name":"C%d"},"variable":{"name":"V"},"variableAttribute":[{"value":%q}]}]}`, requestID, seqNo, tbc, seqNo, value)
	h.result(ocppj.V201, "NotifyReport", h.call(ocppj.V201, "NotifyReport", payload), nil)
}

func (h *harness) reportUsage() store.ReportUsage {
	h.t.Helper()
	u, err := h.store.ReportUsage(context.Background(), stationID)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// A report keeps at most MaxParts parts: the rest are answered and
// dropped, so a report made of endless parts never completes, and the
// drops cost one log line (the clock stands still: no more pass).
func TestReportPartsPerReportBounded(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			var logs logtest.Buffer
			h := reportHarness(t, db, &logs)
			for seq := range 10 {
				h.notifyReport(1, seq, true, "x")
			}
			h.notifyReport(1, 10, false, "x")
			if u := h.reportUsage(); u.Parts != 4 || u.Complete != 0 {
				t.Errorf("stored %+v, want the 4 first parts and no complete report", u)
			}
			if _, err := h.store.LatestDeviceModel(context.Background(), stationID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a report past MaxParts completed: %v", err)
			}
			if n := strings.Count(logs.String(), "report part dropped: too many parts"); n != 1 {
				t.Errorf("%d lines about dropped parts, want 1:\n%s", n, logs.String())
			}

			// Parts without a seqNo (NotifyDisplayMessages) are numbered
			// as they come, and bounded the same way.
			for range 6 {
				h.result(ocppj.V201, "NotifyDisplayMessages", h.call(ocppj.V201, "NotifyDisplayMessages",
					`{"requestId":2,"tbc":true,"messageInfo":[{"id":1,"priority":"NormalCycle","message":{"format":"UTF8","content":"hi"}}]}`), nil)
			}
			if u := h.reportUsage(); u.Parts != 8 {
				t.Errorf("stored %d parts, want 4 of each report", u.Parts)
			}
		})
	}
}

// A report keeps at most MaxBytes of data: a part that would take it
// further is dropped, and a retried part is still a duplicate.
func TestReportBytesBounded(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := reportHarness(t, db, nil)
			big := strings.Repeat("v", 600) // a part of about 680 bytes
			for seq := range 3 {
				h.notifyReport(1, seq, true, big)
			}
			h.notifyReport(1, 0, true, big) // a retry of a stored part
			u := h.reportUsage()
			if u.Parts != 2 || u.Bytes > testReportLimits.MaxBytes {
				t.Errorf("stored %+v, want 2 parts within %d bytes", u, testReportLimits.MaxBytes)
			}
			// The report completes with parts that fit.
			h.notifyReport(1, 2, false, "x")
			rep, err := h.store.LatestDeviceModel(context.Background(), stationID)
			if err != nil || len(rep.Data) != 3 {
				t.Errorf("report = %+v, %v; want 3 entries", rep, err)
			}
		})
	}
}

// A station has at most MaxUnfinished reports in progress: a new one
// deletes the oldest, which then cannot complete; the newest can.
func TestUnfinishedReportsPerStationBounded(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			var logs logtest.Buffer
			h := reportHarness(t, db, &logs)
			ctx := context.Background()
			for req := 1; req <= 10; req++ {
				h.notifyReport(req, 0, true, "x")
			}
			if u := h.reportUsage(); u.Parts != 2 {
				t.Errorf("stored %d parts, want those of the 2 newest reports", u.Parts)
			}
			h.notifyReport(10, 1, false, "x")
			if _, err := h.store.Report(ctx, stationID, store.ReportKindDeviceModel, 10); err != nil {
				t.Errorf("the newest report did not complete: %v", err)
			}
			h.notifyReport(1, 1, false, "x")
			if _, err := h.store.Report(ctx, stationID, store.ReportKindDeviceModel, 1); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an evicted report completed: %v", err)
			}
			if n := strings.Count(logs.String(), "unfinished report deleted"); n != 1 {
				t.Errorf("%d lines about evicted reports, want 1:\n%s", n, logs.String())
			}
		})
	}
}

// Complete reports beyond the KeepComplete newest of their kind are
// deleted with their parts as a new one completes; the latest is served.
func TestCompleteReportsTrimmed(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := reportHarness(t, db, nil)
			ctx := context.Background()
			for req := 1; req <= 6; req++ {
				h.notifyReport(req, 0, false, "x")
			}
			if u := h.reportUsage(); u.Complete != 2 || u.Parts != 2 {
				t.Errorf("stored %+v, want 2 complete reports of one part", u)
			}
			rep, err := h.store.LatestDeviceModel(ctx, stationID)
			if err != nil || rep.RequestID != 6 {
				t.Errorf("latest = %+v, %v; want request 6", rep, err)
			}
			if _, err := h.store.Report(ctx, stationID, store.ReportKindDeviceModel, 1); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the oldest report is kept: %v", err)
			}
		})
	}
}

// The sweeper deletes reports that got no part for UnfinishedAge, and
// leaves complete and recent ones.
func TestAbandonedReportsSwept(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := reportHarness(t, db, nil)
			ctx := context.Background()
			h.notifyReport(1, 0, true, "x")
			h.notifyReport(1, 1, true, "x")
			h.notifyReport(2, 0, false, "x")
			sweep := func(at time.Time) int64 {
				n, err := report.Sweeper{Store: h.store, Limits: testReportLimits, Now: func() time.Time { return at }}.Sweep(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := sweep(testNow.Add(testReportLimits.UnfinishedAge - time.Second)); n != 0 {
				t.Errorf("swept %d parts of a recent report", n)
			}
			if n := sweep(testNow.Add(testReportLimits.UnfinishedAge + time.Second)); n != 2 {
				t.Errorf("swept %d parts, want the 2 of the abandoned report", n)
			}
			if u := h.reportUsage(); u.Parts != 1 || u.Complete != 1 {
				t.Errorf("left %+v, want the complete report", u)
			}
		})
	}
}
