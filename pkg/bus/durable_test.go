package bus

import (
	"testing"

	busv1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/bus/v1"
)

func TestDurable(t *testing.T) {
	for _, c := range []struct {
		kind   busv1.Kind
		action string
		want   bool
	}{
		{busv1.Kind_KIND_FRAME, "Heartbeat", false},
		{busv1.Kind_KIND_FRAME, "StopTransaction", true},
		{busv1.Kind_KIND_FRAME, "TransactionEvent", true},
		{busv1.Kind_KIND_FRAME, "MeterValues", true},
		{busv1.Kind_KIND_FRAME, "", true}, // unknown: durable
		{busv1.Kind_KIND_CONNECTED, "Heartbeat", true},
		{busv1.Kind_KIND_DISCONNECTED, "", true},
	} {
		if got := Durable(&busv1.Envelope{Kind: c.kind, Action: c.action}); got != c.want {
			t.Errorf("Durable(%s, %q) = %v, want %v", c.kind, c.action, got, c.want)
		}
	}
}
