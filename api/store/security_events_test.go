package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestSecurityEvents(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		reported := func(typ string, at time.Time) *SecurityEvent {
			return &SecurityEvent{StationID: "CP1", Source: SecuritySourceStation, Type: typ, OccurredAt: at,
				TechInfo: "info", DedupKey: typ + "@" + at.Format(time.RFC3339Nano)}
		}
		e1 := reported("FirmwareUpdated", t0)
		if ok, err := s.RecordSecurityEvent(ctx, e1); err != nil || !ok || e1.ID == 0 {
			t.Fatalf("record = %v, %v (id %d)", ok, err, e1.ID)
		}
		if ok, err := s.RecordSecurityEvent(ctx, reported("FirmwareUpdated", t0)); err != nil || ok {
			t.Fatalf("a retried notification was stored again: %v, %v", ok, err)
		}
		// The CSMS's own events have no dedup key: two alike are two.
		for i := range 2 {
			e := &SecurityEvent{StationID: "CP1", Source: SecuritySourceCSMS, Type: "AdmissionRefused",
				OccurredAt: t0.Add(time.Duration(i+1) * time.Minute), RemoteAddr: "192.0.2.1:4000", TechInfo: "wrong password"}
			if ok, err := s.RecordSecurityEvent(ctx, e); err != nil || !ok {
				t.Fatalf("csms event %d: %v, %v", i, ok, err)
			}
		}
		// An unregistered id's refusal is kept under '' (no station needed).
		if ok, err := s.RecordSecurityEvent(ctx, &SecurityEvent{Source: SecuritySourceCSMS, Type: "AdmissionRefused",
			OccurredAt: t0.Add(time.Hour)}); err != nil || !ok {
			t.Fatalf("unknown-id event: %v, %v", ok, err)
		}

		rows, total, err := s.ListSecurityEvents(ctx, SecurityEventFilter{StationID: "CP1"}, Page{Limit: 2})
		if err != nil || total != 3 || len(rows) != 2 || !rows[0].OccurredAt.Equal(t0.Add(2*time.Minute)) || rows[0].RemoteAddr != "192.0.2.1:4000" {
			t.Fatalf("page 1 = %+v, total %d, %v", rows, total, err)
		}
		rows, _, err = s.ListSecurityEvents(ctx, SecurityEventFilter{StationID: "CP1"}, Page{Limit: 2, AfterID: itoa(rows[1].ID)})
		if err != nil || len(rows) != 1 || rows[0].ID != e1.ID || rows[0].Type != "FirmwareUpdated" || !rows[0].OccurredAt.Equal(t0) {
			t.Fatalf("page 2 = %+v, %v", rows, err)
		}
		if _, total, _ := s.ListSecurityEvents(ctx, SecurityEventFilter{AllStations: true}, Page{}); total != 4 {
			t.Errorf("all stations: total %d, want 4", total)
		}
		if _, total, _ := s.ListSecurityEvents(ctx, SecurityEventFilter{AllStations: true, Source: SecuritySourceCSMS,
			From: t0.Add(time.Minute), To: t0.Add(time.Hour)}, Page{}); total != 2 {
			t.Errorf("csms events in [1m, 1h): total %d, want 2", total)
		}
		if _, total, _ := s.ListSecurityEvents(ctx, SecurityEventFilter{AllStations: true, Type: "FirmwareUpdated"}, Page{}); total != 1 {
			t.Errorf("by type: total %d, want 1", total)
		}

		// Deleting the station keeps its events for the audit.
		if err := s.DeleteStation(ctx, "CP1"); err != nil {
			t.Fatal(err)
		}
		if _, total, _ := s.ListSecurityEvents(ctx, SecurityEventFilter{StationID: "CP1"}, Page{}); total != 3 {
			t.Errorf("after deleting the station: total %d, want 3", total)
		}
	})
}

// A station's security events are trimmed to their own history, not with
// the raw message log.
func TestSecurityEventsTrimmedOnTheirOwn(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		if ok, err := s.RecordSecurityEvent(ctx, &SecurityEvent{StationID: "CP1", Source: SecuritySourceStation,
			Type: "StartupOfTheDevice", OccurredAt: t0}); err != nil || !ok {
			t.Fatal(ok, err)
		}
		for range 3 {
			msg := StationMessage{StationID: "CP1", At: t0, Direction: DirectionIn, MessageType: MessageCall, Frame: `[2,"1","Heartbeat",{}]`}
			if err := s.AppendMessages(ctx, []StationMessage{msg}, MessageBound{Keep: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if _, total, _ := s.ListSecurityEvents(ctx, SecurityEventFilter{StationID: "CP1"}, Page{}); total != 1 {
			t.Errorf("after the message log was trimmed to 1: %d events, want 1", total)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
