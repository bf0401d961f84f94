package outcome

import "testing"

func TestReasonStatus(t *testing.T) {
	for r, want := range map[Reason]Status{
		Expired:           Timeout,
		NoAnswer:          Timeout,
		ConnectionClosed:  NotConnected,
		QueueFull:         Failed,
		"from the future": Failed,
	} {
		if got := r.Status(); got != want {
			t.Errorf("%q.Status() = %q, want %q", r, got, want)
		}
		if !r.Status().Final() {
			t.Errorf("%q maps to a status that settles nothing", r)
		}
	}
	if Pending.Final() {
		t.Error("pending settles a command")
	}
}

// The reasons travel between gateways and cores of different builds: their
// wire values are fixed by envelope.proto.
func TestReasonWireValues(t *testing.T) {
	for r, want := range map[Reason]string{Expired: "expired", NoAnswer: "timeout", ConnectionClosed: "connection closed", QueueFull: "queue full"} {
		if string(r) != want {
			t.Errorf("reason %q, want wire value %q", r, want)
		}
	}
}
