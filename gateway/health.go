package main

import (
	"context"
	"net/http"
	"time"
)

// pinger tells whether the broker connection is up.
type pinger interface {
	Ping(ctx context.Context) error
}

// handleHealth serves /healthz, for liveness: the process serves HTTP; and
// /readyz, for readiness: new chargers are welcome, because the gateway is
// not draining and is connected to the broker. A draining gateway stays
// live, so that an orchestrator does not kill it in the middle of the drain.
func handleHealth(mux *http.ServeMux, draining func() bool, bus pinger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := bus.Ping(ctx); err != nil {
			http.Error(w, "bus: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
}
