package runningcost

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/api/tariff"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
	"golang.org/x/sync/singleflight"
)

// Store is what the service reads and records.
type Store interface {
	PricedActiveTransactions(ctx context.Context, afterID int64, limit int) ([]store.Transaction, error)
	ClaimRunningCost(ctx context.Context, id int64, cost float64, now, until time.Time) (bool, error)
	RecordRunningCostSent(ctx context.Context, id int64, cost float64, next time.Time) error
}

// Coster prices a transaction by its station's tariffs (tariff.Coster).
type Coster interface {
	Quote(ctx context.Context, t *store.Transaction) (tariff.Tariff, tariff.Price, error)
}

// Sender carries the messages to the stations and asks them what they
// support (CommandSender: through the command table).
type Sender interface {
	// CostUpdated sends a 2.0.1 station the transaction's cost so far.
	CostUpdated(ctx context.Context, t *store.Transaction, cost float64) error
	// CostMessage sends a 1.6 station one of the California Pricing
	// DataTransfer messages (messageId, data) and returns its status.
	CostMessage(ctx context.Context, stationID, messageID, data string) (string, error)
	// Support says whether the station shows the running cost: 2.0.1 by
	// its device model or, unreported, by asking it; 1.6 by asking its
	// configuration key.
	Support(ctx context.Context, stationID string, v ocppj.Version) (Support, error)
}

// Config configures a Service.
type Config struct {
	Store  Store
	Costs  Coster
	Sender Sender
	Now    func() time.Time
	Logger *slog.Logger
	// Interval is how often the running costs are swept; 0 sends none
	// (a 2.0.1 station still gets the cost so far in every
	// TransactionEvent answer).
	Interval time.Duration
	// PerSweep bounds the transactions one sweep looks at (default
	// 5,000); the next sweep goes on after the last one looked at.
	PerSweep int
	// Concurrency bounds the updates being sent at once (default 32).
	Concurrency int
	// SupportTTL is how long what a station said about showing costs is
	// believed before it is read again (default 10 minutes).
	SupportTTL time.Duration
	// MaxStations bounds the stations whose support is remembered
	// (default 100,000); beyond it the memory starts over.
	MaxStations int
	// Send16 sends 1.6 stations the California Pricing messages.
	Send16 bool
	// FinalCostDelay is how long after a 1.6 StopTransaction its final
	// cost is sent, so that the station has the stop's answer first
	// (0: at once).
	FinalCostDelay time.Duration
}

// maxPendingFinals bounds the final costs waiting for their delay or a
// send slot; stops beyond it get none, logged.
const maxPendingFinals = 1024

// DefaultInterval: a driver watching the display sees the cost move
// about once a minute, without a CALL per station every few seconds.
const DefaultInterval = time.Minute

// minClaim is the shortest claim on an update, and so the longest an
// attempt (a support question and the update, each a command) may take;
// a failed attempt is tried again once it ends.
const minClaim = time.Minute

// RequestedBy names the service in the command history.
const RequestedBy = "csms:runningcost"

// Service sends the running cost of the active transactions.
//
// Every core instance sweeps; a transaction's update is sent by the one
// that claims it in the database (store.ClaimRunningCost), so a station
// gets each update once however many instances run, and a sent update
// holds the next one back until the next interval, so no station gets more
// than one update per interval and transaction.
type Service struct {
	cfg Config
	log *slog.Logger

	// cursor is the last transaction id the previous sweep looked at.
	cursor int64

	supportMu sync.Mutex
	support   map[string]supportEntry
	// asks joins the questions to one station made at once (its
	// transactions are swept concurrently): it gets one CALL, not one per
	// EVSE while it can answer only one at a time.
	asks singleflight.Group

	mu     sync.Mutex
	runCtx context.Context
	// slots bounds the messages being sent at once (sweeps and final
	// costs); finals bounds the final costs waiting to be sent, so that a
	// sweep holding every slot delays them rather than drops them.
	slots   chan struct{}
	finals  chan struct{}
	running sync.WaitGroup
}

type supportEntry struct {
	version ocppj.Version
	support Support
	until   time.Time
}

// New returns a service; nothing is sent until Start.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PerSweep <= 0 {
		cfg.PerSweep = 5000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.SupportTTL <= 0 {
		cfg.SupportTTL = 10 * time.Minute
	}
	if cfg.MaxStations <= 0 {
		cfg.MaxStations = 100_000
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "runningcost"),
		support: map[string]supportEntry{}, slots: make(chan struct{}, cfg.Concurrency),
		finals: make(chan struct{}, maxPendingFinals)}
}

// Start sweeps every Interval until ctx ends (not at all when Interval is
// 0) and lets Ended send final costs; Wait returns once the sweeper and
// the sends it started have ended.
func (s *Service) Start(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	if s.cfg.Interval <= 0 {
		return
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Sweep(ctx)
			}
		}
	}()
}

// Wait waits for the sweeper and the sends under way.
func (s *Service) Wait() { s.running.Wait() }

// Sweep looks at the next page of active priced transactions and sends
// the cost of each that is due (Due), at most Concurrency at once; it
// returns when they are sent. It does nothing when Interval is 0.
func (s *Service) Sweep(ctx context.Context) {
	if s.cfg.Interval <= 0 {
		return
	}
	txs, err := s.cfg.Store.PricedActiveTransactions(ctx, s.cursor, s.cfg.PerSweep)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("could not read the active transactions to send their cost", "err", err)
		}
		return
	}
	// A short page is the end: the next sweep starts over.
	s.cursor = 0
	if len(txs) == s.cfg.PerSweep {
		s.cursor = txs[len(txs)-1].ID
	}
	var wg sync.WaitGroup
	for i := range txs {
		t := &txs[i]
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.slots }()
			s.update(ctx, t)
		}()
	}
	wg.Wait()
}

