package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

func issued(station, serial, csr string, due time.Time) *IssuedCertificate {
	return &IssuedCertificate{
		StationID: station, SerialNumber: serial, Subject: "CN=" + station, Issuer: "CN=CA",
		NotBefore: t0, NotAfter: t0.Add(365 * 24 * time.Hour), CertificateType: "ChargingStationCertificate",
		OCPPVersion: ocppj.V201, CSRSHA256: csr, ChainPEM: "-----BEGIN CERTIFICATE-----\n...", NextAttemptAt: &due,
	}
}

func TestIssuedCertificates(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")

		if err := s.CreateIssuedCertificate(ctx, issued("nope", "1", "h", t0)); !errors.Is(err, ErrNotFound) {
			t.Errorf("issue to unknown station: %v, want ErrNotFound", err)
		}

		first := issued("CP1", "a1", "csr1", t0.Add(30*time.Second))
		if err := s.CreateIssuedCertificate(ctx, first); err != nil {
			t.Fatal(err)
		}
		if first.ID == 0 || first.DeliveryStatus != DeliveryPending {
			t.Fatalf("created %+v", first)
		}
		got, err := s.PendingIssuance(ctx, "CP1", "csr1")
		if err != nil || got.ID != first.ID || got.ChainPEM != first.ChainPEM || !got.NotAfter.Equal(first.NotAfter) || got.OCPPVersion != ocppj.V201 {
			t.Fatalf("PendingIssuance = %+v, %v", got, err)
		}
		if _, err := s.PendingIssuance(ctx, "CP1", "other"); !errors.Is(err, ErrNotFound) {
			t.Errorf("PendingIssuance of another CSR: %v", err)
		}
		if err := s.CreateIssuedCertificate(ctx, issued("CP2", "a1", "x", t0)); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("same serial twice: %v, want ErrAlreadyExists", err)
		}

		// Not due yet for the sweeper; the creator's own claim (due by its
		// reservation) wins once, a stale copy loses.
		if due, _ := s.DueDeliveries(ctx, t0, 10); len(due) != 0 {
			t.Errorf("due before the reply window: %v", due)
		}
		stale := *first
		if ok, err := s.ClaimDelivery(ctx, first, *first.NextAttemptAt, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if first.DeliveryAttempts != 1 {
			t.Errorf("attempts after claim = %d", first.DeliveryAttempts)
		}
		if ok, _ := s.ClaimDelivery(ctx, &stale, t0.Add(time.Hour), t0.Add(time.Hour)); ok {
			t.Error("a second claim of the same attempt won")
		}

	})
}

func TestIssuedCertificateLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")

		a := issued("CP1", "a", "csrA", t0)
		if err := s.CreateIssuedCertificate(ctx, a); err != nil {
			t.Fatal(err)
		}
		due, err := s.DueDeliveries(ctx, t0, 10)
		if err != nil || len(due) != 1 || due[0].ID != a.ID {
			t.Fatalf("due = %v, %v", due, err)
		}
		if ok, err := s.ClaimDelivery(ctx, &due[0], t0, t0.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		// Another instance read the same row before the claim: it loses.
		if ok, _ := s.ClaimDelivery(ctx, a, t0, t0.Add(time.Minute)); ok {
			t.Error("stale claim won")
		}
		if due, _ := s.DueDeliveries(ctx, t0.Add(30*time.Second), 10); len(due) != 0 {
			t.Errorf("claimed delivery still due: %v", due)
		}
		if ok, err := s.FinishDelivery(ctx, a.ID, 1, DeliveryOutcome{Status: DeliveryPending, NextAttemptAt: t0.Add(5 * time.Minute), Error: "timeout", CommandID: "c1"}); !ok || err != nil {
			t.Fatalf("finish 1: %v %v", ok, err)
		}
		got, _ := s.GetIssuedCertificate(ctx, a.ID)
		if got.DeliveryStatus != DeliveryPending || got.DeliveryError != "timeout" || got.CommandID != "c1" ||
			got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("after retry scheduled: %+v", got)
		}

		// The station asks again with the same CSR: due at once.
		if err := s.RescheduleDelivery(ctx, a.ID, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		due, _ = s.DueDeliveries(ctx, t0.Add(time.Minute), 10)
		if len(due) != 1 {
			t.Fatalf("rescheduled delivery not due: %v", due)
		}
		if ok, _ := s.ClaimDelivery(ctx, &due[0], t0.Add(time.Minute), t0.Add(2*time.Minute)); !ok {
			t.Fatal("claim of attempt 2 lost")
		}
		// The first attempt's late outcome must not overwrite the second's.
		if ok, _ := s.FinishDelivery(ctx, a.ID, 1, DeliveryOutcome{Status: DeliveryFailed}); ok {
			t.Error("a superseded attempt settled the delivery")
		}
		if ok, err := s.FinishDelivery(ctx, a.ID, 2, DeliveryOutcome{Status: DeliveryAccepted, CommandID: "c2"}); !ok || err != nil {
			t.Fatalf("finish 2: %v %v", ok, err)
		}

		// A renewal: a new CSR supersedes a pending older one, and once
		// accepted replaces the accepted certificate.
		b := issued("CP1", "b", "csrB", t0)
		c := issued("CP1", "c", "csrC", t0)
		for _, x := range []*IssuedCertificate{b, c} {
			if err := s.CreateIssuedCertificate(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.GetIssuedCertificate(ctx, b.ID); got.DeliveryStatus != DeliverySuperseded || got.NextAttemptAt != nil {
			t.Errorf("older pending issuance: %s next %v, want superseded", got.DeliveryStatus, got.NextAttemptAt)
		}
		if ok, _ := s.ClaimDelivery(ctx, c, t0, t0.Add(time.Minute)); !ok {
			t.Fatal("claim c")
		}
		if ok, _ := s.FinishDelivery(ctx, c.ID, 1, DeliveryOutcome{Status: DeliveryAccepted}); !ok {
			t.Fatal("finish c")
		}
		if got, _ := s.GetIssuedCertificate(ctx, a.ID); got.DeliveryStatus != DeliveryReplaced {
			t.Errorf("older accepted certificate: %s, want replaced", got.DeliveryStatus)
		}

		list, total, err := s.ListIssuedCertificates(ctx, "CP1", SeqPage{Limit: 2})
		if err != nil || total != 3 || len(list) != 2 || list[0].ID != c.ID || list[1].ID != b.ID {
			t.Fatalf("list = %v (total %d), %v", list, total, err)
		}
		list, _, _ = s.ListIssuedCertificates(ctx, "CP1", SeqPage{Limit: 2, Before: b.ID})
		if len(list) != 1 || list[0].ID != a.ID {
			t.Errorf("second page = %v", list)
		}

		// Expiry: only the installed certificate, once.
		soon, err := s.ExpiringCertificates(ctx, t0.Add(400*24*time.Hour), 10)
		if err != nil || len(soon) != 1 || soon[0].ID != c.ID {
			t.Fatalf("expiring = %v, %v", soon, err)
		}
		if none, _ := s.ExpiringCertificates(ctx, t0.Add(300*24*time.Hour), 10); len(none) != 0 {
			t.Errorf("expiring before its time: %v", none)
		}
		if ok, _ := s.MarkExpiryWarned(ctx, c.ID, t0); !ok {
			t.Error("first warning not recorded")
		}
		if ok, _ := s.MarkExpiryWarned(ctx, c.ID, t0); ok {
			t.Error("warned twice")
		}
		if again, _ := s.ExpiringCertificates(ctx, t0.Add(400*24*time.Hour), 10); len(again) != 0 {
			t.Errorf("warned certificate listed again: %v", again)
		}

		// Deleting the station deletes its certificates.
		if err := s.DeleteStation(ctx, "CP1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetIssuedCertificate(ctx, c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("issued certificate of a deleted station: %v", err)
		}
	})
}

