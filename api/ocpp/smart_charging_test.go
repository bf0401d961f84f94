package ocpp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/smartcharging"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	"github.com/chargeplane/chargeplane/pkg/ocpp/schema"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// TestSmartCharging201: reported limits are kept per EVSE and source until
// cleared; an EV's charging needs are answered Accepted and, after the
// answer, a TxProfile for the EVSE's transaction within the EV's maximum
// and the limits on the station and that EVSE is sent (schema-checked)
// and stored; the EV's own schedule is kept; ReportChargingProfiles parts
// are reassembled.
func TestSmartCharging201(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{"SetChargingProfile": `{"status":"Accepted"}`}}
			h, svc := newPlanner(t, db, c, smartcharging.Config{})
			runPlanner(t, svc)
			call := func(action, payload string, out any) {
				t.Helper()
				h.result(ocppj.V201, action, h.call(ocppj.V201, action, payload), out)
			}

			// Limits: EVSE 1 by the EMS (20 A, then 10 A), the station by
			// the SO (16,560 W = 24 A on three phases), EVSE 2 (not ours).
			call("NotifyChargingLimit", `{"evseId":1,"chargingLimit":{"chargingLimitSource":"EMS","isGridCritical":true},
			  "chargingSchedule":[{"id":1,"startSchedule":"2025-03-04T05:05:00Z","chargingRateUnit":"A",
			    "chargingSchedulePeriod":[{"startPeriod":0,"limit":20},{"startPeriod":600,"limit":10}]}]}`, nil)
			call("NotifyChargingLimit", `{"chargingLimit":{"chargingLimitSource":"SO"},
			  "chargingSchedule":[{"id":2,"chargingRateUnit":"W","chargingSchedulePeriod":[{"startPeriod":0,"limit":16560}]}]}`, nil)
			call("NotifyChargingLimit", `{"evseId":2,"chargingLimit":{"chargingLimitSource":"EMS"},
			  "chargingSchedule":[{"id":3,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":5}]}]}`, nil)
			call("NotifyChargingLimit", `{"evseId":2,"chargingLimit":{"chargingLimitSource":"CSO"}}`, nil)
			limits := func() string {
				ls, err := h.store.ListChargingLimits(ctx, stationID)
				if err != nil {
					t.Fatal(err)
				}
				out := ""
				for _, l := range ls {
					var sch []ocpp201.ChargingSchedule
					if err := json.Unmarshal([]byte(l.Schedules), &sch); err != nil {
						t.Fatal(err)
					}
					out += fmt.Sprintf("[%d %s critical=%v %v]", l.EVSEID, l.Source, l.GridCritical != nil && *l.GridCritical, periodsOf(sch...))
				}
				return out
			}
			if got := limits(); got != "[0 SO critical=false [0:16560/0]][1 EMS critical=true [0:20/0 600:10/0]][2 CSO critical=false []][2 EMS critical=false [0:5/0]]" {
				t.Errorf("limits %s", got)
			}

			// Needs with no transaction on the EVSE: Accepted, nothing sent.
			needs := `{"evseId":1,"maxScheduleTuples":4,"chargingNeeds":{"requestedEnergyTransfer":"AC_three_phase",
			  "departureTime":"2025-03-04T05:36:07Z",
			  "acChargingParameters":{"energyAmount":20000,"evMinCurrent":6,"evMaxCurrent":32,"evMaxVoltage":400}}}`
			var resp ocpp201.NotifyEVChargingNeedsResponse
			call("NotifyEVChargingNeeds", needs, &resp)
			if resp.Status != ocpp201.NotifyEVChargingNeedsStatusAccepted {
				t.Fatalf("NotifyEVChargingNeeds = %+v", resp)
			}
			planned := func(want string) store.EVChargingNeeds {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1)
					if err != nil {
						t.Fatal(err)
					}
					if n.PlanStatus != store.PlanPending {
						if n.PlanStatus != want {
							t.Fatalf("needs planned %s (%s), want %s", n.PlanStatus, n.PlanDetail, want)
						}
						return *n
					}
					if time.Now().After(deadline) {
						t.Fatal("needs still pending")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if n := planned(store.PlanNotSent); n.PlanDetail != "no transaction on EVSE 1" {
				t.Errorf("needs without a transaction: %+v", n)
			}

			h.token(store.IDToken{Value: "APP-1"})
			call("TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`), nil)
			call("NotifyEVChargingNeeds", needs, &resp)
			n := planned("Accepted")
			if n.PlanProfileID == nil || n.PlanCommandID == "" || n.PlannedAt == nil || n.MaxScheduleTuples == nil || *n.MaxScheduleTuples != 4 {
				t.Errorf("needs %+v", n)
			}
			var sent ocpp201.SetChargingProfileRequest
			if err := json.Unmarshal(c.last(), &sent); err != nil {
				t.Fatal(err)
			}
			p := sent.ChargingProfile
			sch := p.ChargingSchedule[0]
			// From 05:06:07: 20 A (EVSE 1, below the station's 24 A), at
			// 05:15:00 (533 s on) 10 A, until departure 30 min later.
			if sent.EvseId != 1 || p.Id != *n.PlanProfileID || p.ChargingProfilePurpose != ocpp201.ChargingProfilePurposeTxProfile ||
				p.TransactionId != "TX-9" || p.ChargingProfileKind != ocpp201.ChargingProfileKindAbsolute || sch.ChargingRateUnit != "A" ||
				!sch.StartSchedule.Equal(testNow.Truncate(time.Second)) || sch.Duration == nil || *sch.Duration != 1800 ||
				fmt.Sprint(periodsOf(sch)) != "[0:20/3 533:10/3]" {
				t.Errorf("sent %s", c.last())
			}
			ps, err := h.store.ListChargingProfiles(ctx, stationID, store.ChargingProfileFilter{Source: store.ProfileSourceSet})
			if err != nil || len(ps) != 1 || ps[0].ProfileID != p.Id || ps[0].TransactionID != "TX-9" || ps[0].RequestedBy != smartcharging.RequestedBy {
				t.Errorf("stored profiles %+v %v", ps, err)
			}

			// Cleared: the limit of that source on that EVSE goes.
			call("ClearedChargingLimit", `{"chargingLimitSource":"EMS","evseId":1}`, nil)
			call("ClearedChargingLimit", `{"chargingLimitSource":"SO"}`, nil)
			if got := limits(); got != "[2 CSO critical=false []][2 EMS critical=false [0:5/0]]" {
				t.Errorf("limits after clearing %s", got)
			}

			var sresp ocpp201.NotifyEVChargingScheduleResponse
			call("NotifyEVChargingSchedule", `{"timeBase":"2025-03-04T05:06:00Z","evseId":1,"chargingSchedule":{"id":9,
			  "chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":18}]}}`, &sresp)
			es, err := h.store.ListEVChargingSchedules(ctx, stationID)
			if sresp.Status != ocpp201.GenericStatusAccepted || err != nil || len(es) != 1 || es[0].EVSEID != 1 ||
				!es[0].TimeBase.Equal(time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)) {
				t.Errorf("EV schedule %+v %v (%+v)", es, err, sresp)
			}

			// ReportChargingProfiles in two parts: complete with the second.
			report := func(id int, tbc bool) string {
				return fmt.Sprintf(`{"requestId":31,"chargingLimitSource":"CSO","evseId":1,"tbc":%v,"chargingProfile":[
				  {"id":%d,"stackLevel":1,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative",
				   "chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":16}]}]}]}`, tbc, id)
			}
			call("ReportChargingProfiles", report(1, true), nil)
			if _, err := h.store.Report(ctx, stationID, store.ReportKindChargingProfiles, 31); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("report complete after its first part: %v", err)
			}
			call("ReportChargingProfiles", report(2, false), nil)
			r, err := h.store.Report(ctx, stationID, store.ReportKindChargingProfiles, 31)
			if err != nil || r.Parts != 2 {
				t.Errorf("report after its last part: %+v %v", r, err)
			}
		})
	}
}

