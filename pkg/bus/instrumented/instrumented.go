// Package instrumented wraps a bus.Bus so that every publish and every
// delivery is counted and traced, at the one edge both binaries share,
// instead of at each of their call sites. A publish is a producer span whose
// W3C context travels in the envelope's trace field; a delivery's handler
// gets a context carrying that remote parent, so the receiver's spans join
// the sender's trace.
package instrumented

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeplane/chargeplane/pkg/bus"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/tracing"
)

// Routes and queues, the values of the route and queue labels.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
	Gateway    = "gateway"
	Core       = "core"
)

// Bus is a bus.Bus that counts.
type Bus struct {
	bus.Bus
	published *prometheus.CounterVec
	consumed  *prometheus.CounterVec
	inFlight  atomic.Int64
}

// Wrap returns b counting on reg.
func Wrap(b bus.Bus, reg prometheus.Registerer) *Bus {
	w := &Bus{
		Bus: b,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_bus_published_total",
			Help: "Envelopes published, by route (upstream, downstream, gateway, core) and outcome (ok, error).",
		}, []string{"route", "outcome"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chargeplane_bus_consumed_total",
			Help: "Envelopes handed to this process's handlers, by queue (upstream, gateway, core) and outcome (ok, or error: left for redelivery).",
		}, []string{"queue", "outcome"}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chargeplane_bus_upstream_in_flight",
		Help: "Upstream envelopes this core is handling right now (at most BUS_LANES; at the limit, the rest wait in the broker).",
	}, func() float64 { return float64(w.inFlight.Load()) })
	reg.MustRegister(w.published, w.consumed, inFlight)
	for _, r := range []string{Upstream, Downstream, Gateway, Core} {
		for _, o := range []string{"ok", "error"} {
			w.published.WithLabelValues(r, o)
			if r != Downstream {
				w.consumed.WithLabelValues(r, o)
			}
		}
	}
	return w
}

func (w *Bus) count(v *prometheus.CounterVec, label string, err error) error {
	o := "ok"
	if err != nil {
		o = "error"
	}
	v.WithLabelValues(label, o).Inc()
	return err
}

// publish runs send inside a producer span named for route, with the span's
// context in env's trace field.
func (w *Bus) publish(ctx context.Context, route string, env *busv1.Envelope, send func(context.Context) error) error {
	ctx, span := tracing.Tracer().Start(ctx, "bus publish "+route, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "chargeplane.bus"),
			attribute.String("messaging.destination.name", route),
			attribute.String("ocpp.station_id", env.GetStationId()),
			attribute.String("bus.kind", env.GetKind().String()))
	}
	tracing.Inject(ctx, env)
	err := send(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return w.count(w.published, route, err)
}

func (w *Bus) PublishUpstream(ctx context.Context, env *busv1.Envelope) error {
	return w.publish(ctx, Upstream, env, func(ctx context.Context) error { return w.Bus.PublishUpstream(ctx, env) })
}

func (w *Bus) PublishDownstream(ctx context.Context, env *busv1.Envelope) error {
	return w.publish(ctx, Downstream, env, func(ctx context.Context) error { return w.Bus.PublishDownstream(ctx, env) })
}

func (w *Bus) PublishToGateway(ctx context.Context, gatewayID string, env *busv1.Envelope) error {
	return w.publish(ctx, Gateway, env, func(ctx context.Context) error { return w.Bus.PublishToGateway(ctx, gatewayID, env) })
}

func (w *Bus) PublishToCore(ctx context.Context, coreID string, env *busv1.Envelope) error {
	return w.publish(ctx, Core, env, func(ctx context.Context) error { return w.Bus.PublishToCore(ctx, coreID, env) })
}

func (w *Bus) ConsumeUpstream(ctx context.Context, h bus.Handler) error {
	return w.Bus.ConsumeUpstream(ctx, func(ctx context.Context, env *busv1.Envelope) error {
		w.inFlight.Add(1)
		defer w.inFlight.Add(-1)
		return w.count(w.consumed, Upstream, h(tracing.Extract(ctx, env), env))
	})
}

func (w *Bus) ConsumeGateway(ctx context.Context, gatewayID string, h bus.Handler) error {
	return w.Bus.ConsumeGateway(ctx, gatewayID, w.handler(Gateway, h))
}

func (w *Bus) ConsumeCore(ctx context.Context, coreID string, h bus.Handler) error {
	return w.Bus.ConsumeCore(ctx, coreID, w.handler(Core, h))
}

func (w *Bus) handler(queue string, h bus.Handler) bus.Handler {
	return func(ctx context.Context, env *busv1.Envelope) error {
		return w.count(w.consumed, queue, h(tracing.Extract(ctx, env), env))
	}
}
