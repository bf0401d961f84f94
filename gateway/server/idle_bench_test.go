package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/gateway/server"
	"github.com/chargeplane/chargeplane/pkg/bus/inproc"
	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// BenchmarkIdleConnections reports what an idle charger costs: live heap
// plus goroutine stacks, and goroutines, per connection. Client and gateway
// share the process, so B/conn covers both ends of each socket (an upper
// bound for the gateway side).
func BenchmarkIdleConnections(b *testing.B) {
	const n = 1000
	for range b.N {
		ib := inproc.New(inproc.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		connected := make(chan struct{}, n)
		if err := ib.ConsumeUpstream(ctx, func(_ context.Context, env *busv1.Envelope) error {
			if env.GetKind() == busv1.Kind_KIND_CONNECTED {
				connected <- struct{}{}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		core := &fakeCore{stations: map[string]string{}}
		for i := range n {
			core.stations[fmt.Sprintf("CP%d", i)] = ""
		}
		gw := server.New(server.Config{GatewayID: "bench", DrainWindow: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, ib, core)
		if err := gw.Start(ctx); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ocpp/"

		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()

		conns := make([]*websocket.Conn, 0, n)
		for i := range n {
			c, _, err := websocket.Dial(ctx, base+fmt.Sprintf("CP%d", i), &websocket.DialOptions{
				Subprotocols:    []string{"ocpp2.0.1"},
				CompressionMode: websocket.CompressionNoContextTakeover,
			})
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			<-connected
		}
		time.Sleep(100 * time.Millisecond) // let handshake garbage become collectable
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()

		live := func(m runtime.MemStats) float64 { return float64(m.HeapAlloc + m.StackInuse) }
		b.ReportMetric((live(after)-live(before))/n, "B/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stackB/conn")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/conn")

		for _, c := range conns {
			c.CloseNow()
		}
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		if err := gw.Shutdown(sctx); err != nil {
			b.Fatal(err)
		}
		scancel()
		srv.Close()
		cancel()
		_ = ib.Close()
	}
}
