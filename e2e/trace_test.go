package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chargeplane/chargeplane/pkg/tracing"
)

// spans records every span of the test binary once installed: the global
// provider is process-wide, so tests find their own by station id.
var spans = sync.OnceValue(func() *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tracing.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	return rec
})

// TestTrace follows one charger CALL and one operator command through each
// deployment, as a tracing backend would see them: one trace each, the
// spans in causal order, every hop a child of the one before.
func TestTrace(t *testing.T) {
	rec := spans()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			sys := m.start(t)
			ctx := testCtx(t)
			id := newStationID("trace")
			sys.rest.createStation(ctx, t, id, "")
			c := dialMetricsCharger(ctx, t, sys, 1, id, v16)
			boot(ctx, t, c, v16, "SN-"+id)

			// gateway receive → bus publish upstream → core handle → db
			// statements → bus publish to the gateway → gateway send.
			var got []sdktrace.ReadOnlySpan
			eventually(t, "the BootNotification trace", func() (bool, string) {
				root := find(rec.Ended(), "ocpp receive BootNotification", id)
				if root == nil {
					return false, "no ended gateway receive span for " + id
				}
				got = inTrace(rec.Ended(), root.SpanContext().TraceID())
				// The core ends its handle and reply spans after the reply is
				// on the bus, so the gateway can write the answer first: wait
				// for every hop to have ended, not just the last one.
				ended := map[string]bool{}
				for _, s := range got {
					ended[s.Name()] = true
				}
				return ended["ocpp send"] && ended["ocpp handle BootNotification"] && ended["bus publish gateway"], describe(got)
			})
			receive := find(got, "ocpp receive BootNotification", id)
			if receive.Parent().IsValid() {
				t.Errorf("the gateway receive span has a parent: %s", describe(got))
			}
			up := childNamed(t, got, receive, "bus publish upstream")
			handle := childNamed(t, got, up, "ocpp handle BootNotification")
			if !handle.Parent().IsRemote() {
				t.Error("core handle is not the remote child of the upstream publish")
			}
			if a := attr(handle, "ocpp.action"); a != "BootNotification" {
				t.Errorf("core handle ocpp.action = %q", a)
			}
			var db []sdktrace.ReadOnlySpan
			for _, s := range got {
				if s.Parent().SpanID() == handle.SpanContext().SpanID() && strings.HasPrefix(s.Name(), "db ") {
					db = append(db, s)
					if attr(s, "db.query.text") == "" {
						t.Errorf("%s has no statement text", s.Name())
					}
				}
			}
			if len(db) == 0 {
				t.Fatalf("no database span under core handle: %s", describe(got))
			}
			reply := childNamed(t, got, handle, "bus publish gateway")
			send := childNamed(t, got, reply, "ocpp send")
			for _, s := range db {
				if s.StartTime().Before(handle.StartTime()) || s.EndTime().After(reply.StartTime()) {
					t.Errorf("%s ran outside handle..reply", s.Name())
				}
			}
			order := []sdktrace.ReadOnlySpan{receive, up, handle, db[0], reply, send}
			for i := 1; i < len(order); i++ {
				if order[i].StartTime().Before(order[i-1].StartTime()) {
					t.Errorf("%s started before %s", order[i].Name(), order[i-1].Name())
				}
			}
			if receive.EndTime().Before(send.EndTime()) {
				t.Error("the gateway receive span ended before the answer was written")
			}

			// REST → gRPC → bus publish downstream → gateway CALL to the
			// charger → its answer published to the core.
			if code, out := ctlREST(ctx, t, sys, "POST", "/api/v1/stations/"+id+"/clear-cache", map[string]any{}); code != http.StatusOK {
				t.Fatalf("clear-cache: %d %v", code, out)
			}
			eventually(t, "the command trace", func() (bool, string) {
				callSpan := find(rec.Ended(), "ocpp call ClearCache", id)
				if callSpan == nil {
					return false, "no ended gateway CALL span for " + id
				}
				got = inTrace(rec.Ended(), callSpan.SpanContext().TraceID())
				return true, ""
			})
			callSpan := find(got, "ocpp call ClearCache", id)
			var rest sdktrace.ReadOnlySpan
			for _, s := range got {
				if !s.Parent().IsValid() {
					rest = s
				}
			}
			if rest == nil || rest.Name() != "HTTP POST" || rest.SpanKind() != trace.SpanKindServer {
				t.Fatalf("the command trace does not start at the REST request: %s", describe(got))
			}
			var grpcSrv sdktrace.ReadOnlySpan
			for _, s := range got {
				if s.SpanKind() == trace.SpanKindServer && strings.Contains(s.Name(), "ClearCache") {
					grpcSrv = s
				}
			}
			if grpcSrv == nil {
				t.Fatalf("no gRPC server span for the command: %s", describe(got))
			}
			down := parentOf(t, got, callSpan)
			if down.Name() != "bus publish downstream" || !callSpan.Parent().IsRemote() {
				t.Errorf("the gateway CALL's parent is %q, want the remote bus publish downstream", down.Name())
			}
			if !descends(got, down, grpcSrv) || !descends(got, grpcSrv, rest) {
				t.Errorf("publish downstream does not descend from REST through gRPC: %s", describe(got))
			}
			answer := childNamed(t, got, callSpan, "bus publish core")
			if answer.StartTime().Before(callSpan.StartTime()) || callSpan.EndTime().Before(answer.EndTime()) {
				t.Error("the answer was published outside the gateway CALL span")
			}
		})
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if kv.Key == attribute.Key(key) {
			return kv.Value.Emit()
		}
	}
	return ""
}

// find returns the span named name of station, or nil.
func find(all []sdktrace.ReadOnlySpan, name, station string) sdktrace.ReadOnlySpan {
	for _, s := range all {
		if s.Name() == name && attr(s, "ocpp.station_id") == station {
			return s
		}
	}
	return nil
}

func inTrace(all []sdktrace.ReadOnlySpan, id trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range all {
		if s.SpanContext().TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

func childNamed(t *testing.T, all []sdktrace.ReadOnlySpan, parent sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range all {
		if s.Name() == name && s.Parent().SpanID() == parent.SpanContext().SpanID() {
			return s
		}
	}
	t.Fatalf("no %q under %q: %s", name, parent.Name(), describe(all))
	return nil
}

func parentOf(t *testing.T, all []sdktrace.ReadOnlySpan, s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, p := range all {
		if p.SpanContext().SpanID() == s.Parent().SpanID() {
			return p
		}
	}
	t.Fatalf("the parent of %q is not in its trace: %s", s.Name(), describe(all))
	return nil
}

// descends reports whether s is below ancestor in the trace.
func descends(all []sdktrace.ReadOnlySpan, s, ancestor sdktrace.ReadOnlySpan) bool {
	for range all {
		if s.Parent().SpanID() == ancestor.SpanContext().SpanID() {
			return true
		}
		var next sdktrace.ReadOnlySpan
		for _, p := range all {
			if p.SpanContext().SpanID() == s.Parent().SpanID() {
				next = p
			}
		}
		if next == nil {
			return false
		}
		s = next
	}
	return false
}

func describe(all []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range all {
		fmt.Fprintf(&b, "\n  %s %s parent=%s", s.Name(), s.SpanContext().SpanID(), s.Parent().SpanID())
	}
	return b.String()
}
