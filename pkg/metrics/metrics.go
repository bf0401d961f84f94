// Package metrics gives the api and gateway binaries their Prometheus
// registry and serves it on METRICS_ADDR. Packages that count something
// register their collectors on the registry the binary hands them.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// NewRegistry returns a registry of our own, not the library's global one,
// so that only what we register is exposed, with the Go runtime and process
// collectors (go_*, process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg at Path and nothing else. A scrape is bounded in time
// and in concurrency, so a flood of scrapes cannot pile up gatherings; the
// handler's own request and error counts are exposed too
// (promhttp_metric_handler_*).
func Handler(reg *prometheus.Registry) http.Handler {
	h := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	return mux
}
