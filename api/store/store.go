// Package store is the core's persistence: PostgreSQL in production, SQLite
// (pure Go) in the embedded mode, both through gorm, both migrated by the
// same versioned migrations.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
)

// User is an operator who logs in to the REST/gRPC API.
type User struct {
	ID           string `gorm:"primaryKey"`
	Email        string // unique, stored lower-case
	PasswordHash string
	FirstName    string
	LastName     string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Station is a charging station and its place in the connection registry.
type Station struct {
	ID           string `gorm:"primaryKey"`
	Name         string
	PasswordHash string // empty: no Basic-auth password required

	// Reported in BootNotification.
	Vendor                string
	Model                 string
	SerialNumber          string
	ChargeBoxSerialNumber string
	FirmwareVersion       string
	ICCID                 string `gorm:"column:iccid"`
	IMSI                  string `gorm:"column:imsi"`
	MeterType             string
	MeterSerialNumber     string
	RegistrationStatus    string
	LastBoot              *time.Time

	// Connection registry.
	OCPPVersion  string `gorm:"column:ocpp_version"` // "1.6" / "2.0.1"
	Status       string // "Available"… while connected, "Unavailable" otherwise
	Connected    bool
	ConnectionID string
	GatewayID    string
	LastSeen     *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time

	Connectors []Connector `gorm:"foreignKey:StationID"`
}

// Connector is the last status a station reported for one connector.
// EVSEID is 0 for OCPP 1.6.
type Connector struct {
	StationID       string `gorm:"primaryKey"`
	EVSEID          int    `gorm:"primaryKey;column:evse_id"`
	ConnectorID     int    `gorm:"primaryKey"`
	Status          string
	ErrorCode       string
	Info            string
	VendorID        string
	VendorErrorCode string
	UpdatedAt       time.Time // the status's own timestamp
}

// BootInfo is what a BootNotification tells about a station.
type BootInfo struct {
	Vendor, Model, SerialNumber, ChargeBoxSerialNumber, FirmwareVersion string
	ICCID, IMSI, MeterType, MeterSerialNumber                           string
	RegistrationStatus                                                  string
}

// StationPatch lists the fields UpdateStation changes; nil leaves a field alone.
type StationPatch struct {
	Name         *string
	PasswordHash *string
}

// Page asks for a slice of a list ordered by id.
type Page struct {
	Limit   int
	AfterID string // keyset cursor: the last id of the previous page
}

// ConnectionEvent is what the registry needs to know about a connection.
type ConnectionEvent struct {
	StationID, GatewayID, ConnectionID string
	OCPPVersion                        string
	At                                 time.Time
}

// Config picks the database.
type Config struct {
	// DatabaseURL is a PostgreSQL URL; empty selects SQLite in DataDir.
	DatabaseURL string
	DataDir     string
}

// Store is the core's only door to the database.
type Store struct{}

var errTODO = errors.New("store: not implemented yet")

func Open(ctx context.Context, cfg Config) (*Store, error) { return nil, errTODO }
func (s *Store) Migrate(ctx context.Context) error         { return errTODO }
func (s *Store) Close() error                              { return errTODO }
func (s *Store) Ping(ctx context.Context) error            { return errTODO }

func (s *Store) CreateUser(ctx context.Context, u *User) error                { return errTODO }
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) { return nil, errTODO }

func (s *Store) CreateStation(ctx context.Context, st *Station) error { return errTODO }
func (s *Store) GetStation(ctx context.Context, id string) (*Station, error) {
	return nil, errTODO
}
func (s *Store) ListStations(ctx context.Context, p Page) ([]Station, int64, error) {
	return nil, 0, errTODO
}
func (s *Store) UpdateStation(ctx context.Context, id string, p StationPatch) (*Station, error) {
	return nil, errTODO
}
func (s *Store) DeleteStation(ctx context.Context, id string) error { return errTODO }

func (s *Store) RecordAdmission(ctx context.Context, ev ConnectionEvent) (previous ConnectionEvent, err error) {
	return ConnectionEvent{}, errTODO
}
func (s *Store) MarkConnected(ctx context.Context, ev ConnectionEvent) (bool, error) {
	return false, errTODO
}
func (s *Store) MarkDisconnected(ctx context.Context, ev ConnectionEvent) (bool, error) {
	return false, errTODO
}
func (s *Store) RecordBoot(ctx context.Context, stationID string, b BootInfo, at time.Time) error {
	return errTODO
}
func (s *Store) TouchLastSeen(ctx context.Context, stationID string, at time.Time) error {
	return errTODO
}
func (s *Store) UpsertConnector(ctx context.Context, c Connector) error { return errTODO }
