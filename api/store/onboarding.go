package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Onboarding states as stored (api/onboarding names their rules).
const (
	OnboardingAccepted = "Accepted"
	OnboardingPending  = "Pending"
	OnboardingRejected = "Rejected"
)

// CreatePendingStation creates the unknown station id as Pending, with no
// password and the given security profile, unless limit pending stations exist already
// (ErrTooManyPending). Concurrent admissions on several cores may overshoot
// the limit by the few that count at the same time: it bounds growth, it is
// not a quota. A taken id is ErrAlreadyExists.
func (s *Store) CreatePendingStation(ctx context.Context, id string, profile, limit int) (*Station, error) {
	op := fmt.Sprintf("store: create pending station %q", id)
	if id == "" {
		return nil, fmt.Errorf("%s: empty id", op)
	}
	now := dbTime(s.now())
	st := &Station{ID: id, Status: StatusUnavailable, Onboarding: OnboardingPending, SecurityProfile: profile, CreatedAt: now, UpdatedAt: now}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Station{}).Where("onboarding = ?", OnboardingPending).Count(&n).Error; err != nil {
			return err
		}
		if n >= int64(limit) {
			return ErrTooManyPending
		}
		return tx.Omit(clause.Associations).Create(st).Error
	})
	if errors.Is(err, ErrTooManyPending) {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return nil, translate(op, err)
	}
	return st, nil
}

// SetOnboarding moves the station to state to if it is in one of from
// (ErrWrongState otherwise, ErrNotFound for an unknown station); a non-nil
// passwordHash becomes its password, and a non-nil profile its security
// profile, at the same time. It returns the
// station as it now is. The request's audit record is written with it.
func (s *Store) SetOnboarding(ctx context.Context, id, to string, from []string, passwordHash *string, profile *int) (*Station, error) {
	op := fmt.Sprintf("store: set onboarding of %q to %s", id, to)
	set := map[string]any{"onboarding": to, "updated_at": dbTime(s.now())}
	if passwordHash != nil {
		set["password_hash"] = *passwordHash
		set["pending_password_hash"] = ""
		set["previous_password_hash"] = ""
	}
	if profile != nil {
		set["security_profile"] = *profile
	}
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Station{}).Where("id = ? AND onboarding IN ?", id, from).Updates(set)
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected > 0 {
			return nil
		}
		ok, err := stationExists(tx, id)
		switch {
		case err != nil:
			return translate(op, err)
		case !ok:
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		return fmt.Errorf("%s: %w", op, ErrWrongState)
	})
	if err != nil {
		return nil, err
	}
	return s.GetStation(ctx, id)
}

// SetBlocked blocks or unblocks the station and returns it as it now is
// (with its current connection, which the caller closes when blocking).
// ErrNotFound for an unknown station. The request's audit record is
// written with it.
func (s *Store) SetBlocked(ctx context.Context, id string, blocked bool) (*Station, error) {
	op := fmt.Sprintf("store: set blocked of %q", id)
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Station{}).Where("id = ?", id).
			Updates(map[string]any{"blocked": blocked, "updated_at": dbTime(s.now())})
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetStation(ctx, id)
}
