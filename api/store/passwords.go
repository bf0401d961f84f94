package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Password rotation keeps a station admitted whatever it does with a new
// password: the password is pending from the moment it is sent (the
// station may switch and reconnect before its answer is processed), becomes
// the station's password when the station accepts it, and the old one
// stays valid until the station connects with the new one. Each step is
// conditional on the hash it expects, so that two rotations, or a rotation
// and an operator's new password, never mix.

// BeginPasswordRotation records pendingHash as the password about to be
// sent to the station, replacing any earlier pending one.
func (s *Store) BeginPasswordRotation(ctx context.Context, id, pendingHash string) error {
	op := fmt.Sprintf("store: begin password rotation of %q", id)
	res := s.db.WithContext(ctx).Model(&Station{}).Where("id = ?", id).
		Updates(map[string]any{"pending_password_hash": pendingHash, "updated_at": dbTime(s.now())})
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// AcceptPasswordRotation makes the pending password (if it is still
// pendingHash) the station's password and keeps the old one as previous.
// It reports whether it applied.
func (s *Store) AcceptPasswordRotation(ctx context.Context, id, pendingHash string) (bool, error) {
	return s.updatePasswords(ctx, "accept password rotation", id,
		"pending_password_hash = ?", []any{pendingHash},
		map[string]any{
			"previous_password_hash": gorm.Expr("password_hash"),
			"password_hash":          gorm.Expr("pending_password_hash"),
			"pending_password_hash":  "",
		})
}

// AbandonPasswordRotation forgets the pending password if it is still
// pendingHash (the station refused it). It reports whether it applied.
func (s *Store) AbandonPasswordRotation(ctx context.Context, id, pendingHash string) (bool, error) {
	return s.updatePasswords(ctx, "abandon password rotation", id,
		"pending_password_hash = ?", []any{pendingHash},
		map[string]any{"pending_password_hash": ""})
}

// PasswordUsed settles a rotation once the station was admitted with the
// password whose stored hash is usedHash: the pending one becomes its
// only password; the current one makes the previous one invalid. Using
// the previous one changes nothing (the station has not switched yet). It
// reports whether anything changed.
func (s *Store) PasswordUsed(ctx context.Context, id, usedHash string) (bool, error) {
	if usedHash == "" {
		return false, nil
	}
	promoted, err := s.updatePasswords(ctx, "settle password rotation", id,
		"pending_password_hash = ?", []any{usedHash},
		map[string]any{
			"password_hash":          gorm.Expr("pending_password_hash"),
			"pending_password_hash":  "",
			"previous_password_hash": "",
		})
	if err != nil || promoted {
		return promoted, err
	}
	return s.updatePasswords(ctx, "settle password rotation", id,
		"password_hash = ? AND previous_password_hash <> ''", []any{usedHash},
		map[string]any{"previous_password_hash": ""})
}

func (s *Store) updatePasswords(ctx context.Context, what, id, cond string, args []any, set map[string]any) (bool, error) {
	set["updated_at"] = dbTime(s.now())
	res := s.db.WithContext(ctx).Model(&Station{}).Where("id = ?", id).Where(cond, args...).Updates(set)
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: %s of %q", what, id), res.Error)
	}
	return res.RowsAffected > 0, nil
}
