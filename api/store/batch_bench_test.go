package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/internal/testenv"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// BenchmarkMeterValues compares one database transaction per MeterValues
// message with group commit, both under 64 concurrent senders (the router
// handles partitions concurrently) on PostgreSQL. Each message is one
// reading of one of 64 stations' active transactions.
//
//	go test ./api/store -run '^$' -bench MeterValues -benchtime 3s
func BenchmarkMeterValues(b *testing.B) {
	for _, mode := range []string{"single", "grouped"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := benchStore(b, Config{})
			const senders = 64
			txIDs := make([]int64, senders)
			for i := range senders {
				id := fmt.Sprintf("CP%d", i)
				if err := s.CreateStation(ctx, &Station{ID: id}); err != nil {
					b.Fatal(err)
				}
				res, err := s.StartTransaction16(ctx, StartTransaction16{StationID: id, ConnectorID: 1, IDTag: "T", Timestamp: t0})
				if err != nil {
					b.Fatal(err)
				}
				txIDs[i] = res.Transaction.ID
			}
			var rec interface {
				RecordMeterValues(context.Context, MeterReport) error
			} = s
			if mode == "grouped" {
				batcher := s.NewMeterBatcher(MeterBatcherConfig{})
				defer batcher.Close()
				rec = batcher
			}
			testenv.RunParallel(b, senders, "msgs/s", func(w int, n int64) error {
				return rec.RecordMeterValues(ctx, MeterReport{StationID: fmt.Sprintf("CP%d", w), ConnectorID: 1, OCPP16TransactionID: &txIDs[w],
					Samples: []Sample{{Timestamp: t0.Add(time.Duration(n) * time.Millisecond), Value: fmt.Sprint(n)}}})
			})
		})
	}
}

// BenchmarkStatuses compares one database transaction per
// StatusNotification with group commit, under 64 concurrent senders (64
// stations' lanes) on PostgreSQL, as in a boot storm. Besides msgs/s
// (wall time) it reports commits per status, the figure that holds on a
// busy machine.
//
//	go test ./api/store -run '^$' -bench Statuses -benchtime 3000x -count 3
func BenchmarkStatuses(b *testing.B) {
	for _, mode := range []string{"single", "grouped"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := benchStore(b, Config{})
			const senders = 64
			for i := range senders {
				if err := s.CreateStation(ctx, &Station{ID: fmt.Sprintf("CP%d", i)}); err != nil {
					b.Fatal(err)
				}
			}
			var commits atomic.Int64
			var rec func(context.Context, Connector) error
			if mode == "grouped" {
				batcher := s.NewStatusBatcher(BatcherConfig{})
				defer batcher.Close()
				inner := batcher.g.write
				batcher.g.write = func(tx *gorm.DB, cs []*Connector) error {
					commits.Add(1)
					return inner(tx, cs)
				}
				rec = batcher.UpsertConnector
			} else {
				rec = func(ctx context.Context, c Connector) error {
					commits.Add(1)
					return s.UpsertConnector(ctx, c)
				}
			}
			testenv.RunParallel(b, senders, "msgs/s", func(w int, n int64) error {
				return rec(ctx, Connector{StationID: fmt.Sprintf("CP%d", w), EVSEID: 1, ConnectorID: 1, Status: "Available",
					UpdatedAt: t0.Add(time.Duration(n) * time.Millisecond)})
			})
			b.ReportMetric(float64(commits.Load())/float64(b.N), "commits/op")
		})
	}
}

// BenchmarkSharedTokenStarts starts sessions of 64 stations at once with
// one id token without a limit (a fleet card; the scale run's chargers all
// use one), on PostgreSQL: with the token's row locked by every start they
// ran one at a time, each holding a database connection while it waited.
//
//	go test ./api/store -run '^$' -bench SharedTokenStarts -benchtime 2000x -count 3
func BenchmarkSharedTokenStarts(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b, Config{MaxOpenConns: 64})
	if err := s.CreateIDToken(ctx, &IDToken{Value: "FLEET"}); err != nil {
		b.Fatal(err)
	}
	const senders = 64
	for i := range senders {
		if err := s.CreateStation(ctx, &Station{ID: fmt.Sprintf("CP%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	testenv.RunParallel(b, senders, "starts/s", func(w int, n int64) error {
		_, err := s.StartTransaction16(ctx, StartTransaction16{StationID: fmt.Sprintf("CP%d", w), ConnectorID: 1, IDTag: "FLEET",
			MeterStartWh: int(n), Timestamp: t0.Add(time.Duration(n) * time.Millisecond)})
		return err
	})
}

// BenchmarkLastSeenFlush writes the last-seen times of 1,000 stations per
// flush on PostgreSQL (a storm's second of messages), reporting the time
// the flush holds those station rows.
//
//	go test ./api/store -run '^$' -bench LastSeenFlush -benchtime 20x -count 3
func BenchmarkLastSeenFlush(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b, Config{})
	const stations = 1000
	for i := range stations {
		if err := s.CreateStation(ctx, &Station{ID: fmt.Sprintf("CP%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	w := s.NewLastSeenWriter(LastSeenWriterConfig{Interval: time.Hour})
	defer w.Close()
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for i := range stations {
			_ = w.TouchLastSeen(ctx, fmt.Sprintf("CP%d", i), t0.Add(time.Duration(n)*time.Second))
		}
		b.StartTimer()
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarkConnected records b.N stations' sockets as open after their
// admission, from 64 concurrent callers on PostgreSQL, as the core does
// for each charger of a reconnect storm (same OCPP version as before).
//
//	go test ./api/store -run '^$' -bench MarkConnected -benchtime 3000x -count 3
func BenchmarkMarkConnected(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b, Config{})
	evs := make([]ConnectionEvent, b.N)
	for i := range evs {
		id := fmt.Sprintf("CP%d", i)
		if err := s.CreateStation(ctx, &Station{ID: id}); err != nil {
			b.Fatal(err)
		}
		evs[i] = ConnectionEvent{StationID: id, GatewayID: "gw-1", ConnectionID: "c-" + id, OCPPVersion: ocppj.V16, At: t0}
		if _, err := s.RecordAdmission(ctx, evs[i]); err != nil {
			b.Fatal(err)
		}
		if _, err := s.MarkConnected(ctx, evs[i]); err != nil { // the version it spoke before
			b.Fatal(err)
		}
		evs[i].ConnectionID += "-2"
		if _, err := s.RecordAdmission(ctx, evs[i]); err != nil {
			b.Fatal(err)
		}
	}
	const callers = 64
	testenv.RunParallel(b, callers, "connections/s", func(_ int, n int64) error {
		if ok, err := s.MarkConnected(ctx, evs[n-1]); err != nil || !ok {
			return fmt.Errorf("MarkConnected = %v, %v", ok, err)
		}
		return nil
	})
}

// benchStore is a migrated store on the test PostgreSQL with cfg's other
// settings, closed when b ends.
func benchStore(b *testing.B, cfg Config) *Store {
	b.Helper()
	cfg.DatabaseURL, cfg.Logger = testenv.PostgresURL(b), slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}
