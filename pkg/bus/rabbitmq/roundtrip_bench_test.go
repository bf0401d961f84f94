package rabbitmq_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

// BenchmarkChargerRoundTrip is a charger's CALL through the bus as the
// system carries it, without WebSocket and database: a "gateway" bus
// publishes upstream, a "core" bus (its own connection, as its own process
// would have) answers to the gateway's queue, and the gateway hands the
// answer to the waiting charger. Each charger keeps one CALL in flight.
// Besides time per round trip it reports what is robust on a shared
// machine: AMQP operations (publish, deliver, ack frames) per round trip
// counted by both buses, CPU time of this process and of the broker
// (beam.smp, from /proc) per round trip, and the latency percentiles.
//
//	go test -run='^$' -bench=ChargerRoundTrip -count=5 ./pkg/bus/rabbitmq
func BenchmarkChargerRoundTrip(b *testing.B) {
	for _, chargers := range []int{1, 100, 1000} {
		b.Run("chargers="+strconv.Itoa(chargers), func(b *testing.B) { benchRoundTrip(b, chargers) })
	}
}

func benchRoundTrip(b *testing.B, chargers int) {
	cfg := testConfig(b)
	cfg.Partitions = 16
	gw, core := dial(b, cfg), dial(b, cfg)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()

	if err := core.ConsumeUpstream(ctx, func(ctx context.Context, e *busv1.Envelope) error {
		reply := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: e.GetStationId(), GatewayId: e.GetGatewayId(),
			ConnectionId: e.GetConnectionId(), OcppVersion: e.GetOcppVersion(), MessageId: e.GetMessageId(),
			Frame: []byte(`[3,"` + e.GetMessageId() + `",{"currentTime":"2025-03-01T12:00:00Z"}]`)}
		return core.PublishToGateway(ctx, e.GetGatewayId(), reply)
	}); err != nil {
		b.Fatal(err)
	}
	waiting := make([]chan struct{}, chargers)
	for i := range waiting {
		waiting[i] = make(chan struct{}, 1)
	}
	if err := gw.ConsumeGateway(ctx, "bench-gw", func(_ context.Context, e *busv1.Envelope) error {
		i, _ := strconv.Atoi(strings.TrimPrefix(e.GetStationId(), "CP-"))
		waiting[i] <- struct{}{}
		return nil
	}); err != nil {
		b.Fatal(err)
	}

	roundTrip := func(i, seq int) time.Duration {
		id := strconv.Itoa(seq)
		e := &busv1.Envelope{Kind: busv1.Kind_KIND_FRAME, StationId: "CP-" + strconv.Itoa(i), GatewayId: "bench-gw",
			ConnectionId: "c", OcppVersion: busv1.OcppVersion_OCPP_VERSION_16, MessageId: id, Action: benchAction,
			Frame: []byte(`[2,"` + id + `","Heartbeat",{}]`)}
		t0 := time.Now()
		if err := gw.PublishUpstream(ctx, e); err != nil {
			b.Error(err)
			return 0
		}
		select {
		case <-waiting[i]:
		case <-time.After(30 * time.Second):
			b.Error("no answer within 30s")
		}
		return time.Since(t0)
	}
	// Warm up every charger's path (queues, lanes) before measuring.
	var wg sync.WaitGroup
	for i := range chargers {
		wg.Go(func() { roundTrip(i, 0) })
	}
	wg.Wait()

	gw0, core0 := gw.Stats(), core.Stats()
	cpu0, broker0 := selfCPU(), brokerCPU()
	lat := make([][]time.Duration, chargers)
	b.ResetTimer()
	per := b.N / chargers
	extra := b.N % chargers
	for i := range chargers {
		n := per
		if i < extra {
			n++
		}
		wg.Go(func() {
			own := make([]time.Duration, 0, n)
			for s := range n {
				own = append(own, roundTrip(i, s+1))
			}
			lat[i] = own
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu, broker := selfCPU()-cpu0, brokerCPU()-broker0
	gw1, core1 := gw.Stats(), core.Stats()
	ops := float64((gw1.Published - gw0.Published) + (gw1.Delivered - gw0.Delivered) + (gw1.AckFrames - gw0.AckFrames) +
		(core1.Published - core0.Published) + (core1.Delivered - core0.Delivered) + (core1.AckFrames - core0.AckFrames))
	n := float64(b.N)
	b.ReportMetric(ops/n, "amqp-ops/op")
	b.ReportMetric(float64(cpu.Microseconds())/n, "client-cpu-µs/op")
	if broker >= 0 {
		b.ReportMetric(float64(broker.Microseconds())/n, "broker-cpu-µs/op")
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// brokerCPU is the CPU time used so far by the local RabbitMQ node
// (beam.smp), or -1 when it cannot be read.
func brokerCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "(beam.smp)") {
			continue
		}
		f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
		if len(f) < 13 {
			return -1
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ
	}
	return -1
}

// benchAction is the CALL the benchmark sends: Heartbeat, the commonest,
// whose envelope the bus may send transient (bus.Durable).
var benchAction = "Heartbeat"
