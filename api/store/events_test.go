package store

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	live "github.com/chargeplane/chargeplane/api/event"
)

func TestEventLog(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		if id, err := s.LastEventID(ctx); err != nil || id != 0 {
			t.Fatalf("LastEventID of an empty log = %d, %v", id, err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		evs := []live.Event{
			live.New(live.StationConnected, at, "CP-1", map[string]string{"gatewayId": "gw"}),
			live.New(live.StationStatus, at, "CP-2", map[string]any{"connectorId": 1}),
			live.New(live.CommandSent, at, "CP-1", nil),
		}
		if err := s.AppendEvents(ctx, evs, at); err != nil {
			t.Fatal(err)
		}
		if evs[0].ID <= 0 || evs[1].ID <= evs[0].ID || evs[2].ID <= evs[1].ID {
			t.Fatalf("ids not filled in increasing order: %d %d %d", evs[0].ID, evs[1].ID, evs[2].ID)
		}
		got, err := s.ReadEvents(ctx, live.Range{Filter: live.Filter{StationIDs: []string{"CP-1"}}}, 10)
		if err != nil || len(got) != 2 || got[0].ID != evs[0].ID || got[1].Type != live.CommandSent {
			t.Fatalf("station filter: %+v, %v", got, err)
		}
		var p map[string]string
		if err := json.Unmarshal(got[0].Payload, &p); err != nil || p["gatewayId"] != "gw" || !got[0].Time.Equal(at) {
			t.Fatalf("payload/time round trip: %s %v", got[0].Payload, got[0].Time)
		}
		got, _ = s.ReadEvents(ctx, live.Range{After: evs[0].ID, UpTo: evs[1].ID}, 10)
		if len(got) != 1 || got[0].ID != evs[1].ID {
			t.Fatalf("range (%d, %d]: %+v", evs[0].ID, evs[1].ID, got)
		}
		got, _ = s.ReadEvents(ctx, live.Range{Filter: live.Filter{Types: []live.Type{live.StationStatus}}}, 10)
		if len(got) != 1 || got[0].StationID != "CP-2" {
			t.Fatalf("type filter: %+v", got)
		}
		if id, _ := s.LastEventID(ctx); id != evs[2].ID {
			t.Fatalf("LastEventID = %d, want %d", id, evs[2].ID)
		}
		later := []live.Event{live.New(live.StationBooted, at, "CP-1", nil)}
		if err := s.AppendEvents(ctx, later, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.TrimEvents(ctx, at.Add(time.Minute)); err != nil || n != 3 {
			t.Fatalf("TrimEvents = %d, %v; want the 3 older events", n, err)
		}
		got, _ = s.ReadEvents(ctx, live.Range{}, 10)
		if len(got) != 1 || got[0].ID != later[0].ID {
			t.Fatalf("after trim: %+v", got)
		}
	})
}

// Concurrent writers: ids are in commit order, so a reader that has seen
// id n never later finds a smaller id it had not seen.
func TestEventIDsInCommitOrder(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					evs := []live.Event{live.New(live.StationStatus, time.Now(), "CP", map[string]int{"w": w, "i": i})}
					if err := s.AppendEvents(ctx, evs, time.Now()); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); close(stop) }()
		var seen int64
		count := 0
		for done := false; !done; {
			select {
			case <-stop:
				done = true
			default:
			}
			got, err := s.ReadEvents(ctx, live.Range{After: seen}, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range got {
				seen = e.ID
				count++
			}
		}
		got, _ := s.ReadEvents(ctx, live.Range{After: seen}, 1000)
		count += len(got)
		if count != 100 {
			t.Fatalf("a reader following the log saw %d events, want 100 (an id committed behind the cursor was skipped)", count)
		}
	})
}