// Without a planner the needs are kept and answered Rejected.
func TestEVChargingNeedsWithoutPlanner(t *testing.T) {
	h := newHarness(t, "sqlite")
	var resp ocpp201.NotifyEVChargingNeedsResponse
	h.result(ocppj.V201, "NotifyEVChargingNeeds", h.call(ocppj.V201, "NotifyEVChargingNeeds",
		`{"evseId":2,"chargingNeeds":{"requestedEnergyTransfer":"DC","dcChargingParameters":{"evMaxCurrent":100,"evMaxVoltage":500}}}`), &resp)
	n, err := h.store.GetEVChargingNeeds(context.Background(), stationID, 2)
	if resp.Status != ocpp201.NotifyEVChargingNeedsStatusRejected || err != nil || n.PlanStatus != store.PlanPending {
		t.Errorf("answer %+v, stored %+v %v", resp, n, err)
	}
}

func periodsOf(ss ...ocpp201.ChargingSchedule) []string {
	out := []string{}
	for _, s := range ss {
		for _, p := range s.ChargingSchedulePeriod {
			ph := 0
			if p.NumberPhases != nil {
				ph = *p.NumberPhases
			}
			out = append(out, fmt.Sprintf("%d:%g/%d", p.StartPeriod, p.Limit, ph))
		}
	}
	return out
}

