// Package testenv gives integration tests their own isolated slice of the
// real services on this machine (PostgreSQL, RabbitMQ), so that tests can run
// side by side without sharing state.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is the administrative database used to create and drop
// the per-test databases when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const postgresHowTo = "start PostgreSQL with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
	"(or point TEST_DATABASE_URL at a server where this role may CREATE DATABASE)"

// PostgresURL creates a fresh, empty database for this test and returns its
// URL; the database is dropped (even with open connections) at cleanup.
// An unreachable server fails the test: integration tests never skip.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("testenv: TEST_DATABASE_URL %q is not a postgres:// URL", base)
	}

	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatalf("testenv: random database name: %v", err)
	}
	// Lower-case hex only, so the name never needs quoting rules beyond the
	// identifier quoting below.
	name := "cp_test_" + hex.EncodeToString(suffix[:])

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL unreachable at %s: %v\n%s", redact(u), err, postgresHowTo)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s: %v\n%s", name, err, postgresHowTo)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		// FORCE: a test that leaked a pool must not leave databases behind.
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})

	out := *u
	out.Path = "/" + name
	return out.String()
}

func redact(u *url.URL) string { return u.Redacted() }
