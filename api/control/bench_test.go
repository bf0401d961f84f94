package control

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
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
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				resp, err := h.svc.AdmitConnection(ctx, &gatewayv1.AdmitConnectionRequest{GatewayId: "gw-1", StationId: fmt.Sprintf("CS%d", n-1), Subprotocol: "ocpp1.6"})
				if err != nil || resp.GetDecision() != gatewayv1.Decision_DECISION_ACCEPTED {
					b.Errorf("admission = %v, %v", resp, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
}