// TestEVChargingNeedsPolicy: EV_CHARGING_NEEDS=processing answers
// Processing and still sends the schedule; reject answers Rejected, sends
// nothing and says so on the kept needs.
func TestEVChargingNeedsPolicy(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	needs := `{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":"AC_three_phase",
	  "acChargingParameters":{"energyAmount":20000,"evMinCurrent":6,"evMaxCurrent":16,"evMaxVoltage":400}}}`
	for _, tc := range []struct {
		policy smartcharging.NeedsPolicy
		answer ocpp201.NotifyEVChargingNeedsStatusEnum
		plan   string // the needs' outcome
		sent   int    // SetChargingProfile CALLs
	}{
		{smartcharging.NeedsProcessing, ocpp201.NotifyEVChargingNeedsStatusProcessing, "Accepted", 1},
		{smartcharging.NeedsReject, ocpp201.NotifyEVChargingNeedsStatusRejected, store.PlanNotSent, 0},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			ctx := context.Background()
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{"SetChargingProfile": `{"status":"Accepted"}`}}
			h, svc := newPlanner(t, "sqlite", c, smartcharging.Config{Policy: tc.policy})
			runPlanner(t, svc)
			h.token(store.IDToken{Value: "APP-1"})
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`)), nil)
			var resp ocpp201.NotifyEVChargingNeedsResponse
			h.result(ocppj.V201, "NotifyEVChargingNeeds", h.call(ocppj.V201, "NotifyEVChargingNeeds", needs), &resp)
			if resp.Status != tc.answer {
				t.Errorf("answered %s, want %s", resp.Status, tc.answer)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1)
				if err != nil {
					t.Fatal(err)
				}
				if n.PlanStatus != store.PlanPending {
					if n.PlanStatus != tc.plan || (tc.sent == 0 && !strings.Contains(n.PlanDetail, "EV_CHARGING_NEEDS")) {
						t.Errorf("needs %s (%s), want %s", n.PlanStatus, n.PlanDetail, tc.plan)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("needs still pending")
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.sent) != tc.sent {
				t.Errorf("%d CALLs sent, want %d", len(c.sent), tc.sent)
			}
		})
	}
}

// TestReplan: the TxProfile sent for an EV's needs is worked out again
// and resent within the replan interval when a limit on its EVSE is
// reported or cleared; once the transaction ends, the needs say they have
// none and nothing more is sent.
func TestReplan(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{"SetChargingProfile": `{"status":"Accepted"}`}}
			h, svc := newPlanner(t, db, c, smartcharging.Config{ReplanInterval: 20 * time.Millisecond})
			runPlanner(t, svc)
			call := func(action, payload string) {
				t.Helper()
				h.result(ocppj.V201, action, h.call(ocppj.V201, action, payload), nil)
			}
			// sent waits for the n-th SetChargingProfile and returns its
			// periods.
			sent := func(n int) string {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					c.mu.Lock()
					got := len(c.sent)
					var p ocpp201.SetChargingProfileRequest
					if got >= n {
						_ = json.Unmarshal(c.sent[n-1].Payload.(json.RawMessage), &p)
					}
					c.mu.Unlock()
					if got >= n {
						return fmt.Sprint(periodsOf(p.ChargingProfile.ChargingSchedule...))
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d SetChargingProfile sent, waiting for the %d-th", got, n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			h.token(store.IDToken{Value: "APP-1"})
			call("TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`))
			call("NotifyEVChargingNeeds", `{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":"AC_three_phase",
			  "acChargingParameters":{"energyAmount":20000,"evMinCurrent":6,"evMaxCurrent":32,"evMaxVoltage":400}}}`)
			if got := sent(1); got != "[0:32/3]" {
				t.Errorf("first schedule %s", got)
			}

			call("NotifyChargingLimit", `{"evseId":1,"chargingLimit":{"chargingLimitSource":"EMS"},
			  "chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":10}]}]}`)
			if got := sent(2); got != "[0:10/3]" {
				t.Errorf("schedule within the new limit %s", got)
			}
			call("ClearedChargingLimit", `{"chargingLimitSource":"EMS","evseId":1}`)
			if got := sent(3); got != "[0:32/3]" {
				t.Errorf("schedule once the limit is cleared %s", got)
			}

			call("TransactionEvent", txEvent("Ended", 1, "2025-03-04T05:30:00Z", `,"evse":{"id":1,"connectorId":1}`))
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1)
				if err != nil {
					t.Fatal(err)
				}
				if n.PlanStatus == store.PlanNotSent {
					if n.PlanDetail != "no transaction on EVSE 1" {
						t.Errorf("needs after the transaction: %s (%s)", n.PlanStatus, n.PlanDetail)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("needs still %s after the transaction ended", n.PlanStatus)
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.sent) != 3 {
				t.Errorf("%d SetChargingProfile sent, want 3", len(c.sent))
			}
		})
	}
}

