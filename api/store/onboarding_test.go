package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func TestOnboarding(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		if err := s.CreateStation(ctx, &Station{ID: "REG"}); err != nil {
			t.Fatal(err)
		}
		if state, err := s.OnboardingOf(ctx, "REG"); err != nil || state != OnboardingAccepted {
			t.Fatalf("a registered station's onboarding = %q, %v; want Accepted", state, err)
		}
		if _, err := s.OnboardingOf(ctx, "NOPE"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("OnboardingOf(unknown) = %v, want ErrNotFound", err)
		}

		// Pending stations are created without a password, up to the limit.
		p1, err := s.CreatePendingStation(ctx, "P1", 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		if p1.Onboarding != OnboardingPending || p1.PasswordHash != "" || p1.Blocked {
			t.Fatalf("pending station = %+v", p1)
		}
		if _, err := s.CreatePendingStation(ctx, "P1", 0, 2); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("pending station created twice: %v", err)
		}
		if _, err := s.CreatePendingStation(ctx, "REG", 0, 2); !errors.Is(err, ErrAlreadyExists) {
			t.Fatalf("pending station over a registered one: %v", err)
		}
		if _, err := s.CreatePendingStation(ctx, "P2", 0, 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreatePendingStation(ctx, "P3", 0, 2); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("third pending station with a limit of 2: %v, want ErrTooManyPending", err)
		}
		if _, err := s.GetStation(ctx, "P3"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused pending station stored anyway: %v", err)
		}

		// The filter lists pending stations only, and counts them.
		page, total, err := s.ListStations(ctx, Page{}, StationFilter{Onboarding: OnboardingPending})
		if err != nil || total != 2 || len(page) != 2 || page[0].ID != "P1" || page[1].ID != "P2" {
			t.Fatalf("pending list = %v (total %d), %v", ids(page), total, err)
		}

		// Accept with a password; reject from accepted is refused.
		hash, basic := "argon-hash", 1
		st, err := s.SetOnboarding(ctx, "P1", OnboardingAccepted, []string{OnboardingPending, OnboardingRejected}, &hash, &basic)
		if err != nil || st.Onboarding != OnboardingAccepted || st.PasswordHash != hash || st.SecurityProfile != 1 {
			t.Fatalf("accept = %+v, %v", st, err)
		}
		if _, err := s.SetOnboarding(ctx, "P1", OnboardingRejected, []string{OnboardingPending}, nil, nil); !errors.Is(err, ErrWrongState) {
			t.Fatalf("reject an accepted station = %v, want ErrWrongState", err)
		}
		if _, err := s.SetOnboarding(ctx, "NOPE", OnboardingRejected, []string{OnboardingPending}, nil, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("reject an unknown station = %v, want ErrNotFound", err)
		}
		st, err = s.SetOnboarding(ctx, "P2", OnboardingRejected, []string{OnboardingPending}, nil, nil)
		if err != nil || st.Onboarding != OnboardingRejected || st.PasswordHash != "" {
			t.Fatalf("reject = %+v, %v", st, err)
		}
		// A rejected station no longer counts against the pending limit.
		if _, err := s.CreatePendingStation(ctx, "P3", 0, 2); err != nil {
			t.Fatalf("pending station once the others left Pending: %v", err)
		}

		// Block keeps the row and its history; the standing says so.
		if _, err := s.SetBlocked(ctx, "NOPE", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("block an unknown station = %v, want ErrNotFound", err)
		}
		st, err = s.SetBlocked(ctx, "REG", true)
		if err != nil || !st.Blocked {
			t.Fatalf("block = %+v, %v", st, err)
		}
		standing, err := s.GetStandings(ctx, []string{"REG", "P1"})
		if err != nil || !standing["REG"].Blocked || standing["P1"].Blocked {
			t.Fatalf("standings = %+v, %v", standing, err)
		}
		blocked := true
		page, total, err = s.ListStations(ctx, Page{}, StationFilter{Blocked: &blocked})
		if err != nil || total != 1 || len(page) != 1 || page[0].ID != "REG" {
			t.Fatalf("blocked list = %v (total %d), %v", ids(page), total, err)
		}
		if st, err = s.SetBlocked(ctx, "REG", false); err != nil || st.Blocked {
			t.Fatalf("unblock = %+v, %v", st, err)
		}
		if one, err := s.GetStanding(ctx, "REG"); err != nil || one.Blocked {
			t.Fatalf("standing after unblock = %+v, %v", one, err)
		}
	})
}

func ids(ss []Station) []string {
	out := make([]string, len(ss))
	for i := range ss {
		out[i] = ss[i].ID
	}
	return out
}

// Issue 16: a station whose OCPP version changes keeps only the connectors
// its current version reports; a reconnect on the same version keeps them.
func TestVersionChangeDropsOldConnectors(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		connect := func(conn string, v ocppj.Version) {
			t.Helper()
			ev := ConnectionEvent{StationID: "CP1", GatewayID: "g1", ConnectionID: conn, OCPPVersion: v, At: clk.Add(time.Second)}
			if _, err := s.RecordAdmission(ctx, ev); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.MarkConnected(ctx, ev); err != nil || !ok {
				t.Fatalf("mark %s connected: %v %v", conn, ok, err)
			}
		}
		report := func(evse, connector int) {
			t.Helper()
			if err := s.UpsertConnector(ctx, Connector{StationID: "CP1", EVSEID: evse, ConnectorID: connector, Status: "Available", UpdatedAt: clk.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		connectors := func() []string {
			t.Helper()
			var out []string
			for _, c := range mustGet(t, s, "CP1").Connectors {
				out = append(out, fmt.Sprintf("%d/%d", c.EVSEID, c.ConnectorID))
			}
			return out
		}

		connect("c1", ocppj.V16)
		report(0, 1)
		report(0, 2)
		connect("c2", ocppj.V16) // a reconnect, same version
		if got := connectors(); !slices.Equal(got, []string{"0/1", "0/2"}) {
			t.Fatalf("after a reconnect on the same version: %v", got)
		}
		connect("c3", ocppj.V201) // replaced by a 2.0.1 charger
		if got := connectors(); len(got) != 0 {
			t.Fatalf("after switching to 2.0.1 the 1.6 connectors remain: %v", got)
		}
		report(1, 1)
		connect("c4", ocppj.V16) // and back: the two fight over the id
		if got := connectors(); len(got) != 0 {
			t.Fatalf("after switching back to 1.6 the 2.0.1 connectors remain: %v", got)
		}
		report(0, 1)
		// A stale event of an old connection changes nothing.
		if ok, err := s.MarkConnected(ctx, ConnectionEvent{StationID: "CP1", ConnectionID: "c3", OCPPVersion: ocppj.V201}); err != nil || ok {
			t.Fatalf("stale connected event applied: %v %v", ok, err)
		}
		if got := connectors(); !slices.Equal(got, []string{"0/1"}) {
			t.Fatalf("connectors = %v, want the 1.6 one", got)
		}
	})
}
