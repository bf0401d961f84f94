package smartcharging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/store"
	chargeplanev1 "github.com/chargeplane/chargeplane/pkg/gen/chargeplane/v1"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Store is what the service reads and records.
type Store interface {
	GetEVChargingNeeds(ctx context.Context, stationID string, evseID int) (*store.EVChargingNeeds, error)
	ListEVChargingNeeds(ctx context.Context, stationID string) ([]store.EVChargingNeeds, error)
	ListChargingLimits(ctx context.Context, stationID string) ([]store.ChargingLimit, error)
	ListChargingProfiles(ctx context.Context, stationID string, f store.ChargingProfileFilter) ([]store.ChargingProfile, error)
	ActiveTransactions(ctx context.Context, stationID string) ([]store.Transaction, error)
	TransactionEndedAfter(ctx context.Context, stationID string, evseID int, t time.Time) (bool, error)
	FinishEVChargingNeeds(ctx context.Context, stationID string, evseID int, receivedAt time.Time, o store.PlanOutcome) (bool, error)
}

// Sender sends a profile with SetChargingProfile and returns the answer.
type Sender interface {
	SetChargingProfile(ctx context.Context, stationID string, evseID int, p ocpp201.ChargingProfile) (command.ProfileReply, error)
}

// RequestedBy names the service in the command history.
const RequestedBy = "csms:smartcharging"

// CommandSender sends through the command table, so the profile is stored
// when accepted and the command is in the station's history.
type CommandSender struct{ Commands *command.Sender }

// SetChargingProfile implements Sender.
func (s CommandSender) SetChargingProfile(ctx context.Context, stationID string, evseID int, p ocpp201.ChargingProfile) (command.ProfileReply, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return command.ProfileReply{}, err
	}
	pb := &structpb.Struct{}
	if err := pb.UnmarshalJSON(raw); err != nil {
		return command.ProfileReply{}, err
	}
	return command.Do[command.ProfileReply](ctx, s.Commands, stationID, RequestedBy,
		&chargeplanev1.SetChargingProfileRequest{StationId: stationID, EvseId: int32(evseID), Profile: pb})
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sender Sender
	Now    func() time.Time
	Logger *slog.Logger
	// Concurrency bounds the schedules being sent at once (default 8);
	// needs arriving beyond it stay pending, logged.
	Concurrency int
	// Policy answers the needs (default NeedsAccept).
	Policy NeedsPolicy
	// ReplanInterval is how often the EVSEs whose limits changed or whose
	// transaction ended get their schedules worked out again (default
	// DefaultReplanInterval).
	ReplanInterval time.Duration
	// MaxReplans bounds the EVSEs waiting for that (default 10,000);
	// marks beyond it are dropped, logged.
	MaxReplans int
}

// DefaultReplanInterval: a changed limit reaches the EVs' schedules
// within seconds.
const DefaultReplanInterval = 2 * time.Second

// evse names an EVSE of a station; 0 is all of the station's.
type evse struct {
	station string
	id      int
}

// Service answers EV charging needs with a schedule (K15): each Plan
// computes one within the station's reported limits and the operator's
// own profiles (OperatorLimits) and sends it as the TxProfile of the
// EVSE's transaction, off the station's message path.
type Service struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{}

	// dirty are the EVSEs to plan again at the next sweep.
	dirtyMu sync.Mutex
	dirty   map[evse]struct{}

	mu      sync.Mutex
	runCtx  context.Context
	running sync.WaitGroup
	// planning are the EVSEs with a plan under way on this instance: one
	// at a time each, so that a newer plan never races an older one.
	planning map[evse]struct{}
}

// New returns a service; Plan does nothing until Start.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Policy == "" {
		cfg.Policy = NeedsAccept
	}
	if cfg.ReplanInterval <= 0 {
		cfg.ReplanInterval = DefaultReplanInterval
	}
	if cfg.MaxReplans <= 0 {
		cfg.MaxReplans = 10_000
	}
	return &Service{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Concurrency), dirty: map[evse]struct{}{},
		planning: map[evse]struct{}{}}
}

