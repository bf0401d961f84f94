package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chargeplane/chargeplane/pkg/chargepoint"
)

// connState is what a connector is doing, whatever the OCPP version calls it.
type connState int

const (
	stateAvailable connState = iota
	statePreparing           // plugged in, the session being authorized or started
	stateCharging
	stateFaulted
)

// stopReason says why a session ended; each version names it its own way.
type stopReason int

const (
	stopLocal        stopReason = iota // the driver, here someone typing "stop"
	stopRemote                         // RemoteStop / RequestStopTransaction
	stopEnergy                         // -energy reached
	stopFull                           // the car's battery is full
	stopFault                          // a fault on the connector
	stopDeauthorized                   // the CSMS refused the tag at the start
)

// connector is one connector (one EVSE in 2.0.1) and its energy meter.
type connector struct {
	n        int
	state    connState
	fault    string  // error code while faulted
	register float64 // Wh; a meter register only ever grows
	tx       *transaction
}

// transaction is the session on a connector, from plug-in to stop.
type transaction struct {
	tag           string
	tagType       string // 2.0.1 idToken type
	remote        bool
	remoteStartID int
	id16          int    // the CSMS's id (1.6)
	uid           string // the station's id (2.0.1)
	seq           int    // 2.0.1 seqNo
	started       bool   // the CSMS acknowledged the start
	startWh       float64
	soc           float64 // the car's state of charge, 0..1
	power         float64 // W at the last sample
	last          time.Time
}

// sample is one meter reading.
type sample struct {
	at       time.Time
	register float64 // Wh
	power    float64 // W
	soc      float64 // 0..1
}

func (c *connector) sample() sample {
	sm := sample{register: c.register}
	if c.tx != nil {
		sm.at, sm.power, sm.soc = c.tx.last, c.tx.power, c.tx.soc
	}
	return sm
}

// Battery model: the car arrives at startSoC and draws the charger's full
// power up to taperSoC, then less and less (constant-voltage phase) until
// full, as a lithium-ion pack does.
const (
	startSoC = 0.2
	taperSoC = 0.8
	minPower = 0.05 // of the maximum, at the very end
)

// powerAt is the power (W) a car at soc draws from a charger of maxW.
func powerAt(maxW, soc float64) float64 {
	if soc >= 1 {
		return 0
	}
	if soc <= taperSoC {
		return maxW
	}
	return maxW * max(minPower, (1-soc)/(1-taperSoC))
}

// advance moves a session on to now: the energy the car took since the last
// sample goes onto the register and into the battery.
func (s *Station) advance(c *connector, now time.Time) {
	tx := c.tx
	dt := now.Sub(tx.last).Hours()
	if dt <= 0 {
		return
	}
	wh := tx.power * dt
	if capWh := s.cfg.BatteryKWh * 1000; capWh > 0 {
		wh = min(wh, (1-tx.soc)*capWh)
		tx.soc = min(1, tx.soc+wh/capWh)
	}
	if target := s.cfg.EnergyKWh * 1000; target > 0 {
		wh = min(wh, max(0, target-(c.register-tx.startWh)))
	}
	c.register += wh
	tx.last = now
	tx.power = powerAt(s.cfg.PowerKW*1000, tx.soc)
}

// done reports whether a session should end on its own, and why.
func (s *Station) done(c *connector) (stopReason, bool) {
	if target := s.cfg.EnergyKWh * 1000; target > 0 && c.register-c.tx.startWh >= target {
		return stopEnergy, true
	}
	if s.cfg.BatteryKWh > 0 && c.tx.soc >= 1 {
		return stopFull, true
	}
	return 0, false
}

// plugIn reserves a connector for a session: n, or the first available one
// when n is 0. It returns the connector's number, 0 when none is free.
func (s *Station) plugIn(n int, tx *transaction) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.connectors {
		if (n == 0 || c.n == n) && c.state == stateAvailable {
			tx.soc, tx.startWh = startSoC, c.register
			c.state, c.tx = statePreparing, tx
			return c.n
		}
	}
	return 0
}

// findTx returns the connector whose session the CSMS names, 0 if none.
func (s *Station) findTx(match func(*transaction) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.connectors {
		if c.tx != nil && c.tx.started && match(c.tx) {
			return c.n
		}
	}
	return 0
}

func (s *Station) connector(n int) *connector {
	if n < 1 || n > len(s.connectors) {
		return nil
	}
	return s.connectors[n-1]
}

