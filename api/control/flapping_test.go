package control

import (
	"context"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/admission"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

func TestFlapGuard(t *testing.T) {
	g := newFlapGuard()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Replacements spread wider than the window never flap.
	for i := range 3 * FlapLimit {
		if g.replaced("slow", now.Add(time.Duration(i)*FlapWindow/FlapLimit*2)) {
			t.Fatalf("replacement %d of a slowly replaced station flagged as flapping", i)
		}
	}
	for i := range FlapLimit {
		if g.replaced("CP", now.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("flapping after %d replacements, limit %d", i+1, FlapLimit)
		}
	}
	at := now.Add(FlapLimit * time.Second)
	if !g.replaced("CP", at) {
		t.Fatalf("not flapping after %d replacements within %v", FlapLimit+1, FlapWindow)
	}
	if until, ok := g.refusedUntil("CP", at.Add(time.Second)); !ok || !until.Equal(at.Add(FlapBackoff)) {
		t.Fatalf("refusedUntil = %v %v, want until %v", until, ok, at.Add(FlapBackoff))
	}
	if _, ok := g.refusedUntil("other", at); ok {
		t.Fatal("another station refused")
	}
	if _, ok := g.refusedUntil("CP", at.Add(FlapBackoff)); ok {
		t.Fatal("still refused after the back-off")
	}
}

func TestFlapGuardBounded(t *testing.T) {
	g := newFlapGuard()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range flapStations + 100 {
		g.replaced(string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	if n := len(g.entries); n > flapStations {
		t.Fatalf("%d stations tracked, bound %d", n, flapStations)
	}
}

type refusals struct{ got []admission.Refusal }

func (r *refusals) AdmissionRefused(_ context.Context, x admission.Refusal) { r.got = append(r.got, x) }

// Issue 16: two clients fighting over one id are slowed down and reported,
// while newest-wins stays for everyone else.
func TestFlappingStationRefusedForABackoff(t *testing.T) {
	h := newHarness(t, "sqlite")
	events := &refusals{}
	h.svc.events = events
	h.addStation(t, "CS", "")
	h.addStation(t, "CALM", "")
	for i := range FlapLimit + 1 {
		if r := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", Subprotocol: "ocpp1.6"}); r.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
			t.Fatalf("admission %d: %v", i, r)
		}
		h.clock.Add(time.Second)
	}
	if len(events.got) != 0 {
		t.Fatalf("reported before the limit: %+v", events.got)
	}
	// One more replacement makes it flapping: reported once.
	if r := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", Subprotocol: "ocpp1.6"}); r.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("the replacement that tips it over: %v", r)
	}
	if len(events.got) != 1 || events.got[0].Check != CheckFlapping || events.got[0].StationID != "CS" {
		t.Fatalf("security events = %+v, want one flapping event for CS", events.got)
	}
	r := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", Subprotocol: "ocpp1.6"})
	if r.GetDecision() != gatewayv1.Decision_DECISION_TRY_LATER || r.GetRetryAfterSeconds() <= 0 {
		t.Fatalf("admission during the back-off: %v, want TRY_LATER with a retry", r)
	}
	if r := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CALM", Subprotocol: "ocpp1.6"}); r.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("another station during CS's back-off: %v", r)
	}
	h.clock.Add(FlapBackoff)
	if r := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS", Subprotocol: "ocpp1.6"}); r.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Fatalf("after the back-off: %v", r)
	}
}
