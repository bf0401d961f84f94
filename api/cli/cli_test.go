package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/cli"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/config"
	"github.com/chargeplane/chargeplane/pkg/config/configtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// gorm's prepared-statement cache starts a sweeper it never stops.
		goleak.IgnoreAnyFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"),
		// signal.Notify's watcher lives for the process.
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
	)
}

type run struct {
	code           int
	stdout, stderr string
}

func execute(t *testing.T, environ map[string]string, stdin string, args ...string) run {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Execute(context.Background(), args, cli.Options{
		Environ: environ, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
	})
	return run{code, out.String(), errb.String()}
}

func TestUserCreate(t *testing.T) {
	// No server on HTTP_ADDR: a fresh install creates its first user before
	// the first serve.
	env := map[string]string{"DATA_DIR": t.TempDir(), "HTTP_ADDR": freeAddr(t), "LOG_LEVEL": "error"}
	r := execute(t, env, "", "user", "create", "-m", "Ops@Example.com", "-p", "long enough, surely", "-f", "Ada", "-l", "Lovelace")
	if r.code != 0 || !strings.Contains(r.stdout, "ops@example.com") ||
		!strings.Contains(r.stderr, "database: sqlite "+filepath.Join(env["DATA_DIR"], store.SQLiteFile)+"\n") || !strings.Contains(r.stderr, "was empty") {
		t.Fatalf("create: %+v", r)
	}
	r = execute(t, env, "", "user", "create", "--email", "ops@example.com", "--password", "another one of those", "--first-name", "A", "--last-name", "B")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("duplicate: %+v", r)
	}
	r = execute(t, env, "secret-from-stdin\n", "user", "create", "-m", "second@example.com", "-p", "-", "-r", "Viewer")
	if r.code != 0 {
		t.Fatalf("stdin password: %+v", r)
	}
	for name, args := range map[string][]string{
		"short password": {"user", "create", "-m", "x@example.com", "-p", "1234567"},
		"weak password":  {"user", "create", "-m", "x@example.com", "-p", "password1234"},
		"bad email":      {"user", "create", "-m", "not-an-email", "-p", "long enough, surely"},
		"missing email":  {"user", "create", "-p", "long enough, surely"},
		"unknown flag":   {"user", "create", "-m", "y@example.com", "-p", "long enough, surely", "--admin"},
		"unknown role":   {"user", "create", "-m", "z@example.com", "-p", "long enough, surely", "-r", "root"},
		"unknown cmd":    {"frobnicate"},
	} {
		if r := execute(t, env, "", args...); r.code != 1 || r.stderr == "" {
			t.Errorf("%s: %+v", name, r)
		}
	}

	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: env["DATA_DIR"]})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByEmail(ctx, "OPS@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Without -r the first user is an admin, so a fresh install can manage the rest.
	if u.FirstName != "Ada" || u.LastName != "Lovelace" || u.Role != "admin" || auth.VerifySecret(u.PasswordHash, "long enough, surely") != nil {
		t.Errorf("stored user = %+v", u)
	}
	u2, err := st.UserByEmail(ctx, "second@example.com")
	if err != nil || auth.VerifySecret(u2.PasswordHash, "secret-from-stdin") != nil || u2.Role != "viewer" {
		t.Errorf("stdin user: %v %+v", err, u2)
	}
	if _, err := st.UserByEmail(ctx, "z@example.com"); err == nil {
		t.Error("user with an unknown role was created")
	}
	if _, err := st.UserByEmail(ctx, "x@example.com"); err == nil {
		t.Error("user with a short password was created")
	}
}

