package ocpp

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/onboarding"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"github.com/chargeplane/chargeplane/pkg/outcome"
)

// countingTriggers counts the router's reads of the trigger history.
type countingTriggers struct {
	routerStore
	reads atomic.Int64
}

func (c *countingTriggers) CommandsSince(ctx context.Context, stationID string, actions []string, since time.Time, limit int) ([]store.Command, error) {
	c.reads.Add(1)
	return c.routerStore.CommandsSince(ctx, stationID, actions, since, limit)
}

// TestPendingTriggered: a Pending station's message the CSMS triggered
// (OCPP 2.0.1 B02.FR.02, 1.6 §4.2) is processed, from the command history
// every core instance shares; without the trigger, for another action,
// for another station, answered other than Accepted, or after the window,
// it is refused as before.
func TestPendingTriggered(t *testing.T) {
	status := map[ocppj.Version]string{
		ocppj.V16:  `{"connectorId":1,"errorCode":"NoError","status":"Preparing"}`,
		ocppj.V201: `{"timestamp":"2025-03-04T05:06:07Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}`,
	}
	meters := map[ocppj.Version]string{
		ocppj.V16:  `{"connectorId":1,"meterValue":[{"timestamp":"2025-03-04T05:06:07Z","sampledValue":[{"value":"10"}]}]}`,
		ocppj.V201: `{"evseId":1,"meterValue":[{"timestamp":"2025-03-04T05:06:07Z","sampledValue":[{"value":10}]}]}`,
	}
	for _, db := range databases {
		for _, v := range versions {
			t.Run(db+"/"+v.String(), func(t *testing.T) {
				clock := testNow
				h := newHarness(t, db, func(d *Deps) { d.Now = func() time.Time { return clock } })
				counted := &countingTriggers{routerStore: h.router.store}
				h.router.store = counted
				ctx := context.Background()
				if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Pending"}, testNow); err != nil {
					t.Fatal(err)
				}
				if err := h.store.CreateStation(ctx, &store.Station{ID: "OTHER"}); err != nil {
					t.Fatal(err)
				}
				seq := 0
				// trigger records a trigger as the dispatcher does: sent
				// (pending), then answered unless answer is "".
				trigger := func(station, action, requested, answer string) {
					t.Helper()
					seq++
					c := &store.Command{ID: "trig" + string(rune('a'+seq)), StationID: station, OCPPVersion: v, Action: action,
						Payload: `{"requestedMessage":"` + requested + `"}`, CoreID: "core-b", CreatedAt: clock, ExpiresAt: clock.Add(time.Minute)}
					if err := h.store.CreateCommand(ctx, c); err != nil {
						t.Fatal(err)
					}
					if answer == "" {
						return
					}
					resp := `{"status":"` + answer + `"}`
					if _, err := h.store.FinishCommand(ctx, c.ID, store.CommandOutcome{Status: outcome.Answered, Response: &resp, At: clock}); err != nil {
						t.Fatal(err)
					}
				}
				// next moves past the remembered refusals.
				next := func() { clock = clock.Add(2 * refusalTTL) }
				refused := func(action, payload string) {
					t.Helper()
					requireError(t, h.call(v, action, payload), ocppj.CodeSecurityError)
				}

				// No trigger.
				refused("StatusNotification", status[v])
				// A flood of refused messages reads the history once per
				// refusalTTL; an action no trigger names never reads it.
				before := counted.reads.Load()
				for range 20 {
					refused("StatusNotification", status[v])
					refused("Authorize", sampleRequest(t, v, "Authorize", false))
				}
				if n := counted.reads.Load() - before; n != 0 {
					t.Fatalf("a flood of refused messages read the history %d times within refusalTTL", n)
				}

				// Triggers that allow nothing: for another station, answered
				// Rejected, and a command that is no trigger.
				next()
				trigger("OTHER", onboarding.ActionTriggerMessage, "StatusNotification", "Accepted")
				trigger(stationID, onboarding.ActionTriggerMessage, "StatusNotification", "Rejected")
				trigger(stationID, "GetBaseReport", "StatusNotification", "Accepted")
				refused("StatusNotification", status[v])

				// The trigger, accepted: its message is processed and stored,
				// another action still refused.
				next()
				trigger(stationID, onboarding.ActionTriggerMessage, "StatusNotification", "Accepted")
				h.result(v, "StatusNotification", h.call(v, "StatusNotification", status[v]), nil)
				st := h.station()
				if len(st.Connectors) != 1 || st.Connectors[0].Status != map[ocppj.Version]string{ocppj.V16: "Preparing", ocppj.V201: "Occupied"}[v] {
					t.Fatalf("triggered StatusNotification stored connectors %+v", st.Connectors)
				}
				refused("MeterValues", meters[v])
				refused("Heartbeat", `{}`)
				if got := h.station().RegistrationStatus; got != "Pending" {
					t.Fatalf("a triggered message changed the registration to %q", got)
				}

				// Within the window, more of it (one per connector).
				clock = clock.Add(onboarding.TriggerWindow - time.Second)
				h.result(v, "StatusNotification", h.call(v, "StatusNotification", status[v]), nil)
				// After the window: refused again.
				clock = clock.Add(2 * time.Second)
				refused("StatusNotification", status[v])

				// A trigger whose answer is not recorded yet (it went to the
				// instance that sent it) already allows its message.
				next()
				trigger(stationID, onboarding.ActionTriggerMessage, "MeterValues", "")
				h.result(v, "MeterValues", h.call(v, "MeterValues", meters[v]), nil)

				// Once accepted, the station boots as usual: Heartbeat is
				// processed without any trigger, and reads nothing.
				if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Accepted"}, clock); err != nil {
					t.Fatal(err)
				}
				h.router.standings.forget(stationID)
				before = counted.reads.Load()
				h.result(v, "Heartbeat", h.call(v, "Heartbeat", `{}`), nil)
				h.result(v, "StatusNotification", h.call(v, "StatusNotification", status[v]), nil)
				if n := counted.reads.Load() - before; n != 0 {
					t.Fatalf("an accepted station's messages read the trigger history %d times", n)
				}
			})
		}
	}
}

