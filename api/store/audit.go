package store

import (
	"context"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/audit"
)

// InsertAudit writes a record on its own: for a call that changed nothing
// in the database (it failed first, or was refused) or whose change has
// no transaction. It fills in r.Seq.
func (s *Store) InsertAudit(ctx context.Context, r *audit.Record) error {
	return insertAudit(s.db.WithContext(ctx), r)
}

// SetAuditOutcome records how a call ended after its record was written
// with its change (a command sent and then not answered, say).
func (s *Store) SetAuditOutcome(ctx context.Context, seq int64, o audit.Outcome, code, msg string) error {
	err := s.db.WithContext(ctx).Table(auditTable).Where("seq = ?", seq).
		Updates(map[string]any{"outcome": string(o), "code": code, "error": msg}).Error
	if err != nil {
		return fmt.Errorf("store: set audit outcome %d: %w", seq, err)
	}
	return nil
}

// AuditFilter narrows ListAudit; zero fields match everything.
type AuditFilter struct {
	Actor     string
	StationID string
	// Since (inclusive) and Until (exclusive) bound the time.
	Since, Until time.Time
}

// ListAudit returns one page of the trail, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, p SeqPage) ([]audit.Record, error) {
	q := s.db.WithContext(ctx).Table(auditTable)
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.StationID != "" {
		q = q.Where("station_id = ?", f.StationID)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", dbTime(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", dbTime(f.Until))
	}
	if p.Before > 0 {
		q = q.Where("seq < ?", p.Before)
	}
	out := []audit.Record{}
	if err := q.Order("seq DESC").Limit(p.limit()).Find(&out).Error; err != nil {
		return nil, translate("store: list audit records", err)
	}
	return out, nil
}
