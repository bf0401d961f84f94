package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Delivery states of an issued certificate's CertificateSigned.
const (
	DeliveryPending    = "pending"    // not yet answered; next_attempt_at says when to (re)send
	DeliveryAccepted   = "accepted"   // the station installed it
	DeliveryRejected   = "rejected"   // the station refused it
	DeliveryFailed     = "failed"     // given up after the last attempt
	DeliverySuperseded = "superseded" // a newer CSR of the station came before it was delivered
	DeliveryReplaced   = "replaced"   // a newer certificate of the station was accepted
)

// IssuedCertificate is a certificate the CSMS's CA signed for a station.
type IssuedCertificate struct {
	ID               int64 `gorm:"primaryKey"`
	StationID        string
	SerialNumber     string
	Subject          string
	Issuer           string
	NotBefore        time.Time
	NotAfter         time.Time
	CertificateType  string
	OCPPVersion      ocppj.Version `gorm:"column:ocpp_version"`
	CSRSHA256        string        `gorm:"column:csr_sha256"`
	ChainPEM         string        `gorm:"column:chain_pem"`
	DeliveryStatus   string
	DeliveryAttempts int
	NextAttemptAt    *time.Time
	DeliveryError    string
	CommandID        string
	ExpiryWarnedAt   *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (IssuedCertificate) TableName() string { return "issued_certificates" }

// PendingIssuance returns the station's issuance of the CSR with this hash
// still waiting for delivery, or ErrNotFound: a station that retries its
// SignCertificate gets the certificate already made for it.
func (s *Store) PendingIssuance(ctx context.Context, stationID, csrSHA256 string) (*IssuedCertificate, error) {
	var c IssuedCertificate
	err := s.db.WithContext(ctx).
		Where("station_id = ? AND csr_sha256 = ? AND delivery_status = ?", stationID, csrSHA256, DeliveryPending).
		Order("id DESC").Take(&c).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: pending issuance of %q", stationID), err)
	}
	return &c, nil
}

// CreateIssuedCertificate records c as pending delivery, due at
// c.NextAttemptAt after c.DeliveryAttempts attempts; the station's older issuances still pending become
// superseded (the station waits for the certificate of its newest CSR
// only). An unknown station is ErrNotFound.
func (s *Store) CreateIssuedCertificate(ctx context.Context, c *IssuedCertificate) error {
	op := fmt.Sprintf("store: record certificate issued to %q", c.StationID)
	now := dbTime(s.now())
	c.ID = 0
	c.DeliveryStatus = DeliveryPending
	c.NotBefore, c.NotAfter = dbTime(c.NotBefore), dbTime(c.NotAfter)
	c.NextAttemptAt = dbTimePtr(c.NextAttemptAt)
	c.ExpiryWarnedAt = nil
	c.CreatedAt, c.UpdatedAt = now, now
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := stationExists(tx, c.StationID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := tx.Model(&IssuedCertificate{}).
			Where("station_id = ? AND delivery_status = ?", c.StationID, DeliveryPending).
			Updates(map[string]any{"delivery_status": DeliverySuperseded, "next_attempt_at": nil, "updated_at": now}).Error; err != nil {
			return err
		}
		return tx.Create(c).Error
	})
	return translate(op, err)
}

// GetIssuedCertificate returns one issued certificate.
func (s *Store) GetIssuedCertificate(ctx context.Context, id int64) (*IssuedCertificate, error) {
	var c IssuedCertificate
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, translate(fmt.Sprintf("store: get issued certificate %d", id), err)
	}
	return &c, nil
}

// ClaimDelivery takes the next delivery attempt of c, a pending issuance
// as last read, for the caller: if its next attempt is due by dueBy and
// nobody claimed an attempt since c was read, its attempt count goes up
// and its next attempt moves to until, so that no other core instance
// sends it meanwhile; c is updated. It reports whether the claim won.
func (s *Store) ClaimDelivery(ctx context.Context, c *IssuedCertificate, dueBy, until time.Time) (bool, error) {
	until = dbTime(until)
	res := s.db.WithContext(ctx).Model(&IssuedCertificate{}).
		Where("id = ? AND delivery_status = ? AND delivery_attempts = ? AND next_attempt_at <= ?",
			c.ID, DeliveryPending, c.DeliveryAttempts, dbTime(dueBy)).
		Updates(map[string]any{
			"delivery_attempts": c.DeliveryAttempts + 1,
			"next_attempt_at":   until,
			"updated_at":        dbTime(s.now()),
		})
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: claim delivery %d", c.ID), res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	c.DeliveryAttempts++
	c.NextAttemptAt = &until
	return true, nil
}