// startCharging is the deferred half of a start: Preparing, Authorize for a
// local tag, the transaction's start, then Charging.
func (s *Station) startCharging(n int) func(context.Context, *chargepoint.Client) error {
	return func(ctx context.Context, c *chargepoint.Client) error {
		s.mu.Lock()
		conn := s.connector(n)
		tx := conn.tx
		s.mu.Unlock()
		if tx == nil {
			return nil
		}
		if err := s.sendStatus(ctx, c, n, statePreparing, ""); err != nil {
			return err
		}
		if !tx.remote {
			ok, err := s.proto.authorize(ctx, c, tx.tag)
			if err != nil && !isCallError(err) {
				return fmt.Errorf("Authorize: %w", err)
			}
			if err != nil || !ok {
				s.log.Warn("tag not authorized: not charging", "connector", n, "tag", tx.tag, "err", err)
				s.mu.Lock()
				conn.state, conn.tx = stateAvailable, nil
				s.mu.Unlock()
				return s.sendStatus(ctx, c, n, stateAvailable, "")
			}
		}
		s.mu.Lock()
		tx.last = s.cfg.Now()
		tx.power = powerAt(s.cfg.PowerKW*1000, tx.soc)
		sm := conn.sample()
		s.mu.Unlock()
		accepted, err := s.proto.startTx(ctx, c, n, tx, sm)
		if err != nil {
			if !isCallError(err) {
				return fmt.Errorf("starting the transaction: %w", err)
			}
			s.log.Warn("start of the transaction refused", "connector", n, "err", err)
			s.mu.Lock()
			conn.state, conn.tx = stateAvailable, nil
			s.mu.Unlock()
			return s.sendStatus(ctx, c, n, stateAvailable, "")
		}
		s.mu.Lock()
		tx.started = true
		conn.state = stateCharging
		s.mu.Unlock()
		s.log.Info("charging", "connector", n, "tag", tx.tag, "transaction", tx.id(), "power_kw", tx.power/1000)
		if !accepted {
			s.log.Warn("the CSMS did not accept the tag: stopping", "connector", n, "tag", tx.tag)
			return s.stopCharging(n, stopDeauthorized)(ctx, c)
		}
		return s.sendStatus(ctx, c, n, stateCharging, "")
	}
}

func (tx *transaction) id() string {
	if tx.uid != "" {
		return tx.uid
	}
	return strconv.Itoa(tx.id16)
}

// stopCharging ends connector n's session with its last reading.
func (s *Station) stopCharging(n int, why stopReason) func(context.Context, *chargepoint.Client) error {
	return func(ctx context.Context, c *chargepoint.Client) error {
		s.mu.Lock()
		conn := s.connector(n)
		tx := conn.tx
		if tx == nil || !tx.started {
			s.mu.Unlock()
			return nil
		}
		s.advance(conn, s.cfg.Now())
		tx.power = 0
		sm := conn.sample()
		conn.tx = nil
		next := stateAvailable
		if why == stopFault {
			next = stateFaulted
		} else {
			conn.state = stateAvailable
		}
		s.mu.Unlock()
		if err := s.proto.stopTx(ctx, c, n, tx, sm, why); err != nil {
			if !isCallError(err) {
				return fmt.Errorf("stopping the transaction: %w", err)
			}
			s.log.Warn("stop of the transaction refused", "connector", n, "err", err)
		}
		s.log.Info("session ended", "connector", n, "transaction", tx.id(), "reason", why.String(),
			"energy_kwh", fmt.Sprintf("%.3f", (sm.register-tx.startWh)/1000))
		if next == stateFaulted {
			return nil // the fault was reported by who stopped the session
		}
		return s.sendStatus(ctx, c, n, stateAvailable, "")
	}
}

// meter advances every session and sends its meter values, ending those
// that reached their target.
func (s *Station) meter(ctx context.Context, c *chargepoint.Client) error {
	now := s.cfg.Now()
	for _, conn := range s.connectors {
		s.mu.Lock()
		tx := conn.tx
		if tx == nil || !tx.started {
			s.mu.Unlock()
			continue
		}
		s.advance(conn, now)
		why, done := s.done(conn)
		sm := conn.sample()
		s.mu.Unlock()
		if done {
			if err := s.stopCharging(conn.n, why)(ctx, c); err != nil {
				return err
			}
			continue
		}
		if err := s.proto.meter(ctx, c, conn.n, tx, sm); err != nil {
			if !isCallError(err) {
				return fmt.Errorf("MeterValues: %w", err)
			}
			s.log.Warn("MeterValues refused", "connector", conn.n, "err", err)
		}
	}
	return nil
}

