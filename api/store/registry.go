package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The connection registry is shared by every core instance: each operation
// is one conditional statement, or a short transaction that locks the
// station row first, so concurrent instances cannot interleave badly. The
// connection id fences everything: an event about a connection that is no
// longer the station's current one changes nothing.
//
// Lock order, to stay free of deadlocks on PostgreSQL: gateways, then
// stations, then connectors. Station rows are locked FOR NO KEY UPDATE so
// that the foreign-key checks of concurrent connector upserts (KEY SHARE)
// do not wait on them.

var lockStation = clause.Locking{Strength: "NO KEY UPDATE"}

// RecordAdmission makes ev the station's current connection and returns the
// one it replaces (zero if none, or if it was ev itself), so the caller can
// have that connection closed. Replacing a live connection marks the station
// disconnected until MarkConnected confirms the new one, so a new socket
// that never completes cannot leave the station looking connected.
// ErrNotFound for an unknown station; ErrWrongState when the station's
// security profile is above ev.Profile (raised after admission decided).
func (s *Store) RecordAdmission(ctx context.Context, ev ConnectionEvent) (previous ConnectionEvent, err error) {
	op := fmt.Sprintf("store: record admission of %q", ev.StationID)
	if ev.ConnectionID == "" {
		return ConnectionEvent{}, fmt.Errorf("%s: empty connection id", op)
	}
	now := dbTime(s.now())
	at := eventTime(ev.At, now)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Station
		err := tx.Clauses(lockStation).
			Select("id", "connection_id", "gateway_id", "ocpp_version", "connected", "security_profile").
			Where("id = ?", ev.StationID).Take(&cur).Error
		if err != nil {
			return err
		}
		if cur.SecurityProfile > ev.Profile {
			// Raised since the admission was decided: the operator's
			// close could not see this connection, so it must not start.
			return fmt.Errorf("security profile %d is above the %d the connection proved: %w", cur.SecurityProfile, ev.Profile, ErrWrongState)
		}
		set := map[string]any{
			"connection_id":      ev.ConnectionID,
			"gateway_id":         ev.GatewayID,
			"connection_profile": ev.Profile,
			"updated_at":         now,
		}
		if cur.ConnectionID != "" && cur.ConnectionID != ev.ConnectionID {
			previous = ConnectionEvent{
				StationID:    cur.ID,
				GatewayID:    cur.GatewayID,
				ConnectionID: cur.ConnectionID,
				OCPPVersion:  cur.OCPPVersion,
			}
			if cur.Connected {
				set["connected"] = false
				set["status"] = StatusUnavailable
				if err := markConnectorsUnavailable(tx, ev.StationID, at); err != nil {
					return err
				}
			}
		}
		return tx.Model(&Station{}).Where("id = ?", ev.StationID).Updates(set).Error
	})
	if err != nil {
		return ConnectionEvent{}, translate(op, err)
	}
	return previous, nil
}

// MarkConnected records that ev's socket is open, if ev is still the
// station's current connection; it reports whether it applied. When the
// station now speaks another OCPP version than before (a 1.6 charger
// replaced by a 2.0.1 one under the same id), the connectors the old
// version reported are removed: the station's connectors are those its
// current version reports (1.6 numbers them without EVSEs, 2.0.1 within
// EVSEs, so they cannot be carried over).
func (s *Store) MarkConnected(ctx context.Context, ev ConnectionEvent) (bool, error) {
	at := eventTime(ev.At, dbTime(s.now()))
	if ev.ConnectionID == "" {
		return false, nil
	}
	set := map[string]any{
		"connected":    true,
		"status":       StatusAvailable,
		"ocpp_version": ev.OCPPVersion,
		"last_seen":    gorm.Expr("CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END", at, at),
		"updated_at":   dbTime(s.now()),
	}
	if ev.GatewayID != "" {
		set["gateway_id"] = ev.GatewayID
	}
	// Nearly always the station speaks the version it spoke before: then
	// one statement, with no transaction around it, does all (a reconnect
	// storm runs this for every charger). Otherwise, or when the connection
	// was replaced, the transaction below decides.
	sameVersion := s.db.WithContext(ctx).Model(&Station{}).
		Where("id = ? AND connection_id = ?", ev.StationID, ev.ConnectionID)
	if ev.OCPPVersion != 0 {
		sameVersion = sameVersion.Where("(ocpp_version = ? OR ocpp_version = '' OR ocpp_version IS NULL)", ev.OCPPVersion)
	}
	res := sameVersion.Updates(set)
	if res.Error != nil {
		return false, translate(fmt.Sprintf("store: mark %q connected", ev.StationID), res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	applied := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Station
		err := tx.Clauses(lockStation).Select("id", "ocpp_version").
			Where("id = ? AND connection_id = ?", ev.StationID, ev.ConnectionID).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // replaced, or deleted
		}
		if err != nil {
			return err
		}
		if err := tx.Model(&Station{}).Where("id = ?", ev.StationID).Updates(set).Error; err != nil {
			return err
		}
		applied = true
		if cur.OCPPVersion == 0 || ev.OCPPVersion == 0 || cur.OCPPVersion == ev.OCPPVersion {
			return nil
		}
		if err := tx.Where("station_id = ?", ev.StationID).Delete(&Connector{}).Error; err != nil {
			return err
		}
		// The whole-station status of the old version orders nothing now.
		return tx.Model(&Station{}).Where("id = ?", ev.StationID).UpdateColumn("status_reported_at", nil).Error
	})
	if err != nil {
		return false, translate(fmt.Sprintf("store: mark %q connected", ev.StationID), err)
	}
	return applied, nil
}

