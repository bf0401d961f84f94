package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeplane/chargeplane/pkg/metrics"
	"github.com/chargeplane/chargeplane/pkg/metrics/metricstest"
)

// Scrape is what Prometheus does: GET /metrics, parse the text format.
func TestScrapeHasRuntimeAndProcessMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	domain := prometheus.NewCounter(prometheus.CounterOpts{Name: "chargeplane_test_total", Help: "a domain counter"})
	reg.MustRegister(domain)
	domain.Add(3)
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()

	families := metricstest.Scrape(t, srv.URL+metrics.Path)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := families[name]; !ok {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	if got := families["chargeplane_test_total"].GetMetric()[0].GetCounter().GetValue(); got != 3 {
		t.Errorf("domain counter = %v, want 3", got)
	}
	// Our own registry: nothing from the library's global one.
	if err := prometheus.DefaultRegisterer.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: "global_only_total", Help: "x"})); err != nil {
		t.Fatal(err)
	}
	if _, ok := metricstest.Scrape(t, srv.URL+metrics.Path)["global_only_total"]; ok {
		t.Error("a metric of the global registry is served")
	}
}

func TestOnlyMetricsPath(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(metrics.NewRegistry()))
	defer srv.Close()
	for path, want := range map[string]int{"/": http.StatusNotFound, "/debug/pprof/": http.StatusNotFound, metrics.Path: http.StatusOK} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Post(srv.URL+metrics.Path, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d, want 405", metrics.Path, resp.StatusCode)
	}
}
