package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Answers of one station applied at once (a typed GetConfiguration and a
// /call) all apply: none fails on a key another inserted, and the key
// limit holds; an unknown station is ErrNotFound.
func TestApplyConfigurationConcurrently(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		if err := s.CreateStation(ctx, &Station{ID: "CS"}); err != nil {
			t.Fatal(err)
		}
		const rounds, answers, limit = 3, 16, 40
		// The first round also opens the pool's connections, which
		// staggers its transactions; the later ones race.
		for round := range rounds {
			errs := make([]error, answers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range answers {
				wg.Go(func() {
					<-start
					var set []ConfigurationKey
					for k := range 4 { // keys every answer of the round has, and one of its own
						set = append(set, ConfigurationKey{Key: fmt.Sprintf("Round%dShared%d", round, k), ReportedAt: time.Now()})
					}
					set = append(set, ConfigurationKey{Key: fmt.Sprintf("Round%dOwn%d", round, i), ReportedAt: time.Now()})
					_, errs[i] = s.ApplyConfiguration(ctx, ConfigurationChange{StationID: "CS", Set: set, Limit: limit})
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d, answer %d: %v", round, i, err)
				}
			}
		}
		keys, err := s.ListConfiguration(ctx, "CS")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != limit {
			t.Errorf("%d keys stored, want the limit %d (%d offered)", len(keys), limit, rounds*(4+answers))
		}
		if _, err := s.ApplyConfiguration(ctx, ConfigurationChange{StationID: "NOPE", Set: []ConfigurationKey{{Key: "K"}}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown station: %v", err)
		}
	})
}