func TestMigrate(t *testing.T) {
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	for i := 0; i < 2; i++ {
		if r := execute(t, env, "", "migrate"); r.code != 0 {
			t.Fatalf("migrate #%d: %+v", i+1, r)
		}
	}
	// A bad configuration is a clear error, exit 1.
	if r := execute(t, map[string]string{"LOG_FORMAT": "xml"}, "", "migrate"); r.code != 1 || !strings.Contains(r.stderr, "LOG_FORMAT") {
		t.Errorf("bad config: %+v", r)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs the default command (serve) with env until it answers
// /readyz on env's HTTP_ADDR; stop sends it SIGTERM and waits for its exit.
func startServe(t *testing.T, env map[string]string) (stop func() (code int, stderr string)) {
	t.Helper()
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- cli.Execute(context.Background(), nil, cli.Options{Environ: env, Signals: sigs, Stdout: &bytes.Buffer{}, Stderr: &stderr})
	}()
	stop = func() (int, string) {
		sigs <- syscall.SIGTERM
		select {
		case code := <-done:
			return code, stderr.String()
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop after SIGTERM")
			return 0, ""
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + env["HTTP_ADDR"] + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("core never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeStopsOnSignal runs the default command (serve) and sends it
// SIGTERM: it must shut down gracefully and exit 0.
func TestServeStopsOnSignal(t *testing.T) {
	httpAddr := freeAddr(t)
	stop := startServe(t, map[string]string{
		"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error",
		"HTTP_ADDR": httpAddr, "GRPC_ADDR": "127.0.0.1:0", "OCPP_ADDR": "127.0.0.1:0",
	})
	if code, stderr := stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM: %s", code, stderr)
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("still serving after exit")
	}
}

// TestUserCreateAgainstAnotherDatabase: user create says which database it
// opened, and refuses an empty one while a server answers on HTTP_ADDR
// (that server cannot be using it), instead of creating a user the server
// never sees.
func TestUserCreateAgainstAnotherDatabase(t *testing.T) {
	serverDir, otherDir := t.TempDir(), t.TempDir()
	httpAddr := freeAddr(t)
	stop := startServe(t, map[string]string{
		"DATA_DIR": serverDir, "LOG_LEVEL": "error",
		"HTTP_ADDR": httpAddr, "GRPC_ADDR": "127.0.0.1:0", "OCPP_ADDR": "127.0.0.1:0",
	})
	defer func() {
		if code, stderr := stop(); code != 0 {
			t.Errorf("serve: exit %d: %s", code, stderr)
		}
	}()
	create := []string{"user", "create", "-m", "ada@example.com", "-p", "correct horse battery", "-f", "Ada", "-l", "Admin"}

	r := execute(t, map[string]string{"DATA_DIR": otherDir, "HTTP_ADDR": httpAddr, "LOG_LEVEL": "error"}, "", create...)
	otherDB := filepath.Join(otherDir, store.SQLiteFile)
	if r.code != 1 || !strings.Contains(r.stderr, "database: sqlite "+otherDB+"\n") ||
		!strings.Contains(r.stderr, "not the database of the api answering at http://"+httpAddr) || !strings.Contains(r.stderr, "DATA_DIR") {
		t.Errorf("another DATA_DIR: %+v", r)
	}
	if _, err := os.Stat(otherDB); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused database was created: %v", err)
	}

	// A database that exists but has no schema is refused the same way
	// (as an empty PostgreSQL database would be).
	st, err := store.Open(context.Background(), store.Config{DataDir: otherDir})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r = execute(t, map[string]string{"DATA_DIR": otherDir, "HTTP_ADDR": httpAddr, "LOG_LEVEL": "error"}, "", create...)
	if r.code != 1 || !strings.Contains(r.stderr, "not the database of the api") {
		t.Errorf("empty database: %+v", r)
	}

	r = execute(t, map[string]string{"DATA_DIR": serverDir, "HTTP_ADDR": httpAddr, "LOG_LEVEL": "error"}, "", create...)
	if r.code != 0 || !strings.Contains(r.stderr, "database: sqlite "+filepath.Join(serverDir, store.SQLiteFile)+"\n") {
		t.Fatalf("the server's DATA_DIR: %+v", r)
	}
	// The user is the server's: it can log in.
	resp, err := http.Post("http://"+httpAddr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"ada@example.com","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("login as the created user: %s", resp.Status)
	}
}

// TestUserCreateNeedsSchema: with MIGRATE_ON_START=false, a database whose
// schema is missing is a clear error naming it and the fix, not "no such
// table: users".
func TestUserCreateNeedsSchema(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "HTTP_ADDR": freeAddr(t), "LOG_LEVEL": "error", "MIGRATE_ON_START": "false"}
	r := execute(t, env, "", "user", "create", "-m", "ada@example.com", "-p", "correct horse battery")
	if r.code != 1 || !strings.Contains(r.stderr, "sqlite "+filepath.Join(dir, store.SQLiteFile)+": its schema is at version 0") ||
		!strings.Contains(r.stderr, "api migrate") {
		t.Errorf("no schema: %+v", r)
	}
	if r := execute(t, env, "", "migrate"); r.code != 0 || !strings.Contains(r.stderr, "database: sqlite "+filepath.Join(dir, store.SQLiteFile)) {
		t.Fatalf("migrate: %+v", r)
	}
	if r := execute(t, env, "", "user", "create", "-m", "ada@example.com", "-p", "correct horse battery"); r.code != 0 {
		t.Errorf("after migrate: %+v", r)
	}
}

// TestUserCreateLockedDatabase: a SQLite file another process holds the
// write lock of (past the busy timeout) fails naming the file.
func TestUserCreateLockedDatabase(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir, "HTTP_ADDR": freeAddr(t), "LOG_LEVEL": "error"}
	if r := execute(t, env, "", "migrate"); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), "ROLLBACK") }()
	r := execute(t, env, "", "user", "create", "-m", "ada@example.com", "-p", "correct horse battery")
	if r.code != 1 || !strings.Contains(r.stderr, "error: sqlite "+filepath.Join(dir, store.SQLiteFile)+": ") || !strings.Contains(r.stderr, "locked") {
		t.Errorf("locked: %+v", r)
	}
}

func TestServeRefusesProductionWithoutSecret(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "LOG_LEVEL": "error"}
	r := execute(t, env, "", "serve")
	if r.code != 1 || !strings.Contains(r.stderr, "AUTH_SECRET") {
		t.Errorf("serve without secret: %+v", r)
	}
}

// api --help lists the settings the api reads, from the table that
// generates .env.example (pkg/config checks that file against the table).
func TestHelpListsSettings(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "-h"}} {
		r := execute(t, nil, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		configtest.CheckHelp(t, config.API, r.stdout)
	}
}