func TestInstalledCertificates(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		cert := func(typ, serial string) InstalledCertificate {
			return InstalledCertificate{CertificateType: typ, HashAlgorithm: "SHA256", IssuerNameHash: "aa", IssuerKeyHash: "bb", SerialNumber: serial}
		}
		if err := s.ReplaceInstalledCertificates(ctx, "CP1", nil, []InstalledCertificate{
			cert("CSMSRootCertificate", "1"), cert("ManufacturerRootCertificate", "2"), cert("ManufacturerRootCertificate", "2"),
		}, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListInstalledCertificates(ctx, "CP1")
		if err != nil || len(got) != 2 || got[0].SerialNumber != "1" || !got[0].ReportedAt.Equal(t0) {
			t.Fatalf("inventory = %+v, %v", got, err)
		}
		// A partial answer (one type) leaves the other types alone.
		if err := s.ReplaceInstalledCertificates(ctx, "CP1", []string{"ManufacturerRootCertificate"}, nil, t0); err != nil {
			t.Fatal(err)
		}
		got, _ = s.ListInstalledCertificates(ctx, "CP1")
		if len(got) != 1 || got[0].CertificateType != "CSMSRootCertificate" {
			t.Fatalf("after NotFound for one type: %+v", got)
		}
		add := cert("V2GRootCertificate", "3")
		add.StationID, add.ReportedAt = "CP1", t0
		if err := s.AddInstalledCertificate(ctx, add); err != nil {
			t.Fatal(err)
		}
		if err := s.AddInstalledCertificate(ctx, add); err != nil {
			t.Errorf("adding twice: %v", err)
		}
		bad := add
		bad.StationID = "nope"
		if err := s.AddInstalledCertificate(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("add to unknown station: %v, want ErrNotFound", err)
		}
		if ok, err := s.RemoveInstalledCertificate(ctx, "CP1", cert("", "1")); !ok || err != nil {
			t.Errorf("remove: %v %v", ok, err)
		}
		if ok, _ := s.RemoveInstalledCertificate(ctx, "CP1", cert("", "1")); ok {
			t.Error("removed twice")
		}
		got, _ = s.ListInstalledCertificates(ctx, "CP1")
		if len(got) != 1 || got[0].SerialNumber != "3" {
			t.Errorf("inventory = %+v", got)
		}
		if err := s.ReplaceInstalledCertificates(ctx, "nope", nil, nil, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("replace for unknown station: %v", err)
		}
	})
}

func TestPasswordRotation(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		if err := s.CreateStation(ctx, &Station{ID: "CP1", PasswordHash: "old"}); err != nil {
			t.Fatal(err)
		}
		hashes := func() (string, string, string) {
			st := mustGet(t, s, "CP1")
			return st.PasswordHash, st.PendingPasswordHash, st.PreviousPasswordHash
		}
		want := func(step, cur, pending, prev string) {
			t.Helper()
			c, p, v := hashes()
			if c != cur || p != pending || v != prev {
				t.Errorf("%s: current %q pending %q previous %q, want %q %q %q", step, c, p, v, cur, pending, prev)
			}
		}

		if err := s.BeginPasswordRotation(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown station: %v", err)
		}
		if err := s.BeginPasswordRotation(ctx, "CP1", "new"); err != nil {
			t.Fatal(err)
		}
		want("sent", "old", "new", "")
		if ok, _ := s.AcceptPasswordRotation(ctx, "CP1", "other"); ok {
			t.Error("accepted a rotation that is not pending")
		}
		if ok, err := s.AcceptPasswordRotation(ctx, "CP1", "new"); !ok || err != nil {
			t.Fatalf("accept: %v %v", ok, err)
		}
		want("accepted", "new", "", "old")
		// Still on the old password: nothing changes.
		if ok, _ := s.PasswordUsed(ctx, "CP1", "old"); ok {
			t.Error("using the previous password changed something")
		}
		if ok, _ := s.PasswordUsed(ctx, "CP1", "new"); !ok {
			t.Error("connecting with the new password did not retire the old one")
		}
		want("reconnected", "new", "", "")

		// The station switched before its answer was processed.
		_ = s.BeginPasswordRotation(ctx, "CP1", "newer")
		if ok, _ := s.PasswordUsed(ctx, "CP1", "newer"); !ok {
			t.Error("connecting with the pending password did not promote it")
		}
		want("early reconnect", "newer", "", "")
		if ok, _ := s.AcceptPasswordRotation(ctx, "CP1", "newer"); ok {
			t.Error("a late acceptance applied again")
		}

		// Refused.
		_ = s.BeginPasswordRotation(ctx, "CP1", "refused")
		if ok, _ := s.AbandonPasswordRotation(ctx, "CP1", "refused"); !ok {
			t.Error("abandon")
		}
		want("refused", "newer", "", "")

		// The operator sets a password meanwhile: the rotation is over.
		_ = s.BeginPasswordRotation(ctx, "CP1", "p")
		_, _ = s.AcceptPasswordRotation(ctx, "CP1", "p")
		op := "operator"
		if _, err := s.UpdateStation(ctx, "CP1", StationPatch{PasswordHash: &op}); err != nil {
			t.Fatal(err)
		}
		want("operator's password", "operator", "", "")
	})
}
