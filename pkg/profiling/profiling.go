// Package profiling serves net/http/pprof for the api and gateway binaries
// on an opt-in listener (PPROF_ADDR), never on a public one: profiles
// expose memory contents.
package profiling

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// CheckAddr accepts an empty address (profiling off) or a host:port whose
// host is a loopback address or "localhost".
func CheckAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR %q: want host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("PPROF_ADDR %q: the profiler listens on loopback only (e.g. 127.0.0.1:6060)", addr)
	}
	return nil
}

// Handler serves the pprof endpoints under /debug/pprof/ on a mux of its
// own, so they are reachable only on the profiling listener.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
