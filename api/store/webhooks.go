package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// MaxWebhooks bounds the webhooks of a deployment: each is a delivery loop
// on some core instance.
const MaxWebhooks = 100

// webhooksLock is the advisory lock key that serializes webhook creates on
// PostgreSQL ("webhooks" in ASCII), so that MaxWebhooks holds (CreateWebhook).
const webhooksLock = 0x776562686f6f6b73

var (
	// ErrTooManyWebhooks: MaxWebhooks exist already.
	ErrTooManyWebhooks = errors.New("store: too many webhooks")
	// ErrLeaseLost: the caller no longer holds the webhook's lease (another
	// core instance took it over, or the webhook was deleted or disabled).
	ErrLeaseLost = errors.New("store: webhook lease lost")
)

// WebhookState is where a webhook's delivery stands (api/webhook decides
// how it moves).
type WebhookState struct {
	// EventCursor is the last event id done with (delivered or given up).
	EventCursor int64
	// Attempts failed so far at the next event, due again at NextAttemptAt
	// (nil: now).
	Attempts      int
	NextAttemptAt *time.Time
	LastSuccessAt *time.Time
	LastErrorAt   *time.Time
	LastError     string
	// FailingSince is the first failure after the last success.
	FailingSince *time.Time
	// Expired counts the events given up.
	Expired int64
}

// Webhook is a subscription to the events table with its delivery state.
type Webhook struct {
	ID   string `gorm:"primaryKey"`
	Name string
	URL  string `gorm:"column:url"`
	// EventTypes is comma-separated; empty selects every type.
	EventTypes string
	// StationIDs is space-separated (a station id has no space); empty
	// selects every station.
	StationIDs string `gorm:"column:station_ids"`
	// SealedSecret is the signing secret encrypted (api/webhook.Sealer).
	SealedSecret string
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time

	WebhookState `gorm:"embedded"`

	// The core instance delivering it, while lease_until has not passed.
	LeaseOwner string
	LeaseUntil *time.Time
}

// TableName keeps gorm's name for Webhook stable.
func (Webhook) TableName() string { return "webhooks" }

// WebhookDelivery is one row of a webhook's delivery log.
type WebhookDelivery struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	WebhookID  string
	EventID    int64
	EventType  string
	Attempt    int
	At         time.Time
	Outcome    string
	HTTPStatus int `gorm:"column:http_status"`
	Error      string
	DurationMS int64 `gorm:"column:duration_ms"`
}

// TableName keeps gorm's name for WebhookDelivery stable.
func (WebhookDelivery) TableName() string { return "webhook_deliveries" }

// CreateWebhook inserts w, placed at the end of the event log: it receives
// the events stored after it. A taken id is ErrAlreadyExists; beyond
// MaxWebhooks, ErrTooManyWebhooks.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	if w.ID == "" || w.URL == "" || w.SealedSecret == "" {
		return fmt.Errorf("store: create webhook: id, url and secret are required")
	}
	now := dbTime(s.now())
	w.CreatedAt, w.UpdatedAt = now, now
	w.WebhookState = WebhookState{}
	w.LeaseOwner, w.LeaseUntil = "", nil
	err := s.write(ctx, func(tx *gorm.DB) error {
		// Count-then-insert holds the bound only if creates run one at a
		// time. On PostgreSQL's READ COMMITTED two concurrent transactions
		// would both count 99 and both insert (no row conflicts: they
		// insert different ids), and a conditional INSERT … SELECT WHERE
		// (SELECT count(*)) < N has the same hole, since each statement
		// sees only what was committed when it started. So creates take a
		// transaction-scoped advisory lock first: the next holder gets it
		// only once the previous one has committed, and its count, a new
		// statement with a new snapshot, sees that insert. SQLite
		// transactions here are IMMEDIATE (sqliteDSN): a single writer
		// already, the count is made under the write lock.
		if s.dialect == dialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", webhooksLock).Error; err != nil {
				return err
			}
		}
		var n int64
		if err := tx.Model(&Webhook{}).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxWebhooks {
			return ErrTooManyWebhooks
		}
		// Event ids are in commit order (AppendEvents): every event
		// committed after this read has a higher id.
		var last *int64
		if err := tx.Model(&eventRow{}).Select("MAX(seq)").Scan(&last).Error; err != nil {
			return err
		}
		if last != nil {
			w.EventCursor = *last
		}
		return tx.Create(w).Error
	})
	return translate("store: create webhook", err)
}

// GetWebhook returns one webhook.
func (s *Store) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&w).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: get webhook %q", id), err)
	}
	return &w, nil
}

// ListWebhooks returns every webhook (at most MaxWebhooks), oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	out := []Webhook{}
	err := s.db.WithContext(ctx).Order("created_at, id").Limit(MaxWebhooks).Find(&out).Error
	return out, translate("store: list webhooks", err)
}

// WebhookPatch lists what UpdateWebhook changes; nil leaves a field alone.
type WebhookPatch struct {
	Name, URL, EventTypes, StationIDs, SealedSecret *string
	Enabled                                         *bool
}

