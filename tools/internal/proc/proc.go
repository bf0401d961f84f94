// Package proc starts, watches and stops the child processes of the
// measuring tools (tools/bench, tools/scale) and reads what Linux's /proc
// says about them and the machine: CPU time, resident memory, load.
package proc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/chargeplane/chargeplane/pkg/config"
)

// Env is the caller's environment without any setting of api and gateway,
// plus set: a child gets exactly the settings the tool gives it, never
// stray ones from the caller's shell.
func Env(set map[string]string) []string {
	drop := map[string]bool{}
	for _, s := range config.Settings() {
		drop[s.Name] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// Proc is a child process, its output kept in a log file for when
// something goes wrong.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
	err     error
}

// Start starts bin with args and exactly the settings env (see Env), its
// stdout and stderr going to logDir/name.log.
func Start(name, bin string, args []string, env map[string]string, logDir string) (*Proc, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = Env(env)
	cmd.Stdout, cmd.Stderr = f, f
	return launch(name, cmd, f)
}

// StartPiped is Start with the process's stdout for the caller to read
// (only stderr goes to the log).
func StartPiped(name, bin string, args []string, env map[string]string, logDir string) (*Proc, io.Reader, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = Env(env)
	cmd.Stderr = f
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	p, err := launch(name, cmd, f)
	return p, out, err
}

func launch(name string, cmd *exec.Cmd, log *os.File) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, LogPath: log.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Tail is the end of the process's log and the log's path, for error
// messages.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return strings.TrimSpace(string(b)) + " (" + p.LogPath + ")"
}

// Stop asks the process to shut down (SIGTERM) and kills it after grace. A
// process that had exited already is an error: it was not told to.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s had already exited: %v (%s)", p.Name, p.err, p.Tail())
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.Name, grace)
	}
}

// Run runs a short command to completion (api migrate, api user create)
// with exactly the settings env; its output is in the error.
func Run(ctx context.Context, bin string, args []string, env map[string]string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Env(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// WaitHTTP polls url until it answers 200, p exits or limit passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before %s answered: %v (%s)", p.Name, url, p.err, p.Tail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s (%s)", p.Name, url, limit, p.LogPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddrs returns n distinct loopback addresses with ports nobody listens
// on now (all held open until the last is found, so none repeats).
func FreeAddrs(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}
