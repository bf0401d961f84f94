package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chargeplane/chargeplane/pkg/config"
)

func childEnv(set map[string]string) []string {
	// A child gets exactly the settings the orchestrator sets, never stray
	// ones from the caller's shell.
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

// proc is a child process of the benchmark (api, gateway), its output kept
// in a log file for when something goes wrong.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func startProc(name, bin string, args []string, env map[string]string, logDir string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv(env)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop asks the process to shut down (SIGTERM) and kills it after grace.
func (p *proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("%s had already exited: %v (see %s)", p.name, p.err, p.logPath)
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.name, grace)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// runCmd runs a short command to completion (api user create).
func runCmd(ctx context.Context, bin string, args []string, env map[string]string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// waitHTTP polls url until it answers 200, the process dies or ctx ends.
func waitHTTP(ctx context.Context, p *proc, url string, limit time.Duration) error {
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
		if p.exited() {
			return fmt.Errorf("%s exited before %s answered: %v (see %s)", p.name, url, p.err, p.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s did not answer 200 within %s (see %s)", p.name, url, limit, p.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

func readCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return ParseCPUTicks(b)
}

// quiesce waits until none of the processes used more than 5% of a CPU
// over a second (a backlog of disconnections from the previous scenario
// must not be charged to the next), at most limit.
func quiesce(ctx context.Context, limit time.Duration, pids ...int) {
	deadline := time.Now().Add(limit)
	const ticksPerSecond = 100 // USER_HZ on Linux
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := make([]int64, len(pids))
		for i, pid := range pids {
			before[i], _ = readCPUTicks(pid)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		busy := false
		for i, pid := range pids {
			after, err := readCPUTicks(pid)
			if err == nil && after-before[i] > ticksPerSecond/20 {
				busy = true
			}
		}
		if !busy {
			return
		}
	}
}

// loadgenRun is one run of the load generator as a child process.
type loadgenRun struct {
	Args     []string
	Progress []Progress
	Summary  LoadSummary
	Output   string
	// OnProgress, when set, sees every progress line as it arrives.
	OnProgress func(Progress)
	pid        atomic.Int64 // of the running load generator, for its RSS
}

// LoadSummary is the load generator's -json output.
type LoadSummary struct {
	Scenario       string      `json:"scenario"`
	Version        string      `json:"version"`
	Chargers       int         `json:"chargers"`
	Rate           float64     `json:"ratePerCharger"`
	ElapsedSeconds float64     `json:"elapsedSeconds"`
	Opened         uint64      `json:"connectionsOpened"`
	Failed         uint64      `json:"connectionsFailed"`
	RoundTrips     uint64      `json:"roundTrips"`
	RoundTripsPerS float64     `json:"roundTripsPerSecond"`
	Latency        Percentiles `json:"latencyMs"`
	// SteadyLatency covers only the round trips after every charger had
	// booted (nil if that never happened).
	SteadyLatency *Percentiles      `json:"steadyLatencyMs,omitempty"`
	ErrorsTotal   uint64            `json:"errorsTotal"`
	Errors        map[string]uint64 `json:"errors"`
}

// run executes the load generator; interrupt, when it fires, stops it early
// with SIGINT (it still writes its summary).
func (r *loadgenRun) run(ctx context.Context, bin, jsonPath string, interrupt <-chan struct{}) error {
	args := append(append([]string{}, r.Args...), "-json", jsonPath)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 60 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start loadgen: %w", err)
	}
	r.pid.Store(int64(cmd.Process.Pid))
	var wg sync.WaitGroup
	stopInterrupt := make(chan struct{})
	wg.Go(func() {
		select {
		case <-interrupt:
			_ = cmd.Process.Signal(os.Interrupt)
		case <-stopInterrupt:
		}
	})
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if p, ok := ParseProgress(line); ok {
			p.At = time.Since(start)
			r.Progress = append(r.Progress, p)
			if r.OnProgress != nil {
				r.OnProgress(p)
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	close(stopInterrupt)
	wg.Wait()
	r.Output = out.String() + stderr.String()
	b, rerr := os.ReadFile(jsonPath)
	if rerr != nil {
		return fmt.Errorf("loadgen %s: no summary (%w): %v\n%s", strings.Join(r.Args, " "), rerr, werr, r.Output)
	}
	if err := jsonUnmarshal(b, &r.Summary); err != nil {
		return fmt.Errorf("loadgen summary: %w", err)
	}
	var ee *exec.ExitError
	if werr != nil && !(errors.As(werr, &ee) && interrupted(interrupt)) {
		return fmt.Errorf("loadgen %s: %w\n%s", strings.Join(r.Args, " "), werr, r.Output)
	}
	return nil
}

func interrupted(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
