// Package store is the core's persistence: PostgreSQL in production, SQLite
// (pure Go) in the embedded mode, both through gorm, both migrated by the
// same versioned migrations.
//
// Every time the store writes is converted to UTC and truncated to
// microseconds, the precision PostgreSQL keeps, so that a value reads back
// equal on both databases and SQLite's text timestamps compare in time order.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrTooManyPending: the bound on pending stations is reached.
	ErrTooManyPending = errors.New("store: too many pending stations")
	// ErrWrongState: a conditional change found the row in a state it may
	// not be changed from.
	ErrWrongState = errors.New("store: not in a state that allows this")
)

// User is an operator who logs in to the REST/gRPC API.
type User struct {
	ID           string `gorm:"primaryKey"`
	Email        string // unique, stored lower-case
	PasswordHash string
	FirstName    string
	LastName     string
	// Role is "admin", "operator" or "viewer" (api/auth.Role).
	Role string
	// DisabledAt is set while the user may not log in.
	DisabledAt *time.Time
	// TokenGeneration is bumped whenever the user's tokens must end (role
	// change, disable, password change); tokens carry the generation they
	// were issued at.
	TokenGeneration int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Station is a charging station and its place in the connection registry.
type Station struct {
	ID           string `gorm:"primaryKey"`
	Name         string
	PasswordHash string // empty: no Basic-auth password required
	// Password rotation (see RotatePassword in api/operator): the password
	// sent to the station and not yet known to be in use, and the one it
	// replaced, valid until the station connects with the new one.
	PendingPasswordHash  string
	PreviousPasswordHash string
	// SecurityProfile is the OCPP security profile admission checks
	// (api/admission): 0 none, 1 Basic auth, 2 TLS + Basic auth, 3 client
	// certificate.
	SecurityProfile int

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

	// Onboarding is the operator's decision (api/onboarding: Accepted,
	// Pending, Rejected); Blocked refuses every connection while set.
	Onboarding string
	Blocked    bool

	// Connection registry.
	OCPPVersion  ocppj.Version `gorm:"column:ocpp_version"` // 0 until it first connects
	Status       string        // "Available"… while connected, "Unavailable" otherwise
	Connected    bool
	ConnectionID string // the admitted connection; empty once it is gone
	GatewayID    string
	// ConnectionProfile is the security profile the connection proved at
	// admission (api/admission.Strength).
	ConnectionProfile int
	LastSeen          *time.Time
	// StatusReportedAt is the charger's timestamp of the last whole-station
	// status (1.6 connector 0); it orders those reports.
	StatusReportedAt *time.Time

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
	// ReportedAt is the charger's timestamp of the last status it reported.
	// It orders the charger's reports and is kept apart from UpdatedAt so
	// that the core marking a connector Unavailable on disconnection (with
	// its own clock) never makes a reconnected charger's next report look
	// older than it is.
	ReportedAt time.Time
}

// BootInfo is what a BootNotification tells about a station.
type BootInfo struct {
	Vendor, Model, SerialNumber, ChargeBoxSerialNumber, FirmwareVersion string
	ICCID, IMSI, MeterType, MeterSerialNumber                           string
	RegistrationStatus                                                  string
}

// StationPatch lists the fields UpdateStation changes; nil leaves a field alone.
type StationPatch struct {
	Name            *string
	PasswordHash    *string
	SecurityProfile *int
}

// Page asks for a slice of a list ordered by id.
type Page struct {
	Limit   int    // 0 means DefaultPageLimit; capped at MaxPageLimit+1 (readLimit)
	AfterID string // keyset cursor: the last id of the previous page
}

const (
	DefaultPageLimit = 100
	// MaxPageLimit is the largest page a list serves.
	MaxPageLimit = 1000
)

// readLimit is how many rows a list read returns for a Limit asked:
// DefaultPageLimit for none, at most MaxPageLimit+1. The one past the
// largest page is the row that tells a caller paging by MaxPageLimit
// whether another page follows: without it a full page of MaxPageLimit
// could not be told from the last one, and the caller would hand out a
// token to a page that is possibly empty.
func readLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageLimit
	case limit > MaxPageLimit+1:
		return MaxPageLimit + 1
	}
	return limit
}

// ConnectionEvent is what the registry needs to know about a connection.
type ConnectionEvent struct {
	StationID, GatewayID, ConnectionID string
	OCPPVersion                        ocppj.Version
	At                                 time.Time
	// Profile is the security profile the connection proved (admission only).
	Profile int
}

// Config picks the database.
type Config struct {
	// DatabaseURL is a PostgreSQL URL; empty selects SQLite in DataDir.
	DatabaseURL string
	DataDir     string // empty: the working directory

	// MaxOpenConns bounds the pool; 0 picks a default for the database.
	MaxOpenConns int
	// Now stamps created_at/updated_at; nil means time.Now.
	Now func() time.Time
	// Logger receives the database's warnings (slow queries, errors);
	// nil means slog.Default().
	Logger *slog.Logger
}

// Store is the core's only door to the database.
type Store struct {
	db      *gorm.DB
	dialect dialect
	now     func() time.Time
	log     *slog.Logger
}

