package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMakeRun is the README's first step: `make run` says that it is
// building, serves, and a Ctrl-C (SIGINT to the terminal's process group)
// stops it cleanly: exit 0, and no "make: *** … Error" on the way out.
func TestMakeRun(t *testing.T) {
	cmd := exec.Command("make", "--no-print-directory", "run", "RUN_BIN="+filepath.Join(t.TempDir(), "api"))
	cmd.Dir = ".." // the repository root
	cmd.Env = append(withoutMake(os.Environ()),
		"DATA_DIR="+t.TempDir(), "DATABASE_URL=", "AMQP_URL=", "LOG_LEVEL=info",
		"HTTP_ADDR=127.0.0.1:0", "GRPC_ADDR=127.0.0.1:0", "OCPP_ADDR=127.0.0.1:0")
	// Its own process group, like a terminal's foreground job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The port is the one the core bound and logged: one picked here and
	// freed could be taken during the build, which can take minutes.
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})

	// A cold build on a busy machine can take minutes.
	deadline := time.Now().Add(5 * time.Minute)
	for ready := false; !ready; {
		select {
		case err := <-done:
			t.Fatalf("make run ended before serving: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run not ready after 5 minutes\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		m := startedHTTP.FindStringSubmatch(stderr.String())
		if m == nil {
			continue
		}
		if resp, err := http.Get("http://" + m[1] + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		// make waits for the api, then re-raises the SIGINT on itself,
		// silently, so that the shell knows the job was interrupted.
		if err != nil && cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
			t.Errorf("make run after Ctrl-C: %v (want exit 0 or the SIGINT)", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("make run still running a minute after Ctrl-C")
	}
	if !strings.Contains(stdout.String(), "building") {
		t.Errorf("make run did not say it was building; stdout:\n%s", stdout.String())
	}
	// make would report an api that exited non-zero (go run did: "make:
	// *** [Makefile:20: run] Error 1"); cli.Execute prints "error:".
	if s := stderr.String(); strings.Contains(s, "make: ***") || strings.Contains(s, "error:") ||
		!strings.Contains(s, "shutting down") {
		t.Errorf("want a clean shutdown after Ctrl-C; stderr:\n%s", s)
	}
}

// withoutMake drops the variables of an enclosing make (make test), whose
// jobserver and level would otherwise leak into this one.
func withoutMake(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startedHTTP finds the REST address in the core's "core started" line.
var startedHTTP = regexp.MustCompile(`core started.* http=(\S+)`)

// syncBuffer is a bytes.Buffer the test reads while the process writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