// RescheduleDelivery makes a pending issuance due at `at` (a station
// that asks again for the certificate of the same CSR gets it again soon).
func (s *Store) RescheduleDelivery(ctx context.Context, id int64, at time.Time) error {
	err := s.db.WithContext(ctx).Model(&IssuedCertificate{}).
		Where("id = ? AND delivery_status = ?", id, DeliveryPending).
		Updates(map[string]any{"next_attempt_at": dbTime(at), "updated_at": dbTime(s.now())}).Error
	return translate(fmt.Sprintf("store: reschedule delivery %d", id), err)
}

// DueDeliveries returns up to limit pending issuances whose next attempt
// is due by now, oldest due first.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]IssuedCertificate, error) {
	var out []IssuedCertificate
	err := s.db.WithContext(ctx).
		Where("delivery_status = ? AND next_attempt_at <= ?", DeliveryPending, dbTime(now)).
		Order("next_attempt_at, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, translate("store: due deliveries", err)
	}
	return out, nil
}

// DeliveryOutcome settles one delivery attempt.
type DeliveryOutcome struct {
	// Status is DeliveryPending to try again at NextAttemptAt, or a final
	// state.
	Status        string
	NextAttemptAt time.Time
	Error         string
	CommandID     string
}

// FinishDelivery records the outcome of the attempt the caller claimed
// (attempt = the issuance's attempt count after the claim). An attempt
// that lost its claim to a later one changes nothing. Accepted marks the
// station's certificates accepted before it replaced. It reports whether
// it applied.
func (s *Store) FinishDelivery(ctx context.Context, id int64, attempt int, o DeliveryOutcome) (bool, error) {
	op := fmt.Sprintf("store: finish delivery %d", id)
	now := dbTime(s.now())
	set := map[string]any{"delivery_status": o.Status, "delivery_error": o.Error, "updated_at": now, "next_attempt_at": nil}
	if o.CommandID != "" {
		set["command_id"] = o.CommandID
	}
	if o.Status == DeliveryPending {
		set["next_attempt_at"] = dbTime(o.NextAttemptAt)
	}
	applied := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&IssuedCertificate{}).
			Where("id = ? AND delivery_status = ? AND delivery_attempts = ?", id, DeliveryPending, attempt).Updates(set)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		applied = true
		if o.Status != DeliveryAccepted {
			return nil
		}
		var c IssuedCertificate
		if err := tx.Select("station_id").Where("id = ?", id).Take(&c).Error; err != nil {
			return err
		}
		return tx.Model(&IssuedCertificate{}).
			Where("station_id = ? AND delivery_status = ? AND id <> ?", c.StationID, DeliveryAccepted, id).
			Updates(map[string]any{"delivery_status": DeliveryReplaced, "updated_at": now}).Error
	})
	if err != nil {
		return false, translate(op, err)
	}
	return applied, nil
}

// ListIssuedCertificates returns one page of the certificates issued to a
// station, newest first, and their total.
func (s *Store) ListIssuedCertificates(ctx context.Context, stationID string, p SeqPage) ([]IssuedCertificate, int64, error) {
	op := fmt.Sprintf("store: list certificates issued to %q", stationID)
	db := s.db.WithContext(ctx)
	var total int64
	if err := db.Model(&IssuedCertificate{}).Where("station_id = ?", stationID).Count(&total).Error; err != nil {
		return nil, 0, translate(op, err)
	}
	q := db.Where("station_id = ?", stationID)
	if p.Before > 0 {
		q = q.Where("id < ?", p.Before)
	}
	out := []IssuedCertificate{}
	if err := q.Order("id DESC").Limit(p.limit()).Find(&out).Error; err != nil {
		return nil, 0, translate(op, err)
	}
	return out, total, nil
}

