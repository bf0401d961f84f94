package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// TicksPerSecond is the unit of CPUTicks (USER_HZ on Linux).
const TicksPerSecond = 100

// CPUTicks is the CPU time (user + system) pid has used, in clock ticks.
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return ParseCPUTicks(b)
}

// RSS is pid's resident set size in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

// ParseVmRSS returns the resident set size in bytes from the contents of
// /proc/<pid>/status ("VmRSS:    123456 kB").
func ParseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("VmRSS line %q: bad number", sc.Text())
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line (a kernel thread, or the process has exited)")
}

// ParseCPUTicks returns utime+stime (clock ticks) from /proc/<pid>/stat.
// The command name may hold spaces and parentheses, so fields are counted
// from the last ')'.
func ParseCPUTicks(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: state(0) ppid(1) ... utime is field 14 of the whole
	// line, i.e. index 11 here, stime index 12.
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return u + s, nil
}

// Named are the pids whose command (/proc/<pid>/comm) is comm.
func Named(comm string) []int {
	entries, _ := filepath.Glob("/proc/[0-9]*/comm")
	var out []int
	for _, e := range entries {
		b, err := os.ReadFile(e)
		if err == nil && strings.TrimSpace(string(b)) == comm {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
			out = append(out, pid)
		}
	}
	return out
}

// BrokerPID is the local RabbitMQ node's process (beam.smp), 0 if none.
func BrokerPID() int {
	if p := Named("beam.smp"); len(p) > 0 {
		return p[0]
	}
	return 0
}

// LoadAvg is /proc/loadavg's 1, 5 and 15 minute averages, "" if unknown.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Memory is the machine's available and total memory in bytes (0, 0 if
// unknown).
func Memory() (avail, total int64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); err == nil {
			avail = kb << 10
		}
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			total = kb << 10
		}
	}
	return avail, total
}

// Machine is what a figure was measured on.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpuModel"`
	MemMiB   int64  `json:"memMiB"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	NoFile   uint64 `json:"openFilesLimit"`
}

// ReadMachine describes this machine.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	_, total := Memory()
	m.MemMiB = total >> 20
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		m.NoFile = l.Cur
	}
	return m
}

// String is the machine line of a report.
func (m Machine) String() string {
	return fmt.Sprintf("machine: %d CPUs (%s), %d MiB RAM, Linux %s, %s, open files limit %d",
		m.CPUs, m.CPUModel, m.MemMiB, m.Kernel, m.Go, m.NoFile)
}
