package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The two dialects keep separate folders because their column types differ
// (TIMESTAMPTZ vs DATETIME); TestMigrationsInStep keeps the file names, and
// so the versions, identical.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// migrationTable is goose's bookkeeping table.
const migrationTable = "schema_migrations"

func (s *Store) migrationProvider() (*goose.Provider, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	var (
		gd   goose.Dialect
		dir  string
		opts = []goose.ProviderOption{goose.WithTableName(migrationTable)}
	)
	switch s.dialect {
	case dialectPostgres:
		gd, dir = goose.DialectPostgres, "migrations/postgres"
		// Several core instances may start at once: one migrates, the
		// others wait on an advisory lock and then find nothing to do.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		gd, dir = goose.DialectSQLite3, "migrations/sqlite"
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(gd, sqlDB, fsys, opts...)
}

// Migrate brings the schema up to the newest version; running it again is a
// no-op.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.migrationProvider()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", s.dialect, err)
	}
	for _, r := range results {
		s.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// SchemaVersion is the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := s.migrationProvider()
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// SchemaVersions reports the newest migration applied to the database, 0
// when it has no schema yet, and the newest this build knows. Unlike
// SchemaVersion it writes nothing (goose creates its table when asked), so
// that a command can look at a database before deciding to migrate it.
func (s *Store) SchemaVersions(ctx context.Context) (current, newest int64, err error) {
	p, err := s.migrationProvider()
	if err != nil {
		return 0, 0, fmt.Errorf("store: schema versions: %w", err)
	}
	sources := p.ListSources()
	newest = sources[len(sources)-1].Version
	// Not gorm's Migrator().HasTable: it reads a failed query as "no table".
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	if s.dialect == dialectSQLite {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var tables int64
	if err := s.db.WithContext(ctx).Raw(q, migrationTable).Scan(&tables).Error; err != nil {
		return 0, newest, fmt.Errorf("store: schema versions: %w", err)
	}
	if tables == 0 {
		return 0, newest, nil
	}
	current, _, err = p.GetVersions(ctx)
	if err != nil {
		return 0, newest, fmt.Errorf("store: schema versions: %w", err)
	}
	return current, newest, nil
}
