package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Concurrent statuses of many stations go through shared transactions:
// each caller returns once its own status is stored, a bad one (an
// unknown station) fails alone, and after Close nothing is accepted.
func TestStatusBatcher(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *clock) {
		ctx := context.Background()
		const stations = 40
		for i := range stations {
			mustCreateStation(t, s, fmt.Sprintf("CP%d", i))
		}
		b := s.NewStatusBatcher(BatcherConfig{MaxBatch: 16})
		var wg sync.WaitGroup
		errs := make([]error, stations+1)
		for i := range stations + 1 {
			wg.Go(func() {
				id := fmt.Sprintf("CP%d", i) // CP40 does not exist
				for n, st := range []string{"Available", "Occupied", "Faulted"} {
					err := b.UpsertConnector(ctx, Connector{StationID: id, EVSEID: 1, ConnectorID: 1, Status: st, UpdatedAt: t0.Add(time.Duration(n) * time.Second)})
					if err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for i := range stations {
			if errs[i] != nil {
				t.Fatalf("CP%d: %v", i, errs[i])
			}
			got := mustGet(t, s, fmt.Sprintf("CP%d", i))
			if len(got.Connectors) != 1 || got.Connectors[0].Status != "Faulted" {
				t.Errorf("CP%d connectors %+v, want Faulted (the last status)", i, got.Connectors)
			}
		}
		if !errors.Is(errs[stations], ErrNotFound) {
			t.Errorf("unknown station: err = %v, want ErrNotFound", errs[stations])
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.UpsertConnector(ctx, Connector{StationID: "CP0", EVSEID: 1, ConnectorID: 1, Status: "Available"}); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: err = %v, want ErrClosed", err)
		}
	})
}
