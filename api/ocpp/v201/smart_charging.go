package v201

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chargeplane/chargeplane/api/ocpp/route"
	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// ChargingStore keeps what stations report about smart charging.
type ChargingStore interface {
	SaveChargingLimit(ctx context.Context, l store.ChargingLimit) error
	ClearChargingLimit(ctx context.Context, stationID string, evseID int, source string) (int64, error)
	SaveEVChargingNeeds(ctx context.Context, n *store.EVChargingNeeds) error
	FinishEVChargingNeeds(ctx context.Context, stationID string, evseID int, receivedAt time.Time, o store.PlanOutcome) (bool, error)
	SaveEVChargingSchedule(ctx context.Context, e store.EVChargingSchedule) error
}

// NeedsPlanner computes and sends a schedule for the needs an EVSE's EV
// reported at receivedAt (api/smartcharging.Service). Plan must not block.
type NeedsPlanner interface {
	// Answer is the status needs are answered with, and whether a
	// schedule is then planned (the configured policy).
	Answer() (ocpp201.NotifyEVChargingNeedsStatusEnum, bool)
	Plan(stationID string, evseID int, receivedAt time.Time)
	Replanner
}

// Replanner has the schedules of an EVSE (0: of the whole station)
// worked out again soon, because what they were planned within changed.
// Replan must not block.
type Replanner interface {
	Replan(stationID string, evseID int)
}

// replanAfterReply has the planner, if any, plan the EVSE's schedules
// again once the answer is sent.
func replanAfterReply(p NeedsPlanner, m route.Meta, evseID int) {
	if p != nil {
		m.AfterReply(func() { p.Replan(m.StationID, evseID) })
	}
}

// NotifyChargingLimit keeps an external limit (K12) on the station (no
// evseId) or the EVSE until the station reports it cleared; schedules
// given for a new EV are computed within it, and those already sent under
// it are planned again.
type NotifyChargingLimit struct {
	Store   ChargingStore
	Planner NeedsPlanner
	Now     func() time.Time
}

func (h NotifyChargingLimit) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyChargingLimitRequest) (*ocpp201.NotifyChargingLimitResponse, error) {
	schedules := []byte("[]")
	if len(req.ChargingSchedule) > 0 {
		var err error
		if schedules, err = json.Marshal(req.ChargingSchedule); err != nil {
			return nil, fmt.Errorf("encode charging limit: %w", err)
		}
	}
	l := store.ChargingLimit{StationID: m.StationID, EVSEID: deref(req.EvseId), Source: string(req.ChargingLimit.ChargingLimitSource),
		GridCritical: req.ChargingLimit.IsGridCritical, Schedules: string(schedules), ReportedAt: reportedAt(m, h.Now)}
	if err := h.Store.SaveChargingLimit(ctx, l); err != nil {
		return nil, err
	}
	replanAfterReply(h.Planner, m, l.EVSEID)
	return &ocpp201.NotifyChargingLimitResponse{}, nil
}

// ClearedChargingLimit forgets the limit of that source (K13); the
// schedules sent under it are planned again.
type ClearedChargingLimit struct {
	Store   ChargingStore
	Planner NeedsPlanner
}

func (h ClearedChargingLimit) Handle(ctx context.Context, m route.Meta, req *ocpp201.ClearedChargingLimitRequest) (*ocpp201.ClearedChargingLimitResponse, error) {
	n, err := h.Store.ClearChargingLimit(ctx, m.StationID, deref(req.EvseId), string(req.ChargingLimitSource))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		replanAfterReply(h.Planner, m, deref(req.EvseId))
	}
	return &ocpp201.ClearedChargingLimitResponse{}, nil
}

// NotifyEVChargingNeeds keeps what the EV needs and, once the answer is
// sent, has a schedule computed and sent to the station with
// SetChargingProfile (K15: the CSMS answers Accepted and then sends the
// profile). The planner's policy may answer Processing (the profile
// follows all the same) or Rejected (none is sent, and the needs say
// so). Without a planner the needs are only kept and the answer is
// Rejected, so the station does not wait for a profile that will not come.
type NotifyEVChargingNeeds struct {
	Store   ChargingStore
	Planner NeedsPlanner
	Now     func() time.Time
}

func (h NotifyEVChargingNeeds) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyEVChargingNeedsRequest) (*ocpp201.NotifyEVChargingNeedsResponse, error) {
	needs, err := json.Marshal(req.ChargingNeeds)
	if err != nil {
		return nil, fmt.Errorf("encode charging needs: %w", err)
	}
	n := &store.EVChargingNeeds{StationID: m.StationID, EVSEID: req.EvseId, Needs: string(needs),
		MaxScheduleTuples: req.MaxScheduleTuples, ReceivedAt: reportedAt(m, h.Now)}
	if err := h.Store.SaveEVChargingNeeds(ctx, n); err != nil {
		return nil, err
	}
	if h.Planner == nil {
		return &ocpp201.NotifyEVChargingNeedsResponse{Status: ocpp201.NotifyEVChargingNeedsStatusRejected}, nil
	}
	status, plan := h.Planner.Answer()
	if !plan {
		o := store.PlanOutcome{Status: store.PlanNotSent, Detail: "answered " + string(status) + " by policy (EV_CHARGING_NEEDS)", At: h.Now()}
		if _, err := h.Store.FinishEVChargingNeeds(ctx, m.StationID, req.EvseId, n.ReceivedAt, o); err != nil {
			return nil, err
		}
		return &ocpp201.NotifyEVChargingNeedsResponse{Status: status}, nil
	}
	m.AfterReply(func() { h.Planner.Plan(m.StationID, req.EvseId, n.ReceivedAt) })
	return &ocpp201.NotifyEVChargingNeedsResponse{Status: status}, nil
}

// NotifyEVChargingSchedule keeps the schedule the EV chose (K17).
type NotifyEVChargingSchedule struct {
	Store ChargingStore
	Now   func() time.Time
}

func (h NotifyEVChargingSchedule) Handle(ctx context.Context, m route.Meta, req *ocpp201.NotifyEVChargingScheduleRequest) (*ocpp201.NotifyEVChargingScheduleResponse, error) {
	sch, err := json.Marshal(req.ChargingSchedule)
	if err != nil {
		return nil, fmt.Errorf("encode EV charging schedule: %w", err)
	}
	if err := h.Store.SaveEVChargingSchedule(ctx, store.EVChargingSchedule{StationID: m.StationID, EVSEID: req.EvseId,
		TimeBase: req.TimeBase, Schedule: string(sch), ReceivedAt: reportedAt(m, h.Now)}); err != nil {
		return nil, err
	}
	return &ocpp201.NotifyEVChargingScheduleResponse{Status: ocpp201.GenericStatusAccepted}, nil
}