// TestNeedsLeftPendingArePlannedLater: needs that could not be planned when
// they came (here: smart charging not running yet) stay marked, and are
// planned and sent once the service runs, instead of staying pending.
func TestNeedsLeftPendingArePlannedLater(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{"SetChargingProfile": `{"status":"Accepted"}`}}
			h, svc := newPlanner(t, db, c, smartcharging.Config{ReplanInterval: 20 * time.Millisecond})
			h.token(store.IDToken{Value: "APP-1"})
			h.result(ocppj.V201, "TransactionEvent", h.call(ocppj.V201, "TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`)), nil)
			h.result(ocppj.V201, "NotifyEVChargingNeeds", h.call(ocppj.V201, "NotifyEVChargingNeeds", `{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":"AC_three_phase",
			  "acChargingParameters":{"energyAmount":20000,"evMinCurrent":6,"evMaxCurrent":32,"evMaxVoltage":400}}}`), nil)
			if n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1); err != nil || n.PlanStatus != store.PlanPending {
				t.Fatalf("needs before the service runs: %+v %v", n, err)
			}

			runPlanner(t, svc)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1)
				if err != nil {
					t.Fatal(err)
				}
				if n.PlanStatus != store.PlanPending {
					if n.PlanStatus != "Accepted" {
						t.Errorf("needs planned as %s (%s)", n.PlanStatus, n.PlanDetail)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("needs still pending although the service runs")
				}
			}
			if got := len(c.sentFrom(0)); got != 1 {
				t.Errorf("%d SetChargingProfile sent, want 1", got)
			}
		})
	}
}