// setFault reports connector n Faulted with code (ending its session) or,
// with an empty code, Available again.
func (s *Station) setFault(n int, code string) func(context.Context, *chargepoint.Client) error {
	return func(ctx context.Context, c *chargepoint.Client) error {
		s.mu.Lock()
		conn := s.connector(n)
		charging := conn.tx != nil && conn.tx.started
		if code == "" {
			if conn.state != stateFaulted {
				s.mu.Unlock()
				return nil
			}
			conn.state, conn.fault = stateAvailable, ""
		} else {
			conn.state, conn.fault = stateFaulted, code
		}
		s.mu.Unlock()
		if code != "" && charging {
			if err := s.stopCharging(n, stopFault)(ctx, c); err != nil {
				return err
			}
		}
		if code == "" {
			s.log.Info("fault cleared", "connector", n)
			return s.sendStatus(ctx, c, n, stateAvailable, "")
		}
		s.log.Info("fault reported", "connector", n, "error_code", code)
		return s.sendStatus(ctx, c, n, stateFaulted, code)
	}
}

func (s *Station) sendStatus(ctx context.Context, c *chargepoint.Client, n int, st connState, code string) error {
	if err := s.proto.status(ctx, c, n, st, code); err != nil {
		if isCallError(err) {
			s.log.Warn("StatusNotification refused", "connector", n, "err", err)
			return nil
		}
		return fmt.Errorf("StatusNotification: %w", err)
	}
	return nil
}

func (r stopReason) String() string {
	return [...]string{"local", "remote", "energy target reached", "battery full", "fault", "tag refused"}[r]
}

// errUsage is a command typed in that makes no sense; the station carries on.
var errUsage = errors.New(`commands: start [tag] [connector] | stop [connector] | fault [connector] [errorCode] | clear [connector] | status`)

// command turns a line typed in into work for the station.
func (s *Station) command(line string) (func(context.Context, *chargepoint.Client) error, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, nil
	}
	num := func(i int) (int, error) {
		if len(f) <= i {
			return 0, nil
		}
		n, err := strconv.Atoi(f[i])
		if err != nil || n < 1 || n > len(s.connectors) {
			return 0, fmt.Errorf("connector %q: want 1 to %d", f[i], len(s.connectors))
		}
		return n, nil
	}
	switch f[0] {
	case "start":
		tag := s.cfg.Tag
		if len(f) > 1 {
			tag = f[1]
		}
		if tag == "" {
			return nil, errors.New("start: which tag? give one (start TAG) or -tag")
		}
		n, err := num(2)
		if err != nil {
			return nil, err
		}
		if n = s.plugIn(n, &transaction{tag: tag, tagType: "ISO14443"}); n == 0 {
			return nil, errors.New("start: no connector available")
		}
		return s.startCharging(n), nil
	case "stop":
		n, err := num(1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			n = s.findTx(func(*transaction) bool { return true })
		}
		if n == 0 {
			return nil, errors.New("stop: nothing is charging")
		}
		return s.stopCharging(n, stopLocal), nil
	case "fault", "clear":
		n, err := num(1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			n = 1
		}
		code := ""
		if f[0] == "fault" {
			code = s.proto.defaultFault()
			if len(f) > 2 {
				code = f[2]
			}
			if err := s.proto.faultCode(code); err != nil {
				return nil, err
			}
		}
		if n > len(s.connectors) {
			return nil, fmt.Errorf("%s: the station has no connector", f[0])
		}
		return s.setFault(n, code), nil
	case "status":
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.connectors {
			args := []any{"connector", c.n, "state", c.state.String(), "register_wh", int(c.register)}
			if c.tx != nil {
				args = append(args, "tag", c.tx.tag, "power_kw", fmt.Sprintf("%.1f", c.tx.power/1000),
					"soc", fmt.Sprintf("%.0f%%", c.tx.soc*100), "energy_kwh", fmt.Sprintf("%.3f", (c.register-c.tx.startWh)/1000))
			}
			s.log.Info("status", args...)
		}
		return nil, nil
	}
	return nil, errUsage
}

func (st connState) String() string {
	return [...]string{"Available", "Preparing", "Charging", "Faulted"}[st]
}