// TestPendingTriggeredCertificate: the 1.6 security whitepaper's
// ExtendedTriggerMessage SignChargePointCertificate and 2.0.1
// TriggerMessage SignChargingStationCertificate let a Pending station send
// its SignCertificate.
func TestPendingTriggeredCertificate(t *testing.T) {
	for _, v := range versions {
		t.Run(v.String(), func(t *testing.T) {
			h := newHarness(t, "sqlite")
			ctx := context.Background()
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Pending"}, testNow); err != nil {
				t.Fatal(err)
			}
			csr := sampleRequest(t, v, "SignCertificate", false)
			action, requested := onboarding.ActionTriggerMessage, "SignChargingStationCertificate"
			if v == ocppj.V16 {
				action, requested = onboarding.ActionExtendedTriggerMessage, "SignChargePointCertificate"
			}
			resp := `{"status":"Accepted"}`
			c := &store.Command{ID: "t1", StationID: stationID, OCPPVersion: v, Action: action,
				Payload: `{"requestedMessage":"` + requested + `"}`, CoreID: "core-b", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Minute)}
			if err := h.store.CreateCommand(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.FinishCommand(ctx, c.ID, store.CommandOutcome{Status: outcome.Answered, Response: &resp, At: testNow}); err != nil {
				t.Fatal(err)
			}
			f := h.call(v, "SignCertificate", csr)
			if f.Type != ocppj.CallResult {
				t.Fatalf("triggered SignCertificate answered %+v", f)
			}
		})
	}
}

// TestPendingReportRequested: a Pending station's NotifyReport is taken
// only after the CSMS asked for a report (GetBaseReport, GetReport) that
// the station did not refuse, for onboarding.ReportWindow: anyone may
// connect under a pending id, and its parts are stored.
func TestPendingReportRequested(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			clock := testNow
			h := newHarness(t, db, func(d *Deps) { d.Now = func() time.Time { return clock } })
			ctx := context.Background()
			if err := h.store.RecordBoot(ctx, stationID, store.BootInfo{RegistrationStatus: "Pending"}, testNow); err != nil {
				t.Fatal(err)
			}
			seq := 0
			request := func(action, answer string) {
				t.Helper()
				seq++
				c := &store.Command{ID: "rep" + string(rune('a'+seq)), StationID: stationID, OCPPVersion: ocppj.V201, Action: action,
					Payload: `{"requestId":1,"reportBase":"FullInventory"}`, CoreID: "core-b", CreatedAt: clock, ExpiresAt: clock.Add(time.Minute)}
				if err := h.store.CreateCommand(ctx, c); err != nil {
					t.Fatal(err)
				}
				resp := `{"status":"` + answer + `"}`
				if _, err := h.store.FinishCommand(ctx, c.ID, store.CommandOutcome{Status: outcome.Answered, Response: &resp, At: clock}); err != nil {
					t.Fatal(err)
				}
			}
			const part = `{"requestId":1,"generatedAt":"2025-03-04T05:06:07Z","seqNo":0,"tbc":true,"reportData":[` +
				`{"component":{"name":"C"},"variable":{"name":"V"},"variableAttribute":[{"value":"1"}]}]}`
			next := func() { clock = clock.Add(2 * refusalTTL) }
			stored := func() int64 {
				t.Helper()
				u, err := h.store.ReportUsage(ctx, stationID)
				if err != nil {
					t.Fatal(err)
				}
				return u.Parts
			}

			requireError(t, h.call(ocppj.V201, "NotifyReport", part), ocppj.CodeSecurityError)
			next()
			request(onboarding.ActionGetBaseReport, "NotSupported")
			requireError(t, h.call(ocppj.V201, "NotifyReport", part), ocppj.CodeSecurityError)
			if n := stored(); n != 0 {
				t.Fatalf("stored %d parts of an unrequested report", n)
			}
			next()
			request(onboarding.ActionGetBaseReport, "Accepted")
			h.result(ocppj.V201, "NotifyReport", h.call(ocppj.V201, "NotifyReport", part), nil)
			if n := stored(); n != 1 {
				t.Fatalf("stored %d parts of a requested report, want 1", n)
			}
			clock = clock.Add(onboarding.ReportWindow + time.Second)
			requireError(t, h.call(ocppj.V201, "NotifyReport", part), ocppj.CodeSecurityError)
			next()
			request(onboarding.ActionGetReport, "Accepted")
			h.result(ocppj.V201, "NotifyReport", h.call(ocppj.V201, "NotifyReport", part), nil)
		})
	}
}