type dialect int

const (
	dialectPostgres dialect = iota + 1
	dialectSQLite
)

func (d dialect) String() string {
	switch d {
	case dialectPostgres:
		return "postgres"
	case dialectSQLite:
		return "sqlite"
	}
	return "unknown"
}

// quietDuplicates keeps expected outcomes out of the error log: a duplicate
// key is how the store detects retries and existing records (it becomes
// ErrAlreadyExists or a deduplicated write), not a failure.
//
// It also decides first whether a statement is worth logging at all: gorm's
// slog logger renders the statement's SQL (fc) for every statement before
// looking at the level, which cost ~8% of the core's CPU under load for
// statements that are neither failed nor slow and so are never logged.
type quietDuplicates struct {
	logger.Interface
	level logger.LogLevel
	slow  time.Duration
}

func (q quietDuplicates) LogMode(l logger.LogLevel) logger.Interface {
	return quietDuplicates{Interface: q.Interface.LogMode(l), level: l, slow: q.slow}
}

func (q quietDuplicates) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		err = nil
	}
	if err == nil && q.level < logger.Info && (q.slow <= 0 || time.Since(begin) <= q.slow) {
		return
	}
	q.Interface.Trace(ctx, begin, fc, err)
}

// slowQuery is the duration above which a statement is logged as slow.
const slowQuery = 500 * time.Millisecond

// SQLiteFile is the database file name inside Config.DataDir.
const SQLiteFile = "chargeplane.db"

// SQLitePath is the SQLite file Config selects; empty with a DatabaseURL.
func (c Config) SQLitePath() string {
	if c.DatabaseURL != "" {
		return ""
	}
	dir := c.DataDir
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, SQLiteFile)
}

// Describe names the database Config selects, for people comparing two
// processes' settings (the api's start-up log and its commands print it):
// the SQLite file's absolute path, or PostgreSQL's user, host, port and
// database. Never the password.
func (c Config) Describe() string {
	if path := c.SQLitePath(); path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return "sqlite " + path
	}
	pc, err := pgconn.ParseConfig(c.DatabaseURL)
	if err != nil {
		// The error may quote the URL, password included.
		return "postgres (DATABASE_URL does not parse)"
	}
	return fmt.Sprintf("postgres %s@%s/%s", pc.User, net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))), pc.Database)
}

// Open connects to the database Config names and checks it answers. It does
// not migrate: call Migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "store")

	gcfg := &gorm.Config{
		Logger: quietDuplicates{Interface: logger.NewSlogLogger(s.log, logger.Config{
			SlowThreshold:             slowQuery,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			// Never put values (password hashes) in logs.
			ParameterizedQueries: true,
		}), level: logger.Warn, slow: slowQuery},
		NowFunc:                func() time.Time { return dbTime(s.now()) },
		TranslateError:         true,
		DisableAutomaticPing:   true,
		SkipDefaultTransaction: true, // every write here is one statement or an explicit transaction
	}

	var dialector gorm.Dialector
	maxOpen := cfg.MaxOpenConns
	if cfg.DatabaseURL == "" {
		s.dialect = dialectSQLite
		path := cfg.SQLitePath()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: create data dir: %w", err)
		}
		dialector = sqlite.Open(sqliteDSN(path))
		// No gorm PrepareStmt: its statement cache starts a goroutine that
		// is never stopped (gorm v1.31 internal/lru), one leak per Open.
		if maxOpen == 0 {
			// WAL allows many readers and one writer; writers queue on
			// busy_timeout, so a few connections are plenty.
			maxOpen = max(4, runtime.GOMAXPROCS(0))
		}
	} else {
		s.dialect = dialectPostgres
		// pgx caches prepared statements per connection already, so gorm's
		// PrepareStmt would add nothing.
		dialector = postgres.Open(cfg.DatabaseURL)
		if maxOpen == 0 {
			maxOpen = 25
		}
	}

	db, err := gorm.Open(dialector, gcfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.dialect, err)
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if s.dialect == dialectPostgres {
		// Recycle so that a failover or a pgbouncer restart is picked up.
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	}
	s.db = db
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN sets, on every connection of the pool: WAL so readers never
// block the writer, a busy timeout so writers queue instead of failing,
// foreign keys (off by default in SQLite) for ON DELETE CASCADE, and
// IMMEDIATE transactions so that a read-then-write transaction takes the
// write lock up front instead of failing with SQLITE_BUSY when it upgrades.
//
// Not _time_format: the driver (glebarez/go-sqlite v1.21) stops reading the
// DSN after it, silently dropping _txlock. Its default text form,
// "2006-01-02 15:04:05.999999999 +0000 UTC" for the UTC times dbTime makes,
// sorts in time order too.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}

// Close releases the pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks the database answers; the readiness probe uses it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// dbTime is the form every time takes in the database (see package doc).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

// translate maps driver errors to the store's sentinels, keeping the
// original in the chain for logs.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%s: %w", op, ErrAlreadyExists)
	}
	return fmt.Errorf("%s: %w", op, err)
}
