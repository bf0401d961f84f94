package control

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// outageRegistry is the real store behind a switch that makes the calls
// fail as they do while PostgreSQL is down.
type outageRegistry struct {
	registry
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (r *outageRegistry) RenewLease(ctx context.Context, gw string, until time.Time) (bool, error) {
	if r.down.Load() {
		return false, errDown
	}
	return r.registry.RenewLease(ctx, gw, until)
}

func (r *outageRegistry) ExpireLeases(ctx context.Context, now time.Time) ([]string, error) {
	if r.down.Load() {
		return nil, errDown
	}
	return r.registry.ExpireLeases(ctx, now)
}

func (r *outageRegistry) Ping(ctx context.Context) error {
	if r.down.Load() {
		return errDown
	}
	return r.registry.Ping(ctx)
}

// While the database is down no gateway can renew its lease; when it comes
// back, the sweep must not take every live gateway for dead. It waits one
// lease TTL, by which time the live ones have renewed, and then expires
// only the gateway that really died.
func TestDatabaseOutageDoesNotExpireLiveGateways(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			h := newHarness(t, db)
			reg := &outageRegistry{registry: h.store}
			h.svc.store = reg
			ctx := context.Background()
			renew := func(gw string) error {
				_, err := h.svc.RenewLease(ctx, &gatewayv1.RenewLeaseRequest{GatewayId: gw, TtlSeconds: 10})
				return err
			}
			for _, st := range []struct{ id, gw string }{{"LIVE", "gw-lives"}, {"DEAD", "gw-dies"}} {
				h.addStation(t, st.id, "")
				a := h.admit(t, &gatewayv1.AdmitConnectionRequest{StationId: st.id, GatewayId: st.gw, Subprotocol: "ocpp1.6"})
				if _, err := h.store.MarkConnected(ctx, store.ConnectionEvent{StationID: st.id, GatewayID: st.gw, ConnectionID: a.GetConnectionId(), At: t0}); err != nil {
					t.Fatal(err)
				}
				if err := renew(st.gw); err != nil {
					t.Fatal(err)
				}
			}

			reg.down.Store(true)
			h.clock.Add(4 * time.Second)
			if err := renew("gw-lives"); err == nil {
				t.Fatal("renewal succeeded with the database down")
			}
			if _, err := h.svc.SweepLeases(ctx); err == nil {
				t.Fatal("sweep succeeded with the database down")
			}
			h.clock.Add(12 * time.Second) // both leases ran out during the outage
			reg.down.Store(false)

			if got, err := h.svc.SweepLeases(ctx); err != nil || len(got) != 0 {
				t.Fatalf("first sweep after the outage: %v, %v; want nothing expired", got, err)
			}
			h.clock.Add(3 * time.Second)
			if err := renew("gw-lives"); err != nil { // the live gateway's next renewal
				t.Fatal(err)
			}
			if got, err := h.svc.SweepLeases(ctx); err != nil || len(got) != 0 {
				t.Fatalf("sweep within the grace: %v, %v; want nothing expired", got, err)
			}
			h.clock.Add(8 * time.Second) // the database has been back for 11s > TTL
			got, err := h.svc.SweepLeases(ctx)
			if err != nil || !slices.Equal(got, []string{"DEAD"}) {
				t.Fatalf("sweep after the grace: %v, %v; want [DEAD]", got, err)
			}
			if st, err := h.store.GetStation(ctx, "LIVE"); err != nil || !st.Connected {
				t.Fatalf("station of the live gateway: %+v, %v; want connected", st, err)
			}
		})
	}
}
