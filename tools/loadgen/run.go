package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
	"github.com/chargeplane/chargeplane/pkg/ocppj"
)

// Config is one load generator run.
type Config struct {
	URL           string // gateway base URL; the station id is appended; several comma-separated: chargers spread over them and reconnect to the next
	urls          []string
	N             int           // simulated chargers
	Version       string        // 1.6, 2.0.1 or mixed
	IDPrefix      string        // station ids are IDPrefix + index
	Password      string        // Basic auth password (username = station id)
	ConnectRate   float64       // connections per second, 0 = unlimited
	Duration      time.Duration // the whole run, connecting included
	Scenario      string        // idle, heartbeat, meter or transactions
	Rate          float64       // per-charger CALLs per second, 0 = as fast as answered
	PingInterval  time.Duration // idle scenario: time between WebSocket pings
	TxMeterValues int           // transactions scenario: meter values per transaction
	IDTag         string        // transactions scenario: the id token presented
	// Scale scenario: TxFraction of the chargers run sessions, one step
	// every TxEvery; the others send a Heartbeat every HeartbeatEvery.
	TxFraction     float64
	TxEvery        time.Duration
	HeartbeatEvery time.Duration
	Workers        int // goroutines driving the chargers; bounds CALLs in flight
	CallTimeout    time.Duration
	Compress       bool
	Progress       io.Writer // once-a-second progress lines; nil for none
	Logger         *slog.Logger
	Now            func() time.Time
}

var scenarios = map[string]bool{"idle": true, "heartbeat": true, "meter": true, "transactions": true, "scale": true}

func (c *Config) validate() error {
	switch {
	case c.N <= 0:
		return errors.New("-n must be positive")
	case c.Version != "1.6" && c.Version != "2.0.1" && c.Version != "mixed":
		return fmt.Errorf("-version %q: want 1.6, 2.0.1 or mixed", c.Version)
	case !scenarios[c.Scenario]:
		return fmt.Errorf("-scenario %q: want idle, heartbeat, meter, transactions or scale", c.Scenario)
	case c.Duration <= 0:
		return errors.New("-duration must be positive")
	case c.Rate < 0 || c.ConnectRate < 0:
		return errors.New("-rate and -connect-rate cannot be negative")
	case (c.Scenario == "transactions" || c.Scenario == "scale") && (c.IDTag == "" || len(c.IDTag) > 20):
		return errors.New("-id-tag must be 1 to 20 characters (the OCPP 1.6 limit)")
	case c.TxFraction < 0 || c.TxFraction > 1:
		return errors.New("-tx-fraction must be between 0 and 1")
	}
	c.urls = nil
	for _, raw := range strings.Split(c.URL, ",") {
		raw = strings.TrimSpace(raw)
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
			return fmt.Errorf("-url %q: want ws://host:port/path or wss://, comma-separated", raw)
		}
		c.urls = append(c.urls, strings.TrimSuffix(raw, "/"))
	}
	if c.TxEvery <= 0 {
		c.TxEvery = 10 * time.Second
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 60 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = min(c.N, 1024)
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.TxMeterValues < 0 {
		c.TxMeterValues = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// stationID is the id of charger i, also what -register creates.
func (c *Config) stationID(i int) string { return c.IDPrefix + strconv.Itoa(i) }

func (c *Config) versionOf(i int) ocppj.Version {
	switch c.Version {
	case "1.6":
		return ocppj.V16
	case "2.0.1":
		return ocppj.V201
	}
	if i%2 == 0 {
		return ocppj.V16
	}
	return ocppj.V201
}

// Run drives cfg.N chargers for cfg.Duration and returns what it measured.
//
// Goroutines: one reader per connection (inside chargepoint), cfg.Workers
// workers that run one step of one charger at a time, and one progress
// printer. A charger waiting for its next step is only a struct and a
// stopped runtime timer, so an idle connection costs what its socket costs.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	r := &runner{cfg: cfg, stats: newStats(), ready: make(chan *charger, cfg.N), ctx: ctx}
	r.chargers = make([]*charger, cfg.N)
	start := cfg.Now()
	for i := range r.chargers {
		c := &charger{id: cfg.stationID(i), version: cfg.versionOf(i), url: i % len(cfg.urls),
			tx: cfg.Scenario == "scale" && float64(i%1000) < cfg.TxFraction*1000}
		r.chargers[i] = c
		// The connect rate limit is a schedule, not a token bucket: charger
		// i connects at i/rate, which needs no goroutine of its own.
		var delay time.Duration
		if cfg.ConnectRate > 0 {
			delay = time.Duration(float64(i) / cfg.ConnectRate * float64(time.Second))
		}
		c.due = start.Add(delay)
		r.schedule(c, delay)
	}

	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(r.work)
	}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(start)
	}()

	<-ctx.Done()
	elapsed := cfg.Now().Sub(start)
	wg.Wait()
	<-progressDone
	r.closeAll()
	sum := r.stats.Summary(cfg, elapsed)
	sum.StartedAt = start
	sum.Windows = r.windows
	sum.Sessions = r.ledger()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return sum, fmt.Errorf("load generator interrupted: %w", err)
	}
	return sum, nil
}

