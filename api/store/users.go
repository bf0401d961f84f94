package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
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
	return s.write(ctx, func(tx *gorm.DB) error {
		return translate("store: create user", tx.Create(u).Error)
	})
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

// ErrLastAdmin refuses a change that would leave no enabled admin, since
// nobody could then manage users or keys over the API.
var ErrLastAdmin = errors.New("store: the last enabled admin cannot be demoted or disabled")

// GetUser returns one user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: get user %q", id), err)
	}
	return &u, nil
}

// ListUsers returns one page of users ordered by id and the total.
func (s *Store) ListUsers(ctx context.Context, p Page) ([]User, int64, error) {
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&User{}).Count(&total).Error; err != nil {
		return nil, 0, translate("store: count users", err)
	}
	q := db.Order("id").Limit(pageLimit(p))
	if p.AfterID != "" {
		q = q.Where("id > ?", p.AfterID)
	}
	out := []User{}
	if err := q.Find(&out).Error; err != nil {
		return nil, 0, translate("store: list users", err)
	}
	return out, total, nil
}

// UserPatch lists what UpdateUser changes; nil leaves a field alone.
type UserPatch struct {
	FirstName, LastName *string
	Role                *string
	// Disabled disables (true) or enables (false) the user.
	Disabled *bool
	// PasswordHash sets a new password.
	PasswordHash *string
}

// UpdateUser applies p and returns the user as it now is. A role change,
// a disable or a new password bumps the token generation, which ends the
// user's tokens. A change that would leave no enabled admin is
// ErrLastAdmin.
func (s *Store) UpdateUser(ctx context.Context, id string, p UserPatch) (*User, error) {
	op := fmt.Sprintf("store: update user %q", id)
	now := dbTime(s.now())
	err := s.write(ctx, func(tx *gorm.DB) error {
		var cur User
		if err := tx.Clauses(lockStation).Where("id = ?", id).Take(&cur).Error; err != nil {
			return translate(op, err)
		}
		set := map[string]any{"updated_at": now}
		endTokens := false
		if p.FirstName != nil {
			set["first_name"] = *p.FirstName
		}
		if p.LastName != nil {
			set["last_name"] = *p.LastName
		}
		if p.Role != nil && *p.Role != cur.Role {
			set["role"] = *p.Role
			endTokens = true
		}
		if p.Disabled != nil && *p.Disabled != (cur.DisabledAt != nil) {
			if *p.Disabled {
				set["disabled_at"] = now
				endTokens = true
			} else {
				set["disabled_at"] = nil
			}
		}
		if p.PasswordHash != nil {
			set["password_hash"] = *p.PasswordHash
			endTokens = true
		}
		losesAdmin := cur.Role == "admin" && cur.DisabledAt == nil &&
			((p.Role != nil && *p.Role != "admin") || (p.Disabled != nil && *p.Disabled))
		if losesAdmin {
			// Lock every enabled admin, so that two concurrent demotions
			// (on any core instance) cannot both see another admin left.
			var admins []string
			if err := tx.Model(&User{}).Clauses(lockStation).Where("role = ? AND disabled_at IS NULL", "admin").
				Pluck("id", &admins).Error; err != nil {
				return translate(op, err)
			}
			if len(admins) <= 1 {
				return ErrLastAdmin
			}
		}
		if endTokens {
			set["token_generation"] = gorm.Expr("token_generation + 1")
		}
		return translate(op, tx.Model(&User{}).Where("id = ?", id).Updates(set).Error)
	})
	if err != nil {
		return nil, err
	}
	return s.GetUser(ctx, id)
}
