package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	procenv "github.com/chargeplane/chargeplane/tools/internal/proc"
)

// proc is one started process of the system under test. The suite counts a
// process that exits without being told to as a crash.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}

	mu       sync.Mutex
	expected bool // the suite killed or stopped it
	exitErr  error
}

// procs tracks every process the suite started.
type procs struct {
	dir string // logs

	mu       sync.Mutex
	all      []*proc
	crashed  []string // processes that exited on their own
	crashSeq int
}

func (ps *procs) start(name, bin string, env []string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(ps.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	// Exactly the settings the suite gives, never stray ones from the
	// caller's shell (as bench and scale give theirs).
	set := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	cmd.Env = procenv.Env(set)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C at the terminal reaches the suite,
	// which then stops the processes itself, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		expected := p.expected
		p.mu.Unlock()
		close(p.done)
		if !expected {
			ps.mu.Lock()
			ps.crashed = append(ps.crashed, fmt.Sprintf("%s (%v)", name, err))
			ps.mu.Unlock()
		}
	}()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, nil
}

func (ps *procs) crashes() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]string(nil), ps.crashed...)
}

// kill9 kills p the way a crash does.
func (p *proc) kill9() {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and waits (bounded) for the exit; it returns the exit
// error (nil for status 0).
func (p *proc) term(wait time.Duration) error {
	p.mu.Lock()
	p.expected = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.name, wait)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stopAll stops whatever still runs: gateways first, then cores.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		if p.running() {
			wg.Add(1)
			go func() { defer wg.Done(); _ = p.term(20 * time.Second) }()
		}
	}
	wg.Wait()
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP waits until url answers 200.
func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %v: %w", url, within, errors.Join(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// httpStatus returns url's status code, 0 if it could not be reached.
func httpStatus(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// services are the machine's PostgreSQL and RabbitMQ. The suite stops them
// and must leave them as it found them, whatever happens.
type services struct {
	mu           sync.Mutex
	rabbitDown   bool // we stopped the RabbitMQ app
	postgresDown bool // we stopped the PostgreSQL cluster
	pgVersion    string
}

func run(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return nil
}

func (s *services) stopRabbit(ctx context.Context) error {
	s.mu.Lock()
	s.rabbitDown = true
	s.mu.Unlock()
	return run(ctx, "rabbitmqctl", "stop_app")
}

func (s *services) startRabbit(ctx context.Context) error {
	if err := run(ctx, "rabbitmqctl", "start_app"); err != nil {
		return err
	}
	if err := run(ctx, "rabbitmqctl", "await_startup"); err != nil {
		return err
	}
	s.mu.Lock()
	s.rabbitDown = false
	s.mu.Unlock()
	return nil
}

func (s *services) pgctl(ctx context.Context, action string) error {
	return run(ctx, "pg_ctlcluster", "--skip-systemctl-redirect", s.pgVersion, "main", action)
}

func (s *services) stopPostgres(ctx context.Context) error {
	s.mu.Lock()
	s.postgresDown = true
	s.mu.Unlock()
	return s.pgctl(ctx, "stop")
}

func (s *services) startPostgres(ctx context.Context) error {
	if err := s.pgctl(ctx, "start"); err != nil {
		return err
	}
	s.mu.Lock()
	s.postgresDown = false
	s.mu.Unlock()
	return nil
}

// restore starts again whatever the suite stopped. It runs on every exit
// path (deferred, and on a signal).
func (s *services) restore() {
	ctx := context.Background()
	s.mu.Lock()
	rabbit, pg := s.rabbitDown, s.postgresDown
	s.mu.Unlock()
	if rabbit {
		fmt.Fprintln(os.Stderr, "faults: restarting the RabbitMQ app the suite stopped")
		if err := s.startRabbit(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "faults: RESTORE FAILED:", err, "— run: rabbitmqctl start_app")
		}
	}
	if pg {
		fmt.Fprintln(os.Stderr, "faults: restarting the PostgreSQL cluster the suite stopped")
		if err := s.startPostgres(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "faults: RESTORE FAILED:", err, "— run: pg_ctlcluster --skip-systemctl-redirect", s.pgVersion, "main start")
		}
	}
}

// reachable reports whether something accepts TCP connections at addr.
func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
