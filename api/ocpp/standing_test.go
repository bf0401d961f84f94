package ocpp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// The router reads a station's standing once per TTL, drops it when it
// handles a BootNotification, and sees an operator's change after the TTL.
func TestStandingCache(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			h := newHarness(t, "sqlite")
			clock := testNow
			h.router = NewRouter(Deps{
				Store: h.store, Bus: h.bus, Schemas: h.schemas,
				Now:               func() time.Time { return clock },
				HeartbeatInterval: 300 * time.Second, Logger: quietLogger(),
				ValidateResponses: true, StandingTTL: 5 * time.Second,
			})
			ctx := context.Background()
			h.result(v, "BootNotification", h.call(v, "BootNotification", sampleRequest(t, v, "BootNotification", false)), nil)
			h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)

			// Changed behind the router's back: cached until the TTL ends.
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Rejected"}, testNow); err != nil {
				t.Fatal(err)
			}
			clock = testNow.Add(4 * time.Second)
			h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
			clock = testNow.Add(6 * time.Second)
			requireError(t, h.call(v, "Heartbeat", `{}`), ocppj.CodeSecurityError)

			// A boot this router handles is read afresh by the next message.
			h.result(v, "BootNotification", h.call(v, "BootNotification", sampleRequest(t, v, "BootNotification", false)), nil)
			h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Pending"}, testNow); err != nil {
				t.Fatal(err)
			}
			h.result(v, "BootNotification", h.call(v, "BootNotification", sampleRequest(t, v, "BootNotification", false)), nil)
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Rejected"}, testNow); err != nil {
				t.Fatal(err)
			}
			requireError(t, h.call(v, "Heartbeat", `{}`), ocppj.CodeSecurityError)

			// Deletion by an operator: refused once the TTL has passed.
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Accepted"}, testNow); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(10 * time.Second)
			h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
			if err := h.store.DeleteStation(ctx, stationID); err != nil {
				t.Fatal(err)
			}
			clock = clock.Add(5 * time.Second)
			requireError(t, h.call(v, "Heartbeat", `{}`), ocppj.CodeSecurityError)
		})
	}
}

func TestStandingCacheBounded(t *testing.T) {
	now := testNow
	c := newStandingCache(5*time.Second, 3, func() time.Time { return now })
	for i := range 10 {
		c.put(fmt.Sprintf("CP%d", i), store.Standing{RegistrationStatus: "Accepted"})
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries after %d puts, bound 3", n, i+1)
		}
	}
	if _, ok := c.get("CP9"); !ok {
		t.Errorf("the newest entry was evicted")
	}
	// Expired entries go first, keeping live ones.
	c = newStandingCache(5*time.Second, 3, func() time.Time { return now })
	c.put("A", store.Standing{})
	c.put("B", store.Standing{})
	now = now.Add(4 * time.Second)
	c.put("C", store.Standing{})
	now = now.Add(2 * time.Second) // A and B have expired, C has not
	c.put("D", store.Standing{})
	if _, ok := c.get("C"); !ok {
		t.Errorf("a live entry was evicted while expired ones remained")
	}
	if _, ok := c.get("A"); ok {
		t.Errorf("an expired entry was served")
	}
	if n := c.len(); n != 2 {
		t.Errorf("%d entries, want 2 (C, D)", n)
	}
}
