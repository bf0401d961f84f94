package cli_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
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
	env := map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error"}
	r := execute(t, env, "", "user", "create", "-m", "Ops@Example.com", "-p", "long enough, surely", "-f", "Ada", "-l", "Lovelace")
	if r.code != 0 || !strings.Contains(r.stdout, "ops@example.com") {
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

// TestServeStopsOnSignal runs the default command (serve) and sends it
// SIGTERM: it must shut down gracefully and exit 0.
func TestServeStopsOnSignal(t *testing.T) {
	httpAddr := freeAddr(t)
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error",
		"HTTP_ADDR": httpAddr, "GRPC_ADDR": "127.0.0.1:0", "OCPP_ADDR": "127.0.0.1:0",
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- cli.Execute(context.Background(), nil, cli.Options{Environ: env, Signals: sigs, Stdout: &bytes.Buffer{}, Stderr: &stderr})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("core never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after SIGTERM: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("still serving after exit")
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
