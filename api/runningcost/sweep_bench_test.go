package runningcost_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/runningcost"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// countingSender answers at once and counts what it was given.
type countingSender struct{ sent atomic.Int64 }

func (s *countingSender) CostUpdated(context.Context, *store.Transaction, float64) error {
	s.sent.Add(1)
	return nil
}

func (s *countingSender) CostMessage(context.Context, string, string, string) (string, error) {
	s.sent.Add(1)
	return "Accepted", nil
}

func (s *countingSender) Support(context.Context, string, ocppj.Version) (runningcost.Support, error) {
	return runningcost.Shown, nil
}

// BenchmarkSweep measures what the database side of a sweep costs on
// PostgreSQL with 2,000 connected stations, each with a tariff and an
// active transaction: the first sweep prices, claims, sends and records
// every one; the second finds every cost unchanged and sends nothing.
// The station answers at once, so this is the core's own work.
//
//	go test ./api/runningcost -run '^$' -bench Sweep -benchtime 1x
func BenchmarkSweep(b *testing.B) {
	const stations = 2000
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, store.Config{DatabaseURL: testenv.PostgresURL(b), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour)
	for i := range stations {
		id := fmt.Sprintf("bench-%d", i)
		if err := st.CreateStation(ctx, &store.Station{ID: id}); err != nil {
			b.Fatal(err)
		}
		ev := store.ConnectionEvent{StationID: id, GatewayID: "gw", ConnectionID: "c" + id, OCPPVersion: ocppj.V16, At: t0}
		if _, err := st.RecordAdmission(ctx, ev); err != nil {
			b.Fatal(err)
		}
		if _, err := st.MarkConnected(ctx, ev); err != nil {
			b.Fatal(err)
		}
		if err := st.PutTariff(ctx, &store.Tariff{StationID: id, Currency: "EUR", PerKWh: 0.3, PerMinute: 0.01}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.StartTransaction16(ctx, store.StartTransaction16{StationID: id, ConnectorID: 1, IDTag: "T", Timestamp: t0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		sender := &countingSender{}
		// Each iteration two intervals on: every claim has run out and,
		// priced by the minute, every cost has changed.
		now := time.Now().Add(time.Duration(i) * 2 * time.Minute)
		clock := func() time.Time { return now }
		svc := runningcost.New(runningcost.Config{Store: st, Costs: tariff.Coster{Store: st, Now: clock}, Sender: sender,
			Now: clock, Interval: time.Minute, Send16: true, Logger: quiet})
		start := time.Now()
		svc.Sweep(ctx)
		first := time.Since(start)
		if sender.sent.Load() < stations {
			b.Fatalf("first sweep sent %d, want at least %d", sender.sent.Load(), stations)
		}
		before := sender.sent.Load()
		start = time.Now()
		svc.Sweep(ctx)
		second := time.Since(start)
		if sender.sent.Load() != before {
			b.Fatalf("second sweep sent %d unchanged costs", sender.sent.Load()-before)
		}
		b.ReportMetric(float64(first.Milliseconds()), "ms/sweep-all-sent")
		b.ReportMetric(float64(second.Milliseconds()), "ms/sweep-unchanged")
	}
}
