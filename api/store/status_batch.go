package store

import (
	"cmp"
	"context"
	"slices"

	"gorm.io/gorm"
)

// StatusBatcher stores connector statuses (StatusNotification) with group
// commit: the statuses reported by many stations at once share one
// database transaction, and each caller returns only once it committed, so
// a charger is still answered only after its status is stored. A boot
// storm of thousands of stations reporting their connectors costs a few
// commits instead of one each. Safe for concurrent use.
type StatusBatcher struct {
	g *groupCommit[Connector]
}

// NewStatusBatcher starts a batcher writing to s. Close it before closing s.
func (s *Store) NewStatusBatcher(cfg BatcherConfig) *StatusBatcher {
	write := func(tx *gorm.DB, cs []*Connector) error {
		// One lock order for every batch: concurrent batches on
		// PostgreSQL cannot deadlock on each other's rows.
		slices.SortFunc(cs, func(a, b *Connector) int {
			return cmp.Or(cmp.Compare(a.StationID, b.StationID), cmp.Compare(a.EVSEID, b.EVSEID), cmp.Compare(a.ConnectorID, b.ConnectorID))
		})
		for _, c := range cs {
			if err := s.upsertConnector(tx, *c); err != nil {
				return err
			}
		}
		return nil
	}
	return &StatusBatcher{g: newGroupCommit(s, cfg, "status-batcher", write, s.UpsertConnector)}
}

// UpsertConnector stores c as part of the next batch (see
// Store.UpsertConnector) and returns once the batch committed.
func (b *StatusBatcher) UpsertConnector(ctx context.Context, c Connector) error {
	return b.g.submit(ctx, c)
}

// Close writes what was handed over and stops the batcher. Calls after
// Close return ErrClosed.
func (b *StatusBatcher) Close() error {
	b.g.close()
	return nil
}
