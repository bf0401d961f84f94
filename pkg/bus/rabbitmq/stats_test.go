package rabbitmq_test

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chargeplane/chargeplane/pkg/bus"
)

// With nobody consuming, what was published upstream waits in the broker:
// the depth gauge shows it on the station's partition, and nowhere else.
func TestUpstreamQueueDepth(t *testing.T) {
	cfg := testConfig(t)
	b := dial(t, cfg)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b.Collectors()...)

	const station = "CP-depth"
	for i := range 5 {
		if err := b.PublishUpstream(t.Context(), env(station, i)); err != nil {
			t.Fatal(err)
		}
	}
	messages := b.Stats().Published // micro-batches may carry several envelopes

	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	depth := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "chargeplane_bus_upstream_queue_messages" {
			continue
		}
		for _, m := range f.GetMetric() {
			depth[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if len(depth) != cfg.Partitions {
		t.Fatalf("depth of %d partitions, want %d: %v", len(depth), cfg.Partitions, depth)
	}
	want := strconv.Itoa(bus.Partition(station, cfg.Partitions))
	for p, d := range depth {
		switch {
		case p == want && d != float64(messages):
			t.Errorf("partition %s holds %v messages, want the %d published", p, d, messages)
		case p != want && d != 0:
			t.Errorf("partition %s holds %v messages, want 0", p, d)
		}
	}
}
