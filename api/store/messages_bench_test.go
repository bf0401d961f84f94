package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/internal/testenv"
)

// BenchmarkMessageLog is the message logger's cost per batch as under a
// heartbeat storm: 100 stations, one CALL and one reply each per batch,
// logs long since at their bound (500).
func BenchmarkMessageLog(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if db == "postgres" {
				cfg.DatabaseURL = testenv.PostgresURL(b)
			} else {
				cfg.DataDir = b.TempDir()
			}
			ctx := context.Background()
			s, err := Open(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			const stations = 100
			for i := range stations {
				if err := s.CreateStation(ctx, &Station{ID: fmt.Sprint("CP", i), Name: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
			l := s.NewMessageLogger(MessageLoggerConfig{Keep: 500})
			defer l.Close()
			batch := func() []StationMessage {
				out := make([]StationMessage, 0, 2*stations)
				for i := range stations {
					for _, dir := range []string{DirectionIn, DirectionOut} {
						out = append(out, StationMessage{StationID: fmt.Sprint("CP", i), At: time.Now(), Direction: dir,
							MessageType: MessageCall, Action: "Heartbeat", Frame: `[2,"1","Heartbeat",{}]`})
					}
				}
				return out
			}
			for range 300 { // fill every log to its bound
				l.flush(batch())
			}
			b.ResetTimer()
			for b.Loop() {
				l.flush(batch())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(2*stations), "ns/msg")
		})
	}
}