// ExpiringCertificates returns up to limit certificates stations have
// installed (delivery accepted, not replaced) that expire before `before`
// and were not yet warned about, soonest first.
func (s *Store) ExpiringCertificates(ctx context.Context, before time.Time, limit int) ([]IssuedCertificate, error) {
	var out []IssuedCertificate
	err := s.db.WithContext(ctx).
		Where("delivery_status = ? AND expiry_warned_at IS NULL AND not_after < ?", DeliveryAccepted, dbTime(before)).
		Order("not_after, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, translate("store: expiring certificates", err)
	}
	return out, nil
}

// MarkExpiryWarned records that the expiry warning of a certificate was
// raised; it reports false when another instance did it first.
func (s *Store) MarkExpiryWarned(ctx context.Context, id int64, at time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&IssuedCertificate{}).
		Where("id = ? AND expiry_warned_at IS NULL", id).
		Updates(map[string]any{"expiry_warned_at": dbTime(at), "updated_at": dbTime(s.now())})
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: mark expiry warned %d", id), res.Error)
	}
	return res.RowsAffected > 0, nil
}

// InstalledCertificate is one certificate a station reports as installed.
type InstalledCertificate struct {
	StationID       string `gorm:"primaryKey"`
	CertificateType string `gorm:"primaryKey"`
	HashAlgorithm   string `gorm:"primaryKey"`
	IssuerNameHash  string `gorm:"primaryKey"`
	IssuerKeyHash   string `gorm:"primaryKey"`
	SerialNumber    string `gorm:"primaryKey"`
	// ChildCertificates is a JSON array of hash data (2.0.1), "" if none.
	ChildCertificates string
	ReportedAt        time.Time
}

func (InstalledCertificate) TableName() string { return "station_certificates" }

// ReplaceInstalledCertificates makes certs the station's inventory of the
// given certificate types (all types when types is empty): what a
// GetInstalledCertificateIds answer lists is all the station has of them.
func (s *Store) ReplaceInstalledCertificates(ctx context.Context, stationID string, types []string, certs []InstalledCertificate, at time.Time) error {
	op := fmt.Sprintf("store: replace installed certificates of %q", stationID)
	at = dbTime(at)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ok, err := stationExists(tx, stationID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		del := tx.Where("station_id = ?", stationID)
		if len(types) > 0 {
			del = del.Where("certificate_type IN ?", types)
		}
		if err := del.Delete(&InstalledCertificate{}).Error; err != nil {
			return err
		}
		if len(certs) == 0 {
			return nil
		}
		rows := make([]InstalledCertificate, len(certs))
		for i, c := range certs {
			c.StationID, c.ReportedAt = stationID, at
			rows[i] = c
		}
		// A station listing one certificate twice is not worth failing.
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error
	})
	return translate(op, err)
}

// AddInstalledCertificate records one certificate the station accepted
// (InstallCertificate); listed again, it is refreshed.
func (s *Store) AddInstalledCertificate(ctx context.Context, c InstalledCertificate) error {
	c.ReportedAt = dbTime(c.ReportedAt)
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&c).Error
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	return translate(fmt.Sprintf("store: add installed certificate of %q", c.StationID), err)
}

// RemoveInstalledCertificate forgets a certificate the station deleted,
// whatever its type; it reports whether one was known.
func (s *Store) RemoveInstalledCertificate(ctx context.Context, stationID string, c InstalledCertificate) (bool, error) {
	res := s.db.WithContext(ctx).
		Where("station_id = ? AND hash_algorithm = ? AND issuer_name_hash = ? AND issuer_key_hash = ? AND serial_number = ?",
			stationID, c.HashAlgorithm, c.IssuerNameHash, c.IssuerKeyHash, c.SerialNumber).
		Delete(&InstalledCertificate{})
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: remove installed certificate of %q", stationID), res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ListInstalledCertificates returns the station's inventory ordered by
// type and serial number.
func (s *Store) ListInstalledCertificates(ctx context.Context, stationID string) ([]InstalledCertificate, error) {
	out := []InstalledCertificate{}
	err := s.db.WithContext(ctx).Where("station_id = ?", stationID).
		Order("certificate_type, serial_number, hash_algorithm").Find(&out).Error
	if err != nil {
		return nil, translate(fmt.Sprintf("store: list installed certificates of %q", stationID), err)
	}
	return out, nil
}

func isForeignKeyViolation(err error) bool {
	return errors.Is(err, gorm.ErrForeignKeyViolated)
}
