package proc

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tgateway\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t 100 kB\n"
	got, err := ParseVmRSS([]byte(status))
	if err != nil || got != 123456*1024 {
		t.Fatalf("ParseVmRSS = %d, %v; want %d", got, err, 123456*1024)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n", "VmRSS:\t-5 kB\n", ""} {
		if _, err := ParseVmRSS([]byte(bad)); err == nil {
			t.Errorf("ParseVmRSS(%q) accepted", bad)
		}
	}
}

func TestParseCPUTicks(t *testing.T) {
	// The name holds a space and a parenthesis, as a hostile one could.
	stat := "4242 (my (api) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 1500 250 0 0 20 0 12 0 100 0 0\n"
	got, err := ParseCPUTicks([]byte(stat))
	if err != nil || got != 1750 {
		t.Fatalf("ParseCPUTicks = %d, %v; want 1750", got, err)
	}
	if _, err := ParseCPUTicks([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat accepted")
	}
}

// A child is started with only the settings given, its output logged,
// stopped by SIGTERM, and measured in /proc while it runs.
func TestStartStop(t *testing.T) {
	t.Setenv("DATA_DIR", "/from/the/shell")
	dir := t.TempDir()
	p, err := Start("child", "/bin/sh", []string{"-c", `echo "data dir=$DATA_DIR log=$LOG_LEVEL"; exec sleep 60`}, map[string]string{"LOG_LEVEL": "warn"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Tail(), "data dir= log=warn") {
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("log: %s", p.Tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := CPUTicks(p.Pid()); err != nil {
		t.Errorf("CPUTicks: %v", err)
	}
	if rss, err := RSS(p.Pid()); err != nil || rss <= 0 {
		t.Errorf("RSS: %d %v", rss, err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("second stop: %v", err)
	}
	if p.LogPath != filepath.Join(dir, "child.log") {
		t.Errorf("log path %s", p.LogPath)
	}
	if err := Run(t.Context(), "/bin/sh", []string{"-c", "echo out; exit 3"}, nil); err == nil || !strings.Contains(err.Error(), "out") {
		t.Errorf("failing Run: %v", err)
	}
}

func TestFreeAddrsDistinct(t *testing.T) {
	addrs, err := FreeAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("%s twice in %v", a, addrs)
		}
		seen[a] = true
	}
}
