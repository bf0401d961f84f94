package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestStatusReports(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		if l, err := s.LatestStatusReports(ctx, "CP1"); err != nil || l.Firmware != nil || l.Log != nil || l.Publish != nil {
			t.Fatalf("latest before any = %+v %v", l, err)
		}
		for i := range StatusReportHistory + 5 {
			clk.Add(time.Second)
			if err := s.RecordStatusReport(ctx, &StatusReport{StationID: "CP1", Kind: StatusKindFirmware,
				Action: "FirmwareStatusNotification", Status: fmt.Sprintf("S%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordStatusReport(ctx, &StatusReport{StationID: "CP1", Kind: StatusKindLog,
			Action: "LogStatusNotification", Status: "Uploading", RequestID: ptr(7)}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordStatusReport(ctx, &StatusReport{StationID: "CP2", Kind: StatusKindLog,
			Action: "DiagnosticsStatusNotification", Status: "Uploaded"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordStatusReport(ctx, &StatusReport{StationID: "CP1", Kind: "other", Status: "x"}); err == nil {
			t.Error("unknown kind accepted")
		}

		latest, err := s.LatestStatusReports(ctx, "CP1")
		fw, lg := latest.Firmware, latest.Log
		if err != nil || fw == nil || lg == nil {
			t.Fatalf("latest = %v %v %v", fw, lg, err)
		}
		want := fmt.Sprintf("S%d", StatusReportHistory+4)
		if fw.Status != want || !fw.ReportedAt.Equal(clk.Now()) {
			t.Errorf("latest firmware = %+v, want %s at %v", fw, want, clk.Now())
		}
		if lg.Status != "Uploading" || lg.RequestID == nil || *lg.RequestID != 7 {
			t.Errorf("latest log = %+v", lg)
		}
		hist, err := s.ListStatusReports(ctx, "CP1", StatusKindFirmware)
		if err != nil || len(hist) != StatusReportHistory {
			t.Fatalf("history = %d %v, want %d kept", len(hist), err, StatusReportHistory)
		}
		if hist[0].Status != want || hist[len(hist)-1].Status != "S5" {
			t.Errorf("history order: first %s last %s", hist[0].Status, hist[len(hist)-1].Status)
		}
		all, err := s.ListStatusReports(ctx, "CP1", "")
		if err != nil || len(all) != StatusReportHistory+1 {
			t.Errorf("all kinds = %d %v", len(all), err)
		}
	})
}

func TestReservations(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		a := &Reservation{StationID: "CP1", OCPPVersion: ocppj.V16, ConnectorID: 1, IDToken: "TAG", ExpiresAt: t0.Add(time.Hour), RequestedBy: "op"}
		b := &Reservation{StationID: "CP1", OCPPVersion: ocppj.V201, EVSEID: ptr(2), IDToken: "TOK", IDTokenType: "ISO14443", ExpiresAt: t0.Add(time.Minute)}
		for _, r := range []*Reservation{a, b} {
			if err := s.CreateReservation(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if a.ID == 0 || b.ID <= a.ID || a.Status != ReservationPending {
			t.Fatalf("ids %d %d status %s", a.ID, b.ID, a.Status)
		}
		if _, err := s.SetReservationStatus(ctx, "CP1", a.ID, ReservationAccepted, ""); err != nil {
			t.Fatal(err)
		}
		got, err := s.SetReservationStatus(ctx, "CP1", b.ID, ReservationAccepted, "")
		if err != nil || got.Status != ReservationAccepted || got.EVSEID == nil || *got.EVSEID != 2 {
			t.Fatalf("b = %+v %v", got, err)
		}
		if _, err := s.SetReservationStatus(ctx, "CP2", a.ID, ReservationRemoved, ""); err == nil {
			t.Error("another station's reservation changed")
		}
		at := clk.Add(2 * time.Minute) // b has expired
		active, err := s.ListReservations(ctx, "CP1", ReservationFilter{ActiveAt: &at})
		if err != nil || len(active) != 1 || active[0].ID != a.ID {
			t.Fatalf("active = %+v %v", active, err)
		}
		all, err := s.ListReservations(ctx, "CP1", ReservationFilter{})
		if err != nil || len(all) != 2 || all[0].ID != b.ID {
			t.Fatalf("all = %+v %v", all, err)
		}
		page, err := s.ListReservations(ctx, "CP1", ReservationFilter{BeforeID: b.ID, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != a.ID {
			t.Fatalf("page = %+v %v", page, err)
		}
	})
}

// TestLocalList: what a station's list holds is replaced as a whole under
// its version, and read back for planning (api/locallist plans).
func TestLocalList(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		exp := t0.Add(time.Hour)
		mustToken(t, s, &IDToken{Value: "GROUP1", Type: "Local"})
		mustToken(t, s, &IDToken{Value: "AAA", Type: "ISO14443", GroupID: ptr("group1")})
		tokens, err := s.AllIDTokens(ctx)
		if err != nil || len(tokens) != 2 {
			t.Fatalf("all tokens = %+v %v", tokens, err)
		}
		for _, tok := range tokens {
			if tok.Value == "AAA" && (tok.GroupID == nil || *tok.GroupID != "group1") {
				t.Errorf("token AAA = %+v", tok)
			}
		}

		if ver, held, err := s.LocalListState(ctx, "CP1"); err != nil || ver.Version != 0 || len(held) != 0 {
			t.Fatalf("state before any = %+v %v %v", ver, held, err)
		}
		hold := func(version int, typ string, entries []LocalListEntry) {
			t.Helper()
			_, err := s.UpdateLocalList(ctx, "CP1", func(cur LocalListVersion, _ []LocalListEntry) (LocalListVersion, []LocalListEntry, error) {
				if cur.Version != version-1 {
					t.Errorf("update to %d on top of version %d", version, cur.Version)
				}
				return LocalListVersion{Version: version, UpdateType: typ, Entries: len(entries)}, entries, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		hold(1, LocalListFull, []LocalListEntry{{TokenKey: "bbb", IDToken: "BBB", Status: IDTokenAccepted, ExpiresAt: &exp},
			{TokenKey: "aaa", IDToken: "AAA", Status: IDTokenBlocked, GroupID: "group1", GroupType: "Local"}})
		refused := errors.New("refused")
		if _, err := s.UpdateLocalList(ctx, "CP1", func(LocalListVersion, []LocalListEntry) (LocalListVersion, []LocalListEntry, error) {
			return LocalListVersion{Version: 9}, nil, refused
		}); !errors.Is(err, refused) {
			t.Errorf("an update its function refuses: %v", err)
		}
		ver, held, err := s.LocalListState(ctx, "CP1")
		if err != nil || ver.Version != 1 || ver.Entries != 2 || ver.UpdateType != LocalListFull || len(held) != 2 {
			t.Fatalf("state = %+v %+v %v", ver, held, err)
		}
		if a, b := held[0], held[1]; a.IDToken != "AAA" || a.GroupType != "Local" || a.StationID != "CP1" ||
			b.IDToken != "BBB" || b.ExpiresAt == nil || !b.ExpiresAt.Equal(exp) {
			t.Errorf("held = %+v", held)
		}
		hold(2, LocalListDifferential, nil)
		if ver, held, err := s.LocalListState(ctx, "CP1"); err != nil || ver.Version != 2 || len(held) != 0 {
			t.Errorf("state after emptying = %+v %+v %v", ver, held, err)
		}
		_ = clk
	})
}

func TestChargingProfiles(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		save := func(id, evse int, purpose string, level int) {
			t.Helper()
			p := &ChargingProfile{StationID: "CP1", OCPPVersion: ocppj.V16, ProfileID: id, EVSEID: evse, Purpose: purpose,
				StackLevel: level, Profile: fmt.Sprintf(`{"chargingProfileId":%d}`, id)}
			if err := s.SaveChargingProfile(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(f ChargingProfileFilter) string {
			t.Helper()
			ps, err := s.ListChargingProfiles(ctx, "CP1", f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range ps {
				out = append(out, fmt.Sprintf("%s:%d@%d", p.Source, p.ProfileID, p.EVSEID))
			}
			return fmt.Sprint(out)
		}
		save(1, 0, "ChargePointMaxProfile", 0)
		save(2, 1, "TxDefaultProfile", 0)
		save(3, 1, "TxDefaultProfile", 1)
		save(4, 1, "TxDefaultProfile", 0) // replaces 2: same connector, purpose, level
		save(3, 2, "TxDefaultProfile", 5) // replaces 3: same id
		if got := ids(ChargingProfileFilter{}); got != "[set:1@0 set:4@1 set:3@2]" {
			t.Fatalf("after saves: %s", got)
		}
		// A clear returns the rows it removed, whole: callers act on them
		// (2.0.1 plans the EVSEs whose limits went again).
		cleared := func(c ProfileCriteria) string {
			t.Helper()
			ps, err := s.ClearChargingProfiles(ctx, "CP1", c)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, p := range ps {
				if p.StationID != "CP1" || p.Source != ProfileSourceSet || p.ID == 0 || p.Profile != fmt.Sprintf(`{"chargingProfileId":%d}`, p.ProfileID) {
					t.Errorf("removed row %+v", p)
				}
				out = append(out, fmt.Sprintf("%d@%d/%s/%d", p.ProfileID, p.EVSEID, p.Purpose, p.StackLevel))
			}
			sort.Strings(out)
			return fmt.Sprint(out)
		}
		save(5, 2, "TxProfile", 0)
		if got := cleared(ProfileCriteria{EVSEID: ptr(1), StackLevel: ptr(1)}); got != "[]" {
			t.Fatalf("clear of nothing: %s", got)
		}
		if got := cleared(ProfileCriteria{EVSEID: ptr(2), StackLevel: ptr(0)}); got != "[5@2/TxProfile/0]" {
			t.Fatalf("clear by EVSE and level: %s", got)
		}
		if got := cleared(ProfileCriteria{Purpose: "TxDefaultProfile"}); got != "[3@2/TxDefaultProfile/5 4@1/TxDefaultProfile/0]" {
			t.Fatalf("clear by purpose: %s", got)
		}
		// An id alone decides: the purpose given with it is not looked at.
		if got := cleared(ProfileCriteria{ProfileID: ptr(1), Purpose: "TxProfile"}); got != "[1@0/ChargePointMaxProfile/0]" {
			t.Fatalf("clear by id: %s", got)
		}
		rep := []ChargingProfile{
			{StationID: "CP1", OCPPVersion: ocppj.V201, ProfileID: 9, EVSEID: 1, Purpose: "TxDefaultProfile", RequestID: 5, ChargingLimitSource: "CSO", Profile: "{}"},
			{StationID: "CP1", OCPPVersion: ocppj.V201, ProfileID: 8, EVSEID: 0, Purpose: "ChargingStationMaxProfile", RequestID: 5, ChargingLimitSource: "CSO", Profile: "{}"},
		}
		for range 2 { // a retried report changes nothing
			if err := s.SaveReportedChargingProfiles(ctx, append([]ChargingProfile(nil), rep...)); err != nil {
				t.Fatal(err)
			}
		}
		if got := ids(ChargingProfileFilter{Source: ProfileSourceReported, RequestID: 5}); got != "[reported:8@0 reported:9@1]" {
			t.Fatalf("reported: %s", got)
		}
		if got := ids(ChargingProfileFilter{RequestID: 6}); got != "[]" {
			t.Fatalf("other request: %s", got)
		}
	})
}

func TestOCPP16TransactionID(t *testing.T) {
	for uid, want := range map[string]int{"42": 42, UnknownTransactionUID(7): 7, "0": 0} {
		if got, ok := OCPP16TransactionID(uid); !ok || got != want {
			t.Errorf("OCPP16TransactionID(%q) = %d %v, want %d", uid, got, ok, want)
		}
	}
	for _, uid := range []string{"", "abc", "unknown:", "-3", "99999999999"} {
		if got, ok := OCPP16TransactionID(uid); ok {
			t.Errorf("OCPP16TransactionID(%q) = %d, want none", uid, got)
		}
	}
}