type runner struct {
	cfg      Config
	ctx      context.Context
	stats    *Stats
	chargers []*charger
	ready    chan *charger // capacity N: a charger is in it at most once, so sends never block
	inbound  atomic.Uint64
	windows  []Window // per-second latency, written by the progress goroutine
}

// charger is one simulated station. Only the worker running its step
// touches it, so it needs no lock.
type charger struct {
	id      string
	version ocppj.Version
	url     int  // index of the gateway URL it uses; the next one after a lost connection
	tx      bool // scale scenario: runs sessions rather than heartbeats
	client  *chargepoint.Client
	timer   *time.Timer
	due     time.Time // when the current step was meant to start

	phase   phase
	reached bool // entered its scenario at least once (steady-state accounting)
	step    int  // position within a transaction
	meter   int  // Wh, only ever increasing
	txID16  int
	txID    string
	seq     int
	// pending is a transaction message sent and not yet answered: like a
	// real charger, the load generator sends it again, with the same
	// content, until it is answered, so the CSMS can deduplicate it.
	pending  *pendingCall
	sessions []Session
}

type phase int

const (
	phaseConnect phase = iota
	phaseBoot
	phaseStatus
	phaseScenario
)

// schedule hands c to the workers after delay, on a runtime timer.
func (r *runner) schedule(c *charger, delay time.Duration) {
	if delay <= 0 {
		r.ready <- c
		return
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(delay, func() {
			select {
			case r.ready <- c:
			default: // cannot happen: c is in ready at most once
			}
		})
		return
	}
	c.timer.Reset(delay)
}

func (r *runner) work() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case c := <-r.ready:
			if r.ctx.Err() != nil {
				return
			}
			r.schedule(c, r.step(c))
		}
	}
}

// step runs c's next step and says how long to wait before the one after.
func (r *runner) step(c *charger) time.Duration {
	if c.phase == phaseConnect {
		return r.connect(c)
	}
	if c.client == nil {
		c.phase = phaseConnect
		return 0
	}
	var err error
	switch c.phase {
	case phaseBoot:
		err = r.boot(c)
	case phaseStatus:
		err = r.status(c)
	default:
		err = r.scenario(c)
	}
	if err != nil {
		if r.ctx.Err() != nil {
			return 0 // the run ended under this call: not the CSMS's fault
		}
		r.stats.Error(errorKind(err))
		if errors.Is(err, chargepoint.ErrClosed) {
			r.stats.connected.Add(-1)
			r.stats.Error("connection lost")
			_ = c.client.Close()
			c.client = nil
			c.phase = phaseConnect
			r.otherGateway(c) // its gateway may be gone
			// Reconnect without hammering a CSMS that drops us, and
			// without every charger of a dead gateway arriving at once.
			return time.Second + time.Duration(rand.Int64N(int64(time.Second)))
		}
		if c.phase != phaseScenario {
			return time.Second // a refused boot is retried, as a charger would, but not in a tight loop
		}
	}
	return r.next(c)
}

// next is the pause before c's next step: none while booting or in a
// flat-out scenario, else what keeps c at its rate. A charger that fell
// behind does not burst to catch up; it resumes the rhythm from now.
func (r *runner) next(c *charger) time.Duration {
	var every time.Duration
	switch {
	case c.phase != phaseScenario:
		return 0
	case r.cfg.Scenario == "idle":
		every = r.cfg.PingInterval
	case r.cfg.Scenario == "scale" && c.tx:
		every = r.cfg.TxEvery
	case r.cfg.Scenario == "scale":
		every = r.cfg.HeartbeatEvery
	case r.cfg.Rate > 0:
		every = time.Duration(float64(time.Second) / r.cfg.Rate)
	default:
		return 0
	}
	now := r.cfg.Now()
	c.due = c.due.Add(every)
	if c.due.Before(now) {
		c.due = now
	}
	return c.due.Sub(now)
}

// otherGateway moves c to another gateway URL, at random among the
// others, so that a dead gateway's chargers spread over the survivors.
func (r *runner) otherGateway(c *charger) {
	if n := len(r.cfg.urls); n > 1 {
		c.url = (c.url + 1 + rand.N(n-1)) % n
	}
}

