// Package profiling serves net/http/pprof for the api and gateway binaries
// on an opt-in listener (PPROF_ADDR), never on a public one: profiles
// expose memory contents.
package profiling

import (
	"net/http"
	"net/http/pprof"
)

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
