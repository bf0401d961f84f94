package store

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log sink the store's pool goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A duplicate key is an expected outcome (retries, re-registration), not an
// error worth an operator's attention; real failures still are logged.
func TestDuplicateKeyIsNotLoggedAsError(t *testing.T) {
	var logs syncBuffer
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
