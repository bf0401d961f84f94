package tracing_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
	"github.com/chargeplane/chargeplane/pkg/tracing"
)

func TestEnvelopeCarriesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))

	// Without a span nothing is injected, and an old map is kept.
	env := &busv1.Envelope{Trace: map[string]string{"traceparent": "old"}}
	tracing.Inject(context.Background(), env)
	if env.Trace["traceparent"] != "old" {
		t.Fatalf("trace changed without a span: %v", env.Trace)
	}

	shared := env.Trace
	ctx, span := tracing.Tracer().Start(context.Background(), "send")
	tracing.Inject(ctx, env)
	span.End()
	if shared["traceparent"] != "old" {
		t.Fatal("Inject wrote into the map the envelope shared")
	}
	tp := env.Trace["traceparent"]
	if !strings.Contains(tp, span.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q lacks trace id %s", tp, span.SpanContext().TraceID())
	}

	_, child := tracing.Tracer().Start(tracing.Extract(context.Background(), env), "receive")
	child.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[1].Parent().SpanID() != spans[0].SpanContext().SpanID() || !spans[1].Parent().IsRemote() {
		t.Fatalf("receive is not the remote child of send: %+v", spans)
	}

	// A bad traceparent from the bus starts nothing from it.
	bad := tracing.Extract(context.Background(), &busv1.Envelope{Trace: map[string]string{"traceparent": "00-zz-yy-01"}})
	_, s := tracing.Tracer().Start(bad, "x")
	if s.SpanContext().TraceID() == span.SpanContext().TraceID() || !s.SpanContext().IsValid() {
		t.Fatal("a malformed traceparent was trusted")
	}
	s.End()
}

func TestLogHandlerStampsTraceID(t *testing.T) {
	tracing.Install(sdktrace.NewTracerProvider())
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewTextHandler(&buf, nil))).With("station", "CP1")
	log.InfoContext(context.Background(), "outside")
	ctx, span := tracing.Tracer().Start(context.Background(), "op")
	defer span.End()
	log.WithGroup("g").InfoContext(ctx, "inside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Contains(lines[0], "trace_id") {
		t.Errorf("line outside a span has a trace id: %s", lines[0])
	}
	if want := "trace_id=" + span.SpanContext().TraceID().String(); !strings.Contains(lines[1], want) || !strings.Contains(lines[1], "station=CP1") {
		t.Errorf("line inside a span = %s, want %s and the station", lines[1], want)
	}
}

func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	stop, err := tracing.Setup(context.Background(), "test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

func TestBadProtocolNamed(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
	if _, err := tracing.Setup(context.Background(), "test", slog.Default()); err == nil || !strings.Contains(err.Error(), "carrier-pigeon") {
		t.Fatalf("err = %v, want the bad protocol named", err)
	}
}

// TestStopFlushes: with an OTLP endpoint, a span ended just before stop
// reaches the collector when stop returns (the batcher would otherwise
// still hold it), and the service is named.
func TestStopFlushes(t *testing.T) {
	var posts atomic.Int64
	var body atomic.Value
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			b := new(bytes.Buffer)
			_, _ = b.ReadFrom(r.Body)
			body.Store(b.String())
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Cleanup(func() { tracing.Install(sdktrace.NewTracerProvider()) })

	stop, err := tracing.Setup(context.Background(), "chargeplane-test", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tracing.Tracer().Start(context.Background(), "one")
	span.End()
	stop()
	if posts.Load() == 0 {
		t.Fatal("stop returned before the span was exported")
	}
	if b, _ := body.Load().(string); !strings.Contains(b, "chargeplane-test") {
		t.Errorf("export does not name the service: %q", b)
	}
}
