package store

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
)

// normalizeEmail is the one form emails are stored and looked up in, which
// makes the unique index case-insensitive.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// CreateUser inserts u, filling an empty ID with a UUID and lower-casing the
// email. A taken email (in any case) is ErrAlreadyExists. The role is
// required: the store never picks one.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if u.Role == "" {
		return errors.New("store: create user: role is required")
	}
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	u.Email = normalizeEmail(u.Email)
	now := dbTime(s.now())
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.CreatedAt = dbTime(u.CreatedAt)
	u.UpdatedAt = now
	u.DisabledAt = dbTimePtr(u.DisabledAt)
	return translate("store: create user", s.db.WithContext(ctx).Create(u).Error)
}

// UserByEmail finds a user whatever the case of email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("email = ?", normalizeEmail(email)).Take(&u).Error
	if err != nil {
		return nil, translate("store: user by email", err)
	}
	return &u, nil
}
