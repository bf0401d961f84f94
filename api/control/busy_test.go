package control

import (
	"context"
	"testing"

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
