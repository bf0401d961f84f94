package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/chargeplane/chargeplane/api/audit"
)

// write runs fn, the database change an operator's request makes, in one
// transaction; the request's pending audit record (audit.PendingFrom), if
// it has one not yet written, is inserted in the same transaction, so that
// no change commits without its record and no record without its change.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	p := audit.PendingFrom(ctx)
	rec := p.Claim()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		return insertAudit(tx, rec)
	})
	if rec != nil {
		p.Settle(rec, err == nil)
	}
	return err
}

const auditTable = "audit_records"

func insertAudit(tx *gorm.DB, r *audit.Record) error {
	r.Seq = 0
	r.At = dbTime(r.At)
	if err := tx.Table(auditTable).Create(r).Error; err != nil {
		return fmt.Errorf("store: insert audit record of %s: %w", r.Method, err)
	}
	return nil
}
