package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func part(station string, req, seq int, tbc bool, names ...string) ReportPart {
	var entries []map[string]any
	for _, n := range names {
		entries = append(entries, map[string]any{
			"component":         map[string]any{"name": n},
			"variable":          map[string]any{"name": "Enabled"},
			"variableAttribute": []map[string]any{{"value": "true"}},
		})
	}
	b, _ := json.Marshal(entries)
	return ReportPart{StationID: station, RequestID: req, SeqNo: seq, Tbc: tbc, GeneratedAt: t0.Add(time.Duration(seq) * time.Second), Data: b}
}

func componentNames(t *testing.T, r *DeviceModelReport) []string {
	t.Helper()
	var out []string
	for _, d := range r.Data {
		var e struct {
			Component struct{ Name string } `json:"component"`
		}
		if err := json.Unmarshal(d, &e); err != nil {
			t.Fatalf("entry %s: %v", d, err)
		}
		out = append(out, e.Component.Name)
	}
	return out
}

func TestReportReassembly(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "cs1")
		mustCreateStation(t, s, "cs2")
		if _, err := s.LatestDeviceModel(ctx, "cs1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no report yet: err = %v, want ErrNotFound", err)
		}

		// Out of order: the last part first, then a retry of it, then the
		// middle, then the first.
		steps := []struct {
			p             ReportPart
			dup, complete bool
		}{
			{p: part("cs1", 7, 2, false, "C"), dup: false, complete: false},
			{p: part("cs1", 7, 2, false, "C"), dup: true, complete: false},
			{p: part("cs1", 7, 1, true, "B1", "B2"), dup: false, complete: false},
			{p: part("cs1", 7, 0, true, "A"), dup: false, complete: true},
			// A retry after completion changes nothing.
			{p: part("cs1", 7, 0, true, "OTHER"), dup: true, complete: true},
		}
		for i, st := range steps {
			clk.Add(time.Second)
			res, err := s.RecordReportPart(ctx, st.p)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if res.Duplicate != st.dup || res.Complete != st.complete {
				t.Errorf("step %d: got %+v, want duplicate %v complete %v", i, res, st.dup, st.complete)
			}
			if i < 3 {
				if _, err := s.LatestDeviceModel(ctx, "cs1"); !errors.Is(err, ErrNotFound) {
					t.Errorf("step %d: incomplete report served: %v", i, err)
				}
			}
		}
		completedAt := t0.Add(4 * time.Second)
		got, err := s.LatestDeviceModel(ctx, "cs1")
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestID != 7 || got.Parts != 3 || !got.GeneratedAt.Equal(t0) || !got.CompletedAt.Equal(completedAt) {
			t.Errorf("report = %+v", got)
		}
		if names := fmt.Sprint(componentNames(t, got)); names != "[A B1 B2 C]" {
			t.Errorf("entries in order %s, want [A B1 B2 C]", names)
		}

		// A newer, single-part report replaces it; an incomplete newer one
		// does not; another station's reports are its own.
		clk.Add(time.Second)
		if res, err := s.RecordReportPart(ctx, part("cs1", 8, 0, false, "X")); err != nil || !res.Complete {
			t.Fatalf("single part: %+v %v", res, err)
		}
		clk.Add(time.Second)
		if res, err := s.RecordReportPart(ctx, part("cs1", 9, 1, false, "Y")); err != nil || res.Complete {
			t.Fatalf("part 1 of 9 without 0: %+v %v", res, err)
		}
		got, err = s.LatestDeviceModel(ctx, "cs1")
		if err != nil || got.RequestID != 8 || fmt.Sprint(componentNames(t, got)) != "[X]" {
			t.Fatalf("latest = %+v %v, want report 8", got, err)
		}
		if _, err := s.LatestDeviceModel(ctx, "cs2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("other station: %v", err)
		}
		// An empty part (no reportData) is still a part.
		if res, err := s.RecordReportPart(ctx, ReportPart{StationID: "cs2", RequestID: 1, GeneratedAt: t0}); err != nil || !res.Complete {
			t.Fatalf("empty part: %+v %v", res, err)
		}
		if got, err := s.LatestDeviceModel(ctx, "cs2"); err != nil || len(got.Data) != 0 {
			t.Fatalf("empty report = %+v %v", got, err)
		}

		if _, err := s.RecordReportPart(ctx, part("nope", 1, 0, false)); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown station: %v, want ErrNotFound", err)
		}
		if _, err := s.RecordReportPart(ctx, ReportPart{StationID: "cs1", RequestID: 1, SeqNo: 0, Data: json.RawMessage(`{}`)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("object data: %v, want ErrInvalid", err)
		}
		if _, err := s.RecordReportPart(ctx, ReportPart{StationID: "cs1", RequestID: 1, SeqNo: -1}); !errors.Is(err, ErrInvalid) {
			t.Errorf("negative seqNo: %v, want ErrInvalid", err)
		}
	})
}

