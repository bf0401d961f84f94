package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Attempt results, the outcome label of chargeplane_webhook_deliveries_total
// (a fixed set: never a URL or a webhook id as a label).
const (
	resultDelivered  = "delivered"
	resultHTTPError  = "http_error"
	resultTimeout    = "timeout"
	resultConnection = "connection_error"
	resultRefused    = "refused"
	resultSecret     = "secret_error"
	resultExpired    = "expired"
)

// Metrics counts this instance's deliveries. A nil *Metrics counts nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	delivering prometheus.Gauge
	failing    prometheus.Gauge
}

// NewMetrics registers the webhook metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, http_error, timeout, connection_error, refused, secret_error), and events given up (expired).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chargeplane_webhook_delivery_duration_seconds",
			Help:    "Webhook delivery attempts, request sent to answer read (bounded by WEBHOOK_TIMEOUT).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		delivering: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chargeplane_webhooks_delivering",
			Help: "Webhooks this core instance delivers now (holds the lease of).",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chargeplane_webhooks_failing",
			Help: "Webhooks this core instance delivers whose last attempt failed (see failing_since in the API).",
		}),
	}
	for _, o := range []string{resultDelivered, resultHTTPError, resultTimeout, resultConnection, resultRefused, resultSecret, resultExpired} {
		m.deliveries.WithLabelValues(o) // every series exists from the start, at 0
	}
	reg.MustRegister(m.deliveries, m.duration, m.delivering, m.failing)
	return m
}

func (m *Metrics) attempt(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(result).Inc()
	if result != resultSecret {
		m.duration.Observe(d.Seconds())
	}
}

func (m *Metrics) expired(n int) {
	if m != nil {
		m.deliveries.WithLabelValues(resultExpired).Add(float64(n))
	}
}

func (m *Metrics) worker(delta float64) {
	if m != nil {
		m.delivering.Add(delta)
	}
}

func (m *Metrics) failingChanged(delta float64) {
	if m != nil {
		m.failing.Add(delta)
	}
}
