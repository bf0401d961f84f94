package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargeplane/chargeplane/tools/internal/proc"
)

// quiesce waits until none of the processes used more than 5% of a CPU
// over a second (a backlog of disconnections from the previous scenario
// must not be charged to the next), at most limit.
func quiesce(ctx context.Context, limit time.Duration, pids ...int) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := make([]int64, len(pids))
		for i, pid := range pids {
			before[i], _ = proc.CPUTicks(pid)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		busy := false
		for i, pid := range pids {
			after, err := proc.CPUTicks(pid)
			if err == nil && after-before[i] > proc.TicksPerSecond/20 {
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