// TestOperatorProfilesBoundSchedules: the TxProfile sent for an EV's needs
// stays within the operator's own ChargingStationMaxProfile and
// TxDefaultProfile (K: the station applies the lowest of them anyway, so
// the EV's schedule is one it can honour); setting a lower one, or
// clearing one, has the schedule planned again and resent within the
// replan interval; the operator's TxProfile does not. Every CALL is
// schema-checked by the station stand-in.
func TestOperatorProfilesBoundSchedules(t *testing.T) {
	reg, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			clock := func() time.Time { return testNow }
			c := &stationCaller{t: t, v: ocppj.V201, schemas: reg, answers: map[string]string{
				"SetChargingProfile": `{"status":"Accepted"}`, "ClearChargingProfile": `{"status":"Accepted"}`}}
			var svc *smartcharging.Service
			var cmds *command.Sender
			h := newHarness(t, db, func(d *Deps) {
				sender := &smartcharging.CommandSender{}
				svc = smartcharging.New(smartcharging.Config{Store: d.Store, Now: clock, Logger: quietLogger(), ReplanInterval: 20 * time.Millisecond,
					Sender: sender})
				cmds = command.NewSender(c, PlanningCommandTables(d.Store, clock, svc), quietLogger())
				sender.Commands = cmds
				d.EVNeeds = svc
			})
			runPlanner(t, svc)
			call := func(action, payload string) {
				t.Helper()
				h.result(ocppj.V201, action, h.call(ocppj.V201, action, payload), nil)
			}
			// operator sets a profile on an EVSE as an operator would.
			operator := func(evse int, profile string) {
				t.Helper()
				pb := &structpb.Struct{}
				if err := pb.UnmarshalJSON([]byte(profile)); err != nil {
					t.Fatal(err)
				}
				r, err := command.Do[command.ProfileReply](ctx, cmds, stationID, "operator:alice",
					&chargeplanev1.SetChargingProfileRequest{StationId: stationID, EvseId: int32(evse), Profile: pb})
				if err != nil || r.Status != "Accepted" {
					t.Fatalf("SetChargingProfile: %+v %v", r, err)
				}
			}
			clear := func(in *chargeplanev1.ClearChargingProfileRequest) {
				t.Helper()
				in.StationId = stationID
				if _, err := command.Do[command.ClearProfilesReply](ctx, cmds, stationID, "operator:alice", in); err != nil {
					t.Fatalf("ClearChargingProfile: %v", err)
				}
			}
			// sent waits for the n-th CALL, a TxProfile the planner sent,
			// and returns its periods.
			sent := func(n int) string {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for {
					c.mu.Lock()
					got := len(c.sent)
					var r command.Request
					if got >= n {
						r = c.sent[n-1]
					}
					c.mu.Unlock()
					if got >= n {
						var p ocpp201.SetChargingProfileRequest
						if err := json.Unmarshal(r.Payload.(json.RawMessage), &p); err != nil || r.Action != "SetChargingProfile" ||
							p.ChargingProfile.ChargingProfilePurpose != ocpp201.ChargingProfilePurposeTxProfile || p.EvseId != 1 ||
							p.ChargingProfile.TransactionId != "TX-9" {
							t.Fatalf("CALL %d: %s %s", n, r.Action, r.Payload)
						}
						return fmt.Sprint(periodsOf(p.ChargingProfile.ChargingSchedule...))
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d CALLs sent, waiting for the %d-th", got, n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			maxProfile := func(limit float64) string {
				return fmt.Sprintf(`{"id":100,"stackLevel":0,"chargingProfilePurpose":"ChargingStationMaxProfile","chargingProfileKind":"Absolute",
				  "chargingSchedule":[{"id":1,"startSchedule":"2025-03-04T00:00:00Z","chargingRateUnit":"A",
				    "chargingSchedulePeriod":[{"startPeriod":0,"limit":%g}]}]}`, limit)
			}

			h.token(store.IDToken{Value: "APP-1"})
			call("TransactionEvent", txEvent("Started", 0, "2025-03-04T05:00:00Z",
				`,"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"APP-1","type":"Central"}`))
			operator(0, maxProfile(16)) // CALL 1
			// Its re-plan mark finds no needs yet; swept before they come,
			// so the needs' plan is the only CALL that follows.
			time.Sleep(10 * 20 * time.Millisecond)
			call("NotifyEVChargingNeeds", `{"evseId":1,"chargingNeeds":{"requestedEnergyTransfer":"AC_three_phase",
			  "acChargingParameters":{"energyAmount":20000,"evMinCurrent":6,"evMaxCurrent":32,"evMaxVoltage":400}}}`)
			if got := sent(2); got != "[0:16/3]" {
				t.Errorf("schedule under a 16 A station maximum: %s", got)
			}

			operator(0, maxProfile(10)) // CALL 3 replaces it
			if got := sent(4); got != "[0:10/3]" {
				t.Errorf("schedule once the station maximum is 10 A: %s", got)
			}
			// A TxDefaultProfile on the EVSE, relative to the transaction:
			// 8 A after the first hour (05:00 + 1 h, 3,233 s after now).
			operator(1, `{"id":200,"stackLevel":1,"chargingProfilePurpose":"TxDefaultProfile","chargingProfileKind":"Relative",
			  "chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":12},{"startPeriod":3600,"limit":8}]}]}`)
			if got := sent(6); got != "[0:10/3 3233:8/3]" {
				t.Errorf("schedule under the TxDefaultProfile too: %s", got)
			}
			clear(&chargeplanev1.ClearChargingProfileRequest{ProfileId: i32(200)}) // CALL 7, by id alone
			if got := sent(8); got != "[0:10/3]" {
				t.Errorf("schedule once the TxDefaultProfile is cleared: %s", got)
			}
			clear(&chargeplanev1.ClearChargingProfileRequest{Purpose: "ChargingStationMaxProfile"}) // CALL 9
			if got := sent(10); got != "[0:32/3]" {
				t.Errorf("schedule once the station maximum is cleared: %s", got)
			}

			// The operator's own TxProfile, and clearing TxProfiles, plan
			// nothing again: that would replace what the operator chose.
			operator(1, `{"id":300,"stackLevel":1,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","transactionId":"TX-9",
			  "chargingSchedule":[{"id":1,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":6}]}]}`)
			clear(&chargeplanev1.ClearChargingProfileRequest{Purpose: "TxProfile", EvseId: i32(1)})
			calls := func(want int) {
				t.Helper()
				time.Sleep(10 * 20 * time.Millisecond)
				c.mu.Lock()
				defer c.mu.Unlock()
				if len(c.sent) != want {
					t.Errorf("%d CALLs sent, want %d", len(c.sent), want)
				}
			}
			calls(12)

			// The EV leaves; the next transaction on the EVSE has no needs
			// of its own. A station-wide profile plans nothing for it from
			// the needs the EV that left reported.
			call("TransactionEvent", txEvent("Ended", 1, "2025-03-04T05:30:00Z", `,"evse":{"id":1,"connectorId":1}`))
			call("TransactionEvent", `{"eventType":"Started","timestamp":"2025-03-04T05:31:00Z","triggerReason":"CablePluggedIn","seqNo":0,
			  "transactionInfo":{"transactionId":"TX-10"},"evse":{"id":1,"connectorId":1}}`)
			operator(0, maxProfile(20)) // CALL 13
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, err := h.store.GetEVChargingNeeds(ctx, stationID, 1)
				if err != nil {
					t.Fatal(err)
				}
				if n.PlanDetail == "needs of an EV whose transaction on EVSE 1 has ended" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("needs of the EV that left: %s (%s)", n.PlanStatus, n.PlanDetail)
				}
				time.Sleep(10 * time.Millisecond)
			}
			calls(13)
		})
	}
}

// newPlanner is a harness on db whose EV charging needs go to a smart
// charging service made of cfg (its policy, its replan interval) that
// sends through the command table to c; runPlanner starts it.
func newPlanner(t *testing.T, db string, c *stationCaller, cfg smartcharging.Config) (*harness, *smartcharging.Service) {
	t.Helper()
	var svc *smartcharging.Service
	h := newHarness(t, db, func(d *Deps) {
		cfg.Store, cfg.Now, cfg.Logger = d.Store, func() time.Time { return testNow }, quietLogger()
		cfg.Sender = smartcharging.CommandSender{Commands: tableSender(c, d.Store)}
		svc = smartcharging.New(cfg)
		d.EVNeeds = svc
	})
	return h, svc
}

// runPlanner runs svc until the test ends.
func runPlanner(t *testing.T, svc *smartcharging.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	svc.Start(ctx)
	t.Cleanup(func() { cancel(); svc.Wait() })
}