// MarkDisconnected records that ev's socket closed, if ev is still the
// station's current connection: the station and every connector become
// Unavailable (connectors stamped ev.At) and the station has no current
// connection any more. It reports whether it applied; a late event for an
// older connection changes nothing.
func (s *Store) MarkDisconnected(ctx context.Context, ev ConnectionEvent) (bool, error) {
	if ev.ConnectionID == "" {
		return false, nil
	}
	now := dbTime(s.now())
	at := eventTime(ev.At, now)
	applied := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Station{}).
			Where("id = ? AND connection_id = ?", ev.StationID, ev.ConnectionID).
			Updates(map[string]any{
				"connected":     false,
				"status":        StatusUnavailable,
				"connection_id": "",
				"gateway_id":    "",
				"updated_at":    now,
			})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		applied = true
		return markConnectorsUnavailable(tx, ev.StationID, at)
	})
	if err != nil {
		return false, translate(fmt.Sprintf("store: mark %q disconnected", ev.StationID), err)
	}
	return applied, nil
}

// markConnectorsUnavailable leaves reported_at alone: it orders the
// charger's own reports, and this is not one.
func markConnectorsUnavailable(tx *gorm.DB, stationID string, at time.Time) error {
	return tx.Model(&Connector{}).Where("station_id = ?", stationID).
		UpdateColumns(map[string]any{"status": StatusUnavailable, "updated_at": at}).Error
}