// Start lets Plan send, and sweeps what Replan marks, until ctx ends;
// Wait returns once the sweeper and the sends it started have ended.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	s.running.Add(1)
	s.mu.Unlock()
	go s.sweep(ctx)
}

// Replan marks an EVSE (0: every EVSE of the station) whose schedule may
// no longer fit: a limit was reported or cleared, the operator's
// ChargingStationMaxProfile or TxDefaultProfile was set or cleared, a
// transaction ended.
// Within ReplanInterval the needs of its EV are planned again and the new
// TxProfile sent (or, without a transaction, the needs marked not sent).
// It never blocks; marks of one EVSE coalesce.
func (s *Service) Replan(stationID string, evseID int) {
	if _, plan := s.cfg.Policy.Answer(); !plan {
		return
	}
	s.dirtyMu.Lock()
	defer s.dirtyMu.Unlock()
	k := evse{stationID, evseID}
	if _, ok := s.dirty[k]; !ok && len(s.dirty) >= s.cfg.MaxReplans {
		s.log.Warn("schedule not planned again: too many waiting", "station", stationID, "evse", evseID)
		return
	}
	s.dirty[k] = struct{}{}
}

// sweep plans the marked EVSEs again every ReplanInterval.
func (s *Service) sweep(ctx context.Context) {
	defer s.running.Done()
	t := time.NewTicker(s.cfg.ReplanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.replanMarked(ctx)
		}
	}
}

// replanMarked starts a plan for the needs of every marked EVSE; what
// cannot start now (a plan under way, every slot busy) stays marked for
// the next sweep.
func (s *Service) replanMarked(ctx context.Context) {
	s.dirtyMu.Lock()
	marked := s.dirty
	s.dirty = make(map[evse]struct{}, len(marked))
	s.dirtyMu.Unlock()
	for k := range marked {
		needs, err := s.cfg.Store.ListEVChargingNeeds(ctx, k.station)
		if err != nil {
			s.log.Error("could not read EV charging needs to plan again", "station", k.station, "err", err)
			continue
		}
		for _, n := range needs {
			if k.id != 0 && n.EVSEID != k.id {
				continue
			}
			if !s.start(n.StationID, n.EVSEID, n.ReceivedAt) {
				s.Replan(n.StationID, n.EVSEID)
			}
		}
	}
}

// Answer is the policy's answer to needs, and whether a schedule follows.
func (s *Service) Answer() (ocpp201.NotifyEVChargingNeedsStatusEnum, bool) {
	return s.cfg.Policy.Answer()
}

// Wait waits for the sends under way.
func (s *Service) Wait() { s.running.Wait() }

// Plan computes and sends the schedule for the needs the EVSE's EV
// reported at receivedAt, on its own goroutine. It never blocks; what
// cannot start now is planned at a later sweep.
func (s *Service) Plan(stationID string, evseID int, receivedAt time.Time) {
	if !s.start(stationID, evseID, receivedAt) {
		s.Replan(stationID, evseID)
	}
}

// start is Plan; false when it could not start (not running, every slot
// busy, or a plan for the EVSE under way).
func (s *Service) start(stationID string, evseID int, receivedAt time.Time) bool {
	log := s.log.With("station", stationID, "evse", evseID)
	k := evse{stationID, evseID}
	s.mu.Lock()
	ctx := s.runCtx
	if ctx == nil || ctx.Err() != nil {
		s.mu.Unlock()
		log.Warn("EV charging needs left pending: smart charging is not running")
		return false
	}
	if _, busy := s.planning[k]; busy {
		s.mu.Unlock()
		return false
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.mu.Unlock()
		log.Warn("EV charging needs left pending: too many schedules being sent")
		return false
	}
	s.planning[k] = struct{}{}
	s.running.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.running.Done()
		defer func() { <-s.slots }()
		defer func() {
			s.mu.Lock()
			delete(s.planning, k)
			s.mu.Unlock()
		}()
		o := s.send(ctx, stationID, evseID, receivedAt)
		o.At = s.cfg.Now()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := s.cfg.Store.FinishEVChargingNeeds(rctx, stationID, evseID, receivedAt, o); err != nil {
			log.Error("could not record the schedule sent for EV charging needs", "err", err)
			return
		}
		log.Info("EV charging needs answered", "status", o.Status, "detail", o.Detail, "command", o.CommandID)
	}()
	return true
}

