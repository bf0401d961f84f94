package ocpp

import (
	"context"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
)

// With a LastSeenWriter, a Heartbeat is answered without writing last_seen
// itself, and what the REST view reads (GetStation) shows it within the
// writer's flush interval; an ordinary message touches it too.
func TestLastSeenBatched(t *testing.T) {
	for _, db := range databases {
		for _, v := range versions {
			t.Run(db+"/"+v.String(), func(t *testing.T) {
				h := newHarness(t, db)
				const interval = 100 * time.Millisecond
				w := h.store.NewLastSeenWriter(store.LastSeenWriterConfig{Interval: interval, Logger: quietLogger()})
				t.Cleanup(func() { _ = w.Close() })
				clock := testNow
				h.router = NewRouter(Deps{
					Store: h.store, Bus: h.bus, Schemas: h.schemas,
					Now:               func() time.Time { return clock },
					HeartbeatInterval: 300 * time.Second, Logger: quietLogger(),
					ValidateResponses: true, LastSeen: w,
				})
				h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
				waitLastSeen(t, h, testNow, 20*interval)

				// Not a Heartbeat, one second later: still recorded (the
				// synchronous path would skip it within TouchEvery).
				clock = testNow.Add(time.Second)
				h.result(v, "DataTransfer", h.call(v, "DataTransfer", `{"vendorId":"x"}`), nil)
				waitLastSeen(t, h, clock, 20*interval)
			})
		}
	}
}

func waitLastSeen(t *testing.T, h *harness, want time.Time, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		st, err := h.store.GetStation(context.Background(), stationID)
		if err != nil {
			t.Fatal(err)
		}
		if st.LastSeen != nil && st.LastSeen.Equal(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("last seen = %v, want %v within %v", st.LastSeen, want, bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
