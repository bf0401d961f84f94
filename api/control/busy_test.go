package control

import (
	"context"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// heldRegistry holds every station read until the test releases it, as a
// database whose connections are all taken does.
type heldRegistry struct {
	registry
	reading chan struct{}
	release chan struct{}
}

func (r *heldRegistry) GetStationForAdmission(ctx context.Context, id string) (*store.Station, error) {
	r.reading <- struct{}{}
	<-r.release
	return r.registry.GetStationForAdmission(ctx, id)
}

// TestBusyCoreSaysTryLater: with MaxAdmissions being decided, the next
// admission is answered "try later" at once, with a Retry-After in
// 2–6 s and without touching the store; the held ones finish, and a slot
// freed serves the next station.
func TestBusyCoreSaysTryLater(t *testing.T) {
	const limit = 2
	h := newHarness(t, "sqlite", func(d *Deps) { d.MaxAdmissions = limit })
	for _, id := range []string{"CS1", "CS2", "CS3"} {
		h.addStation(t, id, "")
	}
	held := &heldRegistry{registry: h.svc.store, reading: make(chan struct{}), release: make(chan struct{})}
	h.svc.store = held

	done := make(chan *gatewayv1.AdmitConnectionResponse, limit)
	for _, id := range []string{"CS1", "CS2"} {
		go func() {
			resp, err := h.svc.AdmitConnection(context.Background(), &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: id, Subprotocol: "ocpp1.6"})
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		<-held.reading // it holds a slot, waiting for the database
	}

	for range 20 {
		resp := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS3", Subprotocol: "ocpp1.6"})
		if resp.GetDecision() != gatewayv1.Decision_DECISION_TRY_LATER || resp.GetRetryAfterSeconds() < 2 || resp.GetRetryAfterSeconds() > 6 {
			t.Fatalf("admission while %d are decided = %v, want try later in 2–6 s", limit, resp)
		}
	}

	close(held.release)
	for range limit {
		if resp := <-done; resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
			t.Errorf("held admission = %v", resp)
		}
	}
	go func() { <-held.reading }()
	if resp := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS3", Subprotocol: "ocpp1.6"}); resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Errorf("admission once the slots are free = %v", resp)
	}
}

// TestThrottledAttemptsHoldNoAdmissionSlot: a throttled attempt waits out
// its delay without an admission slot, so a flood of them cannot keep other
// stations out. With one slot and a throttled attempt in its delay, another
// station is still admitted.
func TestThrottledAttemptsHoldNoAdmissionSlot(t *testing.T) {
	h := newHarness(t, "sqlite", func(d *Deps) {
		d.MaxAdmissions = 1
		d.Limits = Limits{PerStation: 1, PerAddress: 100, Window: time.Hour, Delay: time.Hour}
	})
	h.addStation(t, "CS1", "the-right-password-1")
	h.addStation(t, "CS2", "")
	if resp := h.admit(t, basicAuth("CS1", "wrong-password-1", "192.0.2.1:1")); resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED {
		t.Fatalf("wrong password = %v", resp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	throttled := make(chan *gatewayv1.AdmitConnectionResponse, 1)
	go func() {
		resp, _ := h.svc.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: "CS1", HasBasicAuth: true,
			Username: "CS1", Password: "wrong-password-2", RemoteAddr: "192.0.2.1:2", Subprotocol: "ocpp1.6"})
		throttled <- resp
	}()
	for deadline := time.Now().Add(10 * time.Second); len(h.svc.brute.delayed) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the throttled attempt never reached its delay")
		}
		time.Sleep(time.Millisecond)
	}
	if resp := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: "CS2", Subprotocol: "ocpp1.6"}); resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
		t.Errorf("another station while a throttled attempt waits = %v, want accepted", resp)
	}
	cancel()
	if resp := <-throttled; resp.GetDecision() != gatewayv1.Decision_DECISION_UNAUTHORIZED {
		t.Errorf("throttled attempt = %v", resp)
	}
}