// Due says whether a transaction's running cost goes to its station now:
// the transaction is one the version can carry (send16: 1.6 too), the
// station is not known to refuse it, and the cost differs from the one
// last sent.
func Due(t *store.Transaction, cost float64, support Support, send16 bool) bool {
	return carries(t, support, send16) && (t.RunningCostSent == nil || *t.RunningCostSent != cost)
}

// carries is Due without the cost: whether t's station may get one at all.
func carries(t *store.Transaction, support Support, send16 bool) bool {
	switch t.OCPPVersion {
	case ocppj.V201:
	case ocppj.V16:
		if !send16 {
			return false
		}
	default:
		return false
	}
	return support != NotShown
}

// update sends one transaction's running cost if it is due.
func (s *Service) update(ctx context.Context, t *store.Transaction) {
	log := s.log.With("station", t.StationID, "transaction", t.TransactionUID)
	known, cached := s.cachedSupport(t.StationID, t.OCPPVersion)
	if !cached {
		known = Unknown
	}
	// A station known not to show the cost (most, often) is not even
	// priced: the tariff read is what a sweep costs per transaction.
	if (cached && known != Shown) || !carries(t, known, s.cfg.Send16) {
		return
	}
	tr, p, err := s.cfg.Costs.Quote(ctx, t)
	if errors.Is(err, tariff.ErrNoTariff) {
		return
	}
	if err != nil {
		log.Error("could not price the transaction", "err", err)
		return
	}
	if !Due(t, p.Amount, known, s.cfg.Send16) {
		return
	}
	now := s.cfg.Now()
	// The claim outlasts the attempt, which its end bounds: no other
	// instance claims the update while this one may still be sending it.
	// A sent update ends the claim at the next interval instead.
	until := now.Add(max(s.cfg.Interval, minClaim))
	won, err := s.cfg.Store.ClaimRunningCost(ctx, t.ID, p.Amount, now, until)
	if err != nil {
		log.Error("could not claim the running cost update", "err", err)
		return
	}
	if !won {
		return // another instance sends it, sent one this interval, or sent this cost
	}
	ctx, cancel := context.WithTimeout(ctx, until.Sub(now)) // Now may be a test's clock
	defer cancel()
	if !cached {
		if known = s.readSupport(ctx, t.StationID, t.OCPPVersion); known != Shown {
			log.Debug("running cost not sent: the station does not say it shows it", "support", known)
			return
		}
	}
	switch t.OCPPVersion {
	case ocppj.V201:
		err = s.cfg.Sender.CostUpdated(ctx, t, p.Amount)
	case ocppj.V16:
		var data string
		if data, err = RunningCostData(t, tr, p, now); err == nil {
			err = s.costMessage(ctx, t.StationID, MessageRunningCost, data)
		}
	}
	if err != nil {
		log.Warn("running cost not delivered", "cost", p.Amount, "err", err)
		return
	}
	if err := s.cfg.Store.RecordRunningCostSent(context.WithoutCancel(ctx), t.ID, p.Amount, now.Add(s.cfg.Interval)); err != nil {
		log.Error("could not record the running cost sent", "err", err)
		return
	}
	log.Debug("running cost sent", "cost", p.Amount, "currency", p.Currency)
}

// costMessage sends a 1.6 California Pricing message; a status other
// than Accepted is an error.
func (s *Service) costMessage(ctx context.Context, stationID, messageID, data string) error {
	status, err := s.cfg.Sender.CostMessage(ctx, stationID, messageID, data)
	if err != nil {
		return err
	}
	if status != "Accepted" {
		return errors.New("the station answered " + status)
	}
	return nil
}

func (s *Service) cachedSupport(stationID string, v ocppj.Version) (Support, bool) {
	s.supportMu.Lock()
	defer s.supportMu.Unlock()
	e, ok := s.support[stationID]
	if !ok || e.version != v || !s.cfg.Now().Before(e.until) {
		return Unknown, false
	}
	return e.support, true
}

// readSupport asks the station (or its device model) and remembers the
// answer for SupportTTL; a failure to ask counts as Unknown, remembered
// all the same so that a station that cannot answer is not asked at
// every sweep.
func (s *Service) readSupport(ctx context.Context, stationID string, v ocppj.Version) Support {
	sup, _, _ := s.asks.Do(v.String()+" "+stationID, func() (any, error) {
		// A question that ended just before this one began has answered it.
		if sup, ok := s.cachedSupport(stationID, v); ok {
			return sup, nil
		}
		return s.askSupport(ctx, stationID, v), nil
	})
	return sup.(Support)
}

func (s *Service) askSupport(ctx context.Context, stationID string, v ocppj.Version) Support {
	sup, err := s.cfg.Sender.Support(ctx, stationID, v)
	if err != nil {
		if ctx.Err() != nil {
			return Unknown
		}
		s.log.Warn("could not learn whether the station shows the running cost", "station", stationID, "err", err)
		sup = Unknown
	}
	s.supportMu.Lock()
	defer s.supportMu.Unlock()
	if len(s.support) >= s.cfg.MaxStations {
		s.support = map[string]supportEntry{}
	}
	s.support[stationID] = supportEntry{version: v, support: sup, until: s.cfg.Now().Add(s.cfg.SupportTTL)}
	return sup
}
