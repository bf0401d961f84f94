package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGetStanding(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		st, err := s.GetStanding(ctx, "CP1")
		if err != nil || st.LastSeen != nil {
			t.Fatalf("new station: %+v, %v; want never seen", st, err)
		}
		if err := s.RecordBoot(ctx, "CP1", BootInfo{Vendor: "V", Model: "M", RegistrationStatus: "Pending"}, t0); err != nil {
			t.Fatal(err)
		}
		seen := t0.Add(90 * time.Second)
		if err := s.TouchLastSeen(ctx, "CP1", seen); err != nil {
			t.Fatal(err)
		}
		st, err = s.GetStanding(ctx, "CP1")
		if err != nil || st.RegistrationStatus != "Pending" || st.LastSeen == nil || !st.LastSeen.Equal(seen) {
			t.Fatalf("after boot and touch: %+v, %v; want Pending, seen %v", st, err, seen)
		}
		// Same answer as the full record, which the router used to load.
		full := mustGet(t, s, "CP1")
		if full.RegistrationStatus != st.RegistrationStatus || !full.LastSeen.Equal(*st.LastSeen) {
			t.Errorf("standing %+v differs from the station %+v", st, full)
		}
		if _, err := s.GetStanding(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown station: err = %v, want ErrNotFound", err)
		}

		// Many at once: the same answers, unknown ones absent.
		mustCreateStation(t, s, "CP2")
		all, err := s.GetStandings(ctx, []string{"CP1", "CP2", "ghost"})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all["CP1"].RegistrationStatus != "Pending" || !all["CP1"].LastSeen.Equal(seen) || all["CP2"].LastSeen != nil {
			t.Errorf("GetStandings = %+v; want CP1 Pending seen %v, CP2 never seen, no ghost", all, seen)
		}
	})
}
