package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/audit"
)

func pendingCtx(method, stationID string) (context.Context, *audit.Pending) {
	p := audit.NewPending(audit.Record{At: t0, Actor: "ops@example.com", ActorKind: audit.ActorUser,
		Method: method, TargetType: "station", TargetID: stationID, StationID: stationID, Request: "{}"})
	return audit.WithPending(context.Background(), p), p
}

func allAudit(t *testing.T, s *Store, f AuditFilter) []audit.Record {
	t.Helper()
	rows, err := s.ListAudit(context.Background(), f, SeqPage{Limit: MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// A change carries its pending record into its transaction: written once,
// with the change, even when the request makes several writes.
func TestAuditWrittenWithTheChange(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx, p := pendingCtx("StationService/CreateStation", "CP-1")
		if err := s.CreateStation(ctx, &Station{ID: "CP-1"}); err != nil {
			t.Fatal(err)
		}
		seq, ok := p.Written()
		if !ok {
			t.Fatal("the record was not written with the change")
		}
		if _, err := s.UpdateStation(ctx, "CP-1", StationPatch{Name: ptr("Depot")}); err != nil {
			t.Fatal(err)
		}
		rows := allAudit(t, s, AuditFilter{})
		if len(rows) != 1 || rows[0].Seq != seq || rows[0].Outcome != audit.OutcomeOK || rows[0].StationID != "CP-1" {
			t.Fatalf("audit rows = %+v, want one ok record of CP-1", rows)
		}
		// A failed change leaves the record pending for the guard to write.
		ctx, p = pendingCtx("StationService/CreateStation", "CP-1")
		if err := s.CreateStation(ctx, &Station{ID: "CP-1"}); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		if _, ok := p.Written(); ok || len(allAudit(t, s, AuditFilter{})) != 1 {
			t.Fatal("a rolled-back change left its record")
		}
	})
}

// No change without its record: when the audit insert fails, the change
// it records is rolled back, for every kind of operator write.
func TestAuditInsertFailureRollsBackTheChange(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		bg := context.Background()
		mustCreateStation(t, s, "CP-KEEP")
		if err := s.db.Exec("ALTER TABLE audit_records RENAME TO audit_records_gone").Error; err != nil {
			t.Fatal(err)
		}
		ctx, p := pendingCtx("StationService/CreateStation", "CP-NEW")
		if err := s.CreateStation(ctx, &Station{ID: "CP-NEW"}); err == nil {
			t.Fatal("create station succeeded without its audit record")
		}
		if _, err := s.GetStation(bg, "CP-NEW"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("station created without its audit record: %v", err)
		}
		if _, ok := p.Written(); ok {
			t.Fatal("pending record marked written")
		}
		ctx, _ = pendingCtx("StationService/DeleteStation", "CP-KEEP")
		if err := s.DeleteStation(ctx, "CP-KEEP"); err == nil {
			t.Fatal("delete succeeded without its audit record")
		}
		mustGet(t, s, "CP-KEEP")
		ctx, _ = pendingCtx("CommandService/Call", "CP-KEEP")
		if err := s.CreateCommand(ctx, &Command{ID: "m-1", StationID: "CP-KEEP", Action: "Reset", Payload: "{}",
			ExpiresAt: t0.Add(time.Minute)}); err == nil {
			t.Fatal("command recorded without its audit record")
		}
		if _, err := s.GetCommand(bg, "m-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("command kept without its audit record: %v", err)
		}
		ctx, _ = pendingCtx("IdTokenService/CreateIdToken", "")
		if err := s.CreateIDToken(ctx, &IDToken{Value: "TAG-1", Type: "ISO14443", Status: "Accepted"}); err == nil {
			t.Fatal("id token created without its audit record")
		}
		if _, err := s.GetIDTokenByValue(bg, "TAG-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("id token kept without its audit record: %v", err)
		}
		// Writes outside an audited call are not affected.
		if err := s.CreateStation(bg, &Station{ID: "CP-CHARGER-SIDE"}); err != nil {
			t.Fatalf("unaudited write: %v", err)
		}
		if err := s.db.Exec("ALTER TABLE audit_records_gone RENAME TO audit_records").Error; err != nil {
			t.Fatal(err)
		}
		ctx, p = pendingCtx("StationService/CreateStation", "CP-NEW")
		if err := s.CreateStation(ctx, &Station{ID: "CP-NEW"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Written(); !ok {
			t.Fatal("record not written once the table is back")
		}
	})
}

func TestListAuditFilters(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		for i, r := range []audit.Record{
			{Actor: "a@example.com", StationID: "CP-1", Method: "StationService/CreateStation", Outcome: audit.OutcomeOK},
			{Actor: "b@example.com", StationID: "CP-1", Method: "RemoteControlService/Reset", Outcome: audit.OutcomeError},
			{Actor: "a@example.com", StationID: "CP-2", Method: "StationService/DeleteStation", Outcome: audit.OutcomeDenied},
			{Actor: "billing", ActorKind: audit.ActorAPIKey, Method: "IdTokenService/CreateIdToken", Outcome: audit.OutcomeOK},
		} {
			r.At = t0.Add(time.Duration(i) * time.Minute)
			if err := s.InsertAudit(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		methods := func(rows []audit.Record) []string {
			var out []string
			for _, r := range rows {
				out = append(out, r.Method)
			}
			return out
		}
		check := func(name string, f AuditFilter, want ...string) {
			t.Helper()
			got := methods(allAudit(t, s, f))
			if len(got) != len(want) {
				t.Errorf("%s: %v, want %v", name, got, want)
				return
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s: %v, want %v", name, got, want)
					return
				}
			}
		}
		check("all, newest first", AuditFilter{}, "IdTokenService/CreateIdToken", "StationService/DeleteStation", "RemoteControlService/Reset", "StationService/CreateStation")
		check("actor", AuditFilter{Actor: "a@example.com"}, "StationService/DeleteStation", "StationService/CreateStation")
		check("station", AuditFilter{StationID: "CP-1"}, "RemoteControlService/Reset", "StationService/CreateStation")
		check("time range", AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, "StationService/DeleteStation", "RemoteControlService/Reset")
		page1, err := s.ListAudit(ctx, AuditFilter{}, SeqPage{Limit: 3})
		if err != nil || len(page1) != 3 {
			t.Fatalf("page 1: %v %v", page1, err)
		}
		page2, err := s.ListAudit(ctx, AuditFilter{}, SeqPage{Limit: 3, Before: page1[2].Seq})
		if err != nil || len(page2) != 1 || page2[0].Method != "StationService/CreateStation" {
			t.Fatalf("page 2: %v %v", page2, err)
		}
		if err := s.SetAuditOutcome(ctx, page2[0].Seq, audit.OutcomeError, "DeadlineExceeded", "no answer"); err != nil {
			t.Fatal(err)
		}
		got := allAudit(t, s, AuditFilter{Actor: "a@example.com"})
		if last := got[len(got)-1]; last.Outcome != audit.OutcomeError || last.Code != "DeadlineExceeded" || last.Error != "no answer" || !last.At.Equal(t0) {
			t.Errorf("after SetAuditOutcome: %+v", last)
		}
	})
}
