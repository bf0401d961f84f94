package control

import (
	"context"
	"fmt"
	"testing"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/internal/testenv"
	gatewayv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/gateway/v1"
)

// BenchmarkAdmission admits one connection of each of b.N stations (two
// connectors each, as after their first boot) from 64 concurrent callers
// on PostgreSQL, as in a reconnect storm: every admission reads the
// station and records the connection. (One each: a station replaced many
// times a second is refused as flapping.)
//
//	go test ./api/control -run '^$' -bench Admission -benchtime 3000x -count 3
func BenchmarkAdmission(b *testing.B) {
	h := newHarness(b, "postgres")
	ctx := context.Background()
	const callers = 64
	for i := range b.N {
		id := fmt.Sprintf("CS%d", i)
		h.addStation(b, id, "")
		for c := 1; c <= 2; c++ {
			if err := h.store.UpsertConnector(ctx, store.Connector{StationID: id, EVSEID: 1, ConnectorID: c, Status: "Available", UpdatedAt: t0}); err != nil {
				b.Fatal(err)
			}
		}
	}
	testenv.RunParallel(b, callers, "admissions/s", func(_ int, n int64) error {
		resp, err := h.svc.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: fmt.Sprintf("CS%d", n-1), Subprotocol: "ocpp1.6"})
		if err != nil || resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
			return fmt.Errorf("admission = %v, %v", resp, err)
		}
		return nil
	})
}