func TestFindRemoteStart(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "cs16")
		mustCreateStation(t, s, "cs201")

		// 1.6: a session of the same tag before the command is not the one.
		if last, err := s.LastTransactionID(ctx, "cs16"); err != nil || last != 0 {
			t.Fatalf("last transaction of a new station = %d, %v", last, err)
		}
		if _, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "cs16", ConnectorID: 1, IDTag: "TAG1", Timestamp: t0}); err != nil {
			t.Fatal(err)
		}
		last, err := s.LastTransactionID(ctx, "cs16")
		if err != nil || last == 0 {
			t.Fatalf("last transaction = %d, %v", last, err)
		}
		since := clk.Add(time.Minute)
		q := RemoteStartQuery{StationID: "cs16", IDTag: "tag1", ConnectorID: 2, AfterID: last}
		if _, err := s.FindRemoteStart(ctx, q); !errors.Is(err, ErrNotFound) {
			t.Fatalf("before the start: %v, want ErrNotFound", err)
		}
		clk.Add(time.Second)
		if _, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "cs16", ConnectorID: 1, IDTag: "TAG1", Timestamp: since}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FindRemoteStart(ctx, q); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other connector: %v, want ErrNotFound", err)
		}
		res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: "cs16", ConnectorID: 2, IDTag: "TAG1", Timestamp: since})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindRemoteStart(ctx, q)
		if err != nil || got.ID != res.Transaction.ID {
			t.Fatalf("found %+v %v, want transaction %d", got, err, res.Transaction.ID)
		}
		q.ConnectorID = 0
		if got, err := s.FindRemoteStart(ctx, q); err != nil || got.ConnectorID != 1 {
			t.Fatalf("any connector: %+v %v, want the earliest after the command (connector 1)", got, err)
		}

		// 2.0.1: by remoteStartId, whatever the event that carried it.
		rid := 4242
		for i, ev := range []TransactionEvent{
			{StationID: "cs201", TransactionUID: "T-1", EventType: EventStarted, TriggerReason: "CablePluggedIn", SeqNo: 0, Timestamp: t0},
			{StationID: "cs201", TransactionUID: "T-1", EventType: EventUpdated, TriggerReason: "RemoteStart", SeqNo: 1, Timestamp: t0.Add(time.Second), RemoteStartID: &rid},
			// A later event without it keeps the link.
			{StationID: "cs201", TransactionUID: "T-1", EventType: EventUpdated, TriggerReason: "MeterValuePeriodic", SeqNo: 2, Timestamp: t0.Add(2 * time.Second)},
		} {
			if i == 1 {
				if _, err := s.FindRemoteStart(ctx, RemoteStartQuery{StationID: "cs201", RemoteStartID: &rid}); !errors.Is(err, ErrNotFound) {
					t.Fatalf("before remoteStartId: %v", err)
				}
			}
			if _, err := s.RecordTransactionEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		got, err = s.FindRemoteStart(ctx, RemoteStartQuery{StationID: "cs201", RemoteStartID: &rid})
		if err != nil || got.TransactionUID != "T-1" || got.RemoteStartID == nil || *got.RemoteStartID != rid {
			t.Fatalf("2.0.1 found %+v %v", got, err)
		}
		if _, err := s.FindRemoteStart(ctx, RemoteStartQuery{StationID: "cs16", RemoteStartID: &rid}); !errors.Is(err, ErrNotFound) {
			t.Errorf("other station: %v", err)
		}
	})
}

// With bounds, a new report evicts the unfinished one that went longest
// without a part (not the one started first), and a customer information
// report answering a request on record outlives KeepComplete.
func TestReportBoundsEvictionAndKeep(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "cs1")
		b := ReportBounds{MaxUnfinished: 2, KeepComplete: 1}
		rec := func(p ReportPart) ReportPartResult {
			t.Helper()
			p.Bounds = b
			res, err := s.RecordReportPart(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)
			return res
		}
		rec(part("cs1", 1, 0, true, "A"))
		rec(part("cs1", 2, 0, true, "A"))
		rec(part("cs1", 1, 1, true, "B")) // 1 is now the more recent
		if res := rec(part("cs1", 3, 0, true, "A")); res.Evicted == nil || *res.Evicted != (ReportKey{ReportKindDeviceModel, 2}) {
			t.Fatalf("evicted %+v, want request 2", res.Evicted)
		}
		if res := rec(part("cs1", 1, 2, false, "C")); !res.Complete {
			t.Fatalf("request 1 did not complete: %+v", res)
		}

		b.KeepRequested = true
		if err := s.CreateCustomerRequest(ctx, &CustomerRequest{StationID: "cs1", RequestID: 7, Report: true, Status: "Accepted"}); err != nil {
			t.Fatal(err)
		}
		ci := func(req int) ReportPart {
			return ReportPart{StationID: "cs1", Kind: ReportKindCustomerInformation, RequestID: req, GeneratedAt: t0, Data: json.RawMessage(`["x"]`)}
		}
		for _, req := range []int{7, 8, 9} {
			if res := rec(ci(req)); !res.Complete {
				t.Fatalf("customer information %d did not complete: %+v", req, res)
			}
		}
		for req, want := range map[int]error{7: nil, 8: ErrNotFound, 9: nil} {
			if _, err := s.Report(ctx, "cs1", ReportKindCustomerInformation, req); !errors.Is(err, want) {
				t.Errorf("customer information %d: %v, want %v", req, err, want)
			}
		}
	})
}
