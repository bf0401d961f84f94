package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// APIKey is a credential for tools and integrations. Only the SHA-256 of
// its secret is kept.
type APIKey struct {
	ID         string `gorm:"primaryKey"`
	Name       string
	Role       string
	SecretHash string
	// CreatedBy is who created it (a user's email).
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// TableName keeps gorm's name for APIKey stable.
func (APIKey) TableName() string { return "api_keys" }

// CreateAPIKey inserts k (a taken id is ErrAlreadyExists).
func (s *Store) CreateAPIKey(ctx context.Context, k *APIKey) error {
	if k.ID == "" || k.Role == "" || k.SecretHash == "" {
		return fmt.Errorf("store: create api key: id, role and secret hash are required")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	k.CreatedAt = dbTime(k.CreatedAt)
	k.ExpiresAt = dbTimePtr(k.ExpiresAt)
	k.RevokedAt, k.LastUsedAt = nil, nil
	return s.write(ctx, func(tx *gorm.DB) error {
		return translate("store: create api key", tx.Create(k).Error)
	})
}

// GetAPIKey returns one key by id.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*APIKey, error) {
	var k APIKey
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&k).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: get api key %q", id), err)
	}
	return &k, nil
}

// ListAPIKeys returns every key, newest first: there are few.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	out := []APIKey{}
	if err := s.db.WithContext(ctx).Order("created_at DESC, id").Limit(MaxPageLimit).Find(&out).Error; err != nil {
		return nil, translate("store: list api keys", err)
	}
	return out, nil
}

// RevokeAPIKey marks a key revoked at at; revoking it again keeps the
// first time. ErrNotFound for an unknown key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (*APIKey, error) {
	op := fmt.Sprintf("store: revoke api key %q", id)
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&APIKey{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", dbTime(at))
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			if _, err := s.getAPIKeyTx(tx, id); err != nil {
				return translate(op, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetAPIKey(ctx, id)
}

func (s *Store) getAPIKeyTx(tx *gorm.DB, id string) (*APIKey, error) {
	var k APIKey
	return &k, tx.Where("id = ?", id).Take(&k).Error
}

// TouchAPIKeys records when keys were last used: one transaction for all
// of them, and never moving a time backwards.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	sort.Strings(ids) // a fixed lock order across core instances
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, id := range ids {
			at := dbTime(used[id])
			err := tx.Model(&APIKey{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at).
				Update("last_used_at", at).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	return translate("store: touch api keys", err)
}
