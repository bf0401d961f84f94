package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The logger trims a station's log only every Keep/4 messages, yet the log
// never holds more than Keep + Keep/4 - 1 and always keeps the newest Keep.
func TestMessageLoggerTrimAmortised(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		mustCreateStation(t, s, "CP1")
		mustCreateStation(t, s, "CP2")
		const keep = 20
		l := s.NewMessageLogger(MessageLoggerConfig{Keep: keep})
		defer l.Close()
		count := func(id string) int {
			var n int64
			if err := s.db.WithContext(ctx).Model(&StationMessage{}).Where("station_id = ?", id).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
		most := 0
		for i := range 100 {
			// Flushed directly (the loop is idle: nothing is Logged), one or
			// three messages a batch, two stations.
			batch := []StationMessage{{StationID: "CP1", At: clk.Add(time.Millisecond), Direction: DirectionIn,
				MessageType: MessageCall, Frame: fmt.Sprint(i)}}
			if i%2 == 0 {
				for j := range 3 {
					batch = append(batch, StationMessage{StationID: "CP2", At: clk.Add(time.Millisecond), Direction: DirectionIn,
						MessageType: MessageCall, Frame: fmt.Sprint(i, "/", j)})
				}
			}
			l.flush(batch)
			for _, id := range []string{"CP1", "CP2"} {
				n := count(id)
				if n > keep+keep/4-1 {
					t.Fatalf("after batch %d: %s holds %d messages, bound %d", i, id, n, keep+keep/4-1)
				}
				most = max(most, n)
			}
		}
		if most <= keep {
			t.Errorf("never above %d: trimming is not amortised", keep)
		}
		got, err := s.ListMessages(ctx, "CP1", SeqPage{Limit: 100})
		if err != nil || len(got) < keep || got[0].Frame != "99" {
			t.Fatalf("CP1 log lost its newest messages: %d entries, err %v", len(got), err)
		}
	})
}