// RecordBoot stores what a BootNotification said and the registration
// status the core answered.
func (s *Store) RecordBoot(ctx context.Context, stationID string, b BootInfo, at time.Time) error {
	at = dbTime(at)
	res := s.db.WithContext(ctx).Model(&Station{}).Where("id = ?", stationID).Updates(map[string]any{
		"vendor":                   b.Vendor,
		"model":                    b.Model,
		"serial_number":            b.SerialNumber,
		"charge_box_serial_number": b.ChargeBoxSerialNumber,
		"firmware_version":         b.FirmwareVersion,
		"iccid":                    b.ICCID,
		"imsi":                     b.IMSI,
		"meter_type":               b.MeterType,
		"meter_serial_number":      b.MeterSerialNumber,
		"registration_status":      b.RegistrationStatus,
		"last_boot":                at,
		"last_seen":                gorm.Expr("CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END", at, at),
		"updated_at":               dbTime(s.now()),
	})
	op := fmt.Sprintf("store: record boot of %q", stationID)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// TouchLastSeen moves the station's last_seen forward to at (never back:
// messages of several connections may be handled out of order).
func (s *Store) TouchLastSeen(ctx context.Context, stationID string, at time.Time) error {
	at = dbTime(at)
	// UpdateColumn: a heartbeat is not a change of the station record, so
	// updated_at stays.
	res := s.db.WithContext(ctx).Model(&Station{}).Where("id = ?", stationID).
		UpdateColumn("last_seen", gorm.Expr("CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END", at, at))
	op := fmt.Sprintf("store: touch last seen of %q", stationID)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// UpsertConnector stores a connector status the station reported, stamped
// c.UpdatedAt (the status's own timestamp). A report older than the one
// stored is ignored: chargers replay queued messages and several core
// instances may race. EVSE 0 connector 0 is OCPP 1.6's "whole charge point"
// and sets the station's Status instead. ErrNotFound for an unknown station.
func (s *Store) UpsertConnector(ctx context.Context, c Connector) error {
	return s.upsertConnector(s.db.WithContext(ctx), c)
}

// upsertConnector is UpsertConnector on db (a transaction of a batch).
func (s *Store) upsertConnector(db *gorm.DB, c Connector) error {
	op := fmt.Sprintf("store: upsert connector %d/%d of %q", c.EVSEID, c.ConnectorID, c.StationID)
	if c.EVSEID < 0 || c.ConnectorID < 0 {
		return fmt.Errorf("%s: negative id", op)
	}
	reported := dbTime(c.UpdatedAt)
	if c.UpdatedAt.IsZero() {
		reported = dbTime(s.now())
	}
	if c.EVSEID == 0 && c.ConnectorID == 0 {
		res := db.Model(&Station{}).
			Where("id = ? AND (status_reported_at IS NULL OR status_reported_at <= ?)", c.StationID, reported).
			Updates(map[string]any{
				"status":             c.Status,
				"status_reported_at": reported,
				"updated_at":         dbTime(s.now()),
			})
		if res.Error != nil {
			return translate(op, res.Error)
		}
		if res.RowsAffected == 0 {
			ok, err := stationExists(db, c.StationID)
			if err != nil {
				return translate(op, err)
			}
			if !ok {
				return fmt.Errorf("%s: %w", op, ErrNotFound)
			}
		}
		return nil
	}
	err := db.Exec(`INSERT INTO connectors
  (station_id, evse_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, reported_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET
  status = excluded.status,
  error_code = excluded.error_code,
  info = excluded.info,
  vendor_id = excluded.vendor_id,
  vendor_error_code = excluded.vendor_error_code,
  reported_at = excluded.reported_at,
  updated_at = excluded.updated_at
WHERE connectors.reported_at <= excluded.reported_at`,
		c.StationID, c.EVSEID, c.ConnectorID, c.Status, c.ErrorCode, c.Info, c.VendorID, c.VendorErrorCode,
		reported, reported).Error
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return translate(op, err)
}

// RenewLease records that the gateway is alive until until. A gateway that
// stops renewing is presumed dead once until passes: see ExpireLeases.
//
// newLease reports that there was no lease to renew: the gateway's first
// renewal, or one after ExpireLeases removed its lease and marked its
// stations disconnected. The row is locked for the decision, so a sweep
// running at the same time either removed it first (a new lease) or finds
// it renewed and leaves it (on PostgreSQL the sweep's FOR UPDATE re-checks
// the expiry after waiting; SQLite runs write transactions one at a time).
// A lease that ran out but was not swept yet is simply renewed: its
// stations were never touched.
func (s *Store) RenewLease(ctx context.Context, gatewayID string, until time.Time) (newLease bool, err error) {
	if gatewayID == "" {
		return false, fmt.Errorf("store: renew lease: empty gateway id")
	}
	now := dbTime(s.now())
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var held []string
		err := tx.Model(&gatewayLease{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("id = ?", gatewayID).Pluck("id", &held).Error
		if err != nil {
			return err
		}
		newLease = len(held) == 0
		// An upsert even for a missing row: two renewals of a new lease
		// may race (a gateway retrying on another core), and both must
		// succeed.
		return tx.Exec(`INSERT INTO gateways (id, lease_expires_at, created_at, updated_at)
VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at, updated_at = excluded.updated_at`,
			gatewayID, dbTime(until), now, now).Error
	})
	if err != nil {
		return false, translate(fmt.Sprintf("store: renew lease of gateway %q", gatewayID), err)
	}
	return newLease, nil
}

// ExpireLeases treats every gateway whose lease ended before now as dead:
// each station whose current connection is on such a gateway is marked
// disconnected (station and connectors Unavailable), and the gateway rows
// are removed (gateway ids are per process, so rows would otherwise pile
// up). It returns the ids of those stations, sorted. A gateway that renews
// afterwards starts a new lease; its old connections stay fenced off.
func (s *Store) ExpireLeases(ctx context.Context, now time.Time) ([]string, error) {
	now = dbTime(now)
	stamp := dbTime(s.now())
	var stations []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var gateways []string
		err := tx.Model(&gatewayLease{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("lease_expires_at < ?", now).Order("id").Pluck("id", &gateways).Error
		if err != nil || len(gateways) == 0 {
			return err
		}
		onExpired := func(db *gorm.DB) *gorm.DB {
			return db.Where("gateway_id IN ? AND connection_id <> ''", gateways)
		}
		// Lock the stations first (in id order) so that a reconnect racing
		// this sweep waits for it instead of being overwritten half-way.
		err = tx.Model(&Station{}).Clauses(lockStation).Scopes(onExpired).Order("id").Pluck("id", &stations).Error
		if err != nil {
			return err
		}
		if len(stations) > 0 {
			// A subquery rather than the id list: a big gateway's stations
			// would exceed the databases' bound-parameter limits.
			sub := tx.Model(&Station{}).Select("id").Scopes(onExpired)
			err = tx.Model(&Connector{}).Where("station_id IN (?)", sub).
				UpdateColumns(map[string]any{"status": StatusUnavailable, "updated_at": now}).Error
			if err != nil {
				return err
			}
			err = tx.Model(&Station{}).Scopes(onExpired).Updates(map[string]any{
				"connected":     false,
				"status":        StatusUnavailable,
				"connection_id": "",
				"gateway_id":    "",
				"updated_at":    stamp,
			}).Error
			if err != nil {
				return err
			}
		}
		return tx.Where("id IN ?", gateways).Delete(&gatewayLease{}).Error
	})
	if err != nil {
		return nil, translate("store: expire leases", err)
	}
	return stations, nil
}

// gatewayLease is a row of gateways; only the registry uses it.
type gatewayLease struct {
	ID             string `gorm:"primaryKey"`
	LeaseExpiresAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (gatewayLease) TableName() string { return "gateways" }

// eventTime is the time of an event, the store's clock when it has none.
func eventTime(at, now time.Time) time.Time {
	if at.IsZero() {
		return now
	}
	return dbTime(at)
}
