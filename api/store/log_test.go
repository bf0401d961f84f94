package store

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm/logger"

	"github.com/chargeplane/chargeplane/pkg/logtest"
)

// A duplicate key is an expected outcome (retries, re-registration), not an
// error worth an operator's attention; real failures still are logged.
func TestDuplicateKeyIsNotLoggedAsError(t *testing.T) {
	var logs logtest.Buffer
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: filepath.Join(t.TempDir(), "data"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mustCreateStation(t, s, "CP-DUP")
	if err := s.CreateStation(ctx, &Station{ID: "CP-DUP"}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create = %v, want ErrAlreadyExists", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("duplicate logged as an error:\n%s", logs.String())
	}

	if err := s.db.Exec("SELECT * FROM no_such_table").Error; err == nil {
		t.Fatal("query on a missing table succeeded")
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a real failure was not logged:\n%s", logs.String())
	}
}

// The SQL of a statement that will not be logged is never rendered (it
// cost CPU on every statement); failed and slow ones still are logged.
func TestStatementsRenderedOnlyWhenLogged(t *testing.T) {
	var logs logtest.Buffer
	base := logger.NewSlogLogger(slog.New(slog.NewTextHandler(&logs, nil)), logger.Config{SlowThreshold: slowQuery, LogLevel: logger.Warn})
	q := quietDuplicates{Interface: base, level: logger.Warn, slow: slowQuery}
	rendered := 0
	fc := func() (string, int64) { rendered++; return "UPDATE stations SET last_seen = ?", 1 }
	ctx := context.Background()

	q.Trace(ctx, time.Now(), fc, nil)
	if rendered != 0 || logs.String() != "" {
		t.Fatalf("a fast, successful statement was rendered %d times / logged %q", rendered, logs.String())
	}
	q.Trace(ctx, time.Now().Add(-2*slowQuery), fc, nil)
	if rendered != 1 || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a slow statement was not logged: %q", logs.String())
	}
	q.Trace(ctx, time.Now(), fc, errors.New("disk I/O error"))
	if rendered != 2 || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a failed statement was not logged: %q", logs.String())
	}
	q.LogMode(logger.Info).Trace(ctx, time.Now(), fc, nil)
	if rendered != 3 {
		t.Error("LogMode(Info) does not log every statement")
	}
}