// send plans and sends; the outcome says what became of the needs.
func (s *Service) send(ctx context.Context, stationID string, evseID int, receivedAt time.Time) store.PlanOutcome {
	notSent := func(format string, a ...any) store.PlanOutcome {
		return store.PlanOutcome{Status: store.PlanNotSent, Detail: fmt.Sprintf(format, a...)}
	}
	n, err := s.cfg.Store.GetEVChargingNeeds(ctx, stationID, evseID)
	if err != nil {
		return notSent("read the needs: %v", err)
	}
	if !n.ReceivedAt.Equal(receivedAt) {
		return notSent("replaced by newer needs")
	}
	txs, err := s.cfg.Store.ActiveTransactions(ctx, stationID)
	if err != nil {
		return notSent("read the transactions: %v", err)
	}
	var tx *store.Transaction
	for i := range txs {
		if t := &txs[i]; t.EVSEID == evseID && t.OCPPVersion == ocppj.V201 {
			tx = t // the latest started
		}
	}
	if tx == nil {
		return notSent("no transaction on EVSE %d", evseID)
	}
	// Needs stay stored after their EV has left; a station-wide re-plan
	// (a limit or an operator's profile on the station) must not give the
	// next transaction on the EVSE a schedule for that EV. Needs may come
	// just before their own transaction starts (a TxStartPoint after the
	// EV's parameters), so only a transaction ended since tells.
	if n.ReceivedAt.Before(tx.StartedAt) {
		ended, err := s.cfg.Store.TransactionEndedAfter(ctx, stationID, evseID, n.ReceivedAt)
		if err != nil {
			return notSent("read the transactions: %v", err)
		}
		if ended {
			return notSent("needs of an EV whose transaction on EVSE %d has ended", evseID)
		}
	}
	limits, err := s.cfg.Store.ListChargingLimits(ctx, stationID)
	if err != nil {
		return notSent("read the limits: %v", err)
	}
	// The profiles the station accepted from the CSMS: what it reported
	// in ReportChargingProfiles may be long stale (nothing clears it) and
	// its external limits are the reported ones above.
	profiles, err := s.cfg.Store.ListChargingProfiles(ctx, stationID, store.ChargingProfileFilter{Source: store.ProfileSourceSet})
	if err != nil {
		return notSent("read the charging profiles: %v", err)
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	needs := needsOf(n)
	var end time.Time
	if needs.Departure.After(now) {
		end = needs.Departure
	}
	within := append(limitsOf(limits, evseID), OperatorLimits(now, end, evseID, tx.StartedAt, installedOf(profiles))...)
	sch, err := Plan(now, needs, within)
	if err != nil {
		return notSent("%v", err)
	}
	p := TxProfile(command.NewRequestID(), tx.TransactionUID, sch)
	r, err := s.cfg.Sender.SetChargingProfile(ctx, stationID, evseID, p)
	if err != nil {
		return notSent("SetChargingProfile: %s", command.Describe(err))
	}
	id := p.Id
	return store.PlanOutcome{Status: r.Status, Detail: r.ReasonCode, ProfileID: &id, CommandID: r.CommandID}
}

// TxProfile is the schedule as the TxProfile of a transaction.
func TxProfile(id int, transactionID string, s Schedule) ocpp201.ChargingProfile {
	cs := ocpp201.ChargingSchedule{Id: 1, StartSchedule: s.Start, ChargingRateUnit: ocpp201.ChargingRateUnitEnum(s.Unit)}
	if s.Duration > 0 {
		d := int(s.Duration / time.Second)
		cs.Duration = &d
	}
	for _, p := range s.Periods {
		sp := ocpp201.ChargingSchedulePeriod{StartPeriod: int(p.Start / time.Second), Limit: p.Limit}
		if p.Phases > 0 {
			ph := p.Phases
			sp.NumberPhases = &ph
		}
		cs.ChargingSchedulePeriod = append(cs.ChargingSchedulePeriod, sp)
	}
	return ocpp201.ChargingProfile{Id: id, StackLevel: 0, ChargingProfilePurpose: ocpp201.ChargingProfilePurposeTxProfile,
		ChargingProfileKind: ocpp201.ChargingProfileKindAbsolute, TransactionId: transactionID,
		ChargingSchedule: []ocpp201.ChargingSchedule{cs}}
}

// needsOf reads stored needs; what does not decode counts as not said.
func needsOf(n *store.EVChargingNeeds) Needs {
	var cn ocpp201.ChargingNeeds
	_ = json.Unmarshal([]byte(n.Needs), &cn)
	out := Needs{Departure: cn.DepartureTime}
	if n.MaxScheduleTuples != nil {
		out.MaxPeriods = *n.MaxScheduleTuples
	}
	switch cn.RequestedEnergyTransfer {
	case ocpp201.EnergyTransferModeDC:
		out.DC = true
	case ocpp201.EnergyTransferModeACSinglePhase:
		out.Phases = 1
	case ocpp201.EnergyTransferModeACTwoPhase:
		out.Phases = 2
	default:
		out.Phases = 3
	}
	if ac := cn.AcChargingParameters; ac != nil && !out.DC {
		out.MinCurrent, out.MaxCurrent = float64(ac.EvMinCurrent), float64(ac.EvMaxCurrent)
	}
	if dc := cn.DcChargingParameters; dc != nil && out.DC {
		out.MaxCurrent, out.MaxVoltage = float64(dc.EvMaxCurrent), float64(dc.EvMaxVoltage)
		if dc.EvMaxPower != nil {
			out.MaxPower = float64(*dc.EvMaxPower)
		}
	}
	return out
}

// limitsOf are the schedules of the limits on the station and on evseID;
// a schedule without a start starts when it was reported.
func limitsOf(ls []store.ChargingLimit, evseID int) []Schedule {
	var out []Schedule
	for _, l := range ls {
		if l.EVSEID != 0 && l.EVSEID != evseID {
			continue
		}
		var css []ocpp201.ChargingSchedule
		if err := json.Unmarshal([]byte(l.Schedules), &css); err != nil {
			continue
		}
		for _, cs := range css {
			s := Schedule{Start: cs.StartSchedule, Unit: Unit(cs.ChargingRateUnit)}
			if s.Start.IsZero() {
				s.Start = l.ReportedAt
			}
			if cs.Duration != nil {
				s.Duration = time.Duration(*cs.Duration) * time.Second
			}
			for _, p := range cs.ChargingSchedulePeriod {
				s.Periods = append(s.Periods, Period{Start: time.Duration(p.StartPeriod) * time.Second, Limit: p.Limit,
					Phases: deref(p.NumberPhases)})
			}
			out = append(out, s)
		}
	}
	return out
}

// installedOf reads the 2.0.1 profiles stored; a 1.6 one (kept from
// before the station moved to 2.0.1, and replaced on the station since)
// or one that does not decode is left out.
func installedOf(ps []store.ChargingProfile) []InstalledProfile {
	var out []InstalledProfile
	for _, p := range ps {
		if p.OCPPVersion != ocppj.V201 {
			continue
		}
		var cp ocpp201.ChargingProfile
		if err := json.Unmarshal([]byte(p.Profile), &cp); err != nil {
			continue
		}
		out = append(out, InstalledProfile{EVSEID: p.EVSEID, InstalledAt: p.UpdatedAt, Profile: cp})
	}
	return out
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