func (r *runner) connect(c *charger) time.Duration {
	proto := "ocpp1.6"
	if c.version == ocppj.V201 {
		proto = "ocpp2.0.1"
	}
	dctx, cancel := context.WithTimeout(r.ctx, r.cfg.CallTimeout)
	defer cancel()
	cl, err := chargepoint.Dial(dctx, r.cfg.urls[c.url%len(r.cfg.urls)]+"/"+url.PathEscape(c.id), chargepoint.Options{
		Subprotocols: []string{proto},
		Password:     r.cfg.Password,
		OnCall:       answerCSMS(c.version, func(string) { r.inbound.Add(1) }),
		Compress:     r.cfg.Compress,
		Logger:       r.cfg.Logger,
	})
	if err != nil {
		if r.ctx.Err() != nil {
			return 0
		}
		r.stats.failed.Add(1)
		r.stats.Error(connectErrorKind(err))
		r.otherGateway(c)
		return time.Second + time.Duration(rand.Int64N(int64(time.Second)))
	}
	r.stats.opened.Add(1)
	r.stats.connected.Add(1)
	c.client = cl
	c.phase = phaseBoot
	if c.pending == nil {
		c.step = 0 // a session interrupted between messages starts over; one with a message pending resumes with it
	}
	return 0
}

// call sends one CALL and records its round trip. A CALLERROR is a round
// trip too (the CSMS answered) and also an error.
func (r *runner) call(c *charger, action string, req, resp any) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.CallTimeout)
	defer cancel()
	t0 := time.Now()
	err := c.client.Call(ctx, action, req, resp)
	var ce *chargepoint.CallError
	if err == nil || errors.As(err, &ce) {
		r.stats.Trip(time.Since(t0))
		r.stats.Answered(action)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

func (r *runner) ping(c *charger) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.CallTimeout)
	defer cancel()
	t0 := time.Now()
	if err := c.client.Ping(ctx); err != nil {
		if c.client.Err() != nil {
			return fmt.Errorf("ping: %w", closedErr(c.client.Err()))
		}
		return fmt.Errorf("ping: %w", err)
	}
	r.stats.Trip(time.Since(t0))
	return nil
}

func closedErr(cause error) error { return fmt.Errorf("%w: %w", chargepoint.ErrClosed, cause) }

// closeAll ends every connection with a normal closure, a worker pool's
// worth at a time, so that the CSMS sees chargers leave rather than vanish.
func (r *runner) closeAll() {
	work := make(chan *charger)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for c := range work {
				if c.timer != nil {
					c.timer.Stop()
				}
				if c.client != nil {
					_ = c.client.Close()
					c.client = nil
				}
			}
		})
	}
	for _, c := range r.chargers {
		work <- c
	}
	close(work)
	wg.Wait()
}

func (r *runner) progress(start time.Time) {
	w := r.cfg.Progress
	if w == nil {
		<-r.ctx.Done()
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastTrips uint64
	last := start
	prev, prevActions := r.stats.latency.snapshot(), r.stats.actionsSnapshot()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		now := r.cfg.Now()
		trips := r.stats.trips.Load()
		_, errs := r.stats.errorsSnapshot()
		rate := float64(trips-lastTrips) / now.Sub(last).Seconds()
		fmt.Fprintf(w, "%5.0fs connected %d/%d  round trips/s %.0f  total %d  errors %d  CSMS calls %d\n",
			now.Sub(start).Seconds(), r.stats.connected.Load(), r.cfg.N, rate, trips, errs, r.inbound.Load())
		cur, curActions := r.stats.latency.snapshot(), r.stats.actionsSnapshot()
		w := window(now.Sub(start), r.stats.connected.Load(), prev, cur)
		for a, n := range curActions {
			if d := n - prevActions[a]; d > 0 {
				if w.Actions == nil {
					w.Actions = map[string]uint64{}
				}
				w.Actions[a] = d
			}
		}
		r.windows = append(r.windows, w)
		prev, prevActions = cur, curActions
		lastTrips, last = trips, now
	}
}

// errorKind groups an error for the summary: by CALLERROR code, by
// timeout, by lost connection, else by its text up to the first colon.
func errorKind(err error) string {
	action, _, _ := strings.Cut(err.Error(), ":")
	var ce *chargepoint.CallError
	var ve *chargepoint.ViolationError
	switch {
	case errors.As(err, &ce):
		return action + ": CALLERROR " + string(ce.Code)
	case errors.As(err, &ve):
		return action + ": protocol violation"
	case errors.Is(err, context.DeadlineExceeded):
		return action + ": timeout"
	case errors.Is(err, chargepoint.ErrClosed):
		return action + ": connection closed"
	case errors.Is(err, errRejected):
		return action + ": " + strings.TrimSpace(strings.TrimPrefix(err.Error(), action+":"))
	}
	return action + ": other"
}

func connectErrorKind(err error) string {
	var he *chargepoint.HandshakeError
	switch {
	case errors.As(err, &he):
		return "connect: HTTP " + strconv.Itoa(he.StatusCode)
	case errors.Is(err, chargepoint.ErrNoSubprotocol):
		return "connect: no subprotocol"
	case errors.Is(err, context.DeadlineExceeded):
		return "connect: timeout"
	case websocket.CloseStatus(err) != -1:
		return "connect: closed " + strconv.Itoa(int(websocket.CloseStatus(err)))
	}
	return "connect: dial failed"
}
