package store

import (
	"context"

	"gorm.io/gorm"
)

// write runs fn, the database change an operator's request makes, in one
// transaction.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn)
}
