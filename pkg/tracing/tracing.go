// Package tracing sets up OpenTelemetry tracing for both binaries and holds
// what their parts share: the tracer, the W3C propagation through a bus
// envelope's trace field, and the log handler that stamps trace ids.
//
// Tracing is on only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Otherwise the global provider
// stays OpenTelemetry's no-op one: starting a span allocates nothing and
// nothing is injected into envelopes, so an untraced system pays only an
// interface call per span site. Every other standard OTEL_* variable
// (headers, protocol, sampler, service name, resource attributes, timeouts)
// is read by the SDK itself.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// Name is the instrumentation scope of every Chargeplane span.
const Name = "github.com/chargeplane/chargeplane"

// Tracer returns the tracer of the global provider. Looked up at each use,
// so that a provider installed later (Setup, a test's recorder) is used.
func Tracer() trace.Tracer { return otel.GetTracerProvider().Tracer(Name) }

// Enabled reports whether the environment asks for traces to be exported.
func Enabled(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the global tracer provider and W3C propagator when the
// environment enables tracing (see the package comment), naming the process
// service unless OTEL_SERVICE_NAME does. The returned function flushes and
// stops the exporter, for at most StopTimeout, and logs to log what could
// not be flushed; it is a no-op when tracing is off.
func Setup(ctx context.Context, service string, log *slog.Logger) (stop func(), err error) {
	if !Enabled(os.Getenv) {
		return func() {}, nil
	}
	exp, err := exporter(ctx, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// WithFromEnv after the default name: OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES win.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(), resource.WithHost(), resource.WithProcessPID(), resource.WithTelemetrySDK())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}, nil
}

// StopTimeout bounds the flush of the last spans at exit: a collector that
// is gone must not hold up a shutdown.
const StopTimeout = 5 * time.Second

// Install makes tp the global provider and W3C trace context the global
// propagator (Setup's second half; tests install a recording provider).
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// exporter picks the OTLP transport by OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL:
// "grpc", or the specification's default "http/protobuf".
func exporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch strings.TrimSpace(proto) {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: must be grpc or http/protobuf", proto)
	}
}

// Inject writes ctx's span context into env's trace field (a fresh map: the
// envelope may share the one it was copied from). Without a valid span
// context, e.g. tracing off, env is left as it is.
func Inject(ctx context.Context, env *busv1.Envelope) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if len(carrier) > 0 {
		env.Trace = carrier
	}
}

// Extract returns ctx carrying the remote span context of env's trace
// field, so that spans started from it join the sender's trace.
func Extract(ctx context.Context, env *busv1.Envelope) context.Context {
	if len(env.GetTrace()) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(env.GetTrace()))
}