// UpdateWebhook changes a webhook and returns it. A new URL, secret or
// enabling makes the pending event due now: whatever failed may work now.
func (s *Store) UpdateWebhook(ctx context.Context, id string, p WebhookPatch) (*Webhook, error) {
	set := map[string]any{"updated_at": dbTime(s.now())}
	if p.Name != nil {
		set["name"] = *p.Name
	}
	if p.EventTypes != nil {
		set["event_types"] = *p.EventTypes
	}
	if p.StationIDs != nil {
		set["station_ids"] = *p.StationIDs
	}
	if p.URL != nil {
		set["url"] = *p.URL
	}
	if p.SealedSecret != nil {
		set["sealed_secret"] = *p.SealedSecret
	}
	if p.Enabled != nil {
		set["enabled"] = *p.Enabled
	}
	if p.URL != nil || p.SealedSecret != nil || (p.Enabled != nil && *p.Enabled) {
		set["next_attempt_at"] = nil
	}
	var w Webhook
	err := s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Webhook{}).Where("id = ?", id).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Where("id = ?", id).Take(&w).Error
	})
	if err != nil {
		return nil, translate(fmt.Sprintf("store: update webhook %q", id), err)
	}
	return &w, nil
}

// DeleteWebhook removes a webhook and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		// Explicitly, not only by the foreign key: SQLite connections
		// opened without foreign_keys would keep the log.
		if err := tx.Where("webhook_id = ?", id).Delete(&WebhookDelivery{}).Error; err != nil {
			return err
		}
		res := tx.Where("id = ?", id).Delete(&Webhook{})
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
		return res.Error
	})
	return translate(fmt.Sprintf("store: delete webhook %q", id), err)
}

// ListWebhookDeliveries returns a page of the webhook's delivery log,
// newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, webhookID string, p SeqPage) ([]WebhookDelivery, error) {
	q := s.db.WithContext(ctx).Where("webhook_id = ?", webhookID)
	if p.Before > 0 {
		q = q.Where("id < ?", p.Before)
	}
	out := []WebhookDelivery{}
	err := q.Order("id DESC").Limit(p.limit()).Find(&out).Error
	return out, translate("store: list webhook deliveries", err)
}

// claimable selects the enabled webhooks whose lease an owner (the first
// argument) may take at a time (the second): free, expired, or its own.
// ClaimableWebhooks lists and ClaimWebhook takes by the same condition.
const claimable = "enabled AND (lease_owner IN ('', ?) OR lease_until IS NULL OR lease_until < ?)"

// ClaimableWebhooks returns the ids of the enabled webhooks whose lease
// owner may take: free, expired at now, or its own.
func (s *Store) ClaimableWebhooks(ctx context.Context, owner string, now time.Time) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&Webhook{}).
		Where(claimable, owner, dbTime(now)).
		Order("id").Limit(MaxWebhooks).Pluck("id", &ids).Error
	return ids, translate("store: claimable webhooks", err)
}

// ClaimWebhook takes (or renews) the lease of an enabled webhook for owner
// until `until`, unless another owner's lease runs at now, and returns the
// webhook as it is now; ErrLeaseLost if it cannot be had (held elsewhere,
// disabled or deleted).
func (s *Store) ClaimWebhook(ctx context.Context, id, owner string, now, until time.Time) (*Webhook, error) {
	var w Webhook
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Webhook{}).
			Where("id = ?", id).Where(claimable, owner, dbTime(now)).
			UpdateColumns(map[string]any{"lease_owner": owner, "lease_until": dbTime(until)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrLeaseLost
		}
		return tx.Where("id = ?", id).Take(&w).Error
	})
	if err != nil {
		return nil, translate(fmt.Sprintf("store: claim webhook %q", id), err)
	}
	return &w, nil
}

// ReleaseWebhook gives up owner's lease, so that another instance takes
// the webhook over at once (a core stopping).
func (s *Store) ReleaseWebhook(ctx context.Context, id, owner string) error {
	err := s.db.WithContext(ctx).Model(&Webhook{}).Where("id = ? AND lease_owner = ?", id, owner).
		UpdateColumns(map[string]any{"lease_owner": "", "lease_until": nil}).Error
	return translate(fmt.Sprintf("store: release webhook %q", id), err)
}

// SaveWebhookState records the outcome of owner's delivery work: the new
// state and the delivery log row d (nil: none), in one transaction. It is
// fenced: when owner no longer holds the lease, the webhook was disabled
// or deleted, or the cursor is no longer prevCursor (another instance
// delivered meanwhile), nothing is written and the error is ErrLeaseLost.
// updated_at is left alone: it tells when an operator last changed the
// webhook.
func (s *Store) SaveWebhookState(ctx context.Context, id, owner string, prevCursor int64, st WebhookState, d *WebhookDelivery) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Webhook{}).Where("id = ? AND enabled AND lease_owner = ? AND event_cursor = ?", id, owner, prevCursor).
			UpdateColumns(map[string]any{
				"event_cursor":    st.EventCursor,
				"attempts":        st.Attempts,
				"next_attempt_at": dbTimePtr(st.NextAttemptAt),
				"last_success_at": dbTimePtr(st.LastSuccessAt),
				"last_error_at":   dbTimePtr(st.LastErrorAt),
				"last_error":      st.LastError,
				"failing_since":   dbTimePtr(st.FailingSince),
				"expired":         st.Expired,
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrLeaseLost
		}
		if d == nil {
			return nil
		}
		d.ID, d.WebhookID, d.At = 0, id, dbTime(d.At)
		return tx.Create(d).Error
	})
	return translate(fmt.Sprintf("store: save webhook %q state", id), err)
}

// TrimWebhookDeliveries deletes delivery log rows older than cutoff and
// returns how many.
func (s *Store) TrimWebhookDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("at < ?", dbTime(cutoff)).Delete(&WebhookDelivery{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: trim webhook deliveries: %w", res.Error)
	}
	return res.RowsAffected, nil
}
